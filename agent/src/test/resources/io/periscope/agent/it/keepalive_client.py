"""A keep-alive HTTP/1.1 client, which can size its reads by ioctl(FIONREAD) as some programs do.

    keepalive_client.py PORT SECONDS [fionread]

GETs /n from echo_server.py on 127.0.0.1:PORT over one connection, one request every 20 ms,
for SECONDS, and exits 1 at the first answer that is not a whole 200. With "fionread", each
answer is read the way programs that trust FIONREAD read: wait until the socket is readable, ask
FIONREAD how many bytes wait, read that many. A readable socket whose FIONREAD says 0 would look
closed to such a program; this client then peeks to tell a lie from a real end, says which it
was, and exits 1. Without, it reads what recv gives. At the end it prints one line:

    requests N injected M

where M counts the answers whose request reached the server with a traceparent header.
"""
import fcntl
import json
import select
import socket
import struct
import sys
import termios
import time

port = int(sys.argv[1])
seconds = float(sys.argv[2])
by_fionread = sys.argv[3:] == ["fionread"]


def waiting(sock):
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


def read_answer(sock):
    got = b""
    while True:
        head_end = got.find(b"\r\n\r\n")
        if head_end >= 0:
            head = got[:head_end].decode("latin-1").split("\r\n")
            length = next(int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:"))
            if len(got) >= head_end + 4 + length:
                return head[0], got[head_end + 4:head_end + 4 + length]
        if not by_fionread:
            chunk = sock.recv(65536)
            if not chunk:
                print("the server closed the connection", flush=True)
                sys.exit(1)
            got += chunk
            continue
        select.select([sock], [], [])
        count = waiting(sock)
        if count == 0:
            peeked = sock.recv(65536, socket.MSG_PEEK)
            if peeked:
                print("FIONREAD said 0 on a readable socket with %d bytes waiting" % len(peeked), flush=True)
            else:
                print("the server closed the connection", flush=True)
            sys.exit(1)
        got += sock.recv(count)


sock = socket.create_connection(("127.0.0.1", port))
requests = injected = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    sock.sendall(b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % requests)
    status, body = read_answer(sock)
    if not status.startswith("HTTP/1.1 200"):
        print("answer %d: %s" % (requests, status), flush=True)
        sys.exit(1)
    requests += 1
    if json.loads(body)["traceparent"] is not None:
        injected += 1
    time.sleep(0.02)
print("requests %d injected %d" % (requests, injected), flush=True)

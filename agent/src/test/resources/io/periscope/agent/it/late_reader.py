"""A client that asks, then leaves the answer waiting in its socket until told to read it.

    late_reader.py PORT PATH GO_FILE

Connects to 127.0.0.1:PORT, sends GET PATH (HTTP/1.0: the server closes after the answer), prints
"asked", then waits until GO_FILE exists before reading a single byte. Then reads to the end and
prints "body N bytes", N the bytes after the head. Whatever happened to the connection meanwhile (an agent detaching from
it), the bytes that had arrived must all still be there.
"""
import os
import socket
import sys
import time

port, path, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(b"GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
print("asked", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
sock.settimeout(20)
answer = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    answer += chunk
print("body %d bytes" % (len(answer) - answer.index(b"\r\n\r\n") - 4), flush=True)

"""An HTTP/2 (h2c) server that ends its streams the hard ways, for the kernel tests.

    h2_abrupt_server.py PORT MODE [upgrade]

Each connection: it reads the client's preface and SETTINGS, acknowledges them, and waits for the
HEADERS of two requests (streams 1 and 3), then, by MODE:
  goaway        GOAWAY(last stream 1), answers stream 1, and closes when the client does: stream 3
                was refused
  reset         answers stream 1, then resets the connection (SO_LINGER 0) with stream 3 open
  continuation  answers both, each response header block split over HEADERS and CONTINUATION

With "upgrade" the connection starts as HTTP/1.1 with "Upgrade: h2c" (the only way the JDK's
HttpClient speaks cleartext HTTP/2): the upgraded request is stream 1, answered as soon as the
preface came, since such a client sends its next request only then; the mode acts on stream 3
(goaway and reset only).
Written by hand on purpose: no HTTP/2 library produces these shapes on request.
"""
import socket
import struct
import sys
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
STATUS_200 = b"\x88"  # HPACK: static table entry 8, ":status: 200"
SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """A literal header field without indexing, new name (RFC 7541 6.2.2), lengths under 127 and 255."""
    def length(n):
        return bytes([n]) if n < 127 else bytes([127, n - 127])
    return b"\x00" + length(len(name)) + name + length(len(value)) + value


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        got = conn.recv(n - len(data))
        if not got:
            raise EOFError
        data += got
    return data


def read_upgrade_request(conn):
    """The HTTP/1.1 head of the request that asks for h2c (RFC 7540 3.2), without a body.

    Read in as few reads as it came in, not byte by byte: the agent tells a protocol by the first
    bytes of a connection's first read. The client sends its preface only after the 101, so no
    HTTP/2 bytes come with the head.
    """
    head = b""
    while b"\r\n\r\n" not in head:
        got = conn.recv(4096)
        if not got:
            raise EOFError
        head += got
    if not head.endswith(b"\r\n\r\n") or b"upgrade: h2c" not in head.lower():
        raise EOFError


def serve(conn, mode, upgrade):
    if upgrade:
        read_upgrade_request(conn)
        conn.sendall(SWITCHING)
    read_exactly(conn, len(PREFACE))  # (the 101 acknowledged an upgrading client's HTTP2-Settings)
    conn.sendall(frame(SETTINGS, 0, 0))
    if upgrade:
        conn.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, STATUS_200))
        serve_second(conn, mode, 1, read_requests(conn, 1)[0])
    else:
        serve_both(conn, mode, *read_requests(conn, 2))


def read_requests(conn, count):
    """Reads frames until the HEADERS of {count} requests came; returns their streams."""
    streams = []
    while len(streams) < count:
        head = read_exactly(conn, 9)
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        read_exactly(conn, length)
        if kind == SETTINGS and not flags & ACK:
            conn.sendall(frame(SETTINGS, ACK, 0))
        elif kind == HEADERS:
            streams.append(stream)
    return streams


def await_ping_ack(conn):
    """Reads frames until the client acknowledges a PING (RFC 7540 6.7)."""
    while True:
        head = read_exactly(conn, 9)
        read_exactly(conn, int.from_bytes(head[:3], "big"))
        if head[3] == PING and head[4] & ACK:
            return


def serve_second(conn, mode, first, second):
    """Stream {first} was answered: ends stream {second} by MODE."""
    if mode == "goaway":
        conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", first, 0)))
        while conn.recv(4096):
            pass
    elif mode == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        raise ValueError("no " + mode + " after an upgrade")


def serve_both(conn, mode, first, second):
    if mode == "goaway":
        conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", first, 0)))
        conn.sendall(frame(HEADERS, END_STREAM | END_HEADERS, first, STATUS_200))
        while conn.recv(4096):
            pass
    elif mode == "reset":
        # The answer, then a PING: its ACK says the client has read the answer. A reset before
        # that would drop the answer unread in the client's receive queue (seen once in CI).
        conn.sendall(frame(HEADERS, END_STREAM | END_HEADERS, first, STATUS_200) + frame(PING, 0, 0, b"answered"))
        await_ping_ack(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        for stream in (first, second):
            block = STATUS_200 + literal(b"x-padding", b"p" * 200)
            conn.sendall(frame(HEADERS, END_STREAM, stream, block[:50]) +
                         frame(CONTINUATION, END_HEADERS, stream, block[50:]))
        while conn.recv(4096):
            pass


def handle(conn, mode, upgrade):
    try:
        serve(conn, mode, upgrade)
    except (EOFError, ConnectionError):
        pass
    finally:
        conn.close()


port, mode, upgrade = int(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["upgrade"]
listener = socket.create_server(("127.0.0.1", port))
print("listening", flush=True)
while True:
    # A thread each: a client refused by GOAWAY may retry on a new connection while the old one is open.
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn, mode, upgrade), daemon=True).start()

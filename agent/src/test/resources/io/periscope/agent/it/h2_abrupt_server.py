"""An HTTP/2 (h2c, prior knowledge) server that ends its streams the hard ways, for the kernel tests.

    h2_abrupt_server.py PORT MODE

Each connection: it reads the client's preface and SETTINGS, acknowledges them, and waits for the
HEADERS of two requests (streams 1 and 3), then, by MODE:
  goaway        GOAWAY(last stream 1), answers stream 1, and closes when the client does: stream 3
                was refused
  reset         answers stream 1, then resets the connection (SO_LINGER 0) with stream 3 open
  continuation  answers both, each response header block split over HEADERS and CONTINUATION
Written by hand on purpose: no HTTP/2 library produces these shapes on request.
"""
import socket
import struct
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY, CONTINUATION = 0, 1, 3, 4, 7, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
STATUS_200 = b"\x88"  # HPACK: static table entry 8, ":status: 200"


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


def serve(conn, mode):
    read_exactly(conn, len(PREFACE))
    conn.sendall(frame(SETTINGS, 0, 0))
    streams = []
    while len(streams) < 2:
        head = read_exactly(conn, 9)
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        read_exactly(conn, length)
        if kind == SETTINGS and not flags & ACK:
            conn.sendall(frame(SETTINGS, ACK, 0))
        elif kind == HEADERS:
            streams.append(stream)
    first, second = streams
    if mode == "goaway":
        conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", first, 0)))
        conn.sendall(frame(HEADERS, END_STREAM | END_HEADERS, first, STATUS_200))
        while conn.recv(4096):
            pass
    elif mode == "reset":
        conn.sendall(frame(HEADERS, END_STREAM | END_HEADERS, first, STATUS_200))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        for stream in (first, second):
            block = STATUS_200 + literal(b"x-padding", b"p" * 200)
            conn.sendall(frame(HEADERS, END_STREAM, stream, block[:50]) +
                         frame(CONTINUATION, END_HEADERS, stream, block[50:]))
        while conn.recv(4096):
            pass


port, mode = int(sys.argv[1]), sys.argv[2]
listener = socket.create_server(("127.0.0.1", port))
print("listening", flush=True)
while True:
    conn, _ = listener.accept()
    try:
        serve(conn, mode)
    except (EOFError, ConnectionError):
        pass
    finally:
        conn.close()

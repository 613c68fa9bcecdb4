"""A client that reads only the status line of its answer, then closes.

    status_line_client.py PORT PATH

Sends one GET to 127.0.0.1:PORT, reads until the first CRLF, prints that line, and closes the
socket with the rest of the response unread (the kernel then resets the connection).
"""
import socket
import sys

port = int(sys.argv[1])
path = sys.argv[2]
with socket.create_connection(("127.0.0.1", port)) as s:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: status-line-client\r\n\r\n".encode())
    line = b""
    while not line.endswith(b"\r\n"):
        got = s.recv(1)
        if not got:
            break
        line += got
    print(line.decode().strip(), flush=True)

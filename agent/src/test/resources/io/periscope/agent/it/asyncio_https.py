"""HTTPS with python's asyncio (ssl through memory BIOs: the socket I/O happens outside OpenSSL).

  asyncio_https.py server PORT CERT KEY   answers every GET on 127.0.0.1:PORT: 200, or 404 for /missing
  asyncio_https.py get PORT PATH SECRET   one GET with Authorization: SECRET; prints the status
"""
import asyncio
import ssl
import sys


async def answer(reader, writer):
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1]
        status, body = (b"404 Not Found", b"not here\n") if path == b"/missing" else (b"200 OK", b"hello over asyncio\n")
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        if b"connection: close" in head.lower():
            break
    writer.close()


async def serve(port, cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(answer, "127.0.0.1", port, ssl=context)
    print("serving", flush=True)
    await server.serve_forever()


async def get(port, path, secret):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + secret.encode()
                 + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0].split(b":")[1])
    await reader.readexactly(length)
    print(head.split(b" ")[1].decode(), flush=True)
    writer.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    else:
        asyncio.run(get(int(sys.argv[2]), sys.argv[3], sys.argv[4]))

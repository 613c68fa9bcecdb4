"""The server side of the fidelity kernel tests: exchanges real clients make every day.

    fidelity_server.py PORT

Serves on 127.0.0.1:PORT with http.server's ThreadingHTTPServer (HTTP/1.1 keep-alive):
  /big     200 with a short body, whatever the size of the request's head (up to http.server's
           64 KiB per header line)
  /slow    200 after three seconds: a client with a shorter timeout gives up first
  /large   200 with a 1 MiB body: a client may read only its head
  others   404 with an HTML body (http.server's send_error)
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])


class Fidelity(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/big":
            self.answer(b"ok\n")
        elif self.path == "/slow":
            time.sleep(3)
            self.answer(b"late\n")
        elif self.path == "/large":
            self.answer(b"x" * (1 << 20))
        else:
            self.send_error(404)

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client is gone: that is what these tests make happen

    def log_message(self, fmt, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", port), Fidelity)
print("listening", flush=True)
server.serve_forever()

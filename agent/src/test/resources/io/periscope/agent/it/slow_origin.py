"""An HTTP/1.1 origin that answers slowly, behind nghttpx, for the kernel tests (not traced itself).

    slow_origin.py PORT ARRIVED

  /fast     200 at once
  /stall    creates the file ARRIVED (the request came this far), then answers nothing for a minute
  /trickle  200 with a Content-Length of 1 MiB: the first KiB at once, then nothing for a minute
"""
import pathlib
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUIET_SECONDS = 60


class SlowOrigin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: nghttpx reuses its connection

    def do_GET(self):
        if self.path == "/fast":
            self.answer(b"fast\n", len(b"fast\n"))
        elif self.path == "/stall":
            pathlib.Path(sys.argv[2]).touch()
            time.sleep(QUIET_SECONDS)
        elif self.path == "/trickle":
            self.answer(b"t" * 1024, 1 << 20)
            time.sleep(QUIET_SECONDS)
        else:
            self.send_error(404)

    def answer(self, first, length):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(first)
        self.wfile.flush()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), SlowOrigin)
server.daemon_threads = True
server.serve_forever()

"""A service that says what it received, for the traceparent injection kernel tests.

    echo_server.py PORT [NEXT_PORT]

Serves GET and POST on 127.0.0.1:PORT with http.server's ThreadingHTTPServer (HTTP/1.1
keep-alive). Answers with one JSON object: the path, the traceparent header it got (null when
none), the request body and its Content-Length. With NEXT_PORT it first sends the same request
on, on the thread serving it, with urllib.request (which sends no traceparent of its own), and
puts that answer under "next".
"""
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
next_port = int(sys.argv[2]) if len(sys.argv) > 2 else None
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.answer(None)

    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def answer(self, body):
        said = {
            "path": self.path,
            "traceparent": self.headers.get("traceparent"),
            "content_length": self.headers.get("Content-Length"),
            "body": body.decode() if body is not None else None,
        }
        if next_port is not None:
            request = urllib.request.Request("http://127.0.0.1:%d%s" % (next_port, self.path), data=body)
            with opener.open(request, timeout=20) as downstream:
                said["next"] = json.loads(downstream.read())
        payload = json.dumps(said).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Echo).serve_forever()

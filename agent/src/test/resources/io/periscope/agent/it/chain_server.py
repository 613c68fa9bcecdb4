"""One service of a chain, for the trace-linking kernel tests.

    chain_server.py PORT [NEXT_PORT]

Serves GET on 127.0.0.1:PORT with http.server's ThreadingHTTPServer (one thread per connection,
HTTP/1.1 keep-alive). With NEXT_PORT, each request is first passed on, same path, to
127.0.0.1:NEXT_PORT with urllib.request, on the thread serving it, and answered with what came
back; without, it is answered with its own path. Nobody here sends a traceparent.
"""
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
next_port = int(sys.argv[2]) if len(sys.argv) > 2 else None
# No proxy from the environment: the next hop is on this host.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Hop(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if next_port is None:
            body = ("end of chain %s\n" % self.path).encode()
        else:
            with opener.open("http://127.0.0.1:%d%s" % (next_port, self.path), timeout=20) as answer:
                body = answer.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
# Twenty clients connect at once: the default backlog of 5 would make some retry their SYN.
ThreadingHTTPServer.request_queue_size = 64
ThreadingHTTPServer(("127.0.0.1", port), Hop).serve_forever()

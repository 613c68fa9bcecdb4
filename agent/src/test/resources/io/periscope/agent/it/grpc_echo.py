"""A gRPC peer for kernel tests: python grpcio (gRPC C-core), bytes in and out, no protobuf.

  grpc_echo.py server PORT           serves demo.Echo on 127.0.0.1:PORT until killed
  grpc_echo.py client PORT CALL...   makes each call on one channel, prints one line per call
                                     (CALL: see call(); traceparent=VALUE is a Unary call with
                                     that traceparent in its metadata)
  grpc_echo.py preopened PORT N      one Unary call, then (after a line on stdin) N more on the
                                     same channel and one first call of Second

Server methods (demo.Echo):
  Unary          answers with the caller's address as the server sees it (one connection: one address)
  ServerStream   answers the request "N" with N messages
  ClientStream   answers with the number of messages it read
  Bidi           echoes every message
  Lookup         fails with NOT_FOUND and a message that must be percent-encoded on the wire
  Crash          fails with INTERNAL
  Big            answers with one message of 1 MiB
  Hang           streams one message, then waits until the caller cancels
  Second         like Unary
Anything else is UNIMPLEMENTED (grpcio answers that itself).

With GRPC_ECHO_TLS=CERT:KEY in the environment, both ends speak TLS: the server with that
certificate and key, the client trusting that certificate (issued to localhost).
"""
import os
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "demo.Echo"
NOT_FOUND_MESSAGE = "no widget named \u00ab42\u00bb"
MIB = 1 << 20
TLS = os.environ.get("GRPC_ECHO_TLS")


def serve(port):
    def unary(request, context):
        return context.peer().encode()

    def server_stream(request, context):
        for i in range(int(request)):
            yield b"message %d" % i

    def client_stream(requests, context):
        return b"%d" % sum(1 for _ in requests)

    def bidi(requests, context):
        for request in requests:
            yield request

    def lookup(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, NOT_FOUND_MESSAGE)

    def crash(request, context):
        context.abort(grpc.StatusCode.INTERNAL, "storage is on fire")

    def big(request, context):
        return b"x" * MIB

    def hang(request, context):
        cancelled = threading.Event()
        context.add_callback(cancelled.set)
        yield b"first"
        cancelled.wait(30)

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Lookup": grpc.unary_unary_rpc_method_handler(lookup),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
        "Big": grpc.unary_unary_rpc_method_handler(big),
        "Hang": grpc.unary_stream_rpc_method_handler(hang),
        "Second": grpc.unary_unary_rpc_method_handler(unary),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    if TLS:
        cert, key = (open(f, "rb").read() for f in TLS.split(":"))
        server.add_secure_port("127.0.0.1:%d" % port, grpc.ssl_server_credentials([(key, cert)]))
    else:
        server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


def method(channel, name):
    return "/%s/%s" % (SERVICE, name)


def status_line(error):
    return "%s %s" % (error.code().name, error.details())


def call(channel, name):
    """Makes one call; returns what it printed."""
    try:
        if name == "unary":
            return "OK " + channel.unary_unary(method(channel, "Unary"))(b"hello").decode()
        if name == "server_stream":
            return "OK %d" % len(list(channel.unary_stream(method(channel, "ServerStream"))(b"5")))
        if name == "client_stream":
            requests = iter([b"a", b"bb", b"ccc", b"dddd"])
            return "OK " + channel.stream_unary(method(channel, "ClientStream"))(requests).decode()
        if name == "bidi":
            requests = iter([b"one", b"two", b"three"])
            return "OK " + b",".join(channel.stream_stream(method(channel, "Bidi"))(requests)).decode()
        if name == "not_found":
            channel.unary_unary(method(channel, "Lookup"))(b"42")
            return "unexpected OK"
        if name == "internal":
            channel.unary_unary(method(channel, "Crash"))(b"")
            return "unexpected OK"
        if name == "unimplemented":
            channel.unary_unary(method(channel, "Missing"))(b"")
            return "unexpected OK"
        if name == "big":
            return "OK %d" % len(channel.unary_unary(method(channel, "Big"))(b""))
        if name == "second":
            return "OK " + channel.unary_unary(method(channel, "Second"))(b"hello").decode()
        if name == "concurrent":
            # 20 calls in flight at once on one connection, OK and NOT_FOUND interleaved.
            unary = channel.unary_unary(method(channel, "Unary"))
            lookup = channel.unary_unary(method(channel, "Lookup"))
            calls = []
            for _ in range(10):
                calls.append(unary.future(b"hello"))
                calls.append(lookup.future(b"42"))
            codes = [c.code().name for c in calls]
            return "OK %d NOT_FOUND %d" % (codes.count("OK"), codes.count("NOT_FOUND"))
        if name.startswith("traceparent="):
            metadata = (("traceparent", name[len("traceparent="):]),)
            return "OK " + channel.unary_unary(method(channel, "Unary"))(b"hello", metadata=metadata).decode()
        if name == "cancel":
            responses = channel.unary_stream(method(channel, "Hang"))(b"")
            first = next(responses)
            responses.cancel()
            try:
                next(responses)
                return "unexpected second message"
            except grpc.RpcError as e:
                return "%s after %s" % (e.code().name, first.decode())
        raise ValueError("unknown call " + name)
    except grpc.RpcError as e:
        return status_line(e)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "server":
        serve(port)
        return
    if TLS:
        credentials = grpc.ssl_channel_credentials(root_certificates=open(TLS.split(":")[0], "rb").read())
        channel = grpc.secure_channel("127.0.0.1:%d" % port, credentials,
                                      options=(("grpc.ssl_target_name_override", "localhost"),))
    else:
        channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    with channel:
        if mode == "client":
            for name in sys.argv[3:]:
                print(call(channel, name), flush=True)
        elif mode == "preopened":
            print("before " + call(channel, "unary"), flush=True)
            sys.stdin.readline()
            for _ in range(int(sys.argv[3])):
                print("after " + call(channel, "unary"), flush=True)
            print("after " + call(channel, "second"), flush=True)
        else:
            raise ValueError("unknown mode " + mode)


if __name__ == "__main__":
    main()

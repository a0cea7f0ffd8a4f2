"""A grpcio (C-core) server that enforces keepalive ping limits (gRFC A8), for the
channel-options test.

Usage: keepalive_server.py MIN_PING_INTERVAL_MS MAX_PING_STRIKES
Serves /sluice.test.Hold/Hold, a bidi stream that sends nothing and ends when the client
ends it, so the test can keep a call open (C-core applies MIN_PING_INTERVAL_MS while a
call is open; without calls, and without keepalive_permit_without_calls, it allows one
ping per 2 hours). A ping sooner than the minimum after the previous one is a strike; one
more than MAX_PING_STRIKES and C-core sends GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
Prints {"event": "listening", "port": N} on stdout; runs until stdin closes.
"""

import json
import sys
from concurrent import futures

import grpc


def hold(request_iterator, context):
    for _ in request_iterator:
        pass
    return
    yield  # a generator that sends nothing


def main():
    min_interval_ms = int(sys.argv[1])
    max_strikes = int(sys.argv[2])
    handler = grpc.method_handlers_generic_handler(
        "sluice.test.Hold", {"Hold": grpc.stream_stream_rpc_method_handler(hold)}
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        handlers=(handler,),
        options=[
            ("grpc.http2.min_ping_interval_without_data_ms", min_interval_ms),
            ("grpc.http2.max_ping_strikes", max_strikes),
            ("grpc.keepalive_permit_without_calls", 0),
        ],
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(json.dumps({"event": "listening", "port": port}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()

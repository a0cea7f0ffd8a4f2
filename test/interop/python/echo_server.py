"""A grpcio echo server that behaves like src/demo/echo-service.ts, over raw bytes.

Usage: echo_server.py [HOST]   (port 0: the kernel picks one)

Prints one JSON line per event on stdout, flushed:
  {"event": "listening", "port": N}
  {"event": "begin", "method": M, "tag": T}
  {"event": "end", "method": M, "tag": T, "cancelled": bool}
"cancelled" means the RPC terminated (client cancel, reset, deadline) before the handler
answered: exact for a Unary call waiting out x-echo-delay-ms. T is the request's x-echo-tag metadata, or null.

Request metadata steers it, as in the grpc-js echo service:
  x-echo-status / x-echo-message (or UTF-8 x-echo-message-bin): end with this status
  x-echo-delay-ms: wait before answering (unary)
  x-echo-count / x-echo-size: server streaming: how many messages, of what size
  x-echo-trailers-only: send no response headers before an error status
  every other x-echo-* key and every -bin key is echoed back in headers and trailers;
  headers (and OK trailers) also carry x-pod: python.
"""

import json
import sys
import threading
from concurrent import futures

import grpc

SERVICE = "sluice.demo.Echo"
CODES = {c.value[0]: c for c in grpc.StatusCode}
_print_lock = threading.Lock()


def emit(**event):
    with _print_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def meta(context, key):
    for k, v in context.invocation_metadata():
        if k == key:
            return v
    return None


def echoed(context, pod=False):
    out = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-echo-") or k.endswith("-bin")]
    if pod:
        out.append(("x-pod", "python"))
    return tuple(out)


def message_of(context):
    raw = meta(context, "x-echo-message-bin")
    if raw is not None:
        return raw.decode("utf-8")
    return meta(context, "x-echo-message") or ""


class Rpc:
    """Tracks one RPC: begin/end events and whether it ended before the handler answered."""

    def __init__(self, method, context):
        self.method = method
        self.context = context
        self.tag = meta(context, "x-echo-tag")
        self.answered = False
        self.terminated = threading.Event()
        emit(event="begin", method=method, tag=self.tag)
        if not context.add_callback(self._on_termination):
            self._on_termination()

    def _on_termination(self):
        self.terminated.set()
        emit(event="end", method=self.method, tag=self.tag, cancelled=not self.answered)

    def send_headers(self):
        if meta(self.context, "x-echo-trailers-only") is None:
            self.context.send_initial_metadata(echoed(self.context, pod=True))

    def finish(self):
        """Ends with the requested error status (raises), or sets the OK trailers."""
        # A cancelled RPC can still get here (a bidi request stream just ends); it was not answered.
        self.answered = self.context.is_active()
        code = meta(self.context, "x-echo-status")
        if code is not None:
            self.context.set_trailing_metadata(echoed(self.context))
            self.context.abort(CODES[int(code)], message_of(self.context))
        self.context.set_trailing_metadata(echoed(self.context, pod=True))


def unary(request, context):
    rpc = Rpc("Unary", context)
    delay_ms = int(meta(context, "x-echo-delay-ms") or 0)
    if delay_ms > 0 and rpc.terminated.wait(delay_ms / 1000):
        return None  # cancelled while waiting; nobody reads an answer
    rpc.send_headers()
    rpc.finish()
    return request


def server_stream(request, context):
    rpc = Rpc("ServerStream", context)
    count = int(meta(context, "x-echo-count") or 3)
    size = int(meta(context, "x-echo-size") or 0)
    rpc.send_headers()
    for i in range(count):
        if rpc.terminated.is_set():
            return
        yield bytes([i % 251]) * size if size > 0 else request
    rpc.finish()


def client_stream(request_iterator, context):
    rpc = Rpc("ClientStream", context)
    body = b"".join(request_iterator)
    rpc.finish()
    return body


def bidi(request_iterator, context):
    rpc = Rpc("Bidi", context)
    rpc.send_headers()
    try:
        for message in request_iterator:
            yield message
    except grpc.RpcError:
        return  # the client went away; the termination callback reported it
    rpc.finish()


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=(handler,))
    port = server.add_insecure_port(f"{host}:0")
    server.start()
    emit(event="listening", port=port)
    # Runs until killed, or until stdin closes (the test process went away).
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()

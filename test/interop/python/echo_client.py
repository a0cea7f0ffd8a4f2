"""A grpcio client for the echo service (raw bytes, no generated code).

Reads one JSON plan line on stdin:
  {"targets": ["HOST:PORT", ...], "hold": bool, "calls": [CALL, ...], "tls": TLS}
  CALL = {"method": "Unary" | "ServerStream" | "ClientStream" | "Bidi",
          "requests": [BASE64, ...],            # one for Unary / ServerStream
          "metadata": [[KEY, VALUE], ...],      # VALUE: str, or {"b64": ...} for -bin keys
          "timeout": SECONDS,                   # optional deadline
          "cancel": "after-headers"}            # optional: Bidi only, cancel once headers arrive
Runs every call against every target in turn, each target on a channel of its own, and
prints one JSON line: {"results": [[RESULT per call] per target]}
  RESULT = {"code": INT, "details": STR, "headers": [[K, V]], "trailers": [[K, V]],
            "messages": [BASE64, ...]}
  TLS = {"root": PATH, "cert": PATH, "key": PATH, "override": NAME}  # optional: TLS channels
        trusting the CA in "root"; "cert" and "key" (optional) a client certificate for mutual
        TLS; "override" (optional) the name checked in the server's certificate (and sent as SNI
        and :authority), as grpc.ssl_target_name_override
With "hold", the channels stay open until stdin closes, so the peer sees a cancelled
stream while its connection is still up.
"""

import base64
import json
import sys
import threading

import grpc

SERVICE = "/sluice.demo.Echo/"


def b64(data):
    return base64.b64encode(data).decode("ascii")


def metadata_in(pairs):
    return tuple((k, base64.b64decode(v["b64"]) if isinstance(v, dict) else v) for k, v in pairs)


def metadata_out(md):
    if md is None:
        return None
    return [[k, {"b64": b64(v)} if isinstance(v, bytes) else v] for k, v in md]


def outcome(call, messages):
    return {
        "code": call.code().value[0],
        "details": call.details() or "",
        "headers": metadata_out(call.initial_metadata()),
        "trailers": metadata_out(call.trailing_metadata()),
        "messages": [b64(m) for m in messages],
    }


def run_call(channel, spec):
    path = SERVICE + spec["method"]
    requests = [base64.b64decode(r) for r in spec.get("requests", [])]
    kwargs = {"metadata": metadata_in(spec.get("metadata", [])), "timeout": spec.get("timeout")}
    method = spec["method"]
    messages = []
    if method == "Unary" or method == "ClientStream":
        stub = channel.unary_unary(path) if method == "Unary" else channel.stream_unary(path)
        argument = requests[0] if method == "Unary" else iter(requests)
        try:
            response, call = stub.with_call(argument, **kwargs)
            messages.append(response)
        except grpc.RpcError as error:
            call = error
        return outcome(call, messages)
    if method == "ServerStream":
        call = channel.unary_stream(path)(requests[0], **kwargs)
    elif spec.get("cancel") == "after-headers":
        release = threading.Event()

        def blocked():
            release.wait()
            return
            yield  # a generator that sends nothing

        call = channel.stream_stream(path)(blocked(), **kwargs)
        call.initial_metadata()
        call.cancel()
        release.set()
    else:
        call = channel.stream_stream(path)(iter(requests), **kwargs)
    try:
        for m in call:
            messages.append(m)
    except grpc.RpcError:
        pass  # the call carries the status
    return outcome(call, messages)


def read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def open_channel(target, options, tls):
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(read(tls["root"]), read(tls.get("key")), read(tls.get("cert")))
    if tls.get("override") is not None:
        options = options + [("grpc.ssl_target_name_override", tls["override"])]
    return grpc.secure_channel(target, credentials, options=options)


def main():
    plan = json.loads(sys.stdin.readline())
    options = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1)]
    channels = [open_channel(t, options, plan.get("tls")) for t in plan["targets"]]
    results = [[run_call(ch, spec) for spec in plan["calls"]] for ch in channels]
    sys.stdout.write(json.dumps({"results": results}) + "\n")
    sys.stdout.flush()
    if plan.get("hold"):
        sys.stdin.read()
    for ch in channels:
        ch.close()


if __name__ == "__main__":
    main()

"""A grpcio (C-core) client on ONE channel to an xds:/// target, for test/xds-server/grpcio-xds.test.ts.

Usage: python3 xds_echo_client.py TARGET   (GRPC_XDS_BOOTSTRAP names the bootstrap file)

Reads JSON lines on stdin, each {"calls": N, "metadata": [[KEY, VALUE], ...]}, makes N unary
calls to /sluice.demo.Echo/Unary one after another on the same channel, and answers each line
with one JSON line: {"pods": [POD or null per call], "errors": ["CODE: details" per failed call]}.
POD is the x-pod response header, which names the grpc-js echo pod that answered. Exits 0 when
stdin closes.
"""

import json
import sys

import grpc


def call_pod(unary, metadata):
    try:
        _, call = unary.with_call(b"hi", timeout=10, metadata=metadata)
    except grpc.RpcError as error:
        return None, "%s: %s" % (error.code().name, error.details())
    return dict(call.initial_metadata()).get("x-pod"), None


def main():
    # A channel of its own: subchannels are not shared with anything else in the process.
    channel = grpc.insecure_channel(sys.argv[1], options=[("grpc.use_local_subchannel_pool", 1)])
    unary = channel.unary_unary("/sluice.demo.Echo/Unary")
    for line in sys.stdin:
        request = json.loads(line)
        metadata = tuple((k, v) for k, v in request.get("metadata", []))
        pods, errors = [], []
        for _ in range(request["calls"]):
            pod, error = call_pod(unary, metadata or None)
            pods.append(pod)
            if error is not None:
                errors.append(error)
        sys.stdout.write(json.dumps({"pods": pods, "errors": errors}) + "\n")
        sys.stdout.flush()
    channel.close()


if __name__ == "__main__":
    main()

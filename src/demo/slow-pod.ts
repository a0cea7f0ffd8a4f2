// A pod that answers late: the echo service as usual, but a server interceptor adds a fixed
// delay to every unary call (through the echo protocol's x-echo-delay-ms), so latency-aware
// balancing has something to avoid. Used by the client policy tests and
// bench/client-policies. A very long delay makes a pod that holds every call until the
// client cancels it (the echo service stops waiting on cancel).
import * as grpc from "@grpc/grpc-js";

/** Server options for a pod that delays every unary answer by `delayMs` more. */
export function slowPodOptions(delayMs: number): grpc.ServerOptions {
  if (!(delayMs >= 0 && Number.isFinite(delayMs))) throw new RangeError(`slow pod delay must be >= 0 ms, got ${delayMs}`);
  const interceptor: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const asked = Number(metadata.get("x-echo-delay-ms")[0] ?? 0);
            metadata.set("x-echo-delay-ms", String((Number.isFinite(asked) ? asked : 0) + delayMs));
            nextMetadata(metadata);
          },
        }),
    });
  return { interceptors: [interceptor] };
}

// A demo pod that goes bad: the echo service as usual, but a server interceptor tells it
// (the echo protocol's x-echo-status) to answer UNAVAILABLE to every call once it has served
// for a while, so the proxy's outlier detection has something to eject
// (`sluice demo --failing-pods`).
import * as grpc from "@grpc/grpc-js";
import { Status } from "../core/status.js";

/**
 * The pod serves normally this long first, so the dashboard shows it taking its share like
 * the others; then it fails, 5 in a row (consecutive5xxErrors) within milliseconds under
 * load, and the dashboard shows it ejected.
 */
export const FAILING_POD_AFTER_MS = 5000;

/** The status message of every call a failing pod refuses: how the demo tells the failures it provoked from any other. */
export const FAILING_POD_MESSAGE = "demo pod failing on purpose (--failing-pods)";

/** Whether a client saw a failure a failing pod provoked (the proxy passes the last attempt's status on). */
export function isProvokedFailure(code: number, details: string): boolean {
  return code === Status.UNAVAILABLE && details === FAILING_POD_MESSAGE;
}

/** Server options for a pod that answers UNAVAILABLE to every call from `afterMs` on. */
export function failingPodOptions(afterMs = FAILING_POD_AFTER_MS, now: () => number = Date.now): grpc.ServerOptions {
  const from = now() + afterMs;
  const interceptor: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (now() >= from) {
              metadata.set("x-echo-status", String(grpc.status.UNAVAILABLE));
              metadata.set("x-echo-message", FAILING_POD_MESSAGE);
            }
            nextMetadata(metadata);
          },
        }),
    });
  return { interceptors: [interceptor] };
}

// Echo pods that also serve grpc.health.v1.Health through the official HealthImplementation,
// with counters and events so tests can see every Check and every Watch at the backend.
import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { startPods, type Pod } from "./cluster.js";

/** What a pod's Health service offers: both methods, Check only (Watch UNIMPLEMENTED), or none. */
export type HealthMode = "watch" | "check-only" | "none";

export interface HealthPod extends Pod {
  readonly health: HealthImplementation;
  /** Check calls answered or held; Watch calls opened; Watch calls the client cancelled. */
  readonly calls: { checks: number; watches: number; watchesCancelled: number };
  /** "check" and "watch" when a call arrives, "watch-cancelled" when a Watch is cancelled. */
  readonly events: EventEmitter;
  /** While hangChecks is true, Check calls get no answer (until the client gives up). */
  readonly control: { hangChecks: boolean };
  setStatus(status: ServingStatus): void;
}

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown> & grpc.ServerWritableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

/** Starts `modes.length` echo pods, pod i serving Health as modes[i] says, all SERVING at first. */
export async function startHealthPods(modes: readonly HealthMode[]): Promise<HealthPod[]> {
  const extras = modes.map(() => ({
    health: new HealthImplementation({ "": "SERVING" }),
    calls: { checks: 0, watches: 0, watchesCancelled: 0 },
    events: new EventEmitter(),
    control: { hangChecks: false },
  }));
  const pods = await startPods(modes.length, {}, (server, i) => {
    const mode = modes[i];
    const extra = extras[i]!;
    if (mode === "none") return;
    extra.health.addToServer({
      addService: (service, impl) => {
        const check = impl["check"] as Handler;
        const watch = impl["watch"] as Handler;
        const methods: Record<string, Handler> = {
          check: (call, callback) => {
            extra.calls.checks++;
            extra.events.emit("check");
            if (!extra.control.hangChecks) check(call, callback);
          },
        };
        if (mode === "watch") {
          methods["watch"] = (call, callback) => {
            extra.calls.watches++;
            call.on("cancelled", () => {
              extra.calls.watchesCancelled++;
              extra.events.emit("watch-cancelled");
            });
            watch(call, callback);
            extra.events.emit("watch");
          };
        }
        // Methods left out answer UNIMPLEMENTED (grpc-js's default handler).
        server.addService(service, methods as unknown as grpc.UntypedServiceImplementation);
      },
    });
  });
  return pods.map((p, i) => {
    const extra = extras[i]!;
    return Object.assign(p, extra, { setStatus: (status: ServingStatus) => extra.health.setStatus("", status) });
  });
}

/** Resolves at the next `event` of `emitter` whose arguments pass `match` (listening from now on). */
export function nextEvent(emitter: EventEmitter, event: string, match: (...args: unknown[]) => boolean = () => true): Promise<unknown[]> {
  return new Promise((resolve) => {
    const listener = (...args: unknown[]): void => {
      if (!match(...args)) return;
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
}

// Echo pods whose answers a test scripts call by call: echo (the default), fail with a status,
// hang, or hold a call and answer it when the test says so. A server interceptor sees each
// call as its metadata arrives and hands it to the pod's script; the script lets the echo
// service answer (after adding x-echo-* keys that steer it: a status, a delay), or keeps the
// call waiting. Every pod is a real grpc-js server on 127.0.0.1, port 0, named pod-1...
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import type { Pod } from "./cluster.js";
import { defer, type Owner } from "./teardown.js";

/** A call as it arrives at a scripted pod (its request metadata in, its message not read yet). */
export interface Arrival {
  /** The pod's count of calls, this one included (1 for its first). */
  readonly n: number;
  /** The method's path, `/sluice.demo.Echo/Unary` and so on. */
  readonly method: string;
  /** The client's address:port: one per connection. */
  readonly peer: string;
  readonly metadata: grpc.Metadata;
  /** Lets the echo service answer it, with `metadata` added (x-echo-* keys steer the answer). */
  echo(metadata?: Readonly<Record<string, string>>): void;
  /**
   * Ends it with `code` and `details` from the echo service: trailers only (no response headers
   * first, as grpc-js answers an early error), or after the response headers with `afterHeaders`.
   */
  fail(code: grpc.status, details?: string, options?: { afterHeaders?: boolean }): void;
}

/** What a pod does with each call; a call neither echoed nor failed waits (until its caller or connection goes). */
export type Script = (call: Arrival) => void;

export const echo: Script = (call) => call.echo();

/** Every call ends with `code` (trailers only), `details` defaulting to "scripted CODE_NAME". */
export function fail(code: grpc.status, details?: string): Script {
  return (call) => call.fail(code, details);
}

/** Every call is answered `ms` later than it asks for (x-echo-delay-ms), as src/demo/slow-pod.ts does. */
export function slow(ms: number): Script {
  return (call) => {
    const asked = Number(call.metadata.get("x-echo-delay-ms")[0] ?? 0);
    call.echo({ "x-echo-delay-ms": String((Number.isFinite(asked) ? asked : 0) + ms) });
  };
}

/** Every call is taken (the echo service begins it) and never answered until its caller cancels it. */
export const hang: Script = slow(600_000);

export interface ScriptedPod extends Pod {
  /** What the pod does with each call from now on; tests change it at will. */
  script: Script;
  /** Calls that arrived, whatever the script did with them. */
  readonly calls: number;
  /** Resolves once `n` calls have arrived in all (at once if they have). */
  arrived(n: number): Promise<void>;
}

function scripted(pod: { script: Script; calls: number; readonly arrivals: EventEmitter }): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            let answered = false;
            const echoWith = (extra: Readonly<Record<string, string>> = {}): void => {
              if (answered) return;
              answered = true;
              for (const [k, v] of Object.entries(extra)) metadata.set(k, v);
              nextMetadata(metadata);
            };
            const arrival: Arrival = {
              n: ++pod.calls,
              method: method.path,
              peer: call.getPeer(),
              metadata,
              echo: echoWith,
              fail: (code, details = `scripted ${grpc.status[code]}`, options = {}) =>
                echoWith({
                  "x-echo-status": String(code),
                  "x-echo-message": details,
                  ...(options.afterHeaders === true ? {} : { "x-echo-trailers-only": "1" }),
                }),
            };
            pod.script(arrival);
            pod.arrivals.emit("call");
          },
        }),
    });
}

/**
 * Starts pods pod-1...: `scripts` gives each one's script (a number: that many echo pods).
 * `options` are every pod's server options (its interceptors run after the script's);
 * `addServices` adds services to pod i before it binds.
 */
export async function startScriptedPods(
  scripts: number | readonly Script[],
  options: grpc.ServerOptions = {},
  addServices?: (server: grpc.Server, i: number) => void,
): Promise<ScriptedPod[]> {
  const list = typeof scripts === "number" ? Array.from({ length: scripts }, () => echo) : scripts;
  const pods: ScriptedPod[] = [];
  for (const [i, script] of list.entries()) {
    const state = { script, calls: 0, arrivals: new EventEmitter() };
    const interceptors = [scripted(state), ...(options.interceptors ?? [])];
    const pod = await startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, { ...options, interceptors }, addServices && ((s) => addServices(s, i)));
    pods.push({
      port: pod.port,
      stats: pod.stats,
      server: pod.server,
      stop: pod.stop,
      get script(): Script {
        return state.script;
      },
      set script(s: Script) {
        state.script = s;
      },
      get calls(): number {
        return state.calls;
      },
      arrived: async (n) => {
        while (state.calls < n) await new Promise((resolve) => state.arrivals.once("call", resolve));
      },
    });
  }
  return pods;
}

/** Scripted pods that stop when `owner` ends (after whatever was set up in front of them). */
export async function scriptedPods(owner: Owner, scripts: number | readonly Script[], options: grpc.ServerOptions = {}): Promise<ScriptedPod[]> {
  const pods = await startScriptedPods(scripts, options);
  defer(owner, () => stopPods(pods));
  return pods;
}

/** Stops pods one after another (grpc-js tryShutdown: each waits for its connections to close). */
export async function stopPods(pods: readonly Pod[]): Promise<void> {
  for (const p of pods) await p.stop();
}

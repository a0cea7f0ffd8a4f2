// Takeover: a new sluice takes over the listening port while the old one drains, so a
// restart or an upgrade refuses no connection and fails no RPC.
//
// Node 20 cannot set SO_REUSEPORT (`listen({ reusePort })` arrived in Node 22.12 / 23.1; on
// Node 20 a second bind gets EADDRINUSE), and cannot pass a descriptor to an unrelated process
// (no SCM_RIGHTS in node:net). So the old process hands the listening socket itself on, the
// way nginx's binary upgrade and Go's tableflip do: on SIGUSR2 it starts the new sluice (the
// same command line, the program read again from disk) with the socket as file descriptor 3
// (`--listen-fd 3`). The new process loads the config, warms its clusters and accepts on
// the same socket, then says "ready" over an IPC channel; only then does the old process stop
// accepting and drain (GOAWAY, RPCs in flight finish). The kernel socket never closes, so
// clients that reconnect after the GOAWAY reach the new process. If the new process fails
// (a bad config, a crash) the old one keeps serving and says why.
import { spawn, type ChildProcess } from "node:child_process";
import { codeOf } from "../core/errors.js";
import { logger } from "../core/trace.js";

/** How long a successor may take to load its config and warm its clusters. */
export const READY_TIMEOUT_MS = 60_000;

/** The message a successor sends once it accepts on the inherited socket. */
export interface ReadyMessage {
  readonly sluice: "ready";
  readonly pid: number;
}

/** Set in a successor's environment to its predecessor's pid. */
const PREDECESSOR_ENV = "SLUICE_TAKEOVER_FROM";

/** Whether handOver() started this process (on `listenFd`): it then replaces a proxy that serves, and must not do so without a config. */
export function isSuccessor(listenFd: number | undefined): boolean {
  return listenFd !== undefined && process.env[PREDECESSOR_ENV] !== undefined;
}

/** The inherited listening socket's descriptor in the successor. */
export const INHERITED_FD = 3;

export type HandoverResult = { readonly ok: true; readonly pid: number } | { readonly ok: false; readonly reason: string };

/**
 * Starts the successor with `listenFd` as its fd 3 and waits until it is ready. The
 * successor runs detached (its own session), so it outlives this process.
 */
export function handOver(listenFd: number, argv: readonly string[] = process.argv.slice(1)): Promise<HandoverResult> {
  const args = [...process.execArgv, ...withoutListenFd(argv), "--listen-fd", String(INHERITED_FD)];
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, {
      stdio: ["ignore", "inherit", "inherit", listenFd, "ipc"],
      detached: true,
      env: { ...process.env, [PREDECESSOR_ENV]: String(process.pid) },
    });
  } catch (err: unknown) {
    return Promise.resolve({ ok: false, reason: `cannot start: ${(err as Error).message}` });
  }
  return new Promise((resolve) => {
    const finish = (result: HandoverResult): void => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      child.off("error", onError);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(result);
    };
    const onMessage = (m: unknown): void => {
      if (isReady(m)) finish({ ok: true, pid: m.pid });
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish({ ok: false, reason: `pid ${child.pid} exited before it was ready (${signal ?? `code ${code}`})` });
    const onError = (err: Error): void => finish({ ok: false, reason: err.message });
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      finish({ ok: false, reason: `pid ${child.pid} not ready within ${READY_TIMEOUT_MS / 1000}s` });
    }, READY_TIMEOUT_MS);
    // A drain that ends meanwhile (SIGTERM during the handover) need not wait for it.
    timer.unref();
    child.on("message", onMessage);
    child.on("exit", onExit);
    child.on("error", onError);
  });
}

/**
 * In a successor: tell the predecessor we accept on the socket, then cut the tie. Only a
 * process started by handOver() does this: an IPC channel from anyone else (a process
 * manager such as pm2) is not ours to use or close.
 */
export function announceReady(): void {
  const predecessor = process.env[PREDECESSOR_ENV];
  delete process.env[PREDECESSOR_ENV];
  if (predecessor === undefined || process.send === undefined) return;
  const message: ReadyMessage = { sluice: "ready", pid: process.pid };
  process.send(message, (err: Error | null) => {
    if (err !== null) logger.warn({ err: err.message, code: codeOf(err) }, "could not tell the previous sluice we are ready");
    if (process.connected) process.disconnect();
  });
}

function isReady(m: unknown): m is ReadyMessage {
  return typeof m === "object" && m !== null && (m as { sluice?: unknown }).sluice === "ready" && typeof (m as { pid?: unknown }).pid === "number";
}

/** The command line without a previous `--listen-fd N` (a successor of a successor gets fd 3 again). */
function withoutListenFd(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--listen-fd") i++;
    else if (!a.startsWith("--listen-fd=")) out.push(a);
  }
  return out;
}

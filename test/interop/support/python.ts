// grpcio (Python, C-core) peers for the interop tests: test/interop/python/echo_server.py,
// an echo server that behaves like the grpc-js one, and echo_client.py, which runs a plan of
// calls against several targets. Both speak JSON lines on stdio.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { repoPath } from "../../support/paths.js";
import { pythonWithGrpc } from "./tools.js";

const SERVER = repoPath("test/interop/python/echo_server.py");
const CLIENT = repoPath("test/interop/python/echo_client.py");

/** One line of echo_server.py's output. */
export interface ServerEvent {
  readonly event: "listening" | "begin" | "end";
  readonly port?: number;
  readonly method?: string;
  readonly tag?: string | null;
  /** On "end": the RPC terminated before the handler answered. */
  readonly cancelled?: boolean;
}

function spawnPython(script: string): { child: ChildProcessWithoutNullStreams; stderr: () => string } {
  // -u: unbuffered, so each JSON line arrives as soon as it is printed.
  const child = spawn(pythonWithGrpc(), ["-u", script], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return { child, stderr: () => stderr };
}

async function kill(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = once(child, "close");
  child.kill("SIGKILL");
  await closed;
}

export interface PythonEchoServer {
  readonly port: number;
  /** Resolves with the first event (past or future) that matches; rejects if the server exits. */
  waitFor(match: (e: ServerEvent) => boolean): Promise<ServerEvent>;
  stop(): Promise<void>;
}

export async function startPythonEchoServer(): Promise<PythonEchoServer> {
  const { child, stderr } = spawnPython(SERVER);
  const events: ServerEvent[] = [];
  const waiters = new Set<{ match: (e: ServerEvent) => boolean; resolve: (e: ServerEvent) => void }>();
  let exited: Error | undefined;
  const failWaiters = new Set<(err: Error) => void>();
  createInterface({ input: child.stdout }).on("line", (line) => {
    const e = JSON.parse(line) as ServerEvent;
    events.push(e);
    for (const w of waiters) {
      if (w.match(e)) {
        waiters.delete(w);
        w.resolve(e);
      }
    }
  });
  child.once("close", (code, signal) => {
    exited = new Error(`echo_server.py exited (${code ?? signal}): ${stderr()}`);
    for (const fail of failWaiters) fail(exited);
  });
  const waitFor = (match: (e: ServerEvent) => boolean): Promise<ServerEvent> => {
    const seen = events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    if (exited !== undefined) return Promise.reject(exited);
    return new Promise<ServerEvent>((resolve, reject) => {
      const w = { match, resolve: (e: ServerEvent): void => (failWaiters.delete(reject), resolve(e)) };
      waiters.add(w);
      failWaiters.add(reject);
    });
  };
  try {
    const listening = await waitFor((e) => e.event === "listening");
    return { port: listening.port!, waitFor, stop: () => kill(child) };
  } catch (err) {
    await kill(child);
    throw err;
  }
}

export type Method = "Unary" | "ServerStream" | "ClientStream" | "Bidi";

export interface PlannedCall {
  readonly method: Method;
  readonly requests?: readonly Buffer[];
  /** -bin keys take Buffers. */
  readonly metadata?: Readonly<Record<string, string | Buffer>>;
  /** Deadline, seconds. */
  readonly timeout?: number;
  /** Bidi only: cancel the call once its response headers arrive. */
  readonly cancel?: "after-headers";
}

export type MetadataValue = string | { readonly b64: string };

/** What the grpcio client saw; `messages` and -bin metadata values are base64. */
export interface CallOutcome {
  readonly code: number;
  readonly details: string;
  readonly headers: [string, MetadataValue][] | null;
  readonly trailers: [string, MetadataValue][] | null;
  readonly messages: string[];
}

function plannedJson(call: PlannedCall): unknown {
  return {
    method: call.method,
    requests: (call.requests ?? []).map((r) => r.toString("base64")),
    metadata: Object.entries(call.metadata ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? { b64: v.toString("base64") } : v]),
    timeout: call.timeout,
    cancel: call.cancel,
  };
}

/** TLS channels for runPythonClient (file paths, PEM). */
export interface PythonClientTls {
  /** The CA the servers' certificates are checked against. */
  readonly root: string;
  /** A client certificate and its key, for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
  /** grpc.ssl_target_name_override: the name the servers' certificates must carry (also the SNI and :authority). */
  readonly override?: string;
}

/**
 * A client run that outlives this is killed, so a hung call fails the test instead of the file.
 * A hang guard, not a speed limit: a run takes under a second on an idle machine, up to 10 s on a loaded one.
 */
const CLIENT_LIMIT_MS = 60_000;

/**
 * Runs every call against every target (a grpcio channel per target) and returns the
 * outcomes per target. With `whileOpen`, the channels stay open until it resolves. With
 * `tls`, every channel is a TLS one; without, plaintext.
 */
export async function runPythonClient(
  targets: readonly string[],
  calls: readonly PlannedCall[],
  whileOpen?: (outcomes: CallOutcome[][]) => Promise<void>,
  tls?: PythonClientTls,
): Promise<CallOutcome[][]> {
  const { child, stderr } = spawnPython(CLIENT);
  const limit = setTimeout(() => child.kill("SIGKILL"), CLIENT_LIMIT_MS);
  try {
    const closed = once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
    child.stdin.write(JSON.stringify({ targets, hold: whileOpen !== undefined, calls: calls.map(plannedJson), tls }) + "\n");
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done === true) {
      const [code] = await closed;
      throw new Error(`echo_client.py exited (${code}) without results: ${stderr()}`);
    }
    const { results } = JSON.parse(first.value) as { results: CallOutcome[][] };
    if (whileOpen !== undefined) await whileOpen(results);
    child.stdin.end();
    const [code, signal] = await closed;
    if (code !== 0) throw new Error(`echo_client.py exited (${code ?? signal}): ${stderr()}`);
    return results;
  } finally {
    clearTimeout(limit);
    await kill(child);
  }
}

/** An outcome's metadata as a key -> values map (binary values as Buffers), for assertions. */
export function metadataMap(pairs: readonly [string, MetadataValue][] | null): Record<string, (string | Buffer)[]> {
  const out: Record<string, (string | Buffer)[]> = {};
  for (const [k, v] of pairs ?? []) (out[k] ??= []).push(typeof v === "string" ? v : Buffer.from(v.b64, "base64"));
  return out;
}

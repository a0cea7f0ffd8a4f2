// Runs h2load (nghttp2-client) against a target and parses its summary. h2load only sees
// HTTP: a gRPC error is still HTTP 200, so the parsed DATA byte count is checked against
// "every response echoed the request frame" to catch trailers-only error responses.
import { runToEnd } from "./procs.js";

export interface H2loadResult {
  readonly seconds: number;
  readonly rps: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  /** Response DATA bytes; equals done x frame size when every RPC was echoed. */
  readonly dataBytes: number;
  readonly meanRequestMs: number;
}

export interface H2loadRun {
  readonly url: string;
  readonly bodyFile: string;
  readonly clients: number;
  readonly streams: number;
  /** Timing mode: run this many seconds. */
  readonly durationS?: number;
  /** Count mode: this many requests in total. */
  readonly requests?: number;
  /** Fixed rate per client (h2load --rps). */
  readonly rpsPerClient?: number;
  readonly core?: number;
}

export async function h2load(run: H2loadRun): Promise<H2loadResult> {
  const args = [
    "-c", String(run.clients),
    "-m", String(run.streams),
    "-t", "1",
    "-d", run.bodyFile,
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
  ];
  if (run.durationS !== undefined) args.push("-D", String(run.durationS));
  if (run.requests !== undefined) args.push("-n", String(run.requests));
  if (run.rpsPerClient !== undefined) args.push(`--rps=${run.rpsPerClient}`);
  args.push(run.url);
  const expectedS = run.durationS ?? (run.rpsPerClient !== undefined && run.requests !== undefined
    ? run.requests / (run.rpsPerClient * run.clients)
    : 30);
  const out = await runToEnd("h2load", args, { core: run.core, timeoutMs: (expectedS + 30) * 1000 });
  if (out.code !== 0) throw new Error(`h2load exited with ${out.code}: ${out.stderr || out.stdout}`);
  return parse(out.stdout);
}

export function parse(text: string): H2loadResult {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (m === null) throw new Error(`h2load output has no ${what}:\n${text}`);
    return Number(m[1]);
  };
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  if (reqs === null) throw new Error(`h2load output has no requests line:\n${text}`);
  const timeFor = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(text);
  const meanMs = timeFor === null ? NaN : duration(timeFor, "mean request time");
  return {
    seconds: duration(/finished in ([\d.]+)(us|ms|s),/.exec(text), "finish time") / 1000,
    rps: num(/finished in [\d.]+(?:us|ms|s), ([\d.]+) req\/s/, "req/s"),
    done: Number(reqs[3]),
    succeeded: Number(reqs[4]),
    failed: Number(reqs[5]),
    errored: Number(reqs[6]),
    timeout: Number(reqs[7]),
    status2xx: num(/status codes: (\d+) 2xx/, "status codes"),
    dataBytes: num(/traffic: .*?, .*?headers .*?, \S+ \((\d+)\) data/, "data bytes"),
    meanRequestMs: meanMs,
  };

  /** A matched "<number><us|ms|s>" in milliseconds. */
  function duration(m: RegExpExecArray | null, what: string): number {
    if (m === null) throw new Error(`h2load output has no ${what}:\n${text}`);
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  }
}

// Runs h2load (nghttp2-client) against a target and parses its summary. h2load only sees
// HTTP: a gRPC error is still HTTP 200, so the parsed DATA byte count is checked against
// "every response echoed the request frame" to catch trailers-only error responses.
// With a log file, h2load also writes one line per request, from which readRequestLog()
// takes latency percentiles.
import { readFileSync, rmSync } from "node:fs";
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
  /** Over https://: what h2load negotiated, e.g. "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 h2". */
  readonly tls?: string;
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
  /**
   * Fixed rate per client (h2load --rps). h2load's rate timer fires every max(10 ms, 1/rps)
   * and submits every request then due at once: above 100 per client, requests leave in bursts.
   */
  readonly rpsPerClient?: number;
  /** Open this many connections per period (h2load -r / --rate-period) instead of all at once. */
  readonly connectRate?: { readonly perPeriod: number; readonly periodMs: number };
  readonly core?: number;
  /** h2load --log-file: one tab-separated line per request (see readRequestLog). */
  readonly logFile?: string;
}

/** Per-request latency from an h2load --log-file, in microseconds. */
export interface RequestLatency {
  readonly count: number;
  /** Streams h2load logged with status -1 (reset, connection lost); not in the percentiles. */
  readonly failed: number;
  /** Responses with a status other than 200 (-1 excluded); not in the percentiles. */
  readonly non200: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

export async function h2load(run: H2loadRun): Promise<H2loadResult> {
  const args = [
    "-c",
    String(run.clients),
    "-m",
    String(run.streams),
    "-t",
    "1",
    "-d",
    run.bodyFile,
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
  ];
  if (run.durationS !== undefined) args.push("-D", String(run.durationS));
  if (run.requests !== undefined) args.push("-n", String(run.requests));
  if (run.rpsPerClient !== undefined) args.push(`--rps=${run.rpsPerClient}`);
  if (run.connectRate !== undefined) args.push("-r", String(run.connectRate.perPeriod), `--rate-period=${run.connectRate.periodMs}ms`);
  if (run.logFile !== undefined) {
    rmSync(run.logFile, { force: true }); // h2load appends to an existing log
    args.push(`--log-file=${run.logFile}`);
  }
  args.push(run.url);
  const expectedS = run.durationS ?? (run.rpsPerClient !== undefined && run.requests !== undefined ? run.requests / (run.rpsPerClient * run.clients) : 30);
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
    ...tlsOf(text),
  };

  /** A matched "<number><us|ms|s>" in milliseconds. */
  function duration(m: RegExpExecArray | null, what: string): number {
    if (m === null) throw new Error(`h2load output has no ${what}:\n${text}`);
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  }
}

/** h2load prints the first connection's TLS parameters ("TLS Protocol:", "Cipher:", ...). */
function tlsOf(text: string): { tls?: string } {
  const field = (name: string): string | undefined => new RegExp(`^${name}: (.*)$`, "m").exec(text)?.[1]?.trim();
  const protocol = field("TLS Protocol");
  if (protocol === undefined) return {};
  const key = field("Server Temp Key")?.split(" ")[0];
  return { tls: [protocol, field("Cipher"), key, field("Application protocol")].filter((f) => f !== undefined).join(" ") };
}

/**
 * Reads an h2load --log-file. Each line: request start (µs since the epoch), HTTP status
 * (-1 for a failed stream), µs from the request's start to the end of its response. The
 * start is when h2load submitted the stream, so time a request waited for a free stream
 * slot in h2load itself is not counted.
 */
export function readRequestLog(file: string): RequestLatency {
  const times: number[] = [];
  let failed = 0;
  let non200 = 0;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim().length === 0) continue;
    const [, status, micros] = line.split("\t");
    const us = Number(micros);
    if (status === undefined || !Number.isFinite(us)) throw new Error(`h2load log ${file}: cannot read line ${JSON.stringify(line)}`);
    if (status === "-1") failed++;
    else if (status !== "200") non200++;
    else times.push(us);
  }
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  return { count: times.length, failed, non200, p50Us: at(0.5), p99Us: at(0.99), maxUs: times[times.length - 1] ?? NaN };
}

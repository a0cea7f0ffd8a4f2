// nghttp and h2load (nghttp2's command-line HTTP/2 clients) as raw gRPC clients: the
// request is a hand-built length-prefixed message, the response is read off nghttp's -v log.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nghttp2Tool } from "./tools.js";

/** Kills a run that outlives this, so a hang fails the test instead of the file. */
const RUN_LIMIT_MS = 15_000;

/** One gRPC message: compressed flag 0, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Runs `use` with `body` in a temporary file (nghttp and h2load read request bodies from files). */
async function withBodyFile<T>(body: Buffer, use: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-interop-"));
  try {
    const file = join(dir, "body.bin");
    writeFileSync(file, body);
    return await use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function headerArgs(headers: Readonly<Record<string, string>>): string[] {
  return Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
}

async function run(command: string, args: readonly string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], timeout: RUN_LIMIT_MS, killSignal: "SIGKILL" });
  const out: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout: Buffer.concat(out), stderr };
}

/** One HEADERS block nghttp received: its fields in order, and whether it ended the stream. */
export interface HeaderBlock {
  readonly fields: [string, string][];
  readonly endStream: boolean;
}

export interface NghttpResponse {
  /** Response headers, then trailers if any; a trailers-only response is one block. */
  readonly blocks: HeaderBlock[];
  /** The response body: every received DATA frame's payload, in order. */
  readonly body: Buffer;
  /** error_code of a RST_STREAM nghttp received, if any. */
  readonly reset: string | undefined;
}

/**
 * POSTs `body` to `url` with `headers` via `nghttp -v`. In -v mode nghttp writes each DATA
 * frame's payload to stdout just before the line that logs the frame, so the payload is
 * the `length` bytes before that line (the bodies here are small: one read per frame).
 */
export async function nghttpPost(url: string, headers: Readonly<Record<string, string>>, body: Buffer): Promise<NghttpResponse> {
  const nghttp = nghttp2Tool("nghttp");
  const r = await withBodyFile(body, (file) => run(nghttp, ["-v", "--no-dep", "-d", file, ...headerArgs(headers), url]));
  // latin1: one character per byte, so string offsets are byte offsets into stdout.
  const log = r.stdout.toString("latin1");
  if (r.code !== 0) throw new Error(`nghttp exited ${r.code}: ${r.stderr}\n${log}`);
  const blocks: HeaderBlock[] = [];
  const parts: Buffer[] = [];
  let fields: [string, string][] = [];
  let reset: string | undefined;
  const event =
    /\[\s*[\d.]+\] recv (?:\(stream_id=\d+\) (:?[^:\n]+): ([^\n]*)|(HEADERS|DATA|RST_STREAM) frame <length=(\d+), flags=0x([0-9a-f]+)[^\n]*(?:\n {10}[^\n]*)*)/g;
  for (const m of log.matchAll(event)) {
    const [, name, value, frame, length, flags] = m;
    if (name !== undefined) fields.push([name, value!]);
    else if (frame === "HEADERS") {
      blocks.push({ fields, endStream: (parseInt(flags!, 16) & 0x1) !== 0 });
      fields = [];
    } else if (frame === "DATA") parts.push(r.stdout.subarray(m.index - Number(length), m.index));
    else reset = /error_code=(\w+)/.exec(m[0])?.[1];
  }
  return { blocks, body: Buffer.concat(parts), reset };
}

/** A header block's fields as a map (last value wins; these tests send each name once). */
export function fieldMap(block: HeaderBlock | undefined): Record<string, string> {
  return Object.fromEntries(block?.fields ?? []);
}

export interface H2loadCounts {
  readonly total: number;
  readonly started: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
}

/** Runs h2load (`-n requests -c clients -m streams` POSTing `body`) and parses its request counts. */
export async function h2load(
  url: string,
  opts: { requests: number; clients: number; streams: number },
  headers: Readonly<Record<string, string>>,
  body: Buffer,
): Promise<H2loadCounts> {
  const counts = ["-n", String(opts.requests), "-c", String(opts.clients), "-m", String(opts.streams)];
  const tool = nghttp2Tool("h2load");
  const r = await withBodyFile(body, (file) => run(tool, [...counts, "-d", file, ...headerArgs(headers), url]));
  const out = r.stdout.toString();
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const s = /status codes: (\d+) 2xx/.exec(out);
  if (r.code !== 0 || m === null || s === null) throw new Error(`h2load exited ${r.code} without its summary: ${r.stderr}\n${out}`);
  const [total, started, done, succeeded, failed, errored, timeout] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return { total, started, done, succeeded, failed, errored, timeout, status2xx: Number(s[1]) };
}

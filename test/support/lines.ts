// Output of a spawned `sluice` read as it comes, so tests wait for the line that says a thing
// happened (a reload applied, a drain begun) instead of sleeping; and a steady RPC load that
// records every outcome.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { renameSync, writeFileSync } from "node:fs";
import type { Readable } from "node:stream";
import type * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { CLI, withoutDefaultAdmin } from "./cli.js";
import { defer, type Owner } from "./teardown.js";

/** Everything a stream printed so far; waitFor() resolves once a pattern appears past a mark. */
export class Output {
  text = "";
  /** True once the stream has closed: nothing more will come. */
  closed = false;
  private readonly changed = new EventEmitter();

  constructor(stream: Readable) {
    stream.on("data", (c: Buffer) => {
      this.text += c.toString();
      this.changed.emit("data");
    });
    stream.on("close", () => {
      this.closed = true;
      this.changed.emit("data");
    });
  }

  /** Where the text ends now: waitFor(re, mark) looks only at what comes after. */
  mark(): number {
    return this.text.length;
  }

  waitFor(re: RegExp, from = 0, what = `output matching ${re}`): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (closed: boolean): void => {
        const m = re.exec(this.text.slice(from));
        if (m !== null) {
          this.changed.off("data", onData);
          resolve(m);
        } else if (closed) {
          this.changed.off("data", onData);
          reject(new Error(`stream closed before ${what}; it printed:\n${this.text}`));
        }
      };
      const onData = (): void => check(this.closed);
      this.changed.on("data", onData);
      check(this.closed);
    });
  }
}

export interface Sluice {
  readonly child: ChildProcess;
  readonly port: number;
  readonly out: Output;
  readonly err: Output;
}

/** Starts `sluice proxy ...args` and resolves once it listens. */
export async function spawnSluice(args: string[]): Promise<Sluice> {
  const child = spawn(process.execPath, [CLI, "proxy", ...withoutDefaultAdmin(args)], { stdio: ["ignore", "pipe", "pipe"] });
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`sluice exited with ${code}: ${err.text}`))));
  const m = await Promise.race([out.waitFor(/listening on [^\s]+:(\d+)/), exited]);
  return { child, port: Number(m[1]), out, err };
}

/** SIGTERM, then its exit code (at once if it has exited already; null if a signal ended it). */
export async function stopSluice(s: Sluice): Promise<number | null> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = once(s.child, "exit");
    s.child.kill("SIGTERM");
    await exited;
  }
  return s.child.exitCode;
}

/** When `owner` ends: stops `sluice` (SIGTERM: a drain) and fails the test unless it exits with 0. */
export function exitsCleanly(owner: Owner, sluice: Sluice): void {
  defer(owner, async () => assert.equal(await stopSluice(sluice), 0, sluice.err.text));
}

/** Replaces a file the way editors do: write a new file, rename it over the old one. */
export function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

export interface Outcome {
  readonly code: number;
  readonly details: string;
  readonly pod: string | undefined;
  /** The load's phase when the RPC started. */
  readonly phase: number;
}

/**
 * Clients that each keep `concurrency` unary RPCs in flight until stop(). Tests bump `phase`
 * when something happened (a reload acknowledged), so each outcome says whether its RPC
 * started before or after.
 */
export class Load {
  readonly outcomes: Outcome[] = [];
  phase = 0;
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly progress = new EventEmitter();

  constructor(clients: readonly grpc.Client[], concurrency: number, metadata: () => grpc.Metadata) {
    for (const c of clients) for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(c, metadata));
  }

  private async loop(client: grpc.Client, metadata: () => grpc.Metadata): Promise<void> {
    while (this.running) {
      const phase = this.phase;
      const r = await callUnary(client, Buffer.from("load"), metadata());
      const pod = r.headers?.get("x-pod")[0];
      this.outcomes.push({ code: r.code, details: r.details, pod: typeof pod === "string" ? pod : undefined, phase });
      this.progress.emit("done");
    }
  }

  /** Resolves once `n` more RPCs have completed. */
  completions(n: number): Promise<void> {
    const target = this.outcomes.length + n;
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.outcomes.length < target) return;
        this.progress.off("done", check);
        resolve();
      };
      this.progress.on("done", check);
    });
  }

  failures(): string[] {
    return this.outcomes.filter((o) => o.code !== 0).map((o) => `${o.code} ${o.details}`);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

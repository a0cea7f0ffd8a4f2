// Latency probe, run as its own process (pinned beside the backend): one grpc-js channel
// (src/demo/echo-client.ts), N concurrent loops of unary echo RPCs. Every RPC's status and
// echoed bytes are checked. Prints one JSON line with p50/p99 in microseconds.
// Usage: node dist/bench/latency.js TARGET CONCURRENCY COUNT WARMUP PAYLOAD_BYTES [CA_FILE]
// With CA_FILE the channel speaks TLS, verifying the server against that CA.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient } from "../src/demo/echo-client.js";

export interface LatencyResult {
  readonly count: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly seconds: number;
}

async function main(): Promise<void> {
  const [target, concurrencyArg, countArg, warmupArg, sizeArg, caFile] = process.argv.slice(2);
  if (target === undefined) throw new Error("usage: latency.js TARGET CONCURRENCY COUNT WARMUP PAYLOAD_BYTES");
  const concurrency = Number(concurrencyArg ?? 16);
  const count = Number(countArg ?? 4000);
  const warmup = Number(warmupArg ?? 200);
  const payload = Buffer.alloc(Number(sizeArg ?? 64), 0x61);
  const client =
    caFile === undefined
      ? echoClient(target)
      : new grpc.Client(target, grpc.credentials.createSsl(readFileSync(caFile)), { "grpc.use_local_subchannel_pool": 1 });
  const deadline = (): Date => new Date(Date.now() + 5000);
  let errors = 0;
  let firstError: string | null = null;
  const check = (code: number, details: string, response: Buffer | undefined): void => {
    if (code === 0 && response !== undefined && response.equals(payload)) return;
    errors++;
    firstError ??= code === 0 ? "OK status but response bytes differ" : `status ${code}: ${details}`;
  };
  // Warm-up: connection, JIT, proxy pools.
  let issued = 0;
  const loop = async (limit: number, samples: number[] | null): Promise<void> => {
    while (issued < limit) {
      issued++;
      const t0 = process.hrtime.bigint();
      const r = await callUnary(client, payload, undefined, { deadline: deadline() });
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      samples?.push(us);
      check(r.code, r.details, r.response);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => loop(warmup, null)));
  const warmErrors = errors;
  issued = 0;
  errors = 0;
  const samples: number[] = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, () => loop(count, samples)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  client.close();
  samples.sort((a, b) => a - b);
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? NaN;
  const result: LatencyResult = {
    count: samples.length,
    errors: errors + warmErrors,
    firstError,
    p50Us: at(0.5),
    p99Us: at(0.99),
    maxUs: samples[samples.length - 1] ?? NaN,
    seconds,
  };
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});

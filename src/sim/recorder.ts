// What a simulation measures: per backend and time bucket, the RPCs sent to it and the
// connections pinned to it; latencies (as the client sees them: connect wait, queue and
// service) and failures, counted from the measurement start on.
import { LatencyHistogram } from "../resilience/latency-histogram.js";

export class Recorder {
  /** rpcs[backend][bucket]: RPCs sent to the backend in the bucket. */
  readonly rpcs: number[][] = [];
  /** connections[backend][bucket]: connections pinned to it at the bucket's end (connection layers). */
  readonly connections: number[][] = [];
  /** RPCs per backend from the measurement start on. */
  readonly measured: number[] = [];
  readonly latency = new LatencyHistogram();
  readonly backendLatency: LatencyHistogram[] = [];
  /** Failed RPCs by reason, from the measurement start on. */
  readonly failures = new Map<string, number>();
  /** Every RPC finished from the measurement start on, failed or not. */
  finished = 0;
  /** Every RPC started over the whole run. */
  started = 0;
  /** Every RPC that ended over the whole run (the rest were still queued or running at the end). */
  endedAll = 0;
  /** Client connections opened from the measurement start on (connection layers). */
  connectionsOpened = 0;

  constructor(
    readonly bucketMs: number,
    readonly measureFromMs: number,
  ) {}

  addBackend(index: number): void {
    this.rpcs[index] = [];
    this.connections[index] = [];
    this.measured[index] = 0;
    this.backendLatency[index] = new LatencyHistogram();
  }

  sent(backend: number, now: number): void {
    const bucket = Math.floor(now / this.bucketMs);
    const row = this.rpcs[backend]!;
    while (row.length <= bucket) row.push(0);
    row[bucket]!++;
    if (now >= this.measureFromMs) this.measured[backend]!++;
  }

  /** An RPC that started at `startedAt` ended; `backend` is -1 when it never reached one. */
  ended(startedAt: number, now: number, backend: number, failure: string | null): void {
    this.endedAll++;
    if (startedAt < this.measureFromMs) return;
    this.finished++;
    if (failure !== null) {
      this.failures.set(failure, (this.failures.get(failure) ?? 0) + 1);
      return;
    }
    const ms = now - startedAt;
    this.latency.record(ms);
    if (backend >= 0) this.backendLatency[backend]!.record(ms);
  }

  /** Connections pinned per backend at the end of `bucket`. */
  sampleConnections(bucket: number, perBackend: readonly number[]): void {
    for (let b = 0; b < this.connections.length; b++) {
      const row = this.connections[b]!;
      while (row.length < bucket) row.push(0);
      row[bucket] = perBackend[b] ?? 0;
    }
  }

  get failed(): number {
    let n = 0;
    for (const v of this.failures.values()) n += v;
    return n;
  }
}

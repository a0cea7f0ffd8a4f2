// The Load Reporting Service (envoy.service.load_stats.v3, StreamLoadStats) beside ADS on
// the same gRPC server. A client opens one stream and sends its node first; sluice answers
// once, asking for every cluster (`send_all_clusters`, which grpc-js-xds needs: it matches a
// named cluster list off by one) every `intervalMs`. Each later request carries, per cluster
// and locality (one locality per endpoint), the counts of the client's last interval; they
// go to the sink. Input that does not fit (an unknown cluster or locality, a count that is
// not a non-negative integer, a missing interval) is dropped with a trace line, never thrown.
import type * as grpc from "@grpc/grpc-js";
import { tracer } from "../core/trace.js";
import type { EndpointLoad } from "./load-weights.js";

const trace = tracer("xds");

export interface LoadSink {
  /** False when the cluster or endpoint is not served (the report is ignored). */
  record(load: EndpointLoad): boolean;
}

interface LoadStatsResponse {
  readonly clusters: readonly string[];
  readonly send_all_clusters: boolean;
  readonly load_reporting_interval: { readonly seconds: number; readonly nanos: number };
}

type LrsCall = grpc.ServerDuplexStream<unknown, LoadStatsResponse>;

export class LrsService {
  private readonly calls = new Set<LrsCall>();
  private nextStream = 1;

  constructor(
    private readonly sink: LoadSink,
    private readonly intervalMs: number,
  ) {}

  /** The implementation to add with `server.addService(lrsServiceDefinition(), ...)`. */
  implementation(): grpc.UntypedServiceImplementation {
    return { StreamLoadStats: (call: LrsCall) => this.open(call) };
  }

  /** Ends every stream with OK (clients reopen them with backoff). */
  stop(): void {
    for (const call of this.calls) call.end();
    this.calls.clear();
  }

  private open(call: LrsCall): void {
    const id = this.nextStream++;
    this.calls.add(call);
    let answered = false;
    let nodeId: string | null = null;
    trace("LRS stream opened", { lrs: id, peer: call.getPeer() });
    call.on("data", (raw: unknown) => {
      const request = parseLoadStatsRequest(raw);
      nodeId ??= request.nodeId;
      for (const problem of request.problems) trace("LRS input ignored", { lrs: id, node: nodeId, problem });
      let recorded = 0;
      for (const load of request.loads) {
        if (this.sink.record(load)) recorded++;
        else trace("LRS load for an endpoint not served, ignored", { lrs: id, node: nodeId, cluster: load.cluster, endpoint: load.endpoint });
      }
      if (recorded > 0) trace("LRS load recorded", { lrs: id, node: nodeId, endpoints: recorded });
      if (!answered) {
        answered = true;
        const ms = this.intervalMs;
        call.write({ clusters: [], send_all_clusters: true, load_reporting_interval: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 } });
      }
    });
    const close = (why: string): void => {
      if (!this.calls.delete(call)) return;
      trace("LRS stream closed", { lrs: id, node: nodeId, why });
    };
    call.on("end", () => {
      close("client ended");
      call.end();
    });
    call.on("cancelled", () => close("cancelled"));
    call.on("error", (err: unknown) => close(err instanceof Error ? err.message : String(err)));
  }
}

export interface ParsedLoadStats {
  readonly nodeId: string | null;
  readonly loads: readonly EndpointLoad[];
  /** Why parts of the request were dropped. */
  readonly problems: readonly string[];
}

/** Reads a decoded LoadStatsRequest (proto-loader: snake_case, uint64 as strings); never throws. */
export function parseLoadStatsRequest(raw: unknown): ParsedLoadStats {
  const problems: string[] = [];
  const loads: EndpointLoad[] = [];
  const r = record(raw);
  if (r === null) return { nodeId: null, loads, problems: ["not a message"] };
  const node = record(r["node"]);
  const nodeId = node !== null && typeof node["id"] === "string" && node["id"] !== "" ? node["id"] : null;
  const stats = Array.isArray(r["cluster_stats"]) ? (r["cluster_stats"] as unknown[]) : [];
  for (const [i, rawCluster] of stats.entries()) {
    const c = record(rawCluster);
    const cluster = c === null ? "" : typeof c["cluster_name"] === "string" ? c["cluster_name"] : "";
    if (c === null || cluster === "") {
      problems.push(`cluster_stats[${i}]: no cluster_name`);
      continue;
    }
    const intervalMs = durationMs(c["load_report_interval"]);
    if (intervalMs === null) {
      problems.push(`cluster_stats[${i}] (${cluster}): load_report_interval missing or not positive`);
      continue;
    }
    const localities = Array.isArray(c["upstream_locality_stats"]) ? (c["upstream_locality_stats"] as unknown[]) : [];
    for (const [j, rawLocality] of localities.entries()) {
      const where = `cluster_stats[${i}] (${cluster}) upstream_locality_stats[${j}]`;
      const l = record(rawLocality);
      const locality = record(l?.["locality"]);
      const endpoint = typeof locality?.["sub_zone"] === "string" ? locality["sub_zone"] : "";
      if (l === null || endpoint === "") {
        problems.push(`${where}: no locality sub_zone (sluice serves one locality per endpoint, sub_zone ADDRESS:PORT)`);
        continue;
      }
      const counts = {
        issued: count(l["total_issued_requests"]),
        succeeded: count(l["total_successful_requests"]),
        failed: count(l["total_error_requests"]),
        inProgress: count(l["total_requests_in_progress"]),
      };
      const bad = Object.entries(counts).find(([, v]) => v === null);
      if (bad !== undefined) {
        problems.push(`${where} (${endpoint}): ${bad[0]} is not a non-negative integer`);
        continue;
      }
      loads.push({
        cluster,
        endpoint,
        issued: counts.issued ?? 0,
        succeeded: counts.succeeded ?? 0,
        failed: counts.failed ?? 0,
        inProgress: counts.inProgress ?? 0,
        intervalMs,
      });
    }
  }
  return { nodeId, loads, problems };
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** A uint64 as proto-loader gives it (a decimal string; a number from hand-made input); null if anything else. */
function count(v: unknown): number | null {
  if (v === undefined || v === null) return 0;
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : typeof v === "number" ? v : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function durationMs(v: unknown): number | null {
  const d = record(v);
  if (d === null) return null;
  const seconds = count(d["seconds"]);
  const nanos = count(d["nanos"]);
  if (seconds === null || nanos === null) return null;
  const ms = seconds * 1000 + nanos / 1e6;
  return ms > 0 && Number.isFinite(ms) ? ms : null;
}

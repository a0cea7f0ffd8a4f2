// The Aggregated Discovery Service (xDS v3, state of the world) over gRPC. Each stream keeps,
// per type URL, what the client subscribed to, what was last sent (version and nonce) and
// what it accepted or rejected. A response is sent when a subscription changes; an ACK (the
// last nonce, no error_detail) records the version as accepted; a NACK (error_detail) is
// logged and recorded, the client keeps its last good version, and nothing is resent until
// the config changes. `update()` pushes every changed type to every stream subscribed to it.
// With `weightsFromLoad`, the same gRPC server also serves LRS: clients' load reports feed
// per-endpoint weights (load-weights.ts), and new weights rebuild and push the EDS resources.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { ProxyConfig } from "../config/types.js";
import { Status } from "../core/status.js";
import { logger, tracer } from "../core/trace.js";
import { adsServiceDefinition, lrsServiceDefinition, RESOURCE_TYPES, TYPE_URL, type AnyMessage } from "../xds-proto/protos.js";
import { buildResources, loadWeightedEndpoints, type ResourceSet } from "./to-xds.js";
import { LoadWeightEstimator, type Weights } from "./load-weights.js";
import { LrsService } from "./lrs-server.js";

const trace = tracer("xds");

/** A DiscoveryRequest, parsed from what proto-loader decoded (field names as in the .proto). */
export interface DiscoveryRequest {
  readonly nodeId: string | null;
  readonly versionInfo: string;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  /** The client's reason for rejecting the response named by responseNonce; null = ACK. */
  readonly errorDetail: { readonly code: number; readonly message: string } | null;
}

interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly AnyMessage[];
  readonly type_url: string;
  readonly nonce: string;
}

/** What one client was told about one type, and what it made of it. */
export interface TypeSubscription {
  /** "wildcard": a first LDS/CDS request naming nothing (the legacy "send me all"). */
  readonly names: ReadonlySet<string> | "wildcard";
  /** The last response sent; null until the first. */
  readonly sent: { readonly version: string; readonly nonce: string } | null;
  /** The last version the client ACKed; null until it does. */
  readonly accepted: string | null;
  /** The last NACK, until a later version is ACKed. */
  readonly rejected: { readonly version: string; readonly message: string } | null;
}

export type StreamState =
  | { readonly t: "open"; readonly id: number; readonly nodeId: string | null; readonly types: ReadonlyMap<string, TypeSubscription> }
  | { readonly t: "closed"; readonly id: number; readonly nodeId: string | null };

export interface AckEvent {
  readonly stream: number;
  readonly nodeId: string | null;
  readonly typeUrl: string;
  readonly version: string;
}

export interface NackEvent extends AckEvent {
  readonly message: string;
}

export interface WeightsEvent {
  /** xDS cluster name -> `ADDRESS:PORT` -> learned weight (1..100; 100 = the fastest, or not yet known). */
  readonly weights: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The ClusterLoadAssignment version that carries them. */
  readonly version: string;
}

export interface AdsServerEvents {
  ack: [AckEvent];
  nack: [NackEvent];
  /** A response went out: after a subscription change or a push. */
  sent: [AckEvent & { readonly names: readonly string[] }];
  /** New endpoint weights from load reports were published (EDS rebuilt and pushed). */
  weights: [WeightsEvent];
}

export interface AdsServerOptions {
  /** Learn endpoint weights from clients' load reports (LRS), reported every `intervalMs`. */
  readonly weightsFromLoad?: { readonly intervalMs: number; readonly now?: () => number };
}

interface LoadWeightingState {
  readonly estimator: LoadWeightEstimator;
  readonly lrs: LrsService;
  readonly intervalMs: number;
  timer: NodeJS.Timeout | null;
}

type AdsCall = grpc.ServerDuplexStream<unknown, DiscoveryResponse>;

interface Stream {
  readonly call: AdsCall;
  state: StreamState;
}

/** The types where a first request naming nothing means "all" (xDS's legacy wildcard). */
const SUBSCRIBE_ALL_WHEN_EMPTY: ReadonlySet<string> = new Set([TYPE_URL.listener, TYPE_URL.cluster]);

export class AdsServer extends EventEmitter<AdsServerEvents> {
  private resources: ResourceSet;
  /** Per type URL: bumped whenever that type's resources change. */
  private readonly versions = new Map<string, number>();
  private readonly streams = new Map<number, Stream>();
  private nextStreamId = 1;
  private nextNonce = 1;
  private server: grpc.Server | null = null;
  private config: ProxyConfig;
  private readonly weighting: LoadWeightingState | null;

  constructor(config: ProxyConfig, options: AdsServerOptions = {}) {
    super();
    this.config = config;
    const w = options.weightsFromLoad;
    if (w !== undefined) {
      const estimator = new LoadWeightEstimator({ intervalMs: w.intervalMs, now: w.now ?? (() => performance.now()) });
      estimator.setEndpoints(loadWeightedEndpoints(config));
      this.weighting = { estimator, lrs: new LrsService(estimator, w.intervalMs), intervalMs: w.intervalMs, timer: null };
    } else this.weighting = null;
    this.resources = this.build();
    for (const t of RESOURCE_TYPES) this.versions.set(t, 1);
  }

  private build(): ResourceSet {
    const w = this.weighting;
    return w === null ? buildResources(this.config) : buildResources(this.config, { weights: w.estimator.current() });
  }

  /** Binds to host:port (port 0 = any) and returns the port. */
  async start(host: string, port: number): Promise<number> {
    const server = new grpc.Server();
    server.addService(adsServiceDefinition(), {
      StreamAggregatedResources: (call: AdsCall) => this.openStream(call),
      DeltaAggregatedResources: (call: AdsCall) => {
        call.emit("error", { code: Status.UNIMPLEMENTED, details: "sluice serves state-of-the-world ADS only (StreamAggregatedResources)" });
      },
    });
    const weighting = this.weighting;
    if (weighting !== null) server.addService(lrsServiceDefinition(), weighting.lrs.implementation());
    const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.server = server;
    if (weighting !== null && weighting.timer === null) {
      weighting.timer = setInterval(() => this.tickWeights(weighting), weighting.intervalMs);
      weighting.timer.unref();
    }
    trace("listening", { address, port: bound });
    return bound;
  }

  /** Ends every stream with OK (clients reconnect elsewhere or later) and closes the server. */
  async stop(): Promise<void> {
    if (this.weighting !== null) {
      if (this.weighting.timer !== null) clearInterval(this.weighting.timer);
      this.weighting.timer = null;
      this.weighting.lrs.stop();
    }
    for (const s of this.streams.values()) s.call.end();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }

  /**
   * Recomputes the resources from `config` and pushes what changed; returns the changed type
   * URLs. Learned weights stay for the endpoints that remain.
   */
  update(config: ProxyConfig): string[] {
    this.config = config;
    this.weighting?.estimator.setEndpoints(loadWeightedEndpoints(config));
    return this.setResources(this.build());
  }

  /** One reporting interval passed: fold the reports; new weights rebuild EDS (the rest is unchanged) and push it. */
  private tickWeights(w: LoadWeightingState): void {
    const weights = w.estimator.tick();
    if (weights === null) return;
    this.setResources(this.build());
    const event: WeightsEvent = { weights: plainWeights(weights), version: String(this.versions.get(TYPE_URL.endpoint) ?? 0) };
    trace("weights from load", { ...event, estimates: w.estimator.estimates() });
    this.emit("weights", event);
  }

  /**
   * Serves `next` as the current resources: each type whose resources differ gets a new
   * version, sent to every stream subscribed to that type. Returns the changed type URLs.
   */
  setResources(next: ResourceSet): string[] {
    const changed = RESOURCE_TYPES.filter((t) => !sameResources(this.resources.byType.get(t), next.byType.get(t)));
    this.resources = next;
    for (const t of changed) this.versions.set(t, (this.versions.get(t) ?? 0) + 1);
    trace("resources updated", { changed, versions: Object.fromEntries(this.versions) });
    for (const stream of this.streams.values()) {
      if (stream.state.t !== "open") continue;
      for (const t of changed) {
        const sub = stream.state.types.get(t);
        if (sub !== undefined) this.respond(stream, t, sub);
      }
    }
    return changed;
  }

  /** How many resources of each type are served. */
  counts(): Record<string, number> {
    return Object.fromEntries(RESOURCE_TYPES.map((t) => [t.slice(t.lastIndexOf(".") + 1), this.resources.byType.get(t)?.size ?? 0]));
  }

  /** Every open stream's state, for the admin server and tests. */
  streamStates(): StreamState[] {
    return [...this.streams.values()].map((s) => s.state);
  }

  private openStream(call: AdsCall): void {
    const id = this.nextStreamId++;
    const stream: Stream = { call, state: { t: "open", id, nodeId: null, types: new Map() } };
    this.streams.set(id, stream);
    trace("stream opened", { stream: id, peer: call.getPeer() });
    const close = (why: string): void => {
      if (stream.state.t === "closed") return;
      trace("stream closed", { stream: id, why });
      stream.state = { t: "closed", id, nodeId: stream.state.nodeId };
      this.streams.delete(id);
    };
    call.on("data", (raw: unknown) => {
      const request = parseDiscoveryRequest(raw);
      if (typeof request === "string") {
        call.emit("error", { code: Status.INVALID_ARGUMENT, details: `bad DiscoveryRequest: ${request}` });
        close(request);
        return;
      }
      this.onRequest(stream, request);
    });
    call.on("end", () => {
      close("client ended");
      call.end();
    });
    call.on("cancelled", () => close("cancelled"));
    call.on("error", (err: unknown) => close(err instanceof Error ? err.message : String(err)));
  }

  private onRequest(stream: Stream, request: DiscoveryRequest): void {
    const state = stream.state;
    if (state.t !== "open") return;
    const nodeId = state.nodeId ?? request.nodeId;
    const t = request.typeUrl;
    if (!this.versions.has(t)) {
      trace("request for a type sluice does not serve, ignored", { stream: state.id, typeUrl: t });
      return;
    }
    const prev = state.types.get(t);
    if (prev !== undefined && request.responseNonce !== "" && request.responseNonce !== prev.sent?.nonce) {
      // The xDS protocol: a request answering an older response is superseded; ignore it.
      trace("stale nonce, ignored", { stream: state.id, typeUrl: t, nonce: request.responseNonce });
      return;
    }
    let sub: TypeSubscription = prev ?? { names: new Set(), sent: null, accepted: null, rejected: null };
    const answersLast = prev?.sent != null && request.responseNonce === prev.sent.nonce;
    if (answersLast && request.errorDetail !== null) {
      sub = { ...sub, rejected: { version: prev.sent?.version ?? "", message: request.errorDetail.message } };
      logger.warn(
        { stream: state.id, node: nodeId, typeUrl: t, version: prev.sent?.version, error: request.errorDetail.message },
        "xDS client rejected a response (NACK); it keeps its last accepted version",
      );
      this.emit("nack", { stream: state.id, nodeId, typeUrl: t, version: sub.rejected?.version ?? "", message: request.errorDetail.message });
    } else if (answersLast) {
      sub = { ...sub, accepted: request.versionInfo, rejected: null };
      trace("ACK", { stream: state.id, typeUrl: t, version: request.versionInfo });
      this.emit("ack", { stream: state.id, nodeId, typeUrl: t, version: request.versionInfo });
    }
    // A wildcard subscription (the first request names nothing, or names "*") stays one while
    // later requests (the ACKs) name nothing: an ACK of [] must not turn it into "no resources".
    const wildcard =
      SUBSCRIBE_ALL_WHEN_EMPTY.has(t) &&
      (request.resourceNames.includes("*") || (request.resourceNames.length === 0 && (prev === undefined || prev.names === "wildcard")));
    const names: ReadonlySet<string> | "wildcard" = wildcard ? "wildcard" : new Set(request.resourceNames);
    const namesChanged = prev === undefined || !sameNames(prev.names, names);
    sub = { ...sub, names };
    const types = new Map(state.types).set(t, sub);
    stream.state = { t: "open", id: state.id, nodeId, types };
    // A request without a nonce is a (re)subscription: it gets an answer even if the names are the same.
    if (namesChanged || request.responseNonce === "") this.respond(stream, t, sub);
  }

  private respond(stream: Stream, typeUrl: string, sub: TypeSubscription): void {
    const state = stream.state;
    if (state.t !== "open") return;
    const all = this.resources.byType.get(typeUrl) ?? new Map<string, AnyMessage>();
    const names = sub.names === "wildcard" ? [...all.keys()] : [...sub.names].filter((n) => all.has(n));
    const version = String(this.versions.get(typeUrl) ?? 0);
    const nonce = String(this.nextNonce++);
    const resources = names.flatMap((n) => {
      const r = all.get(n);
      return r === undefined ? [] : [r];
    });
    stream.call.write({ version_info: version, resources, type_url: typeUrl, nonce });
    const types = new Map(state.types).set(typeUrl, { ...sub, sent: { version, nonce } });
    stream.state = { ...state, types };
    trace("response sent", { stream: state.id, typeUrl, version, nonce, names });
    this.emit("sent", { stream: state.id, nodeId: state.nodeId, typeUrl, version, names });
  }
}

function plainWeights(w: Weights): Record<string, Record<string, number>> {
  return Object.fromEntries([...w].map(([cluster, endpoints]) => [cluster, Object.fromEntries(endpoints)]));
}

function sameNames(a: ReadonlySet<string> | "wildcard", b: ReadonlySet<string> | "wildcard"): boolean {
  if (a === "wildcard" || b === "wildcard") return a === b;
  return a.size === b.size && [...a].every((n) => b.has(n));
}

function sameResources(a: ReadonlyMap<string, AnyMessage> | undefined, b: ReadonlyMap<string, AnyMessage> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const [name, r] of a) {
    const other = b.get(name);
    if (other === undefined || other.type_url !== r.type_url || !Buffer.from(other.value).equals(Buffer.from(r.value))) return false;
  }
  return true;
}

/** Parses a decoded DiscoveryRequest; a string says what is wrong with it. */
export function parseDiscoveryRequest(raw: unknown): DiscoveryRequest | string {
  if (typeof raw !== "object" || raw === null) return "not a message";
  const r = raw as Record<string, unknown>;
  const typeUrl = r["type_url"];
  if (typeof typeUrl !== "string" || typeUrl === "") return "type_url is required";
  const names = r["resource_names"] ?? [];
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === "string")) return "resource_names must be strings";
  const node = r["node"];
  const nodeIdRaw = typeof node === "object" && node !== null ? (node as Record<string, unknown>)["id"] : undefined;
  const nodeId = typeof nodeIdRaw === "string" && nodeIdRaw !== "" ? nodeIdRaw : null;
  const err = r["error_detail"];
  let errorDetail: DiscoveryRequest["errorDetail"] = null;
  if (typeof err === "object" && err !== null) {
    const e = err as Record<string, unknown>;
    errorDetail = { code: typeof e["code"] === "number" ? e["code"] : Status.UNKNOWN, message: typeof e["message"] === "string" ? e["message"] : "" };
  }
  return {
    nodeId,
    versionInfo: typeof r["version_info"] === "string" ? r["version_info"] : "",
    resourceNames: names,
    typeUrl,
    responseNonce: typeof r["response_nonce"] === "string" ? r["response_nonce"] : "",
    errorDetail,
  };
}

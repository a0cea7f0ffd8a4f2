// An xDS client over one Aggregated Discovery Service stream (v3, state of the world): the
// other end of ads-server.ts, for the sluice:/// resolver and the proxy's --xds mode.
//
// It subscribes to Listeners (named, or wildcard LDS + wildcard CDS for "all"), then follows
// references as gRPC clients do (gRFC A27): a listener's HttpConnectionManager names its
// RouteConfiguration (RDS over ADS), routes name Clusters, EDS clusters name their
// ClusterLoadAssignment. Each response is decoded, then ACKed (its version and nonce) or, if
// anything in it cannot be decoded, NACKed with the reason while the last good resources are
// kept. Names no longer referenced are unsubscribed and their resources dropped. `update`
// carries a snapshot only when it is consistent: every subscribed name has arrived, or the
// server has had `resourceTimeoutMs` to send it (then it is taken not to exist, gRFC A27's
// does-not-exist timer). A lost stream is reopened after a jittered exponential backoff
// (gRPC's connection backoff) and resubscribes with the last accepted versions.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { systemClock, type Clock, type TimerHandle } from "../core/clock.js";
import { systemRandom, type Random } from "../core/random.js";
import { Status } from "../core/status.js";
import { logger, tracer } from "../core/trace.js";
import { Backoff } from "../upstream/backoff.js";
import { adsClientConstructor, TYPE_URL, unpackAny, type AnyMessage } from "./protos.js";
import type { DecodedResource, XdsResources } from "./xds-resources.js";

const trace = tracer("xds_client");

export interface AdsClientOptions {
  /** Control plane "host:port". */
  readonly server: string;
  readonly nodeId: string;
  /**
   * Listener names to follow, or "all" (wildcard LDS + wildcard CDS). RouteConfigurations
   * named by followed listeners (RDS over ADS), Clusters named by their routes' actions
   * (cluster / weighted_clusters), and the ClusterLoadAssignments of EDS clusters are
   * subscribed automatically.
   */
  readonly listeners: readonly string[] | "all";
  /** For reconnect backoff and the does-not-exist timer. */
  readonly clock?: Clock;
  /** For the backoff's jitter. */
  readonly random?: Random;
  /** How long a subscribed resource may take to arrive before it is taken not to exist (gRFC A27: 15 s). */
  readonly resourceTimeoutMs?: number;
}

export interface AdsClientEvents {
  /** Something changed and every referenced resource has arrived (a consistent snapshot). */
  update: [XdsResources];
  nack: [{ readonly typeUrl: string; readonly version: string; readonly message: string }];
  connection: ["connected" | "disconnected"];
  /** The stream ended (or could not be opened), with its status; a new one is opened after `retryInMs`. */
  streamEnded: [{ readonly code: number; readonly details: string; readonly retryInMs: number }];
}

export const DEFAULT_RESOURCE_TIMEOUT_MS = 15_000;

/** The subscription order: a referenced type after the type that references it. */
const TYPES = [TYPE_URL.listener, TYPE_URL.route, TYPE_URL.cluster, TYPE_URL.endpoint] as const;
type TypeUrl = (typeof TYPES)[number];

/** LDS and CDS responses hold every subscribed resource (absent = removed); RDS and EDS may hold only some. */
const COMPLETE_RESPONSES: ReadonlySet<string> = new Set([TYPE_URL.listener, TYPE_URL.cluster]);

interface Held {
  readonly bytes: Buffer;
  readonly decoded: DecodedResource;
}

interface TypeState {
  /** null = not subscribed (never asked for, or nothing to ask). */
  names: ReadonlySet<string> | "wildcard" | null;
  readonly resources: Map<string, Held>;
  /** The last accepted version ("" before any). */
  version: string;
  /** The last response's nonce on the current stream ("" on a new stream). */
  nonce: string;
  /** Subscribed names that have neither arrived nor timed out; for a wildcard, "*" until its first response. */
  readonly awaited: Set<string>;
  timer: TimerHandle | null;
  /**
   * Requests sent before the type's first response on this stream. When there was one, that
   * response answers it (a server sends no type before it is asked for), so an LDS/CDS name
   * absent from it does not exist; after more, the answer may predate the later names.
   */
  unansweredFirst: number;
}

interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly AnyMessage[];
  readonly type_url: string;
  readonly nonce: string;
}

type AdsCall = grpc.ClientDuplexStream<Record<string, unknown>, DiscoveryResponse>;

type Connection =
  | { readonly t: "idle" }
  | { readonly t: "streaming"; readonly call: AdsCall; readonly connected: boolean }
  | { readonly t: "backoff"; readonly timer: TimerHandle }
  | { readonly t: "closed" };

export class AdsClient extends EventEmitter<AdsClientEvents> {
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly resourceTimeoutMs: number;
  private readonly types = new Map<TypeUrl, TypeState>();
  private client: grpc.Client | null = null;
  private connection: Connection = { t: "idle" };
  /** Whether resources changed since the last `update`. */
  private dirty = true;
  private snapshot: XdsResources | null = null;

  constructor(private readonly opts: AdsClientOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff(opts.random ?? systemRandom);
    this.resourceTimeoutMs = opts.resourceTimeoutMs ?? DEFAULT_RESOURCE_TIMEOUT_MS;
    for (const t of TYPES) this.types.set(t, { names: null, resources: new Map(), version: "", nonce: "", awaited: new Set(), timer: null, unansweredFirst: 0 });
    const all = opts.listeners === "all";
    this.subscribe(TYPE_URL.listener, all ? "wildcard" : new Set(opts.listeners));
    if (all) this.subscribe(TYPE_URL.cluster, "wildcard");
  }

  start(): void {
    if (this.connection.t !== "idle") return;
    const Ctor = adsClientConstructor();
    this.client = new Ctor(this.opts.server, grpc.credentials.createInsecure());
    this.openStream();
  }

  /** Ends the stream and stops reconnecting; the last snapshot stays readable. */
  close(): void {
    const c = this.connection;
    this.connection = { t: "closed" };
    if (c.t === "streaming") c.call.cancel();
    if (c.t === "backoff") c.timer.cancel();
    for (const s of this.types.values()) this.stopTimer(s);
    this.client?.close();
    this.client = null;
    if (c.t === "streaming" && c.connected) this.emit("connection", "disconnected");
  }

  /** The last consistent snapshot; null before the first. */
  current(): XdsResources | null {
    return this.snapshot;
  }

  private state(t: TypeUrl): TypeState {
    const s = this.types.get(t);
    if (s === undefined) throw new Error(`unknown type ${t}`);
    return s;
  }

  private openStream(): void {
    const client = this.client;
    if (client === null || this.connection.t === "closed") return;
    const fn = (client as unknown as Record<string, (() => AdsCall) | undefined>)["StreamAggregatedResources"];
    if (fn === undefined) throw new Error("the ADS client has no StreamAggregatedResources");
    this.backoff.attempt(this.clock.now(), 0);
    const call = fn.call(client);
    this.connection = { t: "streaming", call, connected: false };
    trace("stream opened", { server: this.opts.server });
    call.on("data", (r: DiscoveryResponse) => {
      if (this.connection.t !== "streaming" || this.connection.call !== call) return;
      if (!this.connection.connected) {
        this.connection = { t: "streaming", call, connected: true };
        this.backoff.reset();
        this.emit("connection", "connected");
      }
      this.onResponse(r);
    });
    call.on("error", () => undefined); // the status carries it
    call.on("status", (status: grpc.StatusObject) => this.onStreamEnd(call, status));
    // A new stream: every subscription again, with the last accepted versions (and no nonce).
    for (const t of TYPES) {
      const s = this.state(t);
      s.nonce = "";
      s.unansweredFirst = 0;
      if (s.names === null) continue;
      this.send(t, null);
      this.startTimer(t);
    }
  }

  private onStreamEnd(call: AdsCall, status: grpc.StatusObject): void {
    const c = this.connection;
    if (c.t !== "streaming" || c.call !== call) return;
    const wait = this.backoff.failed(this.clock.now());
    logger.warn({ server: this.opts.server, code: status.code, details: status.details, retryInMs: Math.round(wait) }, "xDS stream to the control plane ended; reconnecting");
    for (const s of this.types.values()) this.stopTimer(s);
    this.connection = { t: "backoff", timer: this.clock.setTimer(wait, () => this.openStream()) };
    if (c.connected) this.emit("connection", "disconnected");
    this.emit("streamEnded", { code: status.code, details: status.details, retryInMs: wait });
  }

  /** A DiscoveryRequest for type `t` with its current names and version; `nack` makes it a NACK of the last response. */
  private send(t: TypeUrl, nack: string | null): void {
    const c = this.connection;
    if (c.t !== "streaming") return;
    const s = this.state(t);
    const names = s.names === "wildcard" || s.names === null ? [] : [...s.names];
    const request: Record<string, unknown> = {
      node: { id: this.opts.nodeId, user_agent_name: "sluice" },
      version_info: s.version,
      resource_names: names,
      type_url: t,
      response_nonce: s.nonce,
    };
    if (nack !== null) request["error_detail"] = { code: Status.INVALID_ARGUMENT, message: nack };
    if (s.nonce === "") s.unansweredFirst++;
    trace(nack === null ? "request" : "NACK", { typeUrl: t, version: s.version, nonce: s.nonce, names, error: nack });
    c.call.write(request);
  }

  private onResponse(r: DiscoveryResponse): void {
    const t = TYPES.find((x) => x === r.type_url);
    if (t === undefined) {
      trace("response of a type not asked for, ignored", { typeUrl: r.type_url });
      return;
    }
    const s = this.state(t);
    if (s.names === null) {
      // Not asked for: an ACK would subscribe (an LDS/CDS request naming nothing is a wildcard).
      trace("response of a type not subscribed to, ignored", { typeUrl: t });
      return;
    }
    s.nonce = r.nonce;
    const answersFirst = s.unansweredFirst === 1;
    s.unansweredFirst = 0;
    const decoded = decodeResponse(t, r.resources);
    if (typeof decoded === "string") {
      logger.warn({ server: this.opts.server, typeUrl: t, version: r.version_info, error: decoded }, "xDS response rejected (NACK); keeping the last accepted resources");
      this.send(t, decoded);
      this.emit("nack", { typeUrl: t, version: r.version_info, message: decoded });
      return;
    }
    const subscribed = s.names;
    const wanted = (name: string): boolean => subscribed === "wildcard" || (subscribed !== null && subscribed.has(name));
    if (COMPLETE_RESPONSES.has(t)) {
      for (const name of [...s.resources.keys()]) {
        if (!decoded.has(name)) this.drop(s, name);
      }
    }
    for (const [name, held] of decoded) {
      if (!wanted(name)) continue;
      const prev = s.resources.get(name);
      if (prev === undefined || !prev.bytes.equals(held.bytes)) {
        s.resources.set(name, held);
        this.dirty = true;
      }
      s.awaited.delete(name);
    }
    // Later name changes may cross a push (which lacks them); those wait for the timer instead.
    if (subscribed === "wildcard" || (answersFirst && COMPLETE_RESPONSES.has(t))) s.awaited.clear();
    if (s.awaited.size === 0) this.stopTimer(s);
    s.version = r.version_info;
    this.send(t, null);
    this.followReferences();
    this.maybeEmit();
  }

  /** Recomputes the names of RDS, CDS (unless wildcard) and EDS from what is held, in dependency order. */
  private followReferences(): void {
    const listeners = this.state(TYPE_URL.listener);
    const routeNames = new Set<string>();
    const inlineClusters = new Set<string>();
    for (const l of listeners.resources.values()) {
      const refs = listenerRefs(l.decoded);
      if (refs.routeName !== null) routeNames.add(refs.routeName);
      for (const c of refs.clusters) inlineClusters.add(c);
    }
    this.subscribe(TYPE_URL.route, routeNames);
    if (this.state(TYPE_URL.cluster).names !== "wildcard") {
      const clusterNames = new Set(inlineClusters);
      for (const r of this.state(TYPE_URL.route).resources.values()) for (const c of routeClusters(r.decoded)) clusterNames.add(c);
      this.subscribe(TYPE_URL.cluster, clusterNames);
    }
    const edsNames = new Set<string>();
    for (const c of this.state(TYPE_URL.cluster).resources.values()) {
      const eds = edsName(c.decoded);
      if (eds !== null) edsNames.add(eds);
    }
    this.subscribe(TYPE_URL.endpoint, edsNames);
  }

  /** Sets type `t`'s names; when they changed, drops what left, asks the server, and awaits what is new. */
  private subscribe(t: TypeUrl, names: ReadonlySet<string> | "wildcard"): void {
    const s = this.state(t);
    if (names !== "wildcard" && names.size === 0 && s.names === null) return; // nothing asked, nothing to ask
    if (s.names !== null && sameNames(s.names, names)) return;
    s.names = names;
    if (names === "wildcard") {
      if (s.resources.size === 0) s.awaited.add("*");
    } else {
      for (const name of [...s.resources.keys()]) if (!names.has(name)) this.drop(s, name);
      for (const name of [...s.awaited]) if (!names.has(name)) s.awaited.delete(name);
      for (const name of names) if (!s.resources.has(name)) s.awaited.add(name);
    }
    this.dirty = true;
    this.send(t, null);
    this.startTimer(t);
  }

  private drop(s: TypeState, name: string): void {
    if (s.resources.delete(name)) this.dirty = true;
  }

  /** Awaited names get `resourceTimeoutMs` to arrive, then are taken not to exist. */
  private startTimer(t: TypeUrl): void {
    const s = this.state(t);
    this.stopTimer(s);
    if (s.awaited.size === 0 || s.names === "wildcard" || this.connection.t !== "streaming") return;
    s.timer = this.clock.setTimer(this.resourceTimeoutMs, () => {
      s.timer = null;
      if (s.awaited.size === 0) return;
      logger.warn({ server: this.opts.server, typeUrl: t, names: [...s.awaited] }, "xDS resources did not arrive in time; taken not to exist");
      s.awaited.clear();
      this.maybeEmit();
    });
  }

  private stopTimer(s: TypeState): void {
    s.timer?.cancel();
    s.timer = null;
  }

  private maybeEmit(): void {
    if (!this.dirty || this.connection.t === "closed") return;
    for (const s of this.types.values()) if (s.awaited.size > 0) return;
    this.dirty = false;
    const view = (t: TypeUrl): ReadonlyMap<string, DecodedResource> => new Map([...this.state(t).resources].map(([name, h]) => [name, h.decoded]));
    this.snapshot = { listeners: view(TYPE_URL.listener), routes: view(TYPE_URL.route), clusters: view(TYPE_URL.cluster), endpoints: view(TYPE_URL.endpoint) };
    trace("update", { listeners: this.snapshot.listeners.size, routes: this.snapshot.routes.size, clusters: this.snapshot.clusters.size, endpoints: this.snapshot.endpoints.size });
    this.emit("update", this.snapshot);
  }
}

function sameNames(a: ReadonlySet<string> | "wildcard", b: ReadonlySet<string> | "wildcard"): boolean {
  if (a === "wildcard" || b === "wildcard") return a === b;
  return a.size === b.size && [...a].every((n) => b.has(n));
}

/** Decodes every resource of a response by name, or says why the response is rejected. */
export function decodeResponse(t: TypeUrl, resources: readonly AnyMessage[]): Map<string, Held> | string {
  const out = new Map<string, Held>();
  for (const [i, any] of resources.entries()) {
    if (any.type_url !== t) return `resource ${i} is a ${any.type_url}, not a ${t}`;
    let decoded: Record<string, unknown>;
    try {
      decoded = unpackAny(any);
    } catch (e: unknown) {
      return `resource ${i} cannot be decoded: ${e instanceof Error ? e.message : String(e)}`;
    }
    const name = t === TYPE_URL.endpoint ? decoded["cluster_name"] : decoded["name"];
    if (typeof name !== "string" || name === "") return `resource ${i} has no name`;
    if (out.has(name)) return `resource "${name}" appears twice`;
    if (t === TYPE_URL.listener) {
      const problem = listenerProblem(decoded);
      if (problem !== null) return `listener "${name}": ${problem}`;
    }
    out.set(name, { bytes: Buffer.from(any.value), decoded });
  }
  return out;
}

/** The HttpConnectionManager inside an ApiListener, decoded; null when the listener has none. */
export function httpConnectionManager(listener: DecodedResource): Record<string, unknown> | null {
  const api = obj(obj(listener["api_listener"])?.["api_listener"]);
  if (api === null) return null;
  const typeUrl = api["type_url"];
  const value = api["value"];
  if (typeUrl !== TYPE_URL.httpConnectionManager || !(value instanceof Uint8Array)) return null;
  return unpackAny({ type_url: typeUrl, value });
}

function listenerProblem(listener: DecodedResource): string | null {
  const api = obj(obj(listener["api_listener"])?.["api_listener"]);
  if (api === null) return null; // not an API listener: nothing here for a gRPC client, nothing to reject
  if (api["type_url"] !== TYPE_URL.httpConnectionManager) return `api_listener is a ${String(api["type_url"])}, not an HttpConnectionManager`;
  try {
    httpConnectionManager(listener);
  } catch (e: unknown) {
    return `its HttpConnectionManager cannot be decoded: ${e instanceof Error ? e.message : String(e)}`;
  }
  return null;
}

/** What a listener references: its RDS route configuration, or the clusters of an inline one. */
function listenerRefs(listener: DecodedResource): { routeName: string | null; clusters: string[] } {
  const hcm = httpConnectionManager(listener);
  if (hcm === null) return { routeName: null, clusters: [] };
  const rdsName = obj(hcm["rds"])?.["route_config_name"];
  const inline = obj(hcm["route_config"]);
  return { routeName: typeof rdsName === "string" && rdsName !== "" ? rdsName : null, clusters: inline === null ? [] : routeClusters(inline) };
}

/** The clusters a RouteConfiguration's route actions name (cluster and weighted_clusters). */
export function routeClusters(route: DecodedResource): string[] {
  const out: string[] = [];
  for (const vh of arr(route["virtual_hosts"])) {
    for (const r of arr(obj(vh)?.["routes"])) {
      const action = obj(obj(r)?.["route"]);
      if (action === null) continue;
      if (typeof action["cluster"] === "string") out.push(action["cluster"]);
      for (const w of arr(obj(action["weighted_clusters"])?.["clusters"])) {
        const name = obj(w)?.["name"];
        if (typeof name === "string") out.push(name);
      }
    }
  }
  return out;
}

/** The ClusterLoadAssignment name of an EDS cluster (its service_name, else its name); null for other types. */
export function edsName(cluster: DecodedResource): string | null {
  if (cluster["type"] !== "EDS") return null;
  const service = obj(cluster["eds_cluster_config"])?.["service_name"];
  if (typeof service === "string" && service !== "") return service;
  return typeof cluster["name"] === "string" ? cluster["name"] : null;
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

// An xDS client over one Aggregated Discovery Service stream (v3, state of the world): the
// other end of xds-server/ads-server.ts, for the sluice:/// resolver and the proxy's --xds mode.
//
// It subscribes to Listeners (named, or wildcard LDS + wildcard CDS for "all"), then follows
// references as gRPC clients do (gRFC A27): a listener's HttpConnectionManager names its
// RouteConfiguration (RDS over ADS), routes name Clusters, EDS clusters name their
// ClusterLoadAssignment. Each response is decoded resource by resource (gRFC A46): the valid
// ones are taken, and the response is ACKed (its version and nonce) or, if any resource in it
// is bad, NACKed naming them, the bad ones keeping their last good version. Names no longer
// referenced are unsubscribed and their resources dropped. `update` carries a snapshot only
// when it is consistent: every subscribed name has arrived, or the server has had
// `resourceTimeoutMs` to send it (then it is taken not to exist, gRFC A27's does-not-exist
// timer: one deadline per awaited name, counted from when it was first awaited on a stream
// that reached the control plane). A lost stream is reopened after a jittered exponential
// backoff (gRPC's connection backoff) and resubscribes with the last accepted versions.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { systemClock, type Clock, type TimerHandle } from "../core/clock.js";
import { InternalError, ProtoMissingError } from "../core/errors.js";
import { systemRandom, type Random } from "../core/random.js";
import { Status } from "../core/status.js";
import { logger, tracer } from "../core/trace.js";
import { Backoff } from "../core/backoff.js";
import { adsClientConstructor, RESOURCE_TYPES, TYPE_URL, unpackAny, type AnyMessage } from "../xds-proto/protos.js";
import type { DecodedResource, XdsResources } from "./decoded-resources.js";
import { clusterIdentity } from "./from-xds-cluster.js";
import { tlsFromXds } from "./from-xds-tls.js";

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

/** In subscription order: a referenced type after the type that references it. */
const TYPES = RESOURCE_TYPES;
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
  /**
   * Subscribed names that have neither arrived nor timed out (for a wildcard, "*" until its
   * first response), each with its deadline; null while the stream has not reached the server.
   */
  readonly awaited: Map<string, number | null>;
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
  /** Whether the current stream has reached the control plane (headers or a response): only then do deadlines run. */
  private reached = false;
  /** The one does-not-exist timer, for the earliest deadline. */
  private timer: TimerHandle | null = null;

  constructor(private readonly opts: AdsClientOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff(opts.random ?? systemRandom);
    this.resourceTimeoutMs = opts.resourceTimeoutMs ?? DEFAULT_RESOURCE_TIMEOUT_MS;
    for (const t of TYPES) this.types.set(t, { names: null, resources: new Map(), version: "", nonce: "", awaited: new Map(), unansweredFirst: 0 });
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
    this.stopTimer();
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
    if (s === undefined) throw new InternalError(`unknown type ${t}`);
    return s;
  }

  private openStream(): void {
    const client = this.client;
    if (client === null || this.connection.t === "closed") return;
    const fn = (client as unknown as Record<string, (() => AdsCall) | undefined>)["StreamAggregatedResources"];
    if (fn === undefined) throw new ProtoMissingError("the ADS client has no StreamAggregatedResources");
    this.backoff.attempt(this.clock.now(), 0);
    const call = fn.call(client);
    this.connection = { t: "streaming", call, connected: false };
    this.reached = false;
    trace("stream opened", { server: this.opts.server });
    // The server's headers (or a first response) say the control plane is reached: deadlines start then, not before.
    call.on("metadata", () => {
      if (this.connection.t === "streaming" && this.connection.call === call) this.reach();
    });
    call.on("data", (r: DiscoveryResponse) => {
      if (this.connection.t !== "streaming" || this.connection.call !== call) return;
      this.reach();
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
    // An LDS/CDS request naming nothing would be a wildcard on a new stream: not sent.
    for (const t of TYPES) {
      const s = this.state(t);
      s.nonce = "";
      s.unansweredFirst = 0;
      if (s.names === null) continue;
      if (s.names !== "wildcard" && s.names.size === 0 && COMPLETE_RESPONSES.has(t)) continue;
      this.send(t, null);
    }
  }

  /** The stream reached the control plane: every awaited name's deadline starts now (once per stream). */
  private reach(): void {
    if (this.reached) return;
    this.reached = true;
    const at = this.clock.now() + this.resourceTimeoutMs;
    for (const s of this.types.values()) for (const [name, deadline] of s.awaited) if (deadline === null) s.awaited.set(name, at);
    this.armTimer();
  }

  private onStreamEnd(call: AdsCall, status: grpc.StatusObject): void {
    const c = this.connection;
    if (c.t !== "streaming" || c.call !== call) return;
    const wait = this.backoff.failed(this.clock.now());
    logger.warn(
      { server: this.opts.server, code: status.code, details: status.details, retryInMs: Math.round(wait) },
      "xDS stream to the control plane ended; reconnecting",
    );
    // Deadlines run only while the control plane is reached; the next stream starts them again.
    this.reached = false;
    this.stopTimer();
    for (const s of this.types.values()) for (const name of s.awaited.keys()) s.awaited.set(name, null);
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
    const { good, bad, unnamed } = decodeResponse(t, r.resources);
    const subscribed = s.names;
    const wanted = (name: string): boolean => subscribed === "wildcard" || subscribed.has(name);
    // Absent from a complete response = removed; a bad one keeps its last good version, and
    // with a resource whose name is unknown nothing can be taken as absent.
    if (COMPLETE_RESPONSES.has(t) && unnamed.length === 0) {
      for (const name of [...s.resources.keys()]) {
        if (!good.has(name) && !bad.has(name)) this.drop(s, name);
      }
    }
    for (const [name, held] of good) {
      if (!wanted(name)) continue;
      const prev = s.resources.get(name);
      if (prev === undefined || !prev.bytes.equals(held.bytes)) {
        s.resources.set(name, held);
        this.dirty = true;
      }
      s.awaited.delete(name);
    }
    // A bad resource did arrive: nothing more will come for it until the server fixes it.
    for (const name of bad.keys()) s.awaited.delete(name);
    // Later name changes may cross a push (which lacks them); those wait for the timer instead.
    if (subscribed === "wildcard") s.awaited.clear();
    else if (answersFirst && COMPLETE_RESPONSES.has(t) && unnamed.length === 0) s.awaited.clear();
    this.armTimer();
    const problems = [...[...bad].map(([name, why]) => `${typeName(t)} "${name}": ${why}`), ...unnamed];
    if (problems.length === 0) {
      s.version = r.version_info;
      this.send(t, null);
    } else {
      const message = problems.join("; ");
      logger.warn(
        { server: this.opts.server, typeUrl: t, version: r.version_info, error: message },
        "xDS response rejected (NACK); its valid resources are taken, the bad ones keep their last accepted version",
      );
      this.send(t, message);
      this.emit("nack", { typeUrl: t, version: r.version_info, message });
    }
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
    // A name's deadline is set when it is first awaited, and kept while it stays awaited.
    const deadline = this.reached ? this.clock.now() + this.resourceTimeoutMs : null;
    if (names === "wildcard") {
      if (s.resources.size === 0 && !s.awaited.has("*")) s.awaited.set("*", deadline);
    } else {
      for (const name of [...s.resources.keys()]) if (!names.has(name)) this.drop(s, name);
      for (const name of [...s.awaited.keys()]) if (!names.has(name)) s.awaited.delete(name);
      for (const name of names) if (!s.resources.has(name) && !s.awaited.has(name)) s.awaited.set(name, deadline);
    }
    this.dirty = true;
    this.send(t, null);
    this.armTimer();
  }

  private drop(s: TypeState, name: string): void {
    if (s.resources.delete(name)) this.dirty = true;
  }

  /** (Re)arms the one timer for the earliest deadline; awaited names past theirs are taken not to exist. */
  private armTimer(): void {
    this.stopTimer();
    if (this.connection.t !== "streaming" || !this.reached) return;
    let earliest = Infinity;
    for (const s of this.types.values()) for (const d of s.awaited.values()) if (d !== null && d < earliest) earliest = d;
    if (earliest === Infinity) return;
    this.timer = this.clock.setTimer(Math.max(0, earliest - this.clock.now()), () => {
      this.timer = null;
      const now = this.clock.now();
      for (const [t, s] of this.types) {
        const late = [...s.awaited].filter(([, d]) => d !== null && d <= now).map(([name]) => name);
        if (late.length === 0) continue;
        logger.warn({ server: this.opts.server, typeUrl: t, names: late }, "xDS resources did not arrive in time; taken not to exist");
        for (const name of late) s.awaited.delete(name);
      }
      this.armTimer();
      this.maybeEmit();
    });
  }

  private stopTimer(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private maybeEmit(): void {
    if (!this.dirty || this.connection.t === "closed") return;
    for (const s of this.types.values()) if (s.awaited.size > 0) return;
    this.dirty = false;
    const view = (t: TypeUrl): ReadonlyMap<string, DecodedResource> => new Map([...this.state(t).resources].map(([name, h]) => [name, h.decoded]));
    this.snapshot = { listeners: view(TYPE_URL.listener), routes: view(TYPE_URL.route), clusters: view(TYPE_URL.cluster), endpoints: view(TYPE_URL.endpoint) };
    trace("update", {
      listeners: this.snapshot.listeners.size,
      routes: this.snapshot.routes.size,
      clusters: this.snapshot.clusters.size,
      endpoints: this.snapshot.endpoints.size,
    });
    this.emit("update", this.snapshot);
  }
}

function sameNames(a: ReadonlySet<string> | "wildcard", b: ReadonlySet<string> | "wildcard"): boolean {
  if (a === "wildcard" || b === "wildcard") return a === b;
  return a.size === b.size && [...a].every((n) => b.has(n));
}

export interface DecodedResponse {
  /** The valid resources, by name. */
  readonly good: Map<string, Held>;
  /** Resources with a name that are invalid, with why. */
  readonly bad: Map<string, string>;
  /** Why each resource without a usable name is invalid. */
  readonly unnamed: string[];
}

/** Decodes each resource of a response by name, telling the valid ones from the bad (gRFC A46). */
export function decodeResponse(t: TypeUrl, resources: readonly AnyMessage[]): DecodedResponse {
  const out: DecodedResponse = { good: new Map(), bad: new Map(), unnamed: [] };
  for (const [i, any] of resources.entries()) {
    if (any.type_url !== t) {
      out.unnamed.push(`resource ${i} is a ${any.type_url}, not a ${t}`);
      continue;
    }
    let decoded: Record<string, unknown>;
    try {
      decoded = unpackAny(any);
    } catch (e: unknown) {
      out.unnamed.push(`resource ${i} cannot be decoded: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const name = t === TYPE_URL.endpoint ? decoded["cluster_name"] : decoded["name"];
    if (typeof name !== "string" || name === "") {
      out.unnamed.push(`resource ${i} has no name`);
      continue;
    }
    if (out.good.has(name) || out.bad.has(name)) {
      out.good.delete(name);
      out.bad.set(name, "appears twice");
      continue;
    }
    const problem = t === TYPE_URL.listener ? listenerProblem(decoded) : t === TYPE_URL.cluster ? clusterProblem(name, decoded) : null;
    if (problem !== null) out.bad.set(name, problem);
    else out.good.set(name, { bytes: Buffer.from(any.value), decoded });
  }
  return out;
}

function typeName(t: TypeUrl): string {
  return t === TYPE_URL.listener ? "listener" : t === TYPE_URL.route ? "route configuration" : t === TYPE_URL.cluster ? "cluster" : "cluster load assignment";
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

/** A Cluster whose TLS sluice cannot honour is rejected: taking it would mean plaintext or other checks than asked for. */
function clusterProblem(name: string, cluster: DecodedResource): string | null {
  const tls = tlsFromXds(cluster, clusterIdentity(name).host);
  return tls.ok ? null : tls.reason;
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

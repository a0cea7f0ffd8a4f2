// A control plane (`sluice proxy --xds HOST:PORT`) as a config source: clusters and routes
// from the control plane, so proxies on many machines share one source of truth; the
// proxy's own listener settings (listen address, mode, transport, admin, keepalive...) from
// another source, the -c files' Proxy resource and the flags (a FileSource, listener only).
//
// Every consistent snapshot the ADS client delivers is mapped back to clusters and virtual
// hosts (src/xds-client/from-xds.ts), composed with the latest listener settings, and given to the
// sink. A listener reload and an xDS update go through one queue and each composes the latest
// of both, so neither can undo the other; updates queued behind one that already applied the
// latest are dropped. While the control plane is unreachable the last config stays in force
// and the client keeps reconnecting.
import { hostname } from "node:os";
import type { ConfigOverrides } from "../config/load.js";
import type { ListenerSettings, ProxyConfig, VirtualHost } from "../config/types.js";
import { formatDuration } from "../config/duration.js";
import { logger, tracer } from "../core/trace.js";
import { AdsClient } from "../xds-client/ads-client.js";
import { configFromXds, type ConfigFromXds } from "../xds-client/from-xds.js";
import type { XdsResources } from "../xds-client/decoded-resources.js";
import { configDigest } from "./config-digest.js";
import type { ConfigSource, Rejection, SnapshotSink, SnapshotUpdate, SourceStart } from "./config-source.js";
import { FileSource } from "./file-source.js";
import { announce, type LifecycleEvent } from "./events.js";
import type { Io } from "./io.js";
import { PENDING_CLUSTER, PENDING_HOST, PENDING_HOSTS } from "./xds-pending.js";
import { codeOf, InvalidStateError } from "../core/errors.js";
import { XdsUnmappableError } from "./errors.js";

const trace = tracer("xds_source");

/** The ADS client as a source uses it (src/xds-client/ads-client.ts's AdsClient). */
export interface AdsFeed {
  on(event: "update", listener: (resources: XdsResources) => void): unknown;
  on(event: "connection", listener: (state: "connected" | "disconnected") => void): unknown;
  on(event: "nack", listener: (nack: { readonly typeUrl: string; readonly version: string; readonly message: string }) => void): unknown;
  start(): void;
  close(): void;
}

export interface XdsSourceOptions {
  readonly ads: AdsFeed;
  /** Gives the listener settings; its clusters and routes, if any, are not used. */
  readonly listener: ConfigSource;
  /** The control plane, for messages. */
  readonly server: string;
  /** --default-host: checked against the control plane's hosts at every update. */
  readonly defaultHost: string | undefined;
  /** How long start() waits for the first snapshot before starting with none (Envoy's initial_fetch_timeout). */
  readonly initialWaitMs: number;
  /**
   * Started by a running proxy to take its socket over (SIGUSR2): without a first snapshot
   * within the initial wait it does not start, and the old proxy keeps serving.
   */
  readonly successor?: boolean;
  /** Starts the lines it prints ("sluice proxy"). */
  readonly command: string;
  readonly io: Io;
}

type XdsSourceState =
  | { readonly t: "idle" }
  /** Started: the listener loaded, waiting for the first snapshot. */
  | { readonly t: "waiting"; readonly sink: SnapshotSink }
  | { readonly t: "following"; readonly sink: SnapshotSink }
  | { readonly t: "stopped" };

/** What the sink last applied (or start() gave), so a queued update with nothing new is dropped. */
interface InForce {
  readonly xds: ConfigFromXds | null;
  readonly listener: ListenerSettings;
  readonly snapshot: number;
}

export class XdsSource implements ConfigSource {
  private state: XdsSourceState = { t: "idle" };
  /** Set from the listener source's first config, then by its reloads. */
  private listener: ListenerSettings | undefined;
  /** The latest mapped snapshot; null until the first arrives. */
  private latest: ConfigFromXds | null = null;
  private snapshots = 0;
  private inForce: InForce | null = null;
  /** Listener reloads and xDS updates apply one at a time, in order, from the end of start() on. */
  private chain: Promise<unknown>;
  private openChain!: () => void;
  private firstWaiters: (() => void)[] = [];
  private connected = false;
  private lastProblems = "";
  private lastDefaultHostWarning = "";

  constructor(private readonly opts: XdsSourceOptions) {
    this.chain = new Promise<void>((resolve) => (this.openChain = resolve));
    const { ads, io, command } = opts;
    ads.on("update", (r) => this.onUpdate(r));
    ads.on("connection", (state) => this.onConnection(state));
    ads.on("nack", (n) => {
      const type = n.typeUrl.slice(n.typeUrl.lastIndexOf(".") + 1);
      announce(io, {
        level: "warn",
        event: "xds resources rejected (NACK)",
        fields: { type, version: n.version, err: n.message },
        line: `warning: ${command}: rejected ${type} version ${n.version} from the control plane: ${n.message}`,
      });
    });
  }

  async start(sink: SnapshotSink): Promise<SourceStart | undefined> {
    if (this.state.t !== "idle") throw new InvalidStateError(`xds source already ${this.state.t}`);
    const { io, command, server, initialWaitMs } = this.opts;
    this.transition({ t: "waiting", sink });
    const listener = await this.opts.listener.start(this.listenerSink);
    if (listener === undefined) {
      this.stop();
      return undefined;
    }
    this.listener = listener.snapshot.config.listener;
    this.opts.ads.start();
    if (!(await this.waitForFirst(initialWaitMs))) {
      if (this.opts.successor === true) {
        // Taking over now would replace a proxy that has a config with one that has none.
        io.err(
          `${command}: no config from the control plane at ${server} within ${formatDuration(initialWaitMs)}; not taking over (the running proxy keeps serving)`,
        );
        this.stop();
        return undefined;
      }
      announce(io, {
        level: "warn",
        event: "no config from the control plane yet; starting with none",
        fields: { server, initialWaitMs },
        line: `${command}: no config from the control plane at ${server} within ${formatDuration(initialWaitMs)}; starting with none (RPCs get UNAVAILABLE) and still trying`,
      });
    }
    // stop() meanwhile (`as`: the awaits above may have changed the state).
    if ((this.state as XdsSourceState).t !== "waiting") return undefined;
    this.transition({ t: "following", sink });
    this.inForce = { xds: this.latest, listener: this.listener, snapshot: this.snapshots };
    const config = this.compose();
    const xds = this.inForce.xds;
    // Updates that came meanwhile apply now (to the sink, which holds them until the proxy serves).
    this.openChain();
    // Without a first snapshot there is nothing more to say: the wait's warning said it.
    const events: LifecycleEvent[] =
      xds === null
        ? []
        : [
            {
              event: "xds config in force",
              fields: { server, snapshot: this.inForce.snapshot, digest: configDigest(xds) },
              line: `${command}: xds update #${this.inForce.snapshot} in force (${describeCounts(xds)})`,
            },
          ];
    return { snapshot: { config, digest: configDigest(config), updates: [] }, events };
  }

  reread(reason: string): void {
    this.opts.listener.reread(reason);
  }

  stop(): void {
    if (this.state.t === "stopped") return;
    this.transition({ t: "stopped" });
    this.opts.ads.close();
    this.opts.listener.stop();
    // A start() waiting for the first snapshot returns undefined at once; queued updates are dropped.
    for (const w of this.firstWaiters.splice(0)) w();
    this.openChain();
  }

  /** The config the source would give now: the latest listener settings and snapshot (start() first). */
  config(): ProxyConfig {
    return this.compose();
  }

  /** The listener source's sink: each of its configs applies with the latest snapshot. */
  private readonly listenerSink: SnapshotSink = {
    apply: (s) =>
      this.enqueue(() => {
        this.listener = s.config.listener;
        return this.applyNow(s.updates);
      }),
    reject: (r) => this.reject(r),
  };

  private waitForFirst(ms: number): Promise<boolean> {
    if (this.latest !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.firstWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private onUpdate(resources: XdsResources): void {
    if (this.state.t === "stopped") return;
    const { io, command } = this.opts;
    const mapped = configFromXds(resources);
    const n = ++this.snapshots;
    if (mapped.failed !== undefined) {
      // Not applied (it would be an empty config): the running one stays, and so does `latest`.
      this.reject({
        what: `xds update #${n} not applied`,
        why: `the control plane's resources ${mapped.failed}`,
        details: [],
        error: new XdsUnmappableError(`the control plane's resources ${mapped.failed}`),
        logMessage: "xds snapshot not applied",
        logFields: { snapshot: n, err: mapped.failed },
      });
      return;
    }
    this.latest = mapped;
    const problems = mapped.problems.join("\n");
    if (problems !== this.lastProblems) {
      this.lastProblems = problems;
      for (const p of mapped.problems)
        announce(io, { level: "warn", event: "xds resource not mapped", fields: { snapshot: n, problem: p }, line: `warning: ${command}: xds: ${p}` });
    }
    logger.info({ snapshot: n, clusters: mapped.clusters.size, virtualHosts: mapped.virtualHosts.length, problems: mapped.problems.length }, "xds snapshot");
    for (const w of this.firstWaiters.splice(0)) w();
    void this.enqueue(() => {
      // Queued behind another update that already applied the latest: nothing to do.
      if (this.inForce?.xds === this.latest && this.inForce.listener === this.listener) return Promise.resolve(true);
      return this.applyNow([]);
    });
  }

  private onConnection(state: "connected" | "disconnected"): void {
    // stop() ends the stream: that is no loss to report (the proxy is draining).
    if (this.state.t === "stopped") return;
    const { io, command, server } = this.opts;
    if (state === "connected") {
      this.connected = true;
      announce(io, { event: "control plane connected", fields: { server }, line: `${command}: connected to the control plane at ${server}` });
    } else if (this.connected) {
      this.connected = false;
      const kept = this.latest === null ? "still waiting for a first config" : "keeping the config in force";
      announce(io, {
        level: "warn",
        event: "control plane lost",
        fields: { server },
        line: `${command}: lost the control plane at ${server}; ${kept}, reconnecting`,
      });
    }
  }

  private reject(r: Rejection): void {
    const s = this.state;
    if (s.t === "waiting" || s.t === "following") s.sink.reject(r);
    else logger.error(r.logFields, r.logMessage);
  }

  /** Runs `fn` once start() has given the first config and every step before has finished; nothing runs after stop(). */
  private enqueue(fn: () => Promise<boolean>): Promise<boolean> {
    const run = this.chain.then(() => (this.state.t === "following" ? fn() : false));
    this.chain = run.catch((err: unknown) => {
      const { io, command } = this.opts;
      announce(io, {
        level: "error",
        event: "xds update failed",
        fields: { err: (err as Error).message, code: codeOf(err) },
        line: `${command}: xds update failed, keeping the running config: ${(err as Error).message}`,
      });
    });
    return run;
  }

  /** Composes the latest listener settings and snapshot, and gives them to the sink. */
  private async applyNow(listenerUpdates: readonly SnapshotUpdate[]): Promise<boolean> {
    if (this.state.t !== "following") return false;
    const sink = this.state.sink;
    const xds = this.latest;
    const listener = this.listener!;
    const snapshot = this.snapshots;
    const config = this.compose();
    const updates: SnapshotUpdate[] = [];
    if (this.inForce?.xds !== xds && xds !== null) {
      updates.push({ name: `xds update #${snapshot}`, description: describeCounts(xds), logMessage: "xds update applied", logFields: { snapshot } });
    }
    updates.push(...listenerUpdates);
    trace("apply", { snapshot, updates: updates.map((u) => u.name) });
    const applied = await sink.apply({ config, digest: configDigest(config), updates });
    if (applied) this.inForce = { xds, listener, snapshot };
    return applied;
  }

  private compose(): ProxyConfig {
    const listener = this.listener;
    if (listener === undefined) throw new InvalidStateError("xds source: no listener settings before start()");
    const xds = this.latest;
    const clusters = xds === null ? new Map([[PENDING_CLUSTER.name, PENDING_CLUSTER]]) : xds.clusters;
    const virtualHosts = xds === null ? PENDING_HOSTS : xds.virtualHosts;
    return { listener: { ...listener, defaultHost: xds === null ? PENDING_HOST : this.defaultHost(virtualHosts) }, clusters, virtualHosts, warnings: [] };
  }

  /** --default-host when the control plane has it; with one host only, that host (as from files). */
  private defaultHost(virtualHosts: readonly VirtualHost[]): string | null {
    const wanted = this.opts.defaultHost?.toLowerCase();
    const domains = virtualHosts.flatMap((v) => v.domains);
    if (wanted === undefined) return virtualHosts.length === 1 ? (virtualHosts[0]?.domains[0] ?? null) : null;
    const warning = domains.includes(wanted)
      ? ""
      : `--default-host ${wanted} is not a host the control plane routes (${domains.length === 0 ? "it routes none" : `hosts: ${domains.join(", ")}`}); requests for other hosts get UNIMPLEMENTED`;
    if (warning !== this.lastDefaultHostWarning) {
      this.lastDefaultHostWarning = warning;
      if (warning !== "")
        announce(this.opts.io, {
          level: "warn",
          event: "default host not routed",
          fields: { defaultHost: wanted },
          line: `warning: ${this.opts.command}: ${warning}`,
        });
    }
    return warning === "" ? wanted : null;
  }

  private transition(to: XdsSourceState): void {
    trace("xds source", { from: this.state.t, to: to.t, server: this.opts.server });
    this.state = to;
  }
}

export interface XdsSourceConfig {
  /** The control plane, host:port (checked by the caller). */
  readonly server: string;
  /** Default sluice-proxy~HOSTNAME~PID. */
  readonly nodeId?: string | undefined;
  readonly initialWaitMs: number;
  /** The -c files: the Proxy resource only. */
  readonly files: readonly string[];
  readonly overrides: ConfigOverrides;
  readonly successor: boolean;
  readonly command: string;
  readonly io: Io;
}

/** A source on an ADS client to `server`, with the listener settings from `files` and the flags. */
export function xdsSource(c: XdsSourceConfig): XdsSource {
  // --default-host names a host of the control plane's: the source checks it at every update, not the files.
  const { defaultHost, ...fileOverrides } = c.overrides;
  const listener = new FileSource({ files: c.files, overrides: fileOverrides, command: c.command, io: c.io, listenerOnly: { server: c.server } });
  const ads = new AdsClient({ server: c.server, nodeId: c.nodeId ?? `sluice-proxy~${hostname()}~${process.pid}`, listeners: "all" });
  return new XdsSource({ ads, listener, server: c.server, defaultHost, initialWaitMs: c.initialWaitMs, successor: c.successor, command: c.command, io: c.io });
}

function describeCounts(c: ConfigFromXds): string {
  const problems = c.problems.length === 0 ? "" : `, ${c.problems.length} problem${c.problems.length === 1 ? "" : "s"}`;
  return `config ${configDigest(c)}: ${c.clusters.size} cluster${c.clusters.size === 1 ? "" : "s"}, ${c.virtualHosts.length} virtual host${c.virtualHosts.length === 1 ? "" : "s"}${problems}`;
}

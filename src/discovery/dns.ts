// DNS resolution (Istio ServiceEntry resolution: DNS, Envoy STRICT_DNS): every configured
// name is resolved to all its addresses, each becoming an endpoint with the configured
// port, weight and labels. Names are re-resolved every refreshMs (Envoy's
// dns_refresh_rate, 5s), counted from the end of the previous round.
//
// A name whose lookup fails keeps its last good addresses, so a DNS hiccup never empties a
// cluster; a lookup that succeeds with no addresses does remove them (Envoy does the
// same). Addresses that are already IPs pass through without a lookup.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Endpoint } from "../config/types.js";
import { systemClock, type Clock, type TimerHandle } from "../core/clock.js";
import { logger, tracer } from "../core/trace.js";
import type { EndpointSource, ResolvedEndpoint } from "./types.js";

const trace = tracer("dns");

/** Resolves a name to IP addresses; rejects when the lookup fails. */
export type DnsResolver = (name: string) => Promise<string[]>;

export const systemDnsResolver: DnsResolver = async (name) =>
  (await lookup(name, { all: true })).map((a) => a.address);

export const DEFAULT_DNS_REFRESH_MS = 5000;

export interface DnsSourceOptions {
  readonly clock?: Clock;
  readonly resolver?: DnsResolver;
  readonly refreshMs?: number;
  /** Names the source in trace lines (the cluster name). */
  readonly label?: string;
}

type State =
  | { readonly t: "idle" }
  | { readonly t: "resolving"; readonly onUpdate: Listener }
  | { readonly t: "waiting"; readonly onUpdate: Listener; readonly timer: TimerHandle }
  | { readonly t: "stopped" };

type Listener = (endpoints: readonly ResolvedEndpoint[]) => void;

export class DnsEndpointSource implements EndpointSource {
  private state: State = { t: "idle" };
  private readonly clock: Clock;
  private readonly resolver: DnsResolver;
  private readonly refreshMs: number;
  private readonly label: string;
  /** Distinct names to look up, in config order. */
  private readonly names: readonly string[];
  /** Last good addresses per name, sorted so DNS answer order does not count as a change. */
  private readonly lastGood = new Map<string, readonly string[]>();
  /** Identity of the last emitted set; null before the first emission. */
  private lastSignature: string | null = null;

  constructor(
    private readonly endpoints: readonly Endpoint[],
    options: DnsSourceOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.resolver = options.resolver ?? systemDnsResolver;
    this.refreshMs = options.refreshMs ?? DEFAULT_DNS_REFRESH_MS;
    if (!(this.refreshMs > 0)) throw new RangeError(`dns refreshMs must be > 0, got ${this.refreshMs}`);
    this.label = options.label ?? "";
    this.names = [...new Set(endpoints.filter((e) => isIP(e.address) === 0).map((e) => e.address))];
  }

  /** Starts the first round at once; the first completed round always emits, even if empty. */
  start(onUpdate: Listener): void {
    if (this.state.t !== "idle") throw new Error(`dns source ${this.label} already ${this.state.t}`);
    this.resolve(onUpdate);
  }

  /** Cancels the refresh timer; a lookup still in flight is ignored when it completes. */
  stop(): void {
    if (this.state.t === "waiting") this.state.timer.cancel();
    this.transition("stopped");
    this.state = { t: "stopped" };
  }

  private transition(to: State["t"]): void {
    if (trace.on) trace("state", { source: this.label, from: this.state.t, to });
  }

  private resolve(onUpdate: Listener): void {
    this.transition("resolving");
    const round: State = { t: "resolving", onUpdate };
    this.state = round;
    const lookups = this.names.map((name) =>
      // Wrapped so a resolver that throws synchronously counts as a failed lookup.
      Promise.resolve()
        .then(() => this.resolver(name))
        .then(
          (addresses) => ({ name, ok: true as const, addresses }),
          (error: unknown) => ({ name, ok: false as const, error }),
        ),
    );
    void Promise.all(lookups).then((outcomes) => {
      if (this.state !== round) return; // stopped meanwhile
      for (const o of outcomes) {
        if (o.ok) this.accept(o.name, o.addresses);
        else trace("lookup failed; keeping last good addresses", { source: this.label, name: o.name, error: String(o.error), kept: this.lastGood.get(o.name)?.length ?? 0 });
      }
      this.transition("waiting");
      const timer = this.clock.setTimer(this.refreshMs, () => this.resolve(onUpdate));
      this.state = { t: "waiting", onUpdate, timer };
      this.emitIfChanged(onUpdate);
    });
  }

  private accept(name: string, addresses: readonly string[]): void {
    const valid = [...new Set(addresses.filter((a) => isIP(a) !== 0))].sort();
    if (valid.length !== addresses.length) {
      trace("dropped non-IP or duplicate answers", { source: this.label, name, answers: addresses });
    }
    this.lastGood.set(name, valid);
  }

  private emitIfChanged(onUpdate: Listener): void {
    const set = this.currentSet();
    const signature = set
      .map((e) => `${e.address}|${e.port}|${e.weight}|${e.hostname ?? ""}|${JSON.stringify(e.labels)}`)
      .join("\n");
    if (signature === this.lastSignature) return;
    this.lastSignature = signature;
    trace("update", { source: this.label, endpoints: set.length });
    try {
      onUpdate(set);
    } catch (error: unknown) {
      // The consumer's bug must not stop refreshes; it is reported, not swallowed silently.
      logger.error({ source: this.label, err: error }, "dns endpoint update handler threw");
    }
  }

  /** Config order; each name's addresses sorted; the first endpoint for an ip:port wins. */
  private currentSet(): readonly ResolvedEndpoint[] {
    const out: ResolvedEndpoint[] = [];
    const seen = new Set<string>();
    const add = (e: ResolvedEndpoint): void => {
      const id = `${e.address}|${e.port}`;
      if (seen.has(id)) return;
      seen.add(id);
      out.push(Object.freeze(e));
    };
    for (const e of this.endpoints) {
      if (isIP(e.address) !== 0) {
        add({ address: e.address, port: e.port, weight: e.weight, labels: e.labels });
        continue;
      }
      for (const address of this.lastGood.get(e.address) ?? []) {
        add({ address, port: e.port, weight: e.weight, labels: e.labels, hostname: e.address });
      }
    }
    return Object.freeze(out);
  }
}

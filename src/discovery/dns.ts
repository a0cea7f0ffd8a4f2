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
import { InvalidStateError } from "../core/errors.js";
import { logger, tracer } from "../core/trace.js";
import type { EndpointSource, ResolvedEndpoint } from "./types.js";

const trace = tracer("dns");

/** Resolves a name to IP addresses; rejects when the lookup fails. */
export type DnsResolver = (name: string) => Promise<string[]>;

export const systemDnsResolver: DnsResolver = async (name) => (await lookup(name, { all: true })).map((a) => a.address);

export const DEFAULT_DNS_REFRESH_MS = 5000;
/** How long a round waits for its lookups (c-ares, which Envoy uses, also gives up at 5s). */
export const DEFAULT_DNS_LOOKUP_TIMEOUT_MS = 5000;

export interface DnsSourceOptions {
  readonly clock?: Clock;
  readonly resolver?: DnsResolver;
  readonly refreshMs?: number;
  readonly lookupTimeoutMs?: number;
  /** Names the source in trace lines (the cluster name). */
  readonly label?: string;
}

type State =
  | { readonly t: "idle" }
  | { readonly t: "resolving"; readonly onUpdate: Listener; readonly timeout: TimerHandle }
  | { readonly t: "waiting"; readonly onUpdate: Listener; readonly timer: TimerHandle }
  | { readonly t: "stopped" };

type Listener = (endpoints: readonly ResolvedEndpoint[]) => void;

export class DnsEndpointSource implements EndpointSource {
  private state: State = { t: "idle" };
  private readonly clock: Clock;
  private readonly resolver: DnsResolver;
  private readonly refreshMs: number;
  private readonly lookupTimeoutMs: number;
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
    this.lookupTimeoutMs = options.lookupTimeoutMs ?? DEFAULT_DNS_LOOKUP_TIMEOUT_MS;
    if (!(this.refreshMs > 0)) throw new RangeError(`dns refreshMs must be > 0, got ${this.refreshMs}`);
    if (!(this.lookupTimeoutMs > 0)) {
      throw new RangeError(`dns lookupTimeoutMs must be > 0, got ${this.lookupTimeoutMs}`);
    }
    this.label = options.label ?? "";
    this.names = [...new Set(endpoints.filter((e) => isIP(e.address) === 0).map((e) => e.address))];
  }

  /** A reload's new source starts from the old one's last good answers for the names both look up. */
  adopt(previous: EndpointSource): void {
    if (!(previous instanceof DnsEndpointSource)) return;
    for (const name of this.names) {
      const known = previous.lastGood.get(name);
      if (known !== undefined && !this.lastGood.has(name)) this.lastGood.set(name, known);
    }
  }

  /** Starts the first round at once; the first completed round always emits, even if empty. */
  start(onUpdate: Listener): void {
    if (this.state.t !== "idle") throw new InvalidStateError(`dns source ${this.label} already ${this.state.t}`);
    this.resolve(onUpdate);
  }

  /** Cancels the refresh timer; a lookup still in flight is ignored when it completes. */
  stop(): void {
    if (this.state.t === "waiting") this.state.timer.cancel();
    if (this.state.t === "resolving") this.state.timeout.cancel();
    this.transition("stopped");
    this.state = { t: "stopped" };
  }

  private transition(to: State["t"]): void {
    if (trace.on) trace("state", { source: this.label, from: this.state.t, to });
  }

  private resolve(onUpdate: Listener): void {
    this.transition("resolving");
    const succeeded = new Map<string, readonly string[]>();
    const failed = new Set<string>();
    let pending = this.names.length;
    // A lookup that never settles must not freeze discovery: when the round times out,
    // names still pending count as failed (they keep their last good addresses).
    const timeout = this.clock.setTimer(this.lookupTimeoutMs, () => finish(true));
    const round: State = { t: "resolving", onUpdate, timeout };
    this.state = round;
    const finish = (timedOut: boolean): void => {
      if (this.state !== round) return; // stopped, or already finished
      timeout.cancel();
      for (const name of this.names) {
        const addresses = succeeded.get(name);
        if (addresses !== undefined) this.accept(name, addresses);
        else if (timedOut && !failed.has(name)) this.failed(name, `no answer within ${this.lookupTimeoutMs}ms`);
      }
      this.transition("waiting");
      const timer = this.clock.setTimer(this.refreshMs, () => this.resolve(onUpdate));
      this.state = { t: "waiting", onUpdate, timer };
      this.emitIfChanged(onUpdate);
    };
    const settle = (): void => {
      if (--pending === 0) finish(false);
    };
    for (const name of this.names) {
      // Called in a microtask so a resolver that throws synchronously is a failed lookup.
      Promise.resolve()
        .then(() => this.resolver(name))
        .then(
          (addresses) => {
            if (this.state !== round) return;
            succeeded.set(name, addresses);
            settle();
          },
          (error: unknown) => {
            if (this.state !== round) return;
            failed.add(name);
            this.failed(name, String(error));
            settle();
          },
        )
        .catch((error: unknown) => logger.error({ source: this.label, err: error }, "dns round failed"));
    }
    if (pending === 0) queueMicrotask(() => finish(false));
  }

  private failed(name: string, error: string): void {
    trace("lookup failed; keeping last good addresses", {
      source: this.label,
      name,
      error,
      kept: this.lastGood.get(name)?.length ?? 0,
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
    const signature = set.map((e) => `${e.address}|${e.port}|${e.weight}|${e.hostname ?? ""}|${JSON.stringify(e.labels)}`).join("\n");
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

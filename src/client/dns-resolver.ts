// The `dns` resolver for @grpc/grpc-js channels, replacing grpc-js's own. grpc-js
// re-resolves a name only when its load balancer asks (after a connection fails or
// closes), so on a healthy channel a scaled-up Deployment's new pods never get traffic
// (grpc/grpc-node#2265, #2455, #2847; grpc/grpc#12295). This one also re-resolves on its
// own while the channel lives, so new pods get calls within one refresh period, and the
// existing connections stay up (grpc-js keeps the subchannel of an address that is still
// in the new list).
//
// When the next resolution starts, counted from the start of the previous one:
//   - after a success: at min(period, lowest record TTL), but never sooner than the floor;
//   - when the channel calls updateResolution() (its LB saw a failure): at once, unless
//     the floor since the last successful start has not passed, then when it has;
//   - after a failure: with backoff (1 s x 1.6 per failure, +-20% jitter, at most the
//     period); the floor does not apply, as in grpc-js, whose floor also only limits
//     successful resolutions.
// period = channel option `sluice.dns_refresh_interval_ms` (default 30 s).
// floor  = `grpc.dns_min_time_between_resolutions_ms` (grpc-js's own option, same
//          meaning: default 30 s), but when that option is not set and the period is
//          shorter, the period: a user who asks for a 10 s refresh gets one, while an
//          explicit floor always wins (it protects the DNS server: grpc/grpc-node#2023).
// So with defaults a TTL below 30 s does not make every channel query every few seconds
// (CoreDNS answers with 5 s TTLs); a TTL only brings a long period's refresh forward.
//
// Lookups: A and AAAA records through c-ares (node:dns Resolver, with TTLs), from the
// server named in the target's authority (naming.md: `dns://10.0.0.10:53/name:port`) or
// the system's servers. Without an authority, a c-ares failure falls back to the system
// resolver (getaddrinfo: /etc/hosts and the resolv.conf search list, what grpc-js uses),
// so Kubernetes short names like `echo.default.svc` still resolve; such answers carry no
// TTL, so the period alone applies. IP-literal targets pass through without a lookup.
//
// Reports: the endpoint list only when it differs from the last reported one (as a set:
// DNS servers rotate answer order), or first after construction or destroy(). On a DNS
// failure the last good list stays in use and the error is reported only while there has
// never been one. (grpc-js reports every failure, but its round_robin and pick_first
// ignore an error once they have endpoints, so channels see the same thing.)
// Service config from TXT records (gRFC A2): not supported, unlike grpc-js's resolver.
// It is rarely deployed and grpc-java leaves it off by default; channels take their
// service config from the `grpc.service_config` option, as the usual client-side balancing
// setup (`{ loadBalancingConfig: [{ round_robin: {} }] }`) does.
import { promises as dnsPromises } from "node:dns";
import { isIP } from "node:net";
import { experimental, type ChannelOptions } from "@grpc/grpc-js";
import { systemClock, type Clock, type TimerHandle } from "../core/clock.js";
import { systemRandom, type Random } from "../core/random.js";
import { ErrorCode, InvalidArgumentError, SluiceError } from "../core/errors.js";
import { Status } from "../core/status.js";
import { logger, tracer } from "../core/trace.js";
import { DEFAULT_DNS_LOOKUP_TIMEOUT_MS, systemDnsResolver } from "../discovery/dns.js";
import {
  DEFAULT_GRPC_PORT,
  endpointsOf,
  hasOption,
  msOption,
  resolutionError,
  validPort,
  type EndpointList,
  type ResolverConstructor,
} from "./resolver-support.js";

const trace = tracer("client_dns");

export const DNS_REFRESH_INTERVAL_OPTION = "sluice.dns_refresh_interval_ms";
export const DNS_MIN_TIME_OPTION = "grpc.dns_min_time_between_resolutions_ms";
export const DEFAULT_DNS_REFRESH_INTERVAL_MS = 30_000;
/** grpc-js's default for grpc.dns_min_time_between_resolutions_ms. */
export const GRPC_DEFAULT_MIN_TIME_BETWEEN_RESOLUTIONS_MS = 30_000;
const KNOWN_OPTIONS = new Set([DNS_REFRESH_INTERVAL_OPTION]);

const BACKOFF_INITIAL_MS = 1000;
const BACKOFF_MULTIPLIER = 1.6;
const BACKOFF_JITTER = 0.2;

// Why a resolution failed; each reaches the channel as an UNAVAILABLE resolution error.

/** The name has no A or AAAA records, or none of its answers is an IP address. */
export class DnsNoAddressesError extends SluiceError {
  override readonly name = "DnsNoAddressesError";
  readonly code = ErrorCode.DNS_NO_ADDRESSES;
  override readonly grpcStatus = Status.UNAVAILABLE;
}

/** A lookup took longer than its budget. */
export class DnsTimeoutError extends SluiceError {
  override readonly name = "DnsTimeoutError";
  readonly code = ErrorCode.DNS_TIMEOUT;
  override readonly grpcStatus = Status.UNAVAILABLE;
}

/** The channel's load balancer refused the resolved endpoint list. */
export class EndpointsRejectedError extends SluiceError {
  override readonly name = "EndpointsRejectedError";
  readonly code = ErrorCode.ENDPOINTS_REJECTED;
  override readonly grpcStatus = Status.UNAVAILABLE;
}

/** A lookup's addresses and the lowest TTL among them (undefined: the source gives none). */
export interface AddressAnswer {
  readonly addresses: readonly string[];
  readonly ttlSeconds: number | undefined;
}

/** Looks up a host's A and AAAA addresses; rejects when it cannot. */
export interface AddressLookup {
  lookup(host: string): Promise<AddressAnswer>;
  /** Abandons lookups in flight (their promises reject); later lookups still work. */
  cancel(): void;
}

/** Answers that mean "this name has no records of that type", not a failure. */
const NO_RECORDS = new Set(["ENODATA", "ENOTFOUND"]);

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/**
 * c-ares A + AAAA lookups with TTLs, from `server` (host:port, [v6]:port) or the
 * system's servers; with `fallbackToSystem`, a failure retries through getaddrinfo.
 */
export function cAresLookup(server: string | undefined, fallbackToSystem: boolean): AddressLookup {
  // Two tries of half the budget: one lost UDP packet does not fail the round.
  const resolver = new dnsPromises.Resolver({ timeout: DEFAULT_DNS_LOOKUP_TIMEOUT_MS / 2, tries: 2 });
  if (server !== undefined) resolver.setServers([server]);
  const viaCAres = async (host: string): Promise<AddressAnswer> => {
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(host, { ttl: true }), resolver.resolve6(host, { ttl: true })]);
    const records = [];
    const failures: unknown[] = [];
    for (const family of [v4, v6]) {
      if (family.status === "fulfilled") records.push(...family.value);
      else if (!NO_RECORDS.has(errorCode(family.reason) ?? "")) failures.push(family.reason);
    }
    // One family failing while the other answered keeps the answer (grpc-js does too).
    if (records.length === 0 && failures.length > 0) throw failures[0];
    if (records.length === 0) throw new DnsNoAddressesError(`no A or AAAA records for ${host}`);
    return { addresses: records.map((r) => r.address), ttlSeconds: Math.min(...records.map((r) => r.ttl)) };
  };
  return {
    async lookup(host) {
      if (!fallbackToSystem) return viaCAres(host);
      try {
        return await viaCAres(host);
      } catch (error: unknown) {
        if (errorCode(error) === "ECANCELLED") throw error;
        trace("c-ares failed; trying the system resolver", { host, error: String(error) });
        return { addresses: await withTimeout(systemDnsResolver(host), DEFAULT_DNS_LOOKUP_TIMEOUT_MS, `system DNS lookup of ${host}`), ttlSeconds: undefined };
      }
    },
    cancel: () => resolver.cancel(),
  };
}

export interface DnsResolverDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Makes the lookup for a target's authority (undefined: the system's servers). */
  readonly lookupFor: (server: string | undefined) => AddressLookup;
}

const defaultDeps: DnsResolverDeps = {
  clock: systemClock,
  random: systemRandom,
  lookupFor: (server) => cAresLookup(server, server === undefined),
};

type Target =
  | { readonly t: "ip"; readonly endpoints: EndpointList }
  | { readonly t: "name"; readonly host: string; readonly port: number; readonly lookup: AddressLookup }
  | { readonly t: "bad"; readonly details: string };

/** Timing knobs, read once from the channel options. */
interface Timing {
  readonly periodMs: number;
  readonly floorMs: number;
}

type State =
  | { readonly t: "idle" }
  | { readonly t: "resolving"; readonly startedAt: number; readonly generation: number }
  | { readonly t: "waiting"; readonly timer: TimerHandle; readonly at: number };

function parseTarget(uri: experimental.GrpcUri, lookupFor: DnsResolverDeps["lookupFor"]): Target {
  const text = experimental.uriToString(uri);
  const hostPort = experimental.splitHostPort(uri.path);
  if (hostPort === null || hostPort.host === "" || !validPort(hostPort.port)) {
    return { t: "bad", details: `DNS target ${text}: expected host or host:port ([v6]:port), got "${uri.path}"` };
  }
  const port = hostPort.port ?? DEFAULT_GRPC_PORT;
  if (isIP(hostPort.host) !== 0) return { t: "ip", endpoints: endpointsOf([hostPort.host], port) };
  const server = uri.authority === undefined || uri.authority === "" ? undefined : uri.authority;
  try {
    return { t: "name", host: hostPort.host, port, lookup: lookupFor(server) };
  } catch (error: unknown) {
    // node:dns setServers rejects what is not ip[:port] or [v6]:port.
    return { t: "bad", details: `DNS target ${text}: bad DNS server "${server}" in the authority: ${String(error)}` };
  }
}

function readTiming(options: ChannelOptions): Timing {
  for (const key of Object.keys(options)) {
    if (key.startsWith("sluice.dns") && !KNOWN_OPTIONS.has(key)) {
      logger.warn({ option: key }, `unknown channel option ${key}; did you mean ${DNS_REFRESH_INTERVAL_OPTION}?`);
    }
  }
  const periodMs = msOption(options, DNS_REFRESH_INTERVAL_OPTION, DEFAULT_DNS_REFRESH_INTERVAL_MS, 1);
  const floorDefault = Math.min(GRPC_DEFAULT_MIN_TIME_BETWEEN_RESOLUTIONS_MS, periodMs);
  const floorMs = msOption(options, DNS_MIN_TIME_OPTION, floorDefault);
  if (hasOption(options, DNS_MIN_TIME_OPTION) && floorMs > periodMs) {
    trace("floor above period: refreshes every floor", { periodMs, floorMs });
  }
  return { periodMs, floorMs };
}

/** The soonest a record's TTL brings a refresh: 1 s, whatever the TTL (0 included). */
const MIN_TTL_REFRESH_MS = 1000;

/** getaddrinfo has no timeout of its own (a busy libuv pool can hold it): bound it as c-ares is. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DnsTimeoutError(`${what} took over ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/** The resolver class for `dns:` targets; tests pass their own clock, randomness and lookups. */
export function dnsResolverClass(deps: DnsResolverDeps = defaultDeps): ResolverConstructor {
  return class SluiceDnsResolver implements experimental.Resolver {
    private state: State = { t: "idle" };
    private readonly target: Target;
    private readonly timing: Timing | InvalidArgumentError;
    private readonly text: string;
    /** Bumped by destroy(): results of lookups started before are dropped. */
    private generation = 0;
    /** Start time of the last successful resolution (the floor counts from it). */
    private lastSuccessStart: number | undefined;
    private lastGood: EndpointList | undefined;
    /** Set signature of the list last reported since construction or destroy(). */
    private reported: string | undefined;
    private failures = 0;

    constructor(
      uri: experimental.GrpcUri,
      private readonly listener: experimental.ResolverListener,
      options: ChannelOptions,
    ) {
      this.text = experimental.uriToString(uri);
      this.target = parseTarget(uri, deps.lookupFor);
      let timing: Timing | InvalidArgumentError;
      try {
        timing = readTiming(options);
      } catch (error: unknown) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        timing = error;
      }
      this.timing = timing;
    }

    static getDefaultAuthority(uri: experimental.GrpcUri): string {
      return uri.path;
    }

    updateResolution(): void {
      const now = deps.clock.now();
      switch (this.state.t) {
        case "resolving":
          return; // its result is on the way
        case "idle":
          this.resolve();
          return;
        case "waiting": {
          if (this.failures > 0) return; // the backoff timer decides
          const allowed = (this.lastSuccessStart ?? -Infinity) + this.floorMs();
          if (now >= allowed) {
            this.state.timer.cancel();
            this.resolve();
          } else if (allowed < this.state.at) {
            trace("re-resolution request held back by the floor", { target: this.text, inMs: allowed - now });
            this.state.timer.cancel();
            this.schedule(allowed - now);
          }
        }
      }
    }

    destroy(): void {
      if (this.state.t === "waiting") this.state.timer.cancel();
      if (this.state.t === "resolving" && this.target.t === "name") this.target.lookup.cancel();
      this.transition({ t: "idle" });
      this.generation++;
      // The channel dropped its LB: after updateResolution() the next list is reported again.
      this.reported = undefined;
      this.lastSuccessStart = undefined;
      this.failures = 0;
    }

    private floorMs(): number {
      return this.timing instanceof InvalidArgumentError ? 0 : this.timing.floorMs;
    }

    private transition(to: State): void {
      if (trace.on) trace("state", { target: this.text, from: this.state.t, to: to.t });
      this.state = to;
    }

    private schedule(delayMs: number): void {
      const at = deps.clock.now() + Math.max(0, delayMs);
      const timer = deps.clock.setTimer(Math.max(0, delayMs), () => this.resolve());
      this.transition({ t: "waiting", timer, at });
    }

    private resolve(): void {
      const startedAt = deps.clock.now();
      const generation = this.generation;
      this.transition({ t: "resolving", startedAt, generation });
      const current = (): boolean => this.state.t === "resolving" && this.state.generation === generation && this.generation === generation;
      const target = this.target;
      if (this.timing instanceof InvalidArgumentError || target.t !== "name") {
        // Nothing to look up: report once, asynchronously (grpc-js never expects a
        // listener call from inside the constructor or updateResolution()).
        setImmediate(() => {
          if (!current()) return;
          this.transition({ t: "idle" });
          if (this.timing instanceof InvalidArgumentError) this.report(resolutionError(`${this.text}: ${this.timing.message}`), "");
          else if (target.t === "bad") this.report(resolutionError(target.details), "");
          else if (target.t === "ip") this.report({ ok: true, value: target.endpoints }, target.endpoints.map(key).join(","));
        });
        return;
      }
      const timing = this.timing;
      target.lookup.lookup(target.host).then(
        (answer) => {
          if (!current()) return;
          this.succeeded(target, timing, startedAt, answer);
        },
        (error: unknown) => {
          if (!current()) return;
          this.failed(timing, error);
        },
      );
    }

    private succeeded(target: Target & { t: "name" }, timing: Timing, startedAt: number, answer: AddressAnswer): void {
      const addresses = [...new Set(answer.addresses.filter((a) => isIP(a) !== 0))];
      if (addresses.length === 0) {
        this.failed(timing, new DnsNoAddressesError(`no usable addresses for ${target.host}`));
        return;
      }
      this.failures = 0;
      this.lastSuccessStart = startedAt;
      const endpoints = endpointsOf(addresses, target.port);
      this.lastGood = endpoints;
      // A TTL of 0 (Consul's default) must not make the refresh a loop when the floor is 0 too.
      const ttlMs = answer.ttlSeconds === undefined ? Infinity : Math.max(MIN_TTL_REFRESH_MS, answer.ttlSeconds * 1000);
      const next = Math.max(timing.floorMs, Math.min(timing.periodMs, ttlMs));
      trace("resolved", { target: this.text, addresses, ttlSeconds: answer.ttlSeconds, nextInMs: next });
      // Answer order is kept for the LB (pick_first tries in order; DNS rotation spreads
      // clients); the signature compares sets.
      const accepted = this.report({ ok: true, value: endpoints }, endpoints.map(key).sort().join(","));
      if (!accepted) {
        // The LB rejected the list (grpc-js: treat as a failure); report it again next time.
        this.reported = undefined;
        this.failed(timing, new EndpointsRejectedError("the load balancer rejected the resolved endpoints"), false);
        return;
      }
      this.schedule(startedAt + next - deps.clock.now());
    }

    private failed(timing: Timing, error: unknown, reportFallback = true): void {
      this.failures++;
      const base = Math.min(timing.periodMs, BACKOFF_INITIAL_MS * BACKOFF_MULTIPLIER ** (this.failures - 1));
      const delay = base * (1 + BACKOFF_JITTER * (deps.random() * 2 - 1));
      trace("lookup failed", { target: this.text, error: String(error), failures: this.failures, retryInMs: delay, keeping: this.lastGood?.length ?? 0 });
      this.schedule(delay);
      if (!reportFallback) return;
      if (this.lastGood === undefined) {
        this.report(resolutionError(`DNS resolution failed for ${this.text}: ${error instanceof Error ? error.message : String(error)}`), "");
      } else if (this.reported === undefined) {
        // A new LB (after destroy()) has no list yet: the last good one beats none.
        this.report({ ok: true, value: this.lastGood }, this.lastGood.map(key).sort().join(","));
      }
    }

    /** Calls the listener unless this exact list was the last thing reported; returns its answer. */
    private report(result: experimental.StatusOr<EndpointList>, signature: string): boolean {
      if (result.ok) {
        if (signature === this.reported) return true;
        this.reported = signature;
      }
      trace("report", { target: this.text, ok: result.ok, endpoints: result.ok ? result.value.length : 0 });
      try {
        return this.listener(result, {}, null, "");
      } catch (error: unknown) {
        // grpc-js's listener does not throw; if it ever does, refreshes must go on.
        logger.error({ target: this.text, err: error }, "grpc-js resolver listener threw");
        this.reported = undefined;
        return false;
      }
    }
  };
}

function key(endpoint: experimental.Endpoint): string {
  return endpoint.addresses.map((a) => experimental.subchannelAddressToString(a)).join("+");
}

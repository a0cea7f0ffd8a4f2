// A scenario file (YAML or JSON): any field left out comes from `base` (a built-in scenario)
// or from the built-in defaults. Every problem is reported at once, with its field path.
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { parseDuration } from "../config/duration.js";
import { ErrorCode, SluiceError } from "../core/errors.js";
import { meanOf } from "./distribution.js";
import { BASE, SCENARIOS } from "./scenarios.js";
import { CLIENT_POLICIES, LAYERS, type BackendEvent, type ClientLoad, type ClientPolicy, type Distribution, type Layer, type Scenario } from "./scenario.js";

/** A scenario that cannot be run: not found, not YAML or JSON, a bad field, or past a run-size limit. */
export class ScenarioError extends SluiceError {
  override readonly name = "ScenarioError";
  readonly code = ErrorCode.SCENARIO_INVALID;
}

/** Time-series buckets per run: enough for an hour in 100 ms buckets, and charts that still render. */
const MAX_BUCKETS = 100_000;
/** Client channels per run. */
const MAX_CHANNELS = 100_000;
/** RPCs per run: ~20 times an hour of 3 x 1,000 RPS. */
const MAX_RPCS = 2e8;

type Tree = Record<string, unknown>;

/** A built-in scenario by name, or the scenario in a file. */
export async function resolveScenario(nameOrFile: string): Promise<Scenario> {
  const builtin = SCENARIOS[nameOrFile];
  if (builtin !== undefined) return builtin;
  let text: string;
  try {
    text = await readFile(nameOrFile, "utf8");
  } catch (err) {
    const names = Object.keys(SCENARIOS).join(", ");
    throw new ScenarioError(`${nameOrFile}: neither a built-in scenario (${names}) nor a readable file (${(err as Error).message})`, { cause: err });
  }
  return parseScenario(text, nameOrFile);
}

export function parseScenario(text: string, file: string): Scenario {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ScenarioError(`${file}: not YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isTree(doc)) throw new ScenarioError(`${file}: a scenario is a mapping (name, duration, clients, backends, events, ...)`);
  const r = new Reader(file);
  const scenario = r.scenario(doc);
  if (r.problems.length > 0) throw new ScenarioError(r.problems.join("\n"));
  return scenario;
}

const TOP = [
  "name",
  "description",
  "base",
  "duration",
  "bucket",
  "measureFrom",
  "layer",
  "clientPolicy",
  "connect",
  "discoveryDelay",
  "failLatency",
  "seed",
  "clients",
  "backends",
  "events",
];

class Reader {
  readonly problems: string[] = [];

  constructor(private readonly file: string) {}

  scenario(doc: Tree): Scenario {
    this.unknown(doc, TOP, "");
    const baseName = this.string(doc, "base", "");
    let base: Omit<Scenario, "name" | "description"> = BASE;
    if (baseName !== undefined) {
      const b = SCENARIOS[baseName];
      if (b === undefined) this.problem("base", `no built-in scenario ${JSON.stringify(baseName)} (there are ${Object.keys(SCENARIOS).join(", ")})`);
      else base = b;
    }
    const durationMs = this.duration(doc, "duration", "") ?? base.durationMs;
    const scenario: Scenario = {
      name: this.string(doc, "name", "") ?? "custom",
      description: this.string(doc, "description", "") ?? "a scenario file",
      durationMs,
      bucketMs: this.duration(doc, "bucket", "") ?? base.bucketMs,
      measureFromMs: this.duration(doc, "measureFrom", "", true) ?? base.measureFromMs,
      layer: this.oneOf<Layer>(doc, "layer", "", LAYERS) ?? base.layer,
      clientPolicy: this.oneOf<ClientPolicy>(doc, "clientPolicy", "", CLIENT_POLICIES) ?? base.clientPolicy,
      connectMs: this.duration(doc, "connect", "") ?? base.connectMs,
      discoveryDelayMs: this.duration(doc, "discoveryDelay", "", true) ?? base.discoveryDelayMs,
      failMs: this.duration(doc, "failLatency", "") ?? base.failMs,
      seed: this.number(doc, "seed", "", 0, 2 ** 32 - 1) ?? base.seed,
      clients: this.clients(doc["clients"], base),
      backends: this.backends(doc["backends"], base),
      events: doc["events"] === undefined ? base.events : this.events(doc["events"], durationMs),
    };
    this.limits(scenario);
    return scenario;
  }

  /** What would make a run meaningless or too big to hold. */
  private limits(s: Scenario): void {
    if (s.measureFromMs >= s.durationMs) this.problem("measureFrom", `must be before the end of the run (duration ${s.durationMs / 1000}s)`);
    if (s.durationMs / s.bucketMs > MAX_BUCKETS)
      this.problem(
        "bucket",
        `makes ${Math.ceil(s.durationMs / s.bucketMs).toLocaleString("en-US")} buckets; at most ${MAX_BUCKETS.toLocaleString("en-US")} (a wider bucket or a shorter run)`,
      );
    if (s.bucketMs > s.durationMs) this.problem("bucket", `is longer than the run (${s.durationMs / 1000}s)`);
    const load = s.clients.load;
    const rpcs = s.clients.count * s.durationMs * (load.kind === "rate" ? load.rps / 1000 : load.inFlight / Math.max(0.001, meanOf(s.backends.serviceTime)));
    if (rpcs > MAX_RPCS)
      this.problem("clients", `make about ${rpcs.toExponential(1)} RPCs; at most ${MAX_RPCS.toExponential(0)} per run (about a minute and a half here)`);
    if (s.clients.count * s.clients.channelsEach > MAX_CHANNELS)
      this.problem(
        "clients",
        `count x channels is ${(s.clients.count * s.clients.channelsEach).toLocaleString("en-US")}; at most ${MAX_CHANNELS.toLocaleString("en-US")}`,
      );
  }

  private clients(v: unknown, base: Omit<Scenario, "name" | "description">): Scenario["clients"] {
    if (v === undefined) return base.clients;
    if (!isTree(v)) return this.problem("clients", "must be a mapping (count, channels, rps or concurrency, arrival)", base.clients);
    this.unknown(v, ["count", "channels", "rps", "concurrency", "arrival", "ramp"], "clients.");
    let load: ClientLoad = base.clients.load;
    const rps = this.number(v, "rps", "clients.", 0.001, 1e7);
    const concurrency = this.number(v, "concurrency", "clients.", 1, 1e6, true);
    const arrival = this.oneOf<"poisson" | "uniform">(v, "arrival", "clients.", ["poisson", "uniform"]);
    if (rps !== undefined && concurrency !== undefined) this.problem("clients", "give rps (open loop) or concurrency (closed loop), not both");
    else if (rps !== undefined) load = { kind: "rate", rps, arrival: arrival ?? "poisson" };
    else if (concurrency !== undefined) load = { kind: "concurrency", inFlight: concurrency };
    else if (arrival !== undefined && load.kind === "rate") load = { ...load, arrival };
    return {
      count: this.number(v, "count", "clients.", 1, 10_000, true) ?? base.clients.count,
      channelsEach: this.number(v, "channels", "clients.", 1, 10_000, true) ?? base.clients.channelsEach,
      load,
      rampMs: this.duration(v, "ramp", "clients.", true) ?? base.clients.rampMs,
    };
  }

  private backends(v: unknown, base: Omit<Scenario, "name" | "description">): Scenario["backends"] {
    if (v === undefined) return base.backends;
    if (!isTree(v)) return this.problem("backends", "must be a mapping (count, serviceTime, concurrency)", base.backends);
    this.unknown(v, ["count", "serviceTime", "concurrency"], "backends.");
    return {
      count: this.number(v, "count", "backends.", 0, 10_000, true) ?? base.backends.count,
      serviceTime: v["serviceTime"] === undefined ? base.backends.serviceTime : this.distribution(v["serviceTime"]),
      concurrency: this.number(v, "concurrency", "backends.", 1, 1e9, true) ?? base.backends.concurrency,
    };
  }

  private distribution(v: unknown): Distribution {
    const fallback: Distribution = { kind: "constant", ms: 1 };
    const at = "backends.serviceTime";
    if (!isTree(v))
      return this.problem(
        at,
        "must be a mapping: { distribution: constant, value: 5ms } | { distribution: exponential, mean: 5ms } | { distribution: lognormal, median: 4ms, p99: 20ms }",
        fallback,
      );
    const p = `${at}.`;
    const kind = this.oneOf(v, "distribution", p, ["constant", "exponential", "lognormal"] as const);
    switch (kind) {
      case "constant":
        this.unknown(v, ["distribution", "value"], p);
        return { kind, ms: this.required(this.duration(v, "value", p), `${p}value`, 1) };
      case "exponential":
        this.unknown(v, ["distribution", "mean"], p);
        return { kind, meanMs: this.required(this.duration(v, "mean", p), `${p}mean`, 1) };
      case "lognormal": {
        this.unknown(v, ["distribution", "median", "p99"], p);
        const medianMs = this.required(this.duration(v, "median", p), `${p}median`, 1);
        const p99Ms = this.required(this.duration(v, "p99", p), `${p}p99`, 1);
        if (p99Ms <= medianMs) this.problem(`${p}p99`, "must be above the median");
        return { kind, medianMs, p99Ms: Math.max(p99Ms, medianMs * 1.001) };
      }
      case undefined:
        return this.problem(`${p}distribution`, "is required: constant, exponential or lognormal", fallback);
    }
  }

  private events(v: unknown, durationMs: number): BackendEvent[] {
    if (!Array.isArray(v)) return this.problem("events", "must be a list", []);
    const out: BackendEvent[] = [];
    v.forEach((e: unknown, i) => {
      const p = `events[${i}].`;
      if (!isTree(e)) {
        this.problem(`events[${i}]`, "must be a mapping like { at: 20s, add: 1 }");
        return;
      }
      const atMs = this.duration(e, "at", p, true);
      if (atMs === undefined) {
        this.problem(`${p}at`, "is required (when it happens)");
        return;
      }
      if (atMs >= durationMs) this.problem(`${p}at`, `is past the scenario's duration (${durationMs / 1000}s)`);
      const kinds = ["add", "remove", "slow", "fail", "restart"].filter((k) => e[k] !== undefined);
      if (kinds.length !== 1) {
        this.problem(`events[${i}]`, "needs exactly one of add, remove, slow, fail, restart");
        return;
      }
      const kind = kinds[0]!;
      if (kind === "add") {
        this.unknown(e, ["at", "add"], p);
        const count = this.number(e, "add", p, 1, 10_000, true);
        if (count !== undefined) out.push({ atMs, kind, count });
        return;
      }
      const backend = this.string(e, kind, p);
      if (backend === undefined) return;
      if (!/^pod-[1-9]\d*$/.test(backend)) this.problem(`${p}${kind}`, `names a backend like "pod-2", not ${JSON.stringify(backend)}`);
      if (kind === "remove") {
        this.unknown(e, ["at", "remove"], p);
        out.push({ atMs, kind, backend });
      } else if (kind === "slow") {
        this.unknown(e, ["at", "slow", "factor"], p);
        out.push({ atMs, kind, backend, factor: this.required(this.number(e, "factor", p, 0.001, 1e6), `${p}factor`, 1) });
      } else if (kind === "fail") {
        this.unknown(e, ["at", "fail", "errorRate"], p);
        out.push({ atMs, kind, backend, errorRate: this.number(e, "errorRate", p, 0, 1) ?? 1 });
      } else {
        this.unknown(e, ["at", "restart", "down"], p);
        out.push({ atMs, kind: "restart", backend, downMs: this.duration(e, "down", p, true) ?? 0 });
      }
    });
    return out;
  }

  private problem<T>(path: string, message: string, value?: T): T {
    this.problems.push(`${this.file}: ${path}: ${message}`);
    return value as T;
  }

  private required<T>(v: T | undefined, path: string, fallback: T): T {
    return v === undefined ? this.problem(path, "is required", fallback) : v;
  }

  private unknown(t: Tree, known: readonly string[], prefix: string): void {
    for (const k of Object.keys(t)) if (!known.includes(k)) this.problem(`${prefix}${k}`, `unknown field (known: ${known.join(", ")})`);
  }

  private string(t: Tree, key: string, prefix: string): string | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") return this.problem(`${prefix}${key}`, "must be a non-empty string", undefined);
    return v;
  }

  private number(t: Tree, key: string, prefix: string, min: number, max: number, integer = false): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      return this.problem(`${prefix}${key}`, `must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, not ${JSON.stringify(v)}`, undefined);
    }
    return v;
  }

  /** A duration string ("30s", "250ms") or a number of ms; `zero` allows 0. */
  private duration(t: Tree, key: string, prefix: string, zero = false): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    // At least 1 µs: a shorter step would not move the virtual clock at all.
    if (typeof v === "number" && Number.isFinite(v) && (v >= 0.001 || (zero && v === 0))) return v;
    if (typeof v === "string") {
      if (zero && /^0+(\.0*)?[a-zµ]*$/.test(v.trim())) return 0;
      const d = parseDuration(v);
      if (d.ok) return d.ms;
      return this.problem(`${prefix}${key}`, d.reason, undefined);
    }
    return this.problem(`${prefix}${key}`, `must be a duration like "30s" or "250ms", not ${JSON.stringify(v)}`, undefined);
  }

  private oneOf<T extends string>(t: Tree, key: string, prefix: string, allowed: readonly T[]): T | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      return this.problem(`${prefix}${key}`, `must be one of ${allowed.join(", ")}, not ${JSON.stringify(v)}`, undefined);
    }
    return v as T;
  }
}

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// Strict reading of one LB policy's JSON config from a gRPC service config
// (`loadBalancingConfig: [{ least_request: { choiceCount: 3 } }]`). Every problem is
// collected and thrown at once as a ConfigError naming each field; grpc-js prefixes the
// policy name when it reports it. Unknown fields are errors, with a hint
// when the field is the snake_case spelling of a known one (the proto name, not JSON's).
import { parseDuration } from "../config/duration.js";
import { logger } from "../core/trace.js";

const warned = new Set<string>();

export class ConfigError extends Error {
  constructor(
    readonly policy: string,
    readonly problems: readonly string[],
  ) {
    // No policy prefix: grpc-js puts "<policy>: " in front of whatever a config throws.
    super(problems.join("; "));
    this.name = "ConfigError";
  }
}

function camel(snake: string): string {
  return snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Reads the fields of one policy's config object; `done()` throws if anything was wrong. */
export class FieldReader {
  private readonly problems: string[] = [];
  private readonly fields: Readonly<Record<string, unknown>>;

  constructor(
    private readonly policy: string,
    raw: unknown,
    private readonly known: readonly string[],
  ) {
    if (raw === undefined || raw === null) {
      this.fields = {};
    } else if (typeof raw !== "object" || Array.isArray(raw)) {
      this.fields = {};
      this.problems.push(`must be an object, got ${describe(raw)}`);
    } else {
      this.fields = raw as Record<string, unknown>;
      for (const key of Object.keys(this.fields)) {
        if (known.includes(key)) continue;
        const hint = known.includes(camel(key)) ? ` (use "${camel(key)}": service config JSON names are camelCase)` : "";
        this.problems.push(`unknown field "${key}"${hint}; known fields: ${known.join(", ")}`);
      }
    }
  }

  /** An integer in [min, max], or undefined when absent. */
  integer(name: string, min: number, max: number): number | undefined {
    const v = this.fields[name];
    if (v === undefined) return undefined;
    // Proto3 JSON writes 64-bit integers as strings; accept the decimal form of either.
    const n = typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
      this.problems.push(`${name} must be an integer ${range}, got ${describe(v)}`);
      return undefined;
    }
    return n;
  }

  /** A duration ("10s", "30ms", "1.5s") in ms, or undefined when absent. */
  duration(name: string): number | undefined {
    const v = this.fields[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      this.problems.push(`${name} must be a duration string like "10s" or "30ms", got ${describe(v)}`);
      return undefined;
    }
    const parsed = parseDuration(v);
    if (!parsed.ok) {
      this.problems.push(`${name} ${parsed.reason}, got ${describe(v)}`);
      return undefined;
    }
    return parsed.ms;
  }

  /** A string checked by `check` (which returns a reason or undefined), or undefined when absent. */
  string(name: string, check: (s: string) => string | undefined): string | undefined {
    const v = this.fields[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      this.problems.push(`${name} must be a string, got ${describe(v)}`);
      return undefined;
    }
    const reason = check(v);
    if (reason !== undefined) {
      this.problems.push(`${name} ${reason}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  has(name: string): boolean {
    return this.fields[name] !== undefined;
  }

  /** Records a problem found by a cross-field check. */
  problem(message: string): void {
    this.problems.push(message);
  }

  done(): void {
    if (this.problems.length === 0) return;
    const error = new ConfigError(this.policy, this.problems);
    // grpc-js skips a config that fails to parse and falls back to the next entry or to
    // pick_first, logging only at debug level: say it once where people will see it.
    if (!warned.has(error.message)) {
      warned.add(error.message);
      logger.warn({ policy: this.policy, problems: this.problems }, "invalid load-balancing config; grpc-js will skip it");
    }
    throw error;
  }
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  return typeof v === "object" ? "an object" : typeof v;
}

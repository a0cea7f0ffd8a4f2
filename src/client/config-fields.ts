// Strict reading of one grpc-js LB policy's JSON config from a gRPC service config
// (`loadBalancingConfig: [{ least_request: { choiceCount: 3 } }]`), for every sluice/client
// policy: the endpoint policies (least_request, peak_ewma, ring_hash) and the wrappers
// (sluice_outlier, max_requests_per_connection).
//
// Every problem is collected, each naming its field and the bad value, and all are thrown at
// once as one ConfigError (a SluiceError, grpcStatus INVALID_ARGUMENT). grpc-js shows only the message
// of what createFromJson throws, as `Error: <policy>: <message>`, so the message carries no
// policy name of its own. Unknown fields are errors, with a hint: the policy's own (a
// removed or unsupported field), else the camelCase spelling when the field is the
// snake_case one of a known field (the proto name, not JSON's).
import { experimental } from "@grpc/grpc-js";
import { describe } from "../config/diagnostics.js";
import { parseDuration } from "../config/duration.js";
import { ErrorCode, SluiceError } from "../core/errors.js";
import { Status } from "../core/status.js";
import { logger } from "../core/trace.js";

/** Policies' configs already warned about, as "<policy>: <message>". */
const warned = new Set<string>();

/** A rejected LB policy config: every problem found, as an INVALID_ARGUMENT status. */
export class ConfigError extends SluiceError {
  override readonly name = "ConfigError";
  readonly code = ErrorCode.LB_CONFIG;
  override readonly grpcStatus = Status.INVALID_ARGUMENT;

  constructor(
    readonly policy: string,
    readonly problems: readonly string[],
  ) {
    // No policy prefix: grpc-js puts "<policy>: " in front of whatever a config throws.
    super(problems.join("; "));
  }
}

const CHILD_POLICY = "childPolicy";
const CHILD_POLICY_EXAMPLE = '[{ "round_robin": {} }]';

function camel(snake: string): string {
  return snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Reads the fields of one policy's config object; `done()` throws if anything was wrong. */
export class FieldReader {
  private readonly problems: string[] = [];
  private readonly fields: Readonly<Record<string, unknown>>;

  /**
   * @param known the config's JSON field names
   * @param hints what to say about particular unknown fields (removed or unsupported ones)
   */
  constructor(
    private readonly policy: string,
    raw: unknown,
    known: readonly string[],
    hints: Readonly<Record<string, string>> = {},
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
        const hint = hints[key] ?? (known.includes(camel(key)) ? `use "${camel(key)}": service config JSON names are camelCase` : undefined);
        this.problems.push(`unknown field "${key}"${hint === undefined ? "" : ` (${hint})`}; known fields: ${known.join(", ")}`);
      }
    }
  }

  /** An integer in [min, max]; when absent, `dflt`. */
  integer(name: string, min: number, max: number): number | undefined;
  integer(name: string, min: number, max: number, dflt: number): number;
  integer(name: string, min: number, max: number, dflt?: number): number | undefined {
    const v = this.fields[name];
    if (v === undefined) return dflt;
    // Proto3 JSON may write integers as strings (64-bit ones always); accept the decimal form.
    const n = typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
      this.problems.push(`${name} must be an integer ${range}, got ${describe(v)}`);
      return dflt;
    }
    return n;
  }

  /** A duration ("10s", "30ms", "1.5s") in ms; when absent, `dfltMs`. */
  duration(name: string): number | undefined;
  duration(name: string, dfltMs: number): number;
  duration(name: string, dfltMs?: number): number | undefined {
    const v = this.fields[name];
    if (v === undefined) return dfltMs;
    if (typeof v !== "string") {
      this.problems.push(`${name} must be a duration string like "10s" or "30ms", got ${describe(v)}`);
      return dfltMs;
    }
    const parsed = parseDuration(v);
    if (!parsed.ok) {
      this.problems.push(`${name} ${parsed.reason}, got ${describe(v)}`);
      return dfltMs;
    }
    return parsed.ms;
  }

  /** A string checked by `check` (which returns a reason or undefined), or undefined when absent or bad. */
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

  /** Records a problem if `name` is absent; `why` says what to put there. */
  require(name: string, why?: string): void {
    if (this.fields[name] === undefined) this.problems.push(`${name} is required${why === undefined ? "" : `: ${why}`}`);
  }

  /**
   * `childPolicy` (required): a list of `{ name: config }`, of which the first that grpc-js
   * knows and accepts is used (the gRPC service config's rule for loadBalancingConfig).
   * When none is, every entry's error is reported.
   */
  childPolicy(): experimental.TypedLoadBalancingConfig | undefined {
    const v = this.fields[CHILD_POLICY];
    this.require(CHILD_POLICY, `the policy to wrap, e.g. ${CHILD_POLICY_EXAMPLE}`);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) {
      this.problems.push(`${CHILD_POLICY} must be a non-empty list like ${CHILD_POLICY_EXAMPLE}, got ${describe(v)}`);
      return undefined;
    }
    const errors: string[] = [];
    for (const [i, entry] of (v as unknown[]).entries()) {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        errors.push(`[${i}] must be an object like { "round_robin": {} }, got ${describe(entry)}`);
        continue;
      }
      try {
        return experimental.parseLoadBalancingConfig(entry as Parameters<typeof experimental.parseLoadBalancingConfig>[0]);
      } catch (e: unknown) {
        errors.push(`[${i}] ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.problems.push(`${CHILD_POLICY} has no usable policy: ${errors.join(", ")}`);
    return undefined;
  }

  /** Records a problem found by a cross-field check. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws every problem at once, if there was any. */
  done(): void {
    if (this.problems.length > 0) this.fail();
  }

  /** Throws every problem at once; for a required value found missing (which recorded why). */
  fail(): never {
    const error = new ConfigError(this.policy, this.problems);
    // grpc-js (selectLbConfigFromList) skips a config that fails to parse and falls back to
    // the next loadBalancingConfig entry or to pick_first, logging only at DEBUG: a misspelt
    // field would silently switch balancing off. Say it once where people will see it.
    const key = `${this.policy}: ${error.message}`;
    if (!warned.has(key)) {
      warned.add(key);
      logger.warn({ policy: this.policy, problems: this.problems }, "invalid load-balancing config; grpc-js will skip it");
    }
    throw error;
  }
}

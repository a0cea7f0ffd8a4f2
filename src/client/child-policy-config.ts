// Config parsing shared by sluice/client's wrapper policies (sluice_outlier,
// max_requests_per_connection): their JSON arrives from a gRPC service config as `unknown`,
// and grpc-js only shows the message of what createFromJson throws. So each parser collects
// every problem with its field path and throws them all at once, as a gRPC status.
import { experimental } from "@grpc/grpc-js";
import { parseDuration } from "../config/duration.js";
import { logger } from "../core/trace.js";
import { SluiceError, Status } from "../core/status.js";

export type JsonObject = Readonly<Record<string, unknown>>;

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Problems found in one policy's config, each prefixed with its field path. */
export class ConfigProblems {
  readonly list: string[] = [];

  constructor(private readonly policy: string) {}

  add(field: string, message: string): void {
    this.list.push(`${field}: ${message}`);
  }

  /**
   * Throws them all as one INVALID_ARGUMENT error. grpc-js (selectLbConfigFromList) logs a
   * rejected loadBalancingConfig entry only at DEBUG and falls back to the next entry or
   * pick_first, so a misspelt field would silently switch balancing off: warn as well.
   */
  throwIfAny(): void {
    if (this.list.length > 0) this.fail();
  }

  fail(): never {
    const message = `invalid ${this.policy} config: ${this.list.join("; ")}`;
    logger.warn({ policy: this.policy, problems: this.list }, `${message} (grpc-js falls back to the next loadBalancingConfig entry or pick_first)`);
    throw new SluiceError(Status.INVALID_ARGUMENT, message);
  }
}

/** Rejects fields the policy does not know, with a hint where one helps. */
export function checkFields(obj: JsonObject, known: readonly string[], hints: Readonly<Record<string, string>>, problems: ConfigProblems): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = hints[key];
    problems.add(key, hint ?? `unknown field (known: ${known.join(", ")})`);
  }
}

/** An integer in [min, max], or the default when absent. */
export function intField(obj: JsonObject, field: string, dflt: number | undefined, min: number, max: number, problems: ConfigProblems): number | undefined {
  const v = obj[field];
  if (v === undefined) {
    if (dflt === undefined) problems.add(field, "required");
    return dflt;
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    problems.add(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return dflt;
  }
  return v;
}

/** A duration like the gRPC service config's ("30s", "0.5s") or Istio's ("500ms", "1m"), in ms. */
export function durationField(obj: JsonObject, field: string, dfltMs: number, problems: ConfigProblems): number {
  const v = obj[field];
  if (v === undefined) return dfltMs;
  if (typeof v !== "string") {
    problems.add(field, `must be a duration string like "10s", got ${JSON.stringify(v)}`);
    return dfltMs;
  }
  const d = parseDuration(v);
  if (!d.ok) {
    problems.add(field, `${d.reason}, got ${JSON.stringify(v)}`);
    return dfltMs;
  }
  return d.ms;
}

/**
 * `childPolicy`: a list of `{ name: config }`, of which the first that grpc-js knows and
 * accepts is used (the gRPC service config's rule for loadBalancingConfig). When none is,
 * every entry's error is reported.
 */
export function childPolicyField(obj: JsonObject, problems: ConfigProblems): experimental.TypedLoadBalancingConfig | null {
  const v = obj["childPolicy"];
  if (v === undefined) {
    problems.add("childPolicy", 'required: the policy to wrap, e.g. [{ "round_robin": {} }]');
    return null;
  }
  if (!Array.isArray(v) || v.length === 0) {
    problems.add("childPolicy", `must be a non-empty list like [{ "round_robin": {} }], got ${JSON.stringify(v)}`);
    return null;
  }
  const errors: string[] = [];
  for (const [i, entry] of (v as unknown[]).entries()) {
    if (!isJsonObject(entry)) {
      errors.push(`[${i}] must be an object like { "round_robin": {} }`);
      continue;
    }
    try {
      return experimental.parseLoadBalancingConfig(entry as Parameters<typeof experimental.parseLoadBalancingConfig>[0]);
    } catch (e: unknown) {
      errors.push(`[${i}] ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  problems.add("childPolicy", `no usable policy: ${errors.join(", ")}`);
  return null;
}

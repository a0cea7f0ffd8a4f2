// `sluice analyze --client-options FILE.json`: the channel options of the gRPC clients that
// call through the proxy (grpc-js keys, e.g. {"grpc.keepalive_time_ms": 30000}; a list of
// [key, value] pairs as Python and C++ write them is read too) and/or a gRPC service config
// ({"loadBalancingConfig": [...]}, or as the "grpc.service_config" option's JSON string).
// Bad input is reported as findings (client-options-error), never thrown.
import { closest, describe } from "../config/diagnostics.js";
import type { Finding } from "./finding.js";

export interface OptionValue<T> {
  readonly value: T;
  readonly line: number;
}

/** What the rules read from the file; null = not set. */
export interface ClientOptions {
  readonly file: string;
  readonly keepaliveTimeMs: OptionValue<number> | null;
  readonly keepaliveTimeoutMs: OptionValue<number> | null;
  readonly permitWithoutCalls: OptionValue<boolean> | null;
  /** loadBalancingConfig policy names, in order, when a service config is given. */
  readonly lbPolicies: OptionValue<readonly string[]> | null;
}

/** grpc-js's channel options (its ChannelOptions type), for "did you mean" on misspelled keys. */
const KNOWN_CHANNEL_OPTIONS = [
  "grpc.ssl_target_name_override",
  "grpc.primary_user_agent",
  "grpc.secondary_user_agent",
  "grpc.default_authority",
  "grpc.keepalive_time_ms",
  "grpc.keepalive_timeout_ms",
  "grpc.keepalive_permit_without_calls",
  "grpc.service_config",
  "grpc.max_concurrent_streams",
  "grpc.initial_reconnect_backoff_ms",
  "grpc.max_reconnect_backoff_ms",
  "grpc.use_local_subchannel_pool",
  "grpc.max_send_message_length",
  "grpc.max_receive_message_length",
  "grpc.enable_http_proxy",
  "grpc.http_connect_target",
  "grpc.http_connect_creds",
  "grpc.default_compression_algorithm",
  "grpc.enable_channelz",
  "grpc.dns_min_time_between_resolutions_ms",
  "grpc.enable_retries",
  "grpc.per_rpc_retry_buffer_size",
  "grpc.retry_buffer_size",
  "grpc.max_connection_age_ms",
  "grpc.max_connection_age_grace_ms",
  "grpc.max_connection_idle_ms",
  "grpc.client_idle_timeout_ms",
  "grpc.service_config_disable_resolution",
  "grpc.lb.ring_hash.ring_size_cap",
  "grpc.server_call_metric_recording",
  "grpc-node.max_session_memory",
  "grpc-node.flow_control_window",
  "grpc-node.tls_enable_trace",
  "grpc-node.retry_max_attempts_limit",
];

/** Service config top-level fields (gRPC service_config.proto). */
const SERVICE_CONFIG_FIELDS = ["loadBalancingConfig", "loadBalancingPolicy", "methodConfig", "retryThrottling", "healthCheckConfig"];

export type ClientOptionsResult =
  { readonly ok: true; readonly options: ClientOptions; readonly findings: readonly Finding[] } | { readonly ok: false; readonly findings: readonly Finding[] };

export function parseClientOptions(file: string, text: string): ClientOptionsResult {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const lineOf = (key: string): number => lineOfText(text, JSON.stringify(key));
  const error = (line: number, path: string, reason: string, fix: string): void => {
    errors.push({ rule: "client-options-error", severity: "error", file, line, path, clusters: [], host: null, reason, fix });
  };

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e: unknown) {
    const message = e instanceof Error ? e.message : String(e);
    error(
      jsonErrorLine(text, message),
      "",
      `not valid JSON: ${message}`,
      'write a JSON object of channel options, e.g. {"grpc.keepalive_time_ms": 330000}, and/or a service config {"loadBalancingConfig": [{"round_robin": {}}]}',
    );
    return { ok: false, findings: errors };
  }
  const entries = toEntries(parsed);
  if (entries === null) {
    error(
      1,
      "",
      `must be a JSON object of channel options (or a list of [key, value] pairs), got ${describe(parsed)}`,
      'write e.g. {"grpc.keepalive_time_ms": 330000}',
    );
    return { ok: false, findings: errors };
  }

  const values = new Map(entries);
  const number = (key: string): OptionValue<number> | null => {
    if (!values.has(key)) return null;
    const v = values.get(key);
    if (typeof v !== "number" || !Number.isInteger(v)) {
      // 330000: above gRPC's 5-minute server minimum; 20000: grpc-js's default keepalive timeout.
      error(
        lineOf(key),
        key,
        `must be an integer number of milliseconds, got ${describe(v)}`,
        `"${key}": ${key === "grpc.keepalive_timeout_ms" ? 20000 : 330000}`,
      );
      return null;
    }
    return { value: v, line: lineOf(key) };
  };
  const keepaliveTimeMs = number("grpc.keepalive_time_ms");
  const keepaliveTimeoutMs = number("grpc.keepalive_timeout_ms");
  let permitWithoutCalls: OptionValue<boolean> | null = null;
  const permitKey = "grpc.keepalive_permit_without_calls";
  if (values.has(permitKey)) {
    const v = values.get(permitKey);
    // C-core and Python take 1 or True; grpc-js switches it on only for the number 1.
    if (v === 0 || v === 1 || typeof v === "boolean") permitWithoutCalls = { value: v === 1 || v === true, line: lineOf(permitKey) };
    else error(lineOf(permitKey), permitKey, `must be 0 or 1, got ${describe(v)}`, `"${permitKey}": 0`);
    if (v === true) {
      warnings.push({
        rule: "client-option-ignored",
        severity: "warning",
        file,
        line: lineOf(permitKey),
        path: permitKey,
        clusters: [],
        host: null,
        reason:
          "grpc-js switches keepalive_permit_without_calls on only for the number 1: true (which C-core and Python accept) leaves a grpc-js client not pinging while idle, and is read here as on",
        fix: `"${permitKey}": 1 to ping while idle (see keepalive-too-frequent), or 0 not to`,
      });
    }
  }

  // A service config: the file itself, or the grpc.service_config option's string.
  let serviceConfig: { value: unknown; line: number } | null = null;
  if (values.has("grpc.service_config")) {
    const v = values.get("grpc.service_config");
    const line = lineOf("grpc.service_config");
    if (typeof v !== "string")
      error(
        line,
        "grpc.service_config",
        `must be a string holding the service config's JSON, got ${describe(v)}`,
        '"grpc.service_config": "{\\"loadBalancingConfig\\": [{\\"round_robin\\": {}}]}"',
      );
    else {
      try {
        serviceConfig = { value: JSON.parse(v), line };
      } catch (e: unknown) {
        error(
          line,
          "grpc.service_config",
          `its string is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
          "write the service config as a JSON string",
        );
      }
    }
  } else if (SERVICE_CONFIG_FIELDS.some((f) => values.has(f))) {
    serviceConfig = { value: Object.fromEntries(entries.filter(([k]) => SERVICE_CONFIG_FIELDS.includes(k))), line: 1 };
  }
  const lbPolicies = serviceConfig === null ? null : readLbPolicies(serviceConfig.value, serviceConfig.line, error);

  for (const [key] of entries) {
    if (KNOWN_CHANNEL_OPTIONS.includes(key) || SERVICE_CONFIG_FIELDS.includes(key)) continue;
    // Only near misses: grpc-js passes unknown keys on, and other clients have their own.
    const hint = closest(key, [...KNOWN_CHANNEL_OPTIONS, ...SERVICE_CONFIG_FIELDS]);
    if (hint === null) continue;
    warnings.push({
      rule: "client-option-unknown",
      severity: "warning",
      file,
      line: lineOf(key),
      path: key,
      clusters: [],
      host: null,
      reason: `"${key}" is not a grpc-js channel option: the client ignores it silently`,
      fix: `rename it to "${hint}"`,
    });
  }
  if (errors.length > 0) return { ok: false, findings: [...errors, ...warnings] };
  return { ok: true, options: { file, keepaliveTimeMs, keepaliveTimeoutMs, permitWithoutCalls, lbPolicies }, findings: warnings };
}

function readLbPolicies(
  config: unknown,
  line: number,
  error: (line: number, path: string, reason: string, fix: string) => void,
): OptionValue<readonly string[]> | null {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    error(line, "grpc.service_config", `a service config must be a JSON object, got ${describe(config)}`, '{"loadBalancingConfig": [{"round_robin": {}}]}');
    return null;
  }
  const list: unknown = (config as Record<string, unknown>)["loadBalancingConfig"];
  if (list === undefined) return null;
  if (!Array.isArray(list)) {
    error(
      line,
      "loadBalancingConfig",
      `must be a list of {"policy_name": {config}} objects, got ${describe(list)}`,
      '"loadBalancingConfig": [{"round_robin": {}}]',
    );
    return null;
  }
  const names: string[] = [];
  for (const [i, item] of (list as unknown[]).entries()) {
    const keys = typeof item === "object" && item !== null && !Array.isArray(item) ? Object.keys(item) : [];
    const name = keys[0];
    if (keys.length !== 1 || name === undefined) {
      error(line, `loadBalancingConfig[${i}]`, `each entry must be an object with exactly one policy name, got ${describe(item)}`, '[{"round_robin": {}}]');
      continue;
    }
    names.push(name);
  }
  return { value: names, line };
}

/** A JSON object's entries, or a list of [key, value] pairs (Python's options=[...]); null otherwise. */
function toEntries(value: unknown): [string, unknown][] | null {
  if (Array.isArray(value)) {
    const pairs: [string, unknown][] = [];
    for (const p of value) {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string") return null;
      pairs.push([p[0], p[1]]);
    }
    return pairs;
  }
  if (typeof value === "object" && value !== null) return Object.entries(value);
  return null;
}

/** 1-based line of the first occurrence of `needle`, or 1. */
function lineOfText(text: string, needle: string): number {
  const at = text.indexOf(needle);
  return at < 0 ? 1 : text.slice(0, at).split("\n").length;
}

/** JSON.parse says "at position N" (Node 20) or "(line L column C)" (newer): turn it into a line. */
function jsonErrorLine(text: string, message: string): number {
  const line = /line (\d+)/.exec(message);
  if (line !== null) return Number(line[1]);
  const pos = /position (\d+)/.exec(message);
  return pos === null ? 1 : text.slice(0, Number(pos[1])).split("\n").length;
}

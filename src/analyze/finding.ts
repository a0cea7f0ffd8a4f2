// What `sluice analyze` reports: findings, each with a stable rule id, where it is, why it
// matters (with the numbers that make it matter) and the change that fixes it.

export type Severity = "error" | "warning";

/** Stable ids: scripts may filter on them, docs/analyze.md lists them. */
export type RuleId =
  | "config-error"
  | "config-warning"
  | "usage-error"
  | "client-options-error"
  | "least-conn-deprecated"
  | "connection-mode-no-cycling"
  | "reuse-disabled"
  | "keepalive-too-frequent"
  | "ejection-impossible"
  | "max-requests-below-concurrency"
  | "client-option-unknown"
  | "client-option-ignored";

export interface Finding {
  readonly rule: RuleId;
  readonly severity: Severity;
  readonly file: string;
  /** 0 when there is no line (a command-line value, a default). */
  readonly line: number;
  /** Field path in the file (`spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection`), or "". */
  readonly path: string;
  /** The clusters (`host|port|subset`) the setting applies to; empty when not about clusters. */
  readonly clusters: readonly string[];
  readonly host: string | null;
  readonly reason: string;
  /** The change that removes the finding; null when the reason says it (loader warnings). */
  readonly fix: string | null;
}

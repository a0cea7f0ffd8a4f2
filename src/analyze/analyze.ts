// `sluice analyze`'s core: every rule over a loaded config (and the clients' options), plus
// the loader's own warnings, as one ordered list of findings. Pure: no I/O.
import type { ConfigSource } from "../config/load.js";
import type { Cluster, ProxyConfig, Warning } from "../config/types.js";
import type { ClientOptions } from "./client-options.js";
import type { Finding } from "./finding.js";
import type { Rule, RuleContext } from "./rule.js";
import { Locator } from "./locate.js";
import { concurrencyRule } from "./rules/concurrency.js";
import { connectionCyclingRule, reuseDisabledRule } from "./rules/connection-cycling.js";
import { ejectionRule } from "./rules/ejection.js";
import { keepaliveRule } from "./rules/keepalive.js";
import { leastConnRule } from "./rules/least-conn.js";

/** In the order their findings are listed when two share a line. */
export const RULES: readonly Rule[] = [leastConnRule, connectionCyclingRule, reuseDisabledRule, ejectionRule, concurrencyRule, keepaliveRule];

export interface AnalyzeOptions {
  readonly client?: ClientOptions | null;
  /** Expected concurrent RPCs per lower-case host ("*" = every host). */
  readonly concurrency?: ReadonlyMap<string, number>;
  /** Expected RPCs per second per lower-case host ("*" = every host). */
  readonly rps?: ReadonlyMap<string, number>;
  /** A measured cost of a cluster's connection settings (the simulator's), for reuse-disabled. */
  readonly costOf?: (config: ProxyConfig, cluster: Cluster) => string | undefined;
}

export interface Analysis {
  readonly findings: readonly Finding[];
  /** Rules that could not run, and why (info, not findings). */
  readonly notes: readonly string[];
}

/**
 * @param sources the text the config was loaded from, to say where each setting is written
 */
export function analyzeConfig(config: ProxyConfig, sources: readonly ConfigSource[], options: AnalyzeOptions = {}): Analysis {
  const ctx: RuleContext = {
    config,
    locate: Locator.fromSources(sources, [...new Set([...config.clusters.values()].map((c) => c.host))]),
    client: options.client ?? null,
    concurrency: options.concurrency ?? new Map(),
    rps: options.rps ?? new Map(),
    ...(options.costOf === undefined ? {} : { costOf: options.costOf }),
  };
  const found: Finding[] = [];
  const notes: string[] = [];
  for (const rule of RULES) {
    const r = rule(ctx);
    found.push(...r.findings);
    notes.push(...(r.notes ?? []));
  }
  // The loader's warnings are findings too, unless a rule already reports that field.
  const covered = new Set(found.map(whereKey));
  const fromLoader = config.warnings.map(loaderFinding).filter((f) => !covered.has(whereKey(f)));
  const fileOrder = sources.map((s) => s.file);
  return { findings: sortFindings(mergeClusters([...fromLoader, ...found]), fileOrder), notes };
}

export function loaderFinding(w: Warning): Finding {
  return { rule: "config-warning", severity: "warning", file: w.file, line: w.line, path: w.path, clusters: [], host: null, reason: w.message, fix: null };
}

export function loaderError(p: Warning): Finding {
  return { rule: "config-error", severity: "error", file: p.file, line: p.line, path: p.path, clusters: [], host: null, reason: p.message, fix: null };
}

/** 0 clean, 1 warnings, 2 errors. */
export function exitCodeOf(findings: readonly Finding[]): 0 | 1 | 2 {
  if (findings.some((f) => f.severity === "error")) return 2;
  return findings.length > 0 ? 1 : 0;
}

function whereKey(f: Finding): string {
  return `${f.file}\u0000${f.line}\u0000${f.path}`;
}

/** One setting shared by several clusters (a DR's policy, inherited by its subsets) is one finding. */
function mergeClusters(findings: readonly Finding[]): Finding[] {
  const byKey = new Map<string, Finding>();
  for (const f of findings) {
    const key = [f.rule, whereKey(f), f.reason, f.fix].join("\u0000");
    const prior = byKey.get(key);
    byKey.set(key, prior === undefined ? f : { ...prior, clusters: [...prior.clusters, ...f.clusters] });
  }
  return [...byKey.values()];
}

function sortFindings(findings: Finding[], fileOrder: readonly string[]): Finding[] {
  const rank = (file: string): number => {
    const i = fileOrder.indexOf(file);
    return i < 0 ? fileOrder.length : i;
  };
  return findings
    .map((f, i) => ({ f, i }))
    .sort(
      (a, b) => (a.f.severity === b.f.severity ? 0 : a.f.severity === "error" ? -1 : 1) || rank(a.f.file) - rank(b.f.file) || a.f.line - b.f.line || a.i - b.i,
    )
    .map((e) => e.f);
}

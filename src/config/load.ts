// Entry points: YAML files or text -> a validated, fully defaulted ProxyConfig, or every
// problem found. Code that receives a ProxyConfig may assume it is valid and complete.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Diagnostics } from "./diagnostics.js";
import { readFailure } from "./errno.js";
import { buildListener, type ConfigOverrides } from "./listener.js";
import { buildModel } from "./model.js";
import { parseResource, type ParsedResource } from "./resource.js";
import type { ResourceKind } from "./support.js";
import { checkWorkloadCertificatesUse } from "./tls.js";
import type { LoadResult } from "./types.js";
import { parseYamlDocuments } from "./yaml-tree.js";

export type { ConfigOverrides } from "./listener.js";

export interface ResourceSummary {
  readonly kind: ResourceKind;
  readonly name: string | null;
  readonly file: string;
  readonly line: number;
}

/** A load's result plus what was read, for `sluice validate`'s summary. */
export interface LoadReport {
  readonly result: LoadResult;
  readonly resources: readonly ResourceSummary[];
}

export interface ConfigSource {
  readonly file: string;
  readonly text: string;
  /**
   * The directory of the file the text was read from: relative paths it names (certificate
   * files) are read from there, as kubectl and Envoy read a file's paths. Absent when the
   * text has no file (stdin, a test, the docs): the paths are kept as written.
   */
  readonly dir?: string;
}

export async function loadConfigFiles(files: string[], overrides: ConfigOverrides = {}): Promise<LoadResult> {
  return (await loadConfigFilesReport(files, overrides)).result;
}

export function loadConfigText(text: string, file: string, overrides: ConfigOverrides = {}): LoadResult {
  return loadConfigSources([{ file, text }], overrides).result;
}

export async function loadConfigFilesReport(files: readonly string[], overrides: ConfigOverrides = {}): Promise<LoadReport> {
  const diag = new Diagnostics();
  if (files.length === 0) diag.error("(command line)", 0, "", "no config files given");
  const sources: ConfigSource[] = [];
  for (const file of files) {
    try {
      sources.push({ file, text: await readFile(file, "utf8"), dir: dirname(resolve(file)) });
    } catch (e: unknown) {
      diag.error(file, 0, "", `cannot read file: ${readFailure(e)}`);
    }
  }
  return loadConfigSources(sources, overrides, diag, files);
}

/** The common path: parse every source, then build the model across all of them. */
export function loadConfigSources(
  sources: readonly ConfigSource[],
  overrides: ConfigOverrides = {},
  diag: Diagnostics = new Diagnostics(),
  fileOrder: readonly string[] = sources.map((s) => s.file),
): LoadReport {
  const resources: ParsedResource[] = [];
  for (const s of sources) {
    for (const doc of parseYamlDocuments(s.text, s.file, diag)) {
      const r = parseResource(doc, s.file, diag, s.dir ?? null);
      if (r !== undefined) resources.push(r);
    }
  }
  if (sources.length > 0 && resources.length === 0 && diag.ok) {
    diag.error(sources.map((s) => s.file).join(", "), 0, "", "no resources found (expected DestinationRule, ServiceEntry, VirtualService or Proxy)");
  }
  const model = buildModel(
    {
      serviceEntries: resources.filter((r) => r.kind === "ServiceEntry"),
      destinationRules: resources.filter((r) => r.kind === "DestinationRule"),
      virtualServices: resources.filter((r) => r.kind === "VirtualService"),
    },
    diag,
  );
  const listener = buildListener(
    resources.filter((r) => r.kind === "Proxy"),
    overrides,
    model.virtualHosts,
    [...new Set([...model.clusters.values()].map((c) => c.host))],
    diag,
  );
  const proxy = resources.find((r) => r.kind === "Proxy");
  const workloadAt = proxy?.workloadCertificates === undefined ? undefined : { file: proxy.meta.file, line: proxy.workloadCertificates.line };
  checkWorkloadCertificatesUse(model.clusters.values(), listener.workloadCertificates, workloadAt, diag);
  diag.sort(fileOrder);
  const summaries = resources.map((r) => ({ kind: r.kind, name: r.meta.name, file: r.meta.file, line: r.meta.line }));
  const result: LoadResult = diag.ok
    ? { ok: true, config: { listener, clusters: model.clusters, virtualHosts: model.virtualHosts, warnings: diag.warnings } }
    : { ok: false, problems: diag.problems, warnings: diag.warnings };
  return { result, resources: summaries };
}

// `sluice analyze FILE...`: loads the config exactly as `sluice validate` (and the proxy) do,
// then reports settings that are valid but do not do what their authors likely want, each
// with the reason and the fix (src/analyze/). Exit code: 0 clean, 1 warnings, 2 errors (the
// config or the client options cannot be read). `--format json` prints one JSON document.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { analyzeConfig, exitCodeOf, loaderError, loaderFinding, type AnalyzeOptions } from "../analyze/analyze.js";
import { parseClientOptions, type ClientOptions } from "../analyze/client-options.js";
import type { Finding, RuleId } from "../analyze/finding.js";
import { COMMAND_LINE, formatProblem } from "../config/diagnostics.js";
import { loadConfigFilesReport, loadConfigSources, type ConfigSource } from "../config/load.js";
import { perHost } from "../analyze/rule.js";
import { parsePerHost, PER_HOST_HELP } from "./flags.js";
import type { Io } from "./io.js";

export interface AnalyzeCliOptions {
  readonly format?: "text" | "json";
  readonly clientOptions?: string;
  /** `N` (every host) or `HOST=N`, as typed. */
  readonly concurrency?: readonly string[];
  readonly rps?: readonly string[];
}

/** What the command may be given besides its flags (the simulator's measured cost, later). */
export type AnalyzeDeps = Pick<AnalyzeOptions, "costOf">;

export async function analyzeCommand(files: string[], opts: AnalyzeCliOptions, io: Io, deps: AnalyzeDeps = {}): Promise<number> {
  const format = opts.format ?? "text";
  const errors: Finding[] = [];
  const concurrency = perHostFlag("--concurrency", opts.concurrency ?? [], errors);
  const rps = perHostFlag("--rps", opts.rps ?? [], errors);
  let client: ClientOptions | null = null;
  const clientFindings: Finding[] = [];
  if (opts.clientOptions !== undefined) {
    const file = opts.clientOptions;
    const text = await readText(file);
    if (typeof text !== "string") {
      errors.push(
        commandLineError("client-options-error", file, `cannot read the client options: ${text.error}`, "--client-options must name a readable JSON file"),
      );
    } else {
      const parsed = parseClientOptions(file, text);
      clientFindings.push(...parsed.findings);
      if (parsed.ok) client = parsed.options;
    }
  }

  // Read once: the analysis points at lines of the very text that was loaded. A file that
  // cannot be read is left to the loader, which reports it as `sluice validate` does.
  const sources = await readAll(files);
  const { result } = sources === null ? await loadConfigFilesReport(files) : loadConfigSources(sources);
  if (result.ok) {
    // A HOST= that names no service would turn its check off without a word: a typo is an error.
    const hosts = [...new Set([...result.config.clusters.values()].map((c) => c.host))];
    for (const [flag, map] of [
      ["--concurrency", concurrency],
      ["--rps", rps],
    ] as const) {
      for (const key of map.keys()) {
        if (key === "*" || hosts.some((h) => perHost(new Map([[key, 1]]), h) !== undefined)) continue;
        errors.push(
          commandLineError(
            "usage-error",
            COMMAND_LINE,
            `${flag}: no service ${key} in the config (there are: ${hosts.join(", ") || "none"})`,
            `name one of them, e.g. ${flag} ${hosts[0] ?? "HOST"}=${map.get(key) ?? 1}`,
          ),
        );
      }
    }
  }
  if (!result.ok || errors.length > 0 || clientFindings.some((f) => f.severity === "error")) {
    const configErrors = result.ok ? [] : result.problems.map(loaderError);
    const configWarnings = result.ok ? result.config.warnings : result.warnings;
    const findings = [...configErrors, ...errors, ...clientFindings.filter((f) => f.severity === "error")];
    if (format === "json") {
      print(io, [...findings, ...configWarnings.map(loaderFinding)], [], files, "json");
    } else {
      // As `sluice validate` prints them.
      for (const p of result.ok ? [] : result.problems) io.err(formatProblem(p));
      for (const f of [...errors, ...clientFindings.filter((x) => x.severity === "error")])
        io.err(`${formatProblem({ file: f.file, line: f.line, path: f.path, message: f.reason })}${f.fix === null ? "" : ` (${f.fix.split("\n")[0] ?? ""})`}`);
      for (const w of configWarnings) io.err(`warning: ${formatProblem(w)}`);
      io.err(`${plural(findings.length, "problem")}: nothing analyzed`);
    }
    return 2;
  }

  if (sources === null) return 2; // not reached: an unreadable file is a loader problem
  const analysis = analyzeConfig(result.config, sources, {
    client,
    concurrency,
    rps,
    ...(deps.costOf === undefined ? {} : { costOf: deps.costOf }),
  });
  const findings = [...clientFindings, ...analysis.findings];
  print(io, findings, analysis.notes, files, format);
  return exitCodeOf(findings);
}

function print(io: Io, findings: readonly Finding[], notes: readonly string[], files: readonly string[], format: "text" | "json"): void {
  const errors = findings.filter((f) => f.severity === "error").length;
  const warnings = findings.length - errors;
  if (format === "json") {
    io.out(JSON.stringify({ findings, notes, summary: { errors, warnings, files, exitCode: exitCodeOf(findings) } }, null, 2));
    return;
  }
  for (const f of findings) {
    io.out(formatFinding(f));
    io.out("");
  }
  for (const n of notes) io.out(`info: ${n}`);
  io.out(
    findings.length === 0
      ? `ok: no findings in ${plural(files.length, "file")}`
      : `${plural(warnings, "warning")}, ${plural(errors, "error")} in ${plural(files.length, "file")}`,
  );
}

/** One block: `warning[rule] file:line path (cluster ...)`, then the reason and the fix. */
export function formatFinding(f: Finding): string {
  const where = formatProblem({ file: f.file, line: f.line, path: f.path, message: "" }).replace(/: $/, "");
  const clusters = f.clusters.length === 0 ? "" : ` (${f.clusters.length === 1 ? "cluster" : "clusters"} ${f.clusters.join(", ")})`;
  const lines = [`${f.severity}[${f.rule}] ${where}${clusters}`, `  reason: ${f.reason}`];
  if (f.fix !== null) {
    const [first, ...rest] = f.fix.split("\n");
    lines.push(`  fix: ${first ?? ""}`, ...rest.map((l) => `    ${l}`));
  }
  return lines.join("\n");
}

/** `N` (every host) or `HOST=N`, repeatable; a bad value is an error finding. */
function perHostFlag(flag: string, values: readonly string[], errors: Finding[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const v of values) {
    // The CLI refused a bad one already (flags.ts); a caller in process gets the same rule as a finding.
    const parsed = parsePerHost(v);
    if (parsed === undefined) {
      errors.push(
        commandLineError(
          "usage-error",
          COMMAND_LINE,
          `${flag}: must be ${PER_HOST_HELP}, got ${JSON.stringify(v)}`,
          `e.g. ${flag} 500 or ${flag} grpc-service=500`,
        ),
      );
      continue;
    }
    map.set(parsed.host, parsed.n);
  }
  return map;
}

function commandLineError(rule: RuleId, file: string, reason: string, fix: string): Finding {
  return { rule, severity: "error", file, line: 0, path: "", clusters: [], host: null, reason, fix };
}

async function readAll(files: readonly string[]): Promise<ConfigSource[] | null> {
  const sources: ConfigSource[] = [];
  for (const file of files) {
    const text = await readText(file);
    if (typeof text !== "string") return null;
    // The directory too: certificate paths in the files are relative to it, as the proxy reads them.
    sources.push({ file, text, dir: dirname(resolve(file)) });
  }
  return sources;
}

async function readText(file: string): Promise<string | { error: string }> {
  try {
    return await readFile(file, "utf8");
  } catch (e: unknown) {
    const code = e instanceof Error && "code" in e && typeof e.code === "string" ? e.code : String(e);
    return { error: code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code };
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

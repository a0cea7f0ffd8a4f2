// `sluice validate <file...>`: loads the config exactly as the proxy would and prints every
// problem, one per line (`file:line field.path: message`), or a one-line summary and the
// warnings. Exit code 0 = valid (warnings allowed), 1 = problems.
import { formatProblem } from "../config/diagnostics.js";
import { loadConfigFilesReport, type ResourceSummary } from "../config/load.js";
import type { Io } from "./io.js";

export async function validateCommand(files: string[], io: Io): Promise<number> {
  const { result, resources } = await loadConfigFilesReport(files);
  if (!result.ok) {
    for (const p of result.problems) io.err(formatProblem(p));
    for (const w of result.warnings) io.err(`warning: ${formatProblem(w)}`);
    io.err(`${plural(result.problems.length, "problem")} in ${plural(files.length, "file")}`);
    return 1;
  }
  const { config } = result;
  io.out(
    `ok: ${plural(resources.length, "resource")} (${countKinds(resources)}), ${plural(config.clusters.size, "cluster")}, ` +
      `${plural(config.virtualHosts.length, "virtual host")}, ${plural(config.warnings.length, "warning")}`,
  );
  for (const w of config.warnings) io.out(`warning: ${formatProblem(w)}`);
  return 0;
}

function countKinds(resources: readonly ResourceSummary[]): string {
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(", ");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

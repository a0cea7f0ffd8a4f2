// Collects every problem and warning of one load, so validation can report all of them at
// once instead of stopping at the first (STYLE.md "Config and errors").
import type { Problem, Warning } from "./types.js";

/** Where a problem is reported when it comes from a CLI flag rather than a file. */
export const COMMAND_LINE = "(command line)";

export class Diagnostics {
  readonly problems: Problem[] = [];
  readonly warnings: Warning[] = [];
  /** Keys of warnings already given: one warning per file and field, however often it occurs. */
  private readonly warned = new Set<string>();

  error(file: string, line: number, path: string, message: string): void {
    this.problems.push({ file, line, path, message });
  }

  /**
   * `dedupKey` names the field without list indices, so a field used in ten routes of one
   * file warns once, at its first use.
   */
  warn(file: string, line: number, path: string, message: string, dedupKey: string = path): void {
    const key = `${file}\u0000${dedupKey}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warnings.push({ file, line, path, message });
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  /** Orders problems and warnings by file (in the order given) then line, keeping ties stable. */
  sort(fileOrder: readonly string[]): void {
    const rank = (f: string): number => {
      const i = fileOrder.indexOf(f);
      return i < 0 ? fileOrder.length : i;
    };
    const cmp = (a: Problem, b: Problem): number => rank(a.file) - rank(b.file) || a.line - b.line;
    sortStable(this.problems, cmp);
    sortStable(this.warnings, cmp);
  }
}

function sortStable<T>(list: T[], cmp: (a: T, b: T) => number): void {
  const indexed = list.map((v, i) => ({ v, i }));
  indexed.sort((a, b) => cmp(a.v, b.v) || a.i - b.i);
  indexed.forEach((e, i) => (list[i] = e.v));
}

/** `grpc.yaml:14 spec.host: message`; problems from CLI flags have no line. */
export function formatProblem(p: Problem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  return p.path === "" ? `${where}: ${p.message}` : `${where} ${p.path}: ${p.message}`;
}

/** How a found value is shown after "got": strings quoted, containers named. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  return typeof value;
}

/** The closest candidate within edit distance 2 (case-insensitive), for "did you mean" hints. */
export function closest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance; inputs are field names, so the O(n*m) table is tiny. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

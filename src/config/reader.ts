// Typed, line-aware access to one YAML map of a resource. Each accessor marks its field as
// known, checks the value, reports a problem (file, line, field path) instead of throwing,
// and warns once for fields support.ts marks "warn". `finish()` then reports every key no
// accessor asked for as unknown, with a "did you mean" hint from the keys that were asked for.
import { InternalError } from "../core/errors.js";
import { closest, describe, type Diagnostics } from "./diagnostics.js";
import { DURATION_HELP, parseDuration } from "./duration.js";
import { INT32_MAX } from "./limits.js";
import { supportOf, type ResourceKind, type SupportRow } from "./support.js";
import { plainValue, type YEntry, type YNode } from "./yaml-tree.js";

export interface ReadContext {
  readonly file: string;
  /** The directory relative file paths in the config are read from; null (no file: stdin, a test's text) keeps them as written. */
  readonly dir: string | null;
  readonly kind: ResourceKind;
  readonly diag: Diagnostics;
}

/** Top-level keys that are structure, not fields with a support status. */
const STRUCTURAL = new Set(["apiVersion", "kind", "spec"]);

interface IntRange {
  readonly min: number;
  readonly max?: number;
}

export class MapReader {
  private readonly asked = new Set<string>();
  private readonly entries: ReadonlyMap<string, YEntry>;

  /**
   * @param path   the field path shown in messages, with indices (`spec.subsets[1]`)
   * @param schema the support.ts path of this map, without indices (`spec.subsets[]`)
   * @param line   where problems about this map as a whole are reported (its key's line)
   * @param underWarn an enclosing field already warned: its children do not warn again
   */
  constructor(
    readonly ctx: ReadContext,
    node: YNode & { t: "map" },
    readonly path: string,
    readonly schema: string,
    readonly line: number,
    private readonly underWarn = false,
  ) {
    this.entries = new Map(node.entries.map((e) => [e.key, e]));
  }

  /** Whether the key is present with a non-null value (null means unset, as in Kubernetes). */
  has(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && !(e.value.t === "scalar" && e.value.value === null);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  lineOf(key: string): number {
    return this.entries.get(key)?.keyLine ?? this.line;
  }

  fieldPath(key: string): string {
    return join(this.path, key);
  }

  /** Reports a problem about `key` (at its line), or about this map when key is null. */
  error(key: string | null, message: string): void {
    if (key === null) this.ctx.diag.error(this.ctx.file, this.line, this.path, message);
    else this.ctx.diag.error(this.ctx.file, this.valueLine(key), this.fieldPath(key), message);
  }

  /** A warning about `key` that does not come from the support table (deprecations). */
  warn(key: string, message: string): void {
    this.ctx.diag.warn(this.ctx.file, this.lineOf(key), this.fieldPath(key), message, `${this.ctx.kind} ${this.fieldPath(key)} ${message}`);
  }

  /** Warns when support.ts marks this one value of an enum field "warn". */
  warnValue(key: string, value: string, line = this.lineOf(key)): void {
    const row = supportOf(this.ctx.kind, join(this.schema, key), value);
    if (row?.status !== "warn" || this.underWarn) return;
    const note = row.note === undefined ? "" : ` (${row.note})`;
    this.ctx.diag.warn(
      this.ctx.file,
      line,
      this.fieldPath(key),
      `${value} is accepted, but sluice does not implement it yet${note}`,
      `${this.ctx.kind} ${row.path}=${value}`,
    );
  }

  string(key: string, opts: { required?: boolean } = {}): string | undefined {
    const v = this.scalar(key, opts.required ?? false);
    if (v === undefined) return undefined;
    if (typeof v.value !== "string" || (opts.required === true && v.value === "")) {
      this.error(key, `must be a${opts.required === true ? " non-empty" : ""} string, got ${describe(v.value)}`);
      return undefined;
    }
    return v.value;
  }

  /** A string or a number (a field such as spec.admin that takes `15000` or `"host:port"`). */
  stringOrNumber(key: string): string | number | undefined {
    const v = this.scalar(key, false);
    if (v === undefined) return undefined;
    if (typeof v.value !== "string" && typeof v.value !== "number") {
      this.error(key, `must be a string or a number, got ${describe(v.value)}`);
      return undefined;
    }
    return v.value;
  }

  bool(key: string): boolean | undefined {
    const v = this.scalar(key, false);
    if (v === undefined) return undefined;
    if (typeof v.value !== "boolean") {
      this.error(key, `must be true or false, got ${describe(v.value)}`);
      return undefined;
    }
    return v.value;
  }

  int(key: string, range: IntRange, opts: { required?: boolean } = {}): number | undefined {
    const v = this.scalar(key, opts.required ?? false);
    if (v === undefined) return undefined;
    const n = v.value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < range.min || (range.max !== undefined && n > range.max)) {
      this.error(key, `must be an integer ${rangeText(range, n)}, got ${describe(n)}`);
      return undefined;
    }
    return n;
  }

  number(key: string, range: IntRange): number | undefined {
    const v = this.scalar(key, false);
    if (v === undefined) return undefined;
    const n = v.value;
    if (typeof n !== "number" || !Number.isFinite(n) || n < range.min || (range.max !== undefined && n > range.max)) {
      this.error(key, `must be a number ${rangeText(range, n)}, got ${describe(n)}`);
      return undefined;
    }
    return n;
  }

  /** A number from 0 to 100 (Istio's Percent and the int percentages alike). */
  percent(key: string, opts: { integer?: boolean } = {}): number | undefined {
    const v = this.scalar(key, false);
    if (v === undefined) return undefined;
    const n = v.value;
    const integer = opts.integer ?? false;
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || n > 100 || (integer && !Number.isInteger(n))) {
      this.error(key, `must be ${integer ? "an integer" : "a number"} from 0 to 100, got ${describe(n)}`);
      return undefined;
    }
    return n;
  }

  /** Milliseconds. */
  /** A duration in ms; with `zeroMeansOff`, "0s" is valid too (and gives 0). */
  duration(key: string, zeroMeansOff = false): number | undefined {
    const v = this.scalar(key, false);
    if (v === undefined) return undefined;
    if (typeof v.value !== "string") {
      const unitHint = typeof v.value === "number" ? ` (add a unit, e.g. "${v.value}s")` : "";
      this.error(key, `must be ${DURATION_HELP}, got ${describe(v.value)}${unitHint}`);
      return undefined;
    }
    const d = parseDuration(v.value, zeroMeansOff);
    if (!d.ok) {
      this.error(key, `${d.reason}, got ${describe(v.value)}`);
      return undefined;
    }
    return d.ms;
  }

  /** One of `allowed` (exact, upper case as Istio writes enums). */
  enumOf<T extends string>(key: string, allowed: readonly T[], opts: { required?: boolean } = {}): T | undefined {
    const v = this.scalar(key, opts.required ?? false);
    if (v === undefined) return undefined;
    const found = allowed.find((a) => a === v.value);
    if (found === undefined) {
      const hint = typeof v.value === "string" ? closest(v.value, allowed) : null;
      const dym = hint === null ? "" : ` (did you mean ${hint}?)`;
      this.error(key, `must be one of ${allowed.join(", ")}, got ${describe(v.value)}${dym}`);
      return undefined;
    }
    this.warnValue(key, found, v.line);
    return found;
  }

  /** A nested message; `childSchema` when it reuses another message's rows (see support.ts). */
  map(key: string, childSchema?: string): MapReader | undefined {
    const e = this.touch(key);
    if (e === undefined) return undefined;
    if (e.entry.value.t !== "map") {
      this.error(key, `must be a map, got ${describe(plainValue(e.entry.value))}`);
      return undefined;
    }
    return new MapReader(this.ctx, e.entry.value, this.fieldPath(key), childSchema ?? join(this.schema, key), e.entry.keyLine, e.quiet);
  }

  /** A list of messages. */
  mapList(key: string, childSchema?: string): MapReader[] {
    const items = this.seq(key);
    if (items === undefined) return [];
    const out: MapReader[] = [];
    items.nodes.forEach((n, i) => {
      const path = `${this.fieldPath(key)}[${i}]`;
      if (n.t !== "map") {
        this.ctx.diag.error(this.ctx.file, n.line, path, `must be a map, got ${describe(plainValue(n))}`);
        return;
      }
      out.push(new MapReader(this.ctx, n, path, childSchema ?? `${join(this.schema, key)}[]`, n.line, items.quiet));
    });
    return out;
  }

  stringList(key: string): string[] | undefined {
    return this.stringItems(key)?.map((i) => i.value);
  }

  /** Like stringList, with each item's line (for problems about one host of many). */
  stringItems(key: string): { value: string; line: number }[] | undefined {
    const items = this.seq(key);
    if (items === undefined) return undefined;
    const out: { value: string; line: number }[] = [];
    items.nodes.forEach((n, i) => {
      const v = n.t === "scalar" ? n.value : plainValue(n);
      const line = n.line || this.lineOf(key);
      if (typeof v !== "string" || v === "") {
        this.ctx.diag.error(this.ctx.file, line, `${this.fieldPath(key)}[${i}]`, `must be a non-empty string, got ${describe(v)}`);
      } else out.push({ value: v, line });
    });
    return out;
  }

  /** A map whose keys the user names, each value a nested message (header matches). */
  namedMaps(key: string): { name: string; reader: MapReader }[] {
    const e = this.touch(key);
    if (e === undefined) return [];
    if (e.entry.value.t !== "map") {
      this.error(key, `must be a map, got ${describe(plainValue(e.entry.value))}`);
      return [];
    }
    const out: { name: string; reader: MapReader }[] = [];
    for (const inner of e.entry.value.entries) {
      const path = `${this.fieldPath(key)}.${inner.key}`;
      if (inner.value.t !== "map") {
        this.ctx.diag.error(this.ctx.file, inner.keyLine, path, `must be a map, got ${describe(plainValue(inner.value))}`);
        continue;
      }
      out.push({ name: inner.key, reader: new MapReader(this.ctx, inner.value, path, `${join(this.schema, key)}.*`, inner.keyLine, e.quiet) });
    }
    return out;
  }

  /** string -> scalar maps (labels: strings; endpoint ports: integers). */
  scalarMap<T>(key: string, check: (v: unknown) => v is T, expected: string): Record<string, T> | undefined {
    const e = this.touch(key);
    if (e === undefined) return undefined;
    if (e.entry.value.t !== "map") {
      this.error(key, `must be a map of ${expected}, got ${describe(plainValue(e.entry.value))}`);
      return undefined;
    }
    const out: Record<string, T> = {};
    for (const inner of e.entry.value.entries) {
      const v = plainValue(inner.value);
      if (check(v)) out[inner.key] = v;
      else
        this.ctx.diag.error(this.ctx.file, inner.value.line || inner.keyLine, `${this.fieldPath(key)}.${inner.key}`, `must be ${expected}, got ${describe(v)}`);
    }
    return out;
  }

  stringMap(key: string): Record<string, string> | undefined {
    return this.scalarMap(key, (v): v is string => typeof v === "string", "a string");
  }

  /**
   * A field sluice does not look inside yet (VirtualService tcp routes, faults, ...): its
   * shape is checked, its contents are not. support.ts marks all of these "warn".
   */
  opaque(key: string, shape: "map" | "list" | "any"): unknown {
    const e = this.touch(key);
    if (e === undefined) return undefined;
    const v = e.entry.value;
    if ((shape === "map" && v.t !== "map") || (shape === "list" && v.t !== "seq")) {
      this.error(key, `must be a ${shape}, got ${describe(plainValue(v))}`);
      return undefined;
    }
    return plainValue(v);
  }

  /** Reports every key no accessor asked for: unknown fields are errors, never ignored. */
  finish(): void {
    for (const [key, e] of this.entries) {
      if (this.asked.has(key)) continue;
      const hint = closest(key, this.asked);
      const known = hint === null ? `known fields: ${[...this.asked].join(", ")}` : `did you mean ${hint}?`;
      this.ctx.diag.error(this.ctx.file, e.keyLine, this.fieldPath(key), `unknown field (${known})`);
    }
  }

  private valueLine(key: string): number {
    const e = this.entries.get(key);
    if (e === undefined) return this.line;
    return e.value.t === "scalar" && e.value.line > 0 ? e.value.line : e.keyLine;
  }

  private scalar(key: string, required: boolean): { value: unknown; line: number } | undefined {
    const e = this.touch(key);
    if (e === undefined) {
      if (required) this.error(null, `${key} is required`);
      return undefined;
    }
    const v = e.entry.value;
    if (v.t !== "scalar") return { value: plainValue(v), line: e.entry.keyLine };
    return { value: v.value, line: v.line || e.entry.keyLine };
  }

  private seq(key: string): { nodes: readonly YNode[]; quiet: boolean } | undefined {
    const e = this.touch(key);
    if (e === undefined) return undefined;
    if (e.entry.value.t !== "seq") {
      this.error(key, `must be a list, got ${describe(plainValue(e.entry.value))}`);
      return undefined;
    }
    return { nodes: e.entry.value.items, quiet: e.quiet };
  }

  /**
   * Marks `key` known; when present, warns if support.ts says "warn". Returns the entry and
   * whether its children are already covered by a warning.
   */
  private touch(key: string): { entry: YEntry; quiet: boolean } | undefined {
    this.asked.add(key);
    const schemaPath = join(this.schema, key);
    const row = STRUCTURAL.has(schemaPath) ? undefined : this.rowFor(schemaPath);
    if (!this.has(key)) return undefined;
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const warned = row?.status === "warn";
    if (warned && !this.underWarn) {
      const note = row.note === undefined ? "" : ` (${row.note})`;
      this.ctx.diag.warn(
        this.ctx.file,
        entry.keyLine,
        this.fieldPath(key),
        `accepted, but sluice does not implement it yet, so it has no effect${note}`,
        `${this.ctx.kind} ${row.path}`,
      );
    }
    return { entry, quiet: this.underWarn || warned };
  }

  private rowFor(schemaPath: string): SupportRow {
    const row = supportOf(this.ctx.kind, schemaPath);
    // A parser reading a field the table does not list is a bug in sluice, not in the config.
    if (row === undefined) throw new InternalError(`support.ts has no row for ${this.ctx.kind} ${schemaPath}`);
    return row;
  }
}

function join(base: string, key: string): string {
  return base === "" ? key : `${base}.${key}`;
}

/** Istio's int32 limits read as ">= 0" unless the value actually passed the upper bound. */
function rangeText(r: IntRange, found: unknown): string {
  if (r.max === undefined) return `>= ${r.min}`;
  const huge = r.max >= INT32_MAX && !(typeof found === "number" && found > r.max);
  return huge ? `>= ${r.min}` : `from ${r.min} to ${r.max}`;
}

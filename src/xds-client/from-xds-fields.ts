// Reading decoded xDS messages (plain objects from unpackAny: .proto field names, enums by
// name, longs as numbers, unset fields absent) without trusting their shape: every reader
// returns undefined for a missing or mistyped field, so bad input becomes a problem, never a throw.

export type Fields = Readonly<Record<string, unknown>>;

export function fields(v: unknown): Fields | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Fields) : undefined;
}

export function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The message elements of a repeated field (anything else in it skipped). */
export function records(v: unknown): Fields[] {
  const out: Fields[] = [];
  for (const x of list(v)) {
    const f = fields(x);
    if (f !== undefined) out.push(f);
  }
  return out;
}

export function text(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

/** A google.protobuf.UInt32Value / DoubleValue / BoolValue: `{ value }` (absent value = the type's zero). */
export function wrapped(v: unknown): number | undefined {
  const w = fields(v);
  if (w === undefined) return undefined;
  return w["value"] === undefined ? 0 : num(w["value"]);
}

/** A google.protobuf.Duration in whole milliseconds (sub-millisecond parts rounded). */
export function durationMs(v: unknown): number | undefined {
  const d = fields(v);
  if (d === undefined) return undefined;
  const seconds = d["seconds"] === undefined ? 0 : num(d["seconds"]);
  const nanos = d["nanos"] === undefined ? 0 : num(d["nanos"]);
  if (seconds === undefined || nanos === undefined || seconds < 0 || nanos < 0) return undefined;
  return seconds * 1000 + Math.round(nanos / 1_000_000);
}

/** The type URL of a google.protobuf.Any as decoded (`{ type_url, value }`). */
export function anyType(v: unknown): string | undefined {
  return text(fields(v)?.["type_url"]);
}

/** Collects problems, each prefixed with the resource it is about. */
export class Problems {
  readonly list: string[] = [];

  add(where: string, message: string): void {
    this.list.push(`${where}: ${message}`);
  }

  /**
   * One problem per field of `msg` that is set but neither mapped (`known`) nor harmless to
   * ignore (`ignored`: names, stats, tuning that changes no routing or balancing decision).
   */
  unmapped(where: string, msg: Fields, known: ReadonlySet<string>, ignored: ReadonlySet<string> = NONE): void {
    for (const key of Object.keys(msg)) {
      if (known.has(key) || ignored.has(key)) continue;
      this.add(where, `${key} is not supported by sluice; ignored`);
    }
  }
}

const NONE: ReadonlySet<string> = new Set();

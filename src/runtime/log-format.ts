// --log-format: the log on stderr (pino's records: lifecycle events, warnings, SLUICE_TRACE
// traces) as JSON, one object a line, for a log collector; or as text, one line a record,
// for a person at a terminal:
//
//   2026-05-04T10:00:00.123Z INFO config reloaded reload=1 reason=SIGHUP digest=1e466dda added=[]
//
// The text is made from pino's JSON line, so both formats carry the same fields.
import { setLogWriter } from "../core/trace.js";

export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Writes every later log record in `format` (JSON is pino's own; nothing to set). */
export function useLogFormat(format: LogFormat): void {
  if (format === "text") setLogWriter((record, write) => write(textRecord(record)));
}

/** pino's numeric levels, by name. */
const LEVELS: Readonly<Record<number, string>> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** One pino record (a JSON line) as one line of text: time, level, message, then key=value for every other field. */
export function textRecord(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`; // not pino's: as it came
  }
  const { time, level, msg, ...fields } = record;
  const parts = [
    typeof time === "number" ? new Date(time).toISOString() : "-",
    typeof level === "number" ? (LEVELS[level] ?? String(level)) : String(level),
    typeof msg === "string" ? msg : "-",
  ];
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) parts.push(`${key}=${textValue(value)}`);
  return `${parts.join(" ")}\n`;
}

/** A field's value on the line: bare when that cannot be misread, else JSON (quoted, escaped: never a line break). */
function textValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (isSerializedError(value)) return JSON.stringify(value.message);
  return JSON.stringify(value);
}

/** pino's err serializer: { type, message, stack }; the stack would not fit a line. */
function isSerializedError(value: unknown): value is { message: string } {
  return typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string" && "stack" in value;
}

// Named debug tracers, switched on by SLUICE_TRACE=pool,least_request (or "all"), in the
// spirit of grpc-js GRPC_TRACE. Disabled tracers cost one boolean check.
import pino from "pino";

const enabled = new Set(
  (process.env["SLUICE_TRACE"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/**
 * Log and trace records go to fd 2 as pino writes them (one JSON object a line), or as the
 * writer set by setLogWriter() turns them (the runtime's --log-format text).
 */
const stderr = pino.destination(2);
let writeRecord = (record: string): void => void stderr.write(record);
const records = { write: (record: string): void => writeRecord(record) };

/** Every later log and trace record goes through `write` (a JSON line in), which writes to fd 2 with `stderr`. */
export function setLogWriter(write: (record: string, stderr: (text: string) => void) => void): void {
  writeRecord = (record) => write(record, (text) => void stderr.write(text));
}

const sink = pino({ level: "trace", base: null }, records);

export interface Tracer {
  readonly on: boolean;
  (message: string, fields?: Record<string, unknown>): void;
}

export function tracer(name: string): Tracer {
  const on = enabled.has("all") || enabled.has(name);
  const log = on ? sink.child({ tracer: name }) : undefined;
  const fn = ((message: string, fields?: Record<string, unknown>): void => {
    if (log !== undefined) log.trace(fields ?? {}, message);
  }) as Tracer;
  Object.defineProperty(fn, "on", { value: on });
  return fn;
}

/** Operational log lines (warnings, lifecycle), JSON on stderr unless setLogWriter() says otherwise. */
export const logger = pino({ level: process.env["SLUICE_LOG_LEVEL"] ?? "info", base: null }, records);

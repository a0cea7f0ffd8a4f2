// Named debug tracers, switched on by SLUICE_TRACE=pool,least_request (or "all"), in the
// spirit of grpc-js GRPC_TRACE. Disabled tracers cost one boolean check.
import pino from "pino";

const enabled = new Set(
  (process.env["SLUICE_TRACE"] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

const sink = pino({ level: "trace", base: null }, pino.destination(2));

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

/** Operational log lines (warnings, lifecycle), JSON on stderr. */
export const logger = pino({ level: process.env["SLUICE_LOG_LEVEL"] ?? "info", base: null }, pino.destination(2));

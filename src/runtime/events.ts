// A lifecycle event of a running sluice (the admin server listening, a config applied or
// rejected, the control plane lost, a drain begun or ended, a takeover...) is said once to
// each reader: one plain line on stdout for people and scripts, with the lines that belong
// to it (the problems of a rejected config), and one log record on stderr for machines (JSON,
// or text with --log-format text). Every such event goes through announce(), so neither
// stream gets it twice or in two shapes. What stops a command before it runs (a bad flag, a
// config with problems at start, an address it cannot bind) is not an event: it is said in
// plain lines on stderr, and the exit code is 1.
import { logger } from "../core/trace.js";
import type { Io } from "./io.js";

export interface LifecycleEvent {
  readonly level?: "info" | "warn" | "error";
  /** The log record's message: a stable name for the event ("config reloaded", "drain started"). */
  readonly event: string;
  /** The log record's fields: what a machine needs to act on the event. */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** The line for people, on stdout. */
  readonly line: string;
  /** Lines after it on stdout (each problem of a rejected config); the record carries them as fields if at all. */
  readonly details?: readonly string[];
}

export function announce(io: Io, e: LifecycleEvent): void {
  io.out(e.line);
  for (const d of e.details ?? []) io.out(d);
  logger[e.level ?? "info"]({ ...e.fields }, e.event);
}

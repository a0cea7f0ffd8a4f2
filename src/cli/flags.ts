// The values of command-line flags, one parser per kind (counts, durations, addresses,
// enums...), each given to commander as an option's argParser: a bad value is refused while
// the command line is read, before anything starts, and usage.ts turns the refusal into one
// line naming the flag. A parser throws commander's InvalidArgumentError with what the value
// must be; the line adds the value given.
//
// Where config/ already parses a kind (durations, host:port, the admin address), the parser
// here calls it: a flag and a YAML field accept the same text.
import { InvalidArgumentError } from "commander";
import { formatDuration, parseDuration } from "../config/duration.js";
import { ADMIN_ADDRESS_HELP, HOST_PORT_HELP, parseAdminAddress, parseHostPort } from "../config/host-port.js";

/** A flag's argParser: the text as typed, to the value the command gets. */
export type FlagParser<T> = (text: string) => T;

/** The longest timer Node can set (2^31-1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a duration flag takes: what a config's durations take (config/duration.ts), or plain seconds as `sleep` and `timeout` read them. */
export const FLAG_DURATION_HELP = 'a duration such as "30s", "1.5s", "500ms" or "2m", or a number of seconds';

/** A whole number from `min` to `max`, written in decimal digits only (no "1e3", "0x10", " 3"). */
export function count(min: number, max = Number.MAX_SAFE_INTEGER): FlagParser<number> {
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
  return (text) => {
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number ${range}`);
    return n;
  };
}

/** Milliseconds: a duration as the config writes one ("30s", "1.5s", "500ms", "2m"), or a bare number of seconds. */
export const durationMs: FlagParser<number> = (text) => {
  const d = /^\d+(\.\d+)?$/.test(text) ? { ok: true as const, ms: Number(text) * 1000 } : parseDuration(text);
  // parseDuration's only other reason is the minimum ("-1", "0s").
  if (!d.ok) throw new InvalidArgumentError(d.reason === "must be >= 1ms" ? "must be at least 1ms" : `must be ${FLAG_DURATION_HELP}`);
  if (d.ms < 1) throw new InvalidArgumentError("must be at least 1ms");
  if (d.ms > MAX_TIMER_MS) throw new InvalidArgumentError(`must be at most ${formatDuration(Math.floor(MAX_TIMER_MS / 3_600_000) * 3_600_000)}`);
  return d.ms;
};

/** `host:port`, as typed (config/ parses it again where it is used, with the same rule). */
export const hostPort: FlagParser<string> = (text) => {
  if (parseHostPort(text) === undefined) throw new InvalidArgumentError(`must be ${HOST_PORT_HELP}`);
  return text.trim();
};

/** The admin server's address: `host:port`, a port (on 127.0.0.1), or "none"; as typed. */
export const adminAddress: FlagParser<string> = (text) => {
  if (parseAdminAddress(text) === undefined) throw new InvalidArgumentError(`must be ${ADMIN_ADDRESS_HELP}`);
  return text.trim();
};

/** One of `values`, exactly. */
export function oneOf<const T extends string>(values: readonly T[]): FlagParser<T> {
  return (text) => {
    const v = values.find((x) => x === text);
    if (v === undefined) throw new InvalidArgumentError(`must be one of ${values.join(", ")}`);
    return v;
  };
}

/** Any text but the empty one (a file, a host, an id): `--flag ""` is a mistake, not a value. */
export const nonEmpty: FlagParser<string> = (text) => {
  if (text.trim() === "") throw new InvalidArgumentError("must not be empty");
  return text;
};

/** A repeatable flag: each value parsed by `parse`, in order. */
export function repeatable<T>(parse: FlagParser<T>): (text: string, previous: readonly T[] | undefined) => T[] {
  return (text, previous) => [...(previous ?? []), parse(text)];
}

/** `N` for every host, or `HOST=N` for one (analyze's --concurrency and --rps). */
export interface PerHost {
  /** Lower case; "*" for every host. */
  readonly host: string;
  readonly n: number;
}

export const PER_HOST_HELP = "a whole number > 0, or HOST=NUMBER";

/** `N` or `HOST=N`; undefined when the text is neither. */
export function parsePerHost(text: string): PerHost | undefined {
  const eq = text.lastIndexOf("=");
  const host = eq < 0 ? "*" : text.slice(0, eq).trim().toLowerCase();
  const digits = (eq < 0 ? text : text.slice(eq + 1)).trim();
  const n = /^\d+$/.test(digits) ? Number(digits) : NaN;
  if (host === "" || !Number.isSafeInteger(n) || n <= 0) return undefined;
  return { host, n };
}

/** The flag parser over parsePerHost; the command gets the text (it parses it again, with the same rule). */
export const perHost: FlagParser<string> = (text) => {
  if (parsePerHost(text) === undefined) throw new InvalidArgumentError(`must be ${PER_HOST_HELP}`);
  return text;
};

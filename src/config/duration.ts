// Durations as Istio writes them (protobuf Duration in Go's time.ParseDuration syntax):
// "1h", "30m", "10s", "500ms", "1.5s", "1h30m". sluice requires at least 1ms, like Istio's
// validation of timeouts.

const UNIT_MS: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 0.000001,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)/y;

export const DURATION_HELP = 'a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms)';

/** Milliseconds, or a reason the text is not a valid duration. `zeroMeansOff`: "0s" is valid (a setting it turns off). */
export function parseDuration(text: string, zeroMeansOff = false): { ok: true; ms: number } | { ok: false; reason: string } {
  const s = text.trim();
  if (s.startsWith("-")) return { ok: false, reason: "must be >= 1ms" };
  let at = s.startsWith("+") ? 1 : 0;
  if (at >= s.length) return { ok: false, reason: `must be ${DURATION_HELP}` };
  let ms = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const m = PART.exec(s);
    if (m === null) return { ok: false, reason: `must be ${DURATION_HELP}` };
    ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? NaN);
    at = PART.lastIndex;
  }
  if (!Number.isFinite(ms)) return { ok: false, reason: `must be ${DURATION_HELP}` };
  if (ms === 0 && zeroMeansOff) return { ok: true, ms };
  if (ms < 1) return { ok: false, reason: zeroMeansOff ? "must be 0s (off) or >= 1ms" : "must be >= 1ms" };
  return { ok: true, ms };
}

/** Inverse for docs and messages: 30000 -> "30s", 3600000 -> "1h". */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

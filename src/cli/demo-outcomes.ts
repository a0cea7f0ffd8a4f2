// What `sluice demo` says about its pods and its RPCs besides the per-pod table: each pod
// ejected or readmitted (outlier detection, health checks) as it happens, and at the end the
// failed RPCs, told apart: the ones the demo provoked (--failing-pods) that the proxy's
// retries could not save, and any other, which makes the exit code 1.
import { formatDuration } from "../config/duration.js";
import { statusName } from "../core/status.js";
import { isProvokedFailure } from "../demo/failing-pod.js";
import type { Proxy } from "../proxy/proxy.js";
import type { Exclusion } from "../upstream/cluster.js";
import { announce } from "../runtime/events.js";
import type { Io } from "./io.js";

/** Announces every pod that leaves or rejoins balancing, in each of the proxy's clusters; stop() ends it. */
export function watchEjections(proxy: Proxy, podOf: (endpointKey: string) => string, io: Io): { stop(): void } {
  const stops: (() => void)[] = [];
  for (const cluster of proxy.clusterRuntimes()) {
    const onHealth = (key: string, exclusion: Exclusion, excluded: boolean, why: string): void => {
      const pod = podOf(key);
      if (exclusion === "ejected") {
        const fields = { cluster: cluster.name, endpoint: key, pod, why };
        const ejection = proxy.outlierDetector(cluster.name)?.ejection(key) ?? null;
        announce(io, {
          event: excluded ? "endpoint ejected" : "endpoint readmitted",
          fields: { ...fields, ...(excluded && ejection !== null && { reason: ejection.reason, forMs: ejection.forMs }) },
          line:
            excluded && ejection !== null
              ? `sluice demo: ${pod} ejected by outlier detection (${ejection.reason}), for ${formatDuration(ejection.forMs)}: no RPCs go to it`
              : excluded
                ? `sluice demo: ${pod} ejected by outlier detection: no RPCs go to it`
                : `sluice demo: ${pod} readmitted (its ejection time passed): it takes RPCs again`,
        });
      } else {
        // The line only: the health checker logs its own record of the change (src/resilience/health-checker.ts).
        io.out(
          excluded ? `sluice demo: ${pod} failed its health checks: no RPCs go to it` : `sluice demo: ${pod} passed its health checks: it takes RPCs again`,
        );
      }
    };
    cluster.events.on("endpoint-health", onHealth);
    stops.push(() => cluster.events.off("endpoint-health", onHealth));
  }
  return { stop: () => stops.forEach((s) => s()) };
}

/** The failed RPCs, by status and message, each provoked (a failing pod's answer) or not. */
export class FailureTally {
  private readonly byCause = new Map<string, { readonly provoked: boolean; n: number }>();
  total = 0;

  add(code: number, details: string): void {
    this.total++;
    const cause = `${statusName(code)}: ${details}`;
    const entry = this.byCause.get(cause) ?? { provoked: isProvokedFailure(code, details), n: 0 };
    entry.n++;
    this.byCause.set(cause, entry);
  }

  /** Failures the demo did not provoke: any makes the run a failure. */
  get unexpected(): number {
    return [...this.byCause.values()].filter((e) => !e.provoked).reduce((a, e) => a + e.n, 0);
  }

  /** The closing lines: nothing when no RPC failed; else how many failed, why, and which of them the demo provoked. */
  summary(retries: string): string[] {
    if (this.total === 0) return [];
    const provoked = this.total - this.unexpected;
    const rows = (want: boolean): string[] =>
      [...this.byCause]
        .filter(([, e]) => e.provoked === want)
        .sort((a, b) => b[1].n - a[1].n)
        .map(([cause, e]) => `  ${e.n} x ${cause}`);
    const lines: string[] = [];
    if (provoked > 0) {
      lines.push(
        `sluice demo: ${plural(provoked, "RPC")} failed as provoked: a failing pod answered every attempt (${retries}) before outlier detection ejected it`,
        ...rows(true),
      );
    }
    if (this.unexpected > 0) lines.push(`sluice demo: ${plural(this.unexpected, "RPC")} failed that the demo did not provoke`, ...rows(false));
    return lines;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

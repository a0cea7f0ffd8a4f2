// Applies what a config source gives to what runs (the proxy: proxy-target.ts; or the control
// plane's ADS server), one snapshot at a time, in order. A rejected config never reaches it:
// the running one stays and every problem is said. Nothing is applied before attach(), when
// the proxy serves (a change made while it started is applied then), nor after close(), at
// drain. Each applied snapshot is announced (events.ts): the line that tests and scripts wait
// for, and the log record with what changed.
import { tracer } from "../core/trace.js";
import type { ProxyConfig } from "../config/types.js";
import type { ConfigSnapshot, Rejection, SnapshotSink } from "./config-source.js";
import type { Io } from "./io.js";
import { codeOf } from "../core/errors.js";
import { announce } from "./events.js";

const trace = tracer("reload");

/** What snapshots are applied to. */
export interface ReloadTarget {
  apply(config: ProxyConfig): Promise<AppliedReload>;
}

export interface AppliedReload {
  /** Printed after "<name> applied (<description>): ". */
  readonly summary: string;
  readonly noop: boolean;
  /** Printed as `warning: ...` lines after the applied line (the log record has them in `fields`). */
  readonly warnings: readonly string[];
  /** Logged with each update the snapshot brought. */
  readonly fields: Readonly<Record<string, unknown>>;
}

type ApplierState = { readonly t: "waiting" } | { readonly t: "applying"; readonly target: ReloadTarget } | { readonly t: "closed" };

export class ConfigApplier implements SnapshotSink {
  private state: ApplierState = { t: "waiting" };
  private open!: () => void;
  /** Applies run one at a time, in order; the first waits for attach() or close(). */
  private queue: Promise<unknown> = new Promise<void>((resolve) => (this.open = resolve));

  constructor(
    /** Starts the lines it prints ("sluice proxy"). */
    private readonly command: string,
    private readonly io: Io,
  ) {}

  /** Applies to `target` from now on: the snapshots that came meanwhile first. */
  attach(target: ReloadTarget): void {
    if (this.state.t !== "waiting") return;
    this.transition({ t: "applying", target });
    this.open();
  }

  /** Applies nothing more: a snapshot still queued is dropped (the process drains, or never served). */
  close(): void {
    this.transition({ t: "closed" });
    this.open();
  }

  apply(snapshot: ConfigSnapshot): Promise<boolean> {
    const run = this.queue.then(() => this.applyNow(snapshot));
    this.queue = run.catch(() => undefined);
    return run;
  }

  reject(r: Rejection): void {
    announce(this.io, {
      level: "error",
      event: r.logMessage,
      fields: { ...r.logFields, code: r.error.code },
      line: `${this.command}: ${r.what}, keeping the running config: ${r.why}`,
      details: r.details,
    });
  }

  private async applyNow(snapshot: ConfigSnapshot): Promise<boolean> {
    const state = this.state;
    if (state.t !== "applying") {
      trace("snapshot dropped", { state: state.t, updates: snapshot.updates.map((u) => u.name), digest: snapshot.digest });
      return false;
    }
    let applied: AppliedReload;
    try {
      applied = await state.target.apply(snapshot.config);
    } catch (err: unknown) {
      const what = snapshot.updates.map((u) => u.name).join(" and ") || "config update";
      const message = err instanceof Error ? err.message : String(err);
      announce(this.io, {
        level: "error",
        event: "config update failed",
        fields: { updates: snapshot.updates.map((u) => u.logFields), digest: snapshot.digest, err: message, code: codeOf(err) },
        line: `${this.command}: ${what} failed, keeping the running config: ${message}`,
      });
      return false;
    }
    const warnings = applied.warnings.map((w) => `warning: ${w}`);
    snapshot.updates.forEach((u, i) => {
      // The line tests and scripts wait for: the new config is in force after it. The
      // warnings follow the last update's line (they are about the config, not one update).
      announce(this.io, {
        event: applied.noop ? `${u.logMessage}: no changes` : u.logMessage,
        fields: { ...u.logFields, digest: snapshot.digest, ...applied.fields },
        line: `${this.command}: ${u.name} applied (${u.description}): ${applied.summary}`,
        details: i === snapshot.updates.length - 1 ? warnings : [],
      });
    });
    if (snapshot.updates.length === 0 && warnings.length > 0) {
      announce(this.io, {
        level: "warn",
        event: "config applied with warnings",
        fields: { digest: snapshot.digest, warnings: applied.warnings },
        line: warnings[0]!,
        details: warnings.slice(1),
      });
    }
    return true;
  }

  private transition(to: ApplierState): void {
    trace("applier", { from: this.state.t, to: to.t });
    this.state = to;
  }
}

// Applies what a config source gives to what runs (the proxy: proxy-target.ts; or the control
// plane's ADS server), one snapshot at a time, in order. A rejected config never reaches it:
// the running one stays and every problem is said. Nothing is applied before attach(), when
// the proxy serves (a change made while it started is applied then), nor after close(), at
// drain. Each applied snapshot is logged with what changed, and announced by the line that
// tests and scripts wait for.
import { logger, tracer } from "../core/trace.js";
import type { ProxyConfig } from "../config/types.js";
import type { ConfigSnapshot, Rejection, SnapshotSink } from "./config-source.js";
import type { Io } from "./io.js";
import { codeOf } from "../core/errors.js";

const trace = tracer("reload");

/** What snapshots are applied to. */
export interface ReloadTarget {
  apply(config: ProxyConfig): Promise<AppliedReload>;
}

export interface AppliedReload {
  /** Printed after "<name> applied (<description>): ". */
  readonly summary: string;
  readonly noop: boolean;
  /** Printed as `warning: ...` lines. */
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
    this.io.err(`${this.command}: ${r.what}, keeping the running config: ${r.why}`);
    for (const line of r.details) this.io.err(line);
    logger.error({ ...r.logFields, code: r.error.code }, r.logMessage);
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
      logger.error({ updates: snapshot.updates.map((u) => u.logFields), digest: snapshot.digest, err: message, code: codeOf(err) }, "config update failed");
      this.io.err(`${this.command}: ${what} failed, keeping the running config: ${message}`);
      return false;
    }
    for (const w of applied.warnings) this.io.err(`warning: ${w}`);
    for (const u of snapshot.updates) {
      logger.info({ ...u.logFields, digest: snapshot.digest, ...applied.fields }, applied.noop ? `${u.logMessage}: no changes` : u.logMessage);
      // The line tests and scripts wait for: the new config is in force after it.
      this.io.out(`${this.command}: ${u.name} applied (${u.description}): ${applied.summary}`);
    }
    return true;
  }

  private transition(to: ApplierState): void {
    trace("applier", { from: this.state.t, to: to.t });
    this.state = to;
  }
}

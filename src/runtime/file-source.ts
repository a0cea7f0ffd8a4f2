// Config files (-c) as a config source, for `sluice proxy` and `sluice control-plane`: read
// and validated at start, read again when they change on disk (config-watch.ts) and on
// SIGHUP. Only a real change is loaded: the texts are compared with the last ones loaded. A
// config with problems is not given to the sink, which says why (every problem as `sluice
// validate` prints it) and keeps the running one.
//
// With --xds the files give the listener settings only (listenerOnly): a ServiceEntry,
// DestinationRule or VirtualService there is an error, and without files the settings come
// from the flags alone.
import { readFile } from "node:fs/promises";
import { formatProblem } from "../config/diagnostics.js";
import { loadConfigFilesReport, loadConfigSources, type ConfigOverrides, type LoadReport } from "../config/load.js";
import type { ProxyConfig } from "../config/types.js";
import { logger, tracer } from "../core/trace.js";
import { configDigest } from "./config-digest.js";
import type { ConfigSnapshot, ConfigSource, SnapshotSink, SnapshotUpdate, SourceStart } from "./config-source.js";
import { ConfigWatch } from "./config-watch.js";
import { announce } from "./events.js";
import type { Io } from "./io.js";
import { codeOf, InvalidStateError } from "../core/errors.js";
import type { Warning } from "../config/types.js";
import { ConfigInvalidError, ReloadRejectedError } from "./errors.js";

const trace = tracer("reload");

export interface FileSourceOptions {
  readonly files: readonly string[];
  /** The command line's settings, over the files' Proxy resource. */
  readonly overrides: ConfigOverrides;
  /** Starts the lines it prints ("sluice proxy"). */
  readonly command: string;
  readonly io: Io;
  /** With --xds: the control plane (host:port) gives the clusters and routes; the files may hold only the Proxy resource. */
  readonly listenerOnly?: { readonly server: string };
  readonly debounceMs?: number;
}

type FileSourceState = { readonly t: "idle" } | { readonly t: "started"; readonly sink: SnapshotSink; readonly watch: ConfigWatch } | { readonly t: "stopped" };

export class FileSource implements ConfigSource {
  private state: FileSourceState = { t: "idle" };
  /** The first load and the reloads run one at a time; a change seen during one is checked after it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The file texts last loaded (valid or not), so unchanged files are not loaded again. */
  private lastTexts: string | undefined;
  /** Reloads applied, for their numbers. */
  private reloads = 0;

  constructor(private readonly opts: FileSourceOptions) {}

  start(sink: SnapshotSink): Promise<SourceStart | undefined> {
    if (this.state.t !== "idle") throw new InvalidStateError(`file source already ${this.state.t}`);
    const watch = new ConfigWatch(this.opts.files, () => void this.reload("file change", false), this.opts.debounceMs);
    this.transition({ t: "started", sink, watch });
    // Watching before the first read: an edit made from now on is seen, however long the load
    // and the proxy's warm-up take (it is applied once the proxy serves).
    watch.start();
    return this.enqueue(async () => {
      const first = await this.loadFirst();
      if (first === undefined) this.stop();
      return first;
    });
  }

  reread(reason: string): void {
    // Before start() there is nothing to read again: start() reads the files anyway.
    if (this.state.t === "idle") return trace("reread before start: ignored", { reason });
    if (this.state.t === "started" && this.opts.files.length === 0 && this.opts.listenerOnly !== undefined) {
      // Not a reason to die (Node's default for SIGHUP), nor to go quiet.
      announce(this.opts.io, {
        event: "config reload: nothing to reload",
        fields: { reason },
        line: `${this.opts.command}: ${reason}: nothing to reload (no -c files; clusters and routes come from the control plane at ${this.opts.listenerOnly.server}); still serving`,
      });
      return;
    }
    void this.reload(reason, true);
  }

  stop(): void {
    if (this.state.t === "started") this.state.watch.close();
    if (this.state.t !== "stopped") this.transition({ t: "stopped" });
  }

  private async loadFirst(): Promise<SourceStart | undefined> {
    const { files, overrides, io, listenerOnly } = this.opts;
    // The texts as they were before the load: an edit made during it differs from them, and is loaded again.
    this.lastTexts = await readTexts(files);
    const report = files.length === 0 && listenerOnly !== undefined ? loadConfigSources([], overrides) : await loadConfigFilesReport(files, overrides);
    if (listenerOnly !== undefined && !this.proxyResourceOnly(report)) return undefined;
    const result = report.result;
    if (!result.ok) {
      // The command cannot run: every problem and warning on stderr, as `sluice validate` prints them.
      for (const w of result.warnings) io.err(`warning: ${formatProblem(w)}`);
      for (const p of result.problems) io.err(formatProblem(p));
      if (listenerOnly !== undefined) {
        io.err(
          `${this.opts.command}: with --xds the hosts come from the control plane: a Proxy resource's defaultHost and healthCheck.hosts cannot name them (use --default-host)`,
        );
      }
      return undefined;
    }
    for (const w of result.config.warnings) this.warn(w);
    return { snapshot: snapshotOf(result.config, []), events: [] };
  }

  /** A config warning, as `sluice validate` prints it, once the config is in use. */
  private warn(w: Warning): void {
    announce(this.opts.io, {
      level: "warn",
      event: "config warning",
      fields: { file: w.file, line: w.line, path: w.path, warning: w.message },
      line: `warning: ${formatProblem(w)}`,
    });
  }

  /** With --xds, the files give the listener only: a ServiceEntry, DestinationRule or VirtualService there is an error. */
  private proxyResourceOnly(report: LoadReport): boolean {
    const others = report.resources.filter((r) => r.kind !== "Proxy");
    for (const r of others) {
      this.opts.io.err(
        `${r.file}:${r.line} ${r.kind}${r.name === null ? "" : ` ${r.name}`}: with --xds, clusters and routes come from the control plane; the config files may hold only the Proxy resource`,
      );
    }
    return others.length === 0;
  }

  /** Loads the files and gives the config to the sink; `force` loads them even when their texts did not change. */
  private reload(reason: string, force: boolean): Promise<unknown> {
    return this.enqueue(() => this.reloadNow(reason, force)).catch((err: unknown) => {
      announce(this.opts.io, {
        level: "error",
        event: "config reload failed",
        fields: { reason, err: (err as Error).message, code: codeOf(err) },
        line: `${this.opts.command}: config reload (${reason}) failed, keeping the running config: ${(err as Error).message}`,
      });
    });
  }

  private async reloadNow(reason: string, force: boolean): Promise<void> {
    if (this.state.t !== "started") {
      // Said in the log only: the drain's own lines tell people the process is on its way out.
      logger.info({ reason }, "config reload ignored: draining");
      return;
    }
    const texts = await readTexts(this.opts.files);
    if (!force && texts === this.lastTexts) {
      trace("files unchanged", { reason });
      return;
    }
    this.lastTexts = texts;
    const result = (await loadConfigFilesReport(this.opts.files, this.opts.overrides)).result;
    const state = this.state as FileSourceState;
    if (state.t !== "started") return; // stopped while loading
    if (!result.ok) {
      const problems = result.problems.map(formatProblem);
      state.sink.reject({
        what: `config reload (${reason}) rejected`,
        why: `${problems.length} problem${problems.length === 1 ? "" : "s"}`,
        details: [...problems, ...result.warnings.map((w) => `warning: ${formatProblem(w)}`)],
        error: new ConfigInvalidError(`config reload (${reason}) rejected: ${problems.join("; ")}`),
        logMessage: "config reload rejected; the running config stays",
        logFields: { reason, problems },
      });
      return;
    }
    for (const w of result.config.warnings) this.warn(w);
    if (this.opts.listenerOnly !== undefined && (result.config.clusters.size > 0 || result.config.virtualHosts.length > 0)) {
      const why = "with --xds the config files may hold only the Proxy resource (clusters and routes come from the control plane)";
      state.sink.reject({
        what: "config reload rejected",
        why,
        details: [],
        error: new ReloadRejectedError(`config reload rejected: ${why}`),
        logMessage: "config reload failed",
        logFields: { err: `config reload rejected: ${why}` },
      });
      return;
    }
    // Numbered once applied: a reload the sink could not apply leaves its number to the next.
    const n = this.reloads + 1;
    const update: SnapshotUpdate = { name: `config reload #${n}`, description: reason, logMessage: "config reloaded", logFields: { reload: n, reason } };
    if (await state.sink.apply(snapshotOf(result.config, [update]))) this.reloads = n;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private transition(to: FileSourceState): void {
    trace("file source", { from: this.state.t, to: to.t, files: this.opts.files });
    this.state = to;
  }
}

function snapshotOf(config: ProxyConfig, updates: readonly SnapshotUpdate[]): ConfigSnapshot {
  return { config, digest: configDigest(config), updates };
}

/** All files' texts in one string; a file that cannot be read counts as its error. */
function readTexts(files: readonly string[]): Promise<string> {
  return Promise.all(files.map((f) => readFile(f, "utf8").catch((err: unknown) => `\u0000unreadable: ${(err as Error).message}`))).then((parts) =>
    parts.join("\u0000\u0000"),
  );
}

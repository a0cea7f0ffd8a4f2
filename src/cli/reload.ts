// Config hot reload for `sluice proxy` and `sluice control-plane`: on SIGHUP, and when a config file changes on disk.
//
// Editors and Kubernetes rarely write a file in place: they write a new file and rename it
// over the old one (or swap a `..data` symlink), so a watch on the file itself would follow
// the old inode and go deaf after the first save. The directories holding the files are
// watched instead; any event there is debounced, then the files are read and compared with
// the last texts seen: only a real change is loaded. A config with problems is not applied:
// the running one stays, and every problem is reported as `sluice validate` reports it.
import { statSync, watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { formatProblem } from "../config/diagnostics.js";
import { loadConfigFiles, type ConfigOverrides } from "../config/load.js";
import { codeOf } from "../core/errors.js";
import { logger, tracer } from "../core/trace.js";
import type { ProxyConfig } from "../config/types.js";
import type { Proxy } from "../proxy/proxy.js";
import { describeReload, isNoop } from "../proxy/reconfigure.js";
import type { Io } from "./io.js";

const trace = tracer("reload");

/** What a reload puts a valid config into: the proxy, or the control plane. */
export interface ReloadTarget {
  /** Starts the lines the reloader prints ("sluice proxy"). */
  readonly command: string;
  apply(config: ProxyConfig): Promise<AppliedReload>;
}

export interface AppliedReload {
  /** Printed after "config reload #N applied (reason): ". */
  readonly summary: string;
  readonly noop: boolean;
  /** Printed as `warning: ...` lines. */
  readonly warnings: readonly string[];
  /** Logged with the reload. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The proxy as a reload target: reconfigured in place; what needs a restart is only warned about. */
export function proxyReloadTarget(proxy: Proxy): ReloadTarget {
  return {
    command: "sluice proxy",
    async apply(config) {
      const plan = await proxy.reconfigure(config);
      return {
        summary: describeReload(plan),
        noop: isNoop(plan),
        warnings: plan.needsRestart.map((r) => `${r.split(":")[0]} changed; it needs a restart and is not applied (${r})`),
        fields: {
          added: plan.added,
          removed: plan.removed,
          changed: Object.fromEntries(plan.changed),
          routesChanged: plan.routesChanged,
          listener: plan.listenerChanged,
          needsRestart: plan.needsRestart,
        },
      };
    },
  };
}

/** Long enough to let an editor's write-then-rename (or truncate-then-write) settle. */
export const DEFAULT_DEBOUNCE_MS = 200;

export class ConfigReloader {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  /** Reloads run one at a time; a change seen during one is checked after it. */
  private queue: Promise<void> = Promise.resolve();
  /** The file texts last loaded (valid or not), so unchanged files are not reloaded again. */
  private lastTexts: string | undefined;
  private applied = 0;
  private closed = false;
  private readonly onHangup = (): void => void this.reload("SIGHUP", true);

  constructor(
    private readonly files: readonly string[],
    private readonly overrides: ConfigOverrides,
    private readonly target: ReloadTarget,
    private readonly io: Io,
    private readonly debounceMs = DEFAULT_DEBOUNCE_MS,
  ) {}

  /**
   * Starts watching the config files' directories, and listening for SIGHUP. `loadedTexts`:
   * the files' texts read before the running config was loaded from them; if they have
   * changed since (an edit while the proxy started), a reload follows at once.
   */
  async start(loadedTexts?: string): Promise<void> {
    for (const dir of new Set(this.files.map((f) => dirname(resolve(f))))) this.watchDir(dir);
    process.on("SIGHUP", this.onHangup);
    const now = await this.readTexts();
    this.lastTexts = loadedTexts ?? now;
    if (now !== this.lastTexts) this.schedule();
  }

  /**
   * Watches a directory. A watch follows the directory's inode: when the directory itself is
   * replaced (removed and made again, or renamed over), the watch goes deaf without an error,
   * so every event checks the inode and a changed or missing directory is watched afresh
   * (polled once a second while it is missing).
   */
  private watchDir(dir: string): void {
    if (this.closed) return;
    let ino: number;
    try {
      ino = statSync(dir).ino;
    } catch {
      this.waitForDir(dir);
      return;
    }
    try {
      const w = watch(dir, { persistent: false }, (event, name) => {
        trace("fs event", { dir, event, name });
        this.schedule();
        if (event === "rename" && !sameInode(dir, ino)) this.rewatch(dir, w);
      });
      w.on("error", (err) => {
        logger.warn({ dir, err: err.message, code: codeOf(err) }, "config watch failed; watching again");
        this.rewatch(dir, w);
      });
      this.watchers.set(dir, w);
    } catch (err: unknown) {
      logger.warn({ dir, err: (err as Error).message, code: codeOf(err) }, "cannot watch config directory; SIGHUP still reloads");
    }
  }

  private rewatch(dir: string, old: FSWatcher): void {
    old.close();
    if (this.watchers.get(dir) === old) this.watchers.delete(dir);
    trace("config directory replaced: watching it again", { dir });
    this.watchDir(dir);
    this.schedule();
  }

  private waitForDir(dir: string): void {
    const poll = setInterval(() => {
      if (this.closed) return clearInterval(poll);
      if (sameInode(dir, null)) return; // still missing
      clearInterval(poll);
      this.watchDir(dir);
      this.schedule();
    }, 1000);
    poll.unref();
  }

  /** Stops watching. SIGHUP stays handled (and ignored): while draining it must not kill the process. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload("file change", false), this.debounceMs);
  }

  /** Loads the files and applies them; `force` reloads even when their texts did not change. */
  reload(reason: string, force: boolean): Promise<void> {
    const run = this.queue.then(() => this.reloadNow(reason, force));
    this.queue = run.catch((err: unknown) => {
      logger.error({ err: (err as Error).message, code: codeOf(err) }, "config reload failed");
    });
    return this.queue;
  }

  private async reloadNow(reason: string, force: boolean): Promise<void> {
    if (this.closed) {
      logger.info({ reason }, "config reload ignored: draining");
      return;
    }
    const texts = await this.readTexts();
    if (!force && texts === this.lastTexts) {
      trace("files unchanged", { reason });
      return;
    }
    this.lastTexts = texts;
    const result = await loadConfigFiles([...this.files], this.overrides);
    if (this.closed) return;
    if (!result.ok) {
      const problems = result.problems.map(formatProblem);
      this.io.err(
        `${this.target.command}: config reload (${reason}) rejected, keeping the running config: ${problems.length} problem${problems.length === 1 ? "" : "s"}`,
      );
      for (const p of problems) this.io.err(p);
      for (const w of result.warnings) this.io.err(`warning: ${formatProblem(w)}`);
      logger.error({ reason, problems }, "config reload rejected; the running config stays");
      return;
    }
    for (const w of result.config.warnings) this.io.err(`warning: ${formatProblem(w)}`);
    const applied = await this.target.apply(result.config);
    const n = ++this.applied;
    for (const w of applied.warnings) this.io.err(`warning: ${w}`);
    logger.info({ reload: n, reason, ...applied.fields }, applied.noop ? "config reloaded: no changes" : "config reloaded");
    // The line tests and scripts wait for: the new config is in force after it.
    this.io.out(`${this.target.command}: config reload #${n} applied (${reason}): ${applied.summary}`);
  }

  private readTexts(): Promise<string> {
    return ConfigReloader.readTexts(this.files);
  }

  /** All files' texts in one string; a file that cannot be read counts as its error. */
  static async readTexts(files: readonly string[]): Promise<string> {
    const parts = await Promise.all(files.map((f) => readFile(f, "utf8").catch((err: unknown) => `\u0000unreadable: ${(err as Error).message}`)));
    return parts.join("\u0000\u0000");
  }
}

/** Whether `dir` exists with this inode (null: whether it is missing). */
function sameInode(dir: string, ino: number | null): boolean {
  try {
    return statSync(dir).ino === ino;
  } catch {
    return ino === null;
  }
}

// Watching config files for changes on disk. Editors and Kubernetes rarely write a file in
// place: they write a new file and rename it over the old one (or swap a `..data` symlink),
// so a watch on the file itself would follow the old inode and go deaf after the first save.
// The directories holding the files are watched instead; any event there is debounced into
// one call of `onChange`, and the caller reads the files to see whether they really changed.
import { statSync, watch, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import { logger, tracer } from "../core/trace.js";
import { codeOf } from "../core/errors.js";

const trace = tracer("reload");

/** Long enough to let an editor's write-then-rename (or truncate-then-write) settle. */
export const DEFAULT_DEBOUNCE_MS = 200;

export class ConfigWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly files: readonly string[],
    private readonly onChange: () => void,
    private readonly debounceMs = DEFAULT_DEBOUNCE_MS,
  ) {}

  /** Starts watching the files' directories. */
  start(): void {
    for (const dir of new Set(this.files.map((f) => dirname(resolve(f))))) this.watchDir(dir);
  }

  /** Stops watching; no onChange comes after. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
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

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onChange, this.debounceMs);
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

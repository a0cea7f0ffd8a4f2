// `--pid-file`: our pid, written once we listen, removed when we exit, unless a successor
// (takeover.ts) has written its own there meanwhile.
import { readFileSync, rmSync, writeFileSync } from "node:fs";

export function writePidFile(file: string): void {
  writeFileSync(file, `${process.pid}\n`);
}

/** Removes the pid file unless a successor has written its own pid there. */
export function removePidFile(file: string): void {
  try {
    if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file);
  } catch {
    // Already gone.
  }
}

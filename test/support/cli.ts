// Runs the built `sluice` CLI as a child process.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoPath } from "./paths.js";
import { defer, type Owner } from "./teardown.js";

export const CLI = repoPath("dist/src/cli/main.js");

/** A new directory under the system's temporary one, removed (with what is in it) when `owner` ends. */
export function tempDir(owner: Owner, prefix = "sluice-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  defer(owner, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-test-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, "close")) as [number];
  return { code, stdout, stderr };
}

/** Starts `sluice proxy` and resolves once it prints its listening address. */
export async function spawnProxy(args: string[]): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, "proxy", ...withoutDefaultAdmin(args)], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on [^\s]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("close", (code) => reject(new Error(`proxy exited with ${code}: ${stderr}`)));
  });
  return { child, port, stderr: () => stderr };
}

/** Peak resident set size (VmHWM) of a process, in bytes. */
export function peakRss(pid: number, read: (path: string) => string): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 : NaN;
}

export function currentRss(pid: number, read: (path: string) => string): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Tests run side by side: none takes the default admin port 127.0.0.1:15000 unless it asks for an admin server. */
export function withoutDefaultAdmin(args: readonly string[]): string[] {
  return args.includes("--admin") ? [...args] : [...args, "--admin", "none"];
}

/**
 * Ends `child` when `owner` ends, unless it has exited by then: `signal` (SIGTERM by default),
 * then waits for its exit.
 */
export function endWith(owner: Owner, child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): void {
  defer(owner, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill(signal);
    await exited;
  });
}

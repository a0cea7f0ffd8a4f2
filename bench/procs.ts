// Child processes for the benchmark: spawn (optionally pinned to a core with taskset), wait
// for a "listening" line, read CPU time, RSS and open fds from /proc, and kill every child on
// the way out — normal end, error, or Ctrl-C — so a run never leaves orphans.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";

const children = new Set<ChildProcess>();
let hasTaskset: boolean | undefined;

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stderr so far (bounded). */
  stderr(): string;
  stdout(): string;
}

export interface SpawnOptions {
  /** CPU core to pin to with taskset (skipped with a warning when taskset is missing). */
  readonly core?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Give the child a stdin pipe (child.stdin) instead of /dev/null. */
  readonly stdin?: boolean;
}

export function tasksetAvailable(): boolean {
  hasTaskset ??= spawnSync("taskset", ["-V"], { stdio: "ignore" }).status === 0;
  return hasTaskset;
}

/** Spawns `cmd args`; with `core`, through `taskset -c core` (which execs, so the pid is the program's). */
export function start(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Started {
  const pinned = opts.core !== undefined && tasksetAvailable();
  const file = pinned ? "taskset" : cmd;
  const argv = pinned ? ["-c", String(opts.core), cmd, ...args] : [...args];
  const child = spawn(file, argv, {
    stdio: [opts.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => {
    if (out.length < 1 << 20) out += c.toString();
  });
  child.stderr!.on("data", (c: Buffer) => {
    if (err.length < 1 << 20) err += c.toString();
  });
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  return { child, pid: child.pid, stderr: () => err, stdout: () => out };
}

/** Resolves with the first match of `re` on stdout (or stderr); rejects on exit or timeout. */
export function waitFor(p: Started, re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(p.stdout()) ?? re.exec(p.stderr());
      if (m !== null) {
        cleanup();
        resolve(m);
        return true;
      }
      return false;
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`process ${p.pid} exited (${code}) before ${String(re)}: ${p.stderr().slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout waiting for ${String(re)} from pid ${p.pid}: ${p.stderr().slice(-2000)}`));
    }, timeoutMs);
    const onData = (): void => void check();
    const cleanup = (): void => {
      clearTimeout(timer);
      p.child.stdout!.off("data", onData);
      p.child.stderr!.off("data", onData);
      p.child.off("exit", onExit);
    };
    p.child.stdout!.on("data", onData);
    p.child.stderr!.on("data", onData);
    p.child.once("exit", onExit);
    check();
  });
}

/** Runs a process to completion with a hard time limit; resolves with its output. */
export async function runToEnd(
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions & { timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = start(cmd, args, opts);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), opts.timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    if (p.child.exitCode !== null) resolve(p.child.exitCode);
    else p.child.once("exit", (c) => resolve(c));
  });
  clearTimeout(timer);
  // Let the pipes flush their last bytes.
  await new Promise((r) => setImmediate(r));
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stop(p: Started, graceMs = 3000): Promise<void> {
  const child = p.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills whatever is still running (synchronously, so it also works from an 'exit' handler). */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  children.clear();
}

let hooked = false;
/** Installs exit/signal handlers that kill every child. */
export function killChildrenOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      console.error(`bench: ${sig}: stopping children`);
      killAll();
      process.exit(130);
    });
  }
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / clockTicks();
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const n = Number(r.stdout.trim());
    ticks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticks;
}

/** Peak resident set size (VmHWM) in bytes. */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Current resident set size (VmRSS) in bytes. */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Open file descriptors of a process: shows that it holds the connections a client opened. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A port that was free a moment ago on 127.0.0.1 (for servers that cannot report port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** First line of `cmd args` output (stdout or stderr), or undefined when it cannot run. */
export function versionOf(cmd: string, args: readonly string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5000 });
  if (r.error !== undefined || r.status !== 0) return undefined;
  const text = `${r.stdout}\n${r.stderr}`.trim();
  return text.split("\n")[0]?.trim();
}

/** Busy seconds so far (/proc/stat) of one CPU, or of the whole machine (all CPUs). */
export function busySeconds(cpu?: number): number {
  const label = cpu === undefined ? "cpu" : `cpu${cpu}`;
  const line =
    readFileSync("/proc/stat", "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${label} `)) ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / 100;
}

/** 1-minute load average: other work on this 2-core machine skews RPS and latency most. */
export function loadavg1(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

/**
 * Microseconds so far in which some runnable task waited for a CPU (/proc/pressure/cpu, PSI);
 * undefined without PSI. Over a pass, its growth / wall time says how much of the latency
 * measured is queueing behind other processes rather than the proxy.
 */
export function cpuPressureUs(): number | undefined {
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined; // kernel without PSI (CONFIG_PSI off or psi=0)
  }
}

// A real DNS server for the resolver tests: dnsmasq (Debian dnsmasq-base) on a free
// loopback UDP port, answering only from a hosts file the test writes, with a chosen TTL.
// setRecords() rewrites the file and sends SIGHUP; it resolves once dnsmasq logged that it
// re-read the file, so the next query sees the new records.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const DNSMASQ_CANDIDATES = ["/usr/sbin/dnsmasq", "dnsmasq"];
const READY_LIMIT_MS = 5000;

export interface Dnsmasq {
  readonly port: number;
  /** `dns://127.0.0.1:PORT/` — prefix a name:port to make a target served by this server. */
  readonly authority: string;
  /** Replaces every record: [address, name] pairs. */
  setRecords(records: readonly (readonly [string, string])[]): Promise<void>;
  stop(): Promise<void>;
}

function dnsmasqPath(): string {
  const found = DNSMASQ_CANDIDATES.find((c) => {
    const r = spawnSync(c, ["--version"], { stdio: "ignore", timeout: 5000 });
    return r.error === undefined && r.status === 0;
  });
  if (found === undefined) {
    throw new Error("dnsmasq not found: install the Debian package dnsmasq-base (sudo apt-get install -y dnsmasq-base); .ci/run does this");
  }
  return found;
}

/** A UDP port that was free a moment ago on 127.0.0.1 (bound to port 0, then closed). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function hostsText(records: readonly (readonly [string, string])[]): string {
  return records.map(([address, name]) => `${address} ${name}\n`).join("");
}

/** Start attempts: dnsmasq also binds TCP on its port, which another socket may hold (a connection's ephemeral port). */
const START_ATTEMPTS = 5;

export async function startDnsmasq(records: readonly (readonly [string, string])[], ttlSeconds: number): Promise<Dnsmasq> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(records, ttlSeconds);
    } catch (error) {
      // The port was free for UDP a moment ago, but not (or no longer) for TCP: another port.
      if (attempt === START_ATTEMPTS || !/Address already in use/.test((error as Error).message)) throw error;
    }
  }
}

async function startOnce(records: readonly (readonly [string, string])[], ttlSeconds: number): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-dnsmasq-"));
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, hostsText(records));
  const port = await freeUdpPort();
  const child: ChildProcessWithoutNullStreams = spawn(
    dnsmasqPath(),
    [
      "--no-daemon",
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      `--addn-hosts=${hostsFile}`,
      `--local-ttl=${ttlSeconds}`,
      "--pid-file=",
      "--log-facility=-",
      "--cache-size=0",
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let output = "";
  const reads: (() => void)[] = [];
  const onLine = (line: string): void => {
    output += line + "\n";
    // "read /tmp/.../hosts - 2 names": the file is loaded (at start and after each SIGHUP).
    if (line.includes(`read ${hostsFile}`)) reads.shift()?.();
  };
  createInterface({ input: child.stderr }).on("line", onLine);
  createInterface({ input: child.stdout }).on("line", onLine);
  const exited = once(child, "close");
  const nextRead = (what: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dnsmasq: ${what} not within ${READY_LIMIT_MS} ms:\n${output}`)), READY_LIMIT_MS);
      reads.push(() => {
        clearTimeout(timer);
        resolve();
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`dnsmasq exited (${child.exitCode ?? child.signalCode}):\n${output}`));
      });
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await nextRead("loading the hosts file");
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    authority: `dns://127.0.0.1:${port}/`,
    async setRecords(next) {
      writeFileSync(hostsFile, hostsText(next));
      const reread = nextRead("re-reading the hosts file after SIGHUP");
      child.kill("SIGHUP");
      await reread;
    },
    stop,
  };
}

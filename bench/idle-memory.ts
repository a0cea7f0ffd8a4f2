// Memory per idle client connection: a fresh proxy process, idle HTTP/2 client connections
// from bench/idle-conns.ts (its own process), and the proxy's VmRSS and open fds read from
// /proc before and after; node proxies also get a full GC through their inspector
// (bench/gc-probe.ts) for a second reading without uncollected garbage.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { GcProbeResult } from "./gc-probe.js";
import type { IdleClientReady } from "./idle-conns.js";
import { openFds, rss, runToEnd, start, stop, waitFor, type Started } from "./procs.js";
import type { IdleMemory } from "./report.js";
import type { StartTarget, Target } from "./targets.js";

const here = fileURLToPath(new URL(".", import.meta.url));

/** Idle connections a proxy gets before the "before" RSS, so its one-time costs are not counted per connection. */
const IDLE_WARM_CONNS = 50;

/** Node flags that give a child process the global WebSocket (node 20 has it behind a flag). */
function webSocketFlags(): string[] {
  return typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function" ? [] : ["--experimental-websocket"];
}

/** A full GC in a proxy started with the inspector; undefined for proxies without one. */
async function forceGc(target: Target, core: number): Promise<GcProbeResult | undefined> {
  if (target.inspectorUrl === undefined) return undefined;
  const out = await runToEnd(process.execPath, [...webSocketFlags(), join(here, "gc-probe.js"), target.inspectorUrl], {
    core,
    timeoutMs: 30_000,
  });
  if (out.code !== 0) throw new Error(`gc probe failed (${out.code}): ${out.stderr.slice(-500)}`);
  return JSON.parse(out.stdout.trim().split("\n").pop() ?? "{}") as GcProbeResult;
}

/**
 * Memory per idle client connection, on a fresh proxy process: on the one that just ran the
 * load passes, heap pages freed by the load would absorb the new connections and hide their
 * cost. IDLE_WARM_CONNS connections first (kept open), so what is compiled or allocated once
 * lands before the baseline; then `count` more. The open-fd count shows the proxy still
 * holds every connection at the moment RSS is read. A node proxy also gets a full GC (through
 * its inspector) before the baseline and after the first "after" reading, which gives a
 * second figure without the handshakes' uncollected garbage.
 */
export async function idleMemory(count: number, startTarget: StartTarget, clientCore: number): Promise<IdleMemory> {
  const target = await startTarget({ inspect: true });
  const clients: Started[] = [];
  const open = async (n: number): Promise<IdleClientReady> => {
    const c = start(process.execPath, [join(here, "idle-conns.js"), `127.0.0.1:${target.port}`, String(n)], { core: clientCore });
    clients.push(c);
    const m = await waitFor(c, /^\{"ready".*\}$/m, 90_000);
    return JSON.parse(m[0]) as IdleClientReady;
  };
  try {
    const pid = target.proc.pid;
    await open(IDLE_WARM_CONNS);
    const gcBefore = await forceGc(target, clientCore);
    const rssBeforeBytes = rss(pid);
    const fdsBefore = openFds(pid);
    const ready = await open(count);
    const rssAfterBytes = rss(pid);
    const fdsAfter = openFds(pid);
    if (fdsAfter - fdsBefore < count) throw new Error(`proxy holds only ${fdsAfter - fdsBefore} more fds after ${count} connections`);
    const gcAfter = await forceGc(target, clientCore);
    const afterGc =
      gcBefore === undefined || gcAfter === undefined
        ? undefined
        : { rssBytes: rss(pid), heapBeforeBytes: gcBefore.usedHeapBytes, heapAfterBytes: gcAfter.usedHeapBytes };
    return {
      connections: count,
      warmConnections: IDLE_WARM_CONNS,
      handshakeSeconds: ready.handshakeSeconds,
      rssBeforeBytes,
      rssAfterBytes,
      fdsBefore,
      fdsAfter,
      afterGc,
    };
  } finally {
    for (const c of clients) await stop(c);
    await stop(target.proc);
  }
}

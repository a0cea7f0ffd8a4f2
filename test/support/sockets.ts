// This process's TCP sockets as the kernel sees them, for tests that prove no socket leaks:
// the descriptors in /proc/self/fd that are sockets, matched by inode against /proc/net/tcp
// and tcp6 (addresses, ports and state). A socket closed by its owner leaves the list at once,
// whatever state the kernel keeps it in afterwards (FIN-WAIT-2 and TIME-WAIT sockets that no
// process holds are the kernel's, bounded by its own timers). Linux only.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** RFC 793 states as /proc/net/tcp numbers them. */
const STATES: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN-SENT",
  "03": "SYN-RECV",
  "04": "FIN-WAIT-1",
  "05": "FIN-WAIT-2",
  "06": "TIME-WAIT",
  "07": "CLOSE",
  "08": "CLOSE-WAIT",
  "09": "LAST-ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
};

export interface HeldSocket {
  readonly localPort: number;
  readonly remotePort: number;
  readonly state: string;
}

/** Inodes of the sockets this process holds a descriptor of. */
function heldInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m !== null) inodes.add(m[1]!);
  }
  return inodes;
}

/** Every TCP socket this process holds, with its ports and state. */
export function heldTcpSockets(): HeldSocket[] {
  const inodes = heldInodes();
  const out: HeldSocket[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      out.push({
        localPort: parseInt(f[1]!.split(":")[1]!, 16),
        remotePort: parseInt(f[2]!.split(":")[1]!, 16),
        state: STATES[f[3]!] ?? f[3]!,
      });
    }
  }
  return out;
}

/** Sockets held that match, by state ("ESTABLISHED: 2, FIN-WAIT-2: 5"), for messages. */
export function describeSockets(sockets: readonly HeldSocket[]): string {
  const byState = new Map<string, number>();
  for (const s of sockets) byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
  return [...byState].map(([state, n]) => `${state}: ${n}`).join(", ") || "none";
}

/** How many socket descriptors (TCP or not) this process holds. */
export function heldSocketCount(): number {
  return heldInodes().size;
}

/**
 * Waits until no socket this process holds matches `match`, and returns those still held
 * when `boundMs` ran out (none on success). The kernel tells no one when a descriptor goes, so
 * this looks every `everyMs`: the wait ends as soon as the sockets have, and the bound only
 * decides when to give up.
 */
export async function untilNoneHeld(match: (s: HeldSocket) => boolean, boundMs: number, everyMs = 50): Promise<HeldSocket[]> {
  const end = performance.now() + boundMs;
  for (;;) {
    const held = heldTcpSockets().filter(match);
    if (held.length === 0 || performance.now() >= end) return held;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

// Summarizes a V8 .cpuprofile (node --cpu-prof) of the proxy under load: self time by
// function, self time by area (sluice file, node:http2, streams, GC, ...), and inclusive time
// of sluice's own functions, each also per RPC. Usable alone:
//   node dist/bench/profile.js FILE.cpuprofile [RPCS]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Row {
  readonly name: string;
  readonly ms: number;
  readonly percent: number;
  /** Microseconds per RPC (when the RPC count is known). */
  readonly usPerRpc: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Samples not idle: what the proxy really spent. */
  readonly busyMs: number;
  readonly rpcs: number;
  readonly topSelf: readonly Row[];
  readonly byArea: readonly Row[];
  readonly sluiceInclusive: readonly Row[];
  /** Busy time charged to the innermost sluice frame on the stack ("none" = no sluice frame). */
  readonly byInnermostSluiceFrame: readonly Row[];
}

const IDLE = new Set(["(idle)", "(root)"]);

function shortUrl(url: string): string {
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return url.slice(dist + "/dist/".length).replace(/\.js$/, ".ts");
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + "/node_modules/".length);
  return url;
}

function isSluice(url: string): boolean {
  return url.includes("/dist/src/");
}

function functionKey(f: CallFrame): string {
  const name = f.functionName === "" ? "(anonymous)" : f.functionName;
  if (f.url === "") return name;
  return `${name} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
}

/** The area a function belongs to, for the "where does the time go" table. */
function area(f: CallFrame): string {
  const url = f.url;
  if (url === "") {
    if (f.functionName === "(garbage collector)") return "GC";
    if (f.functionName.startsWith("(")) return f.functionName;
    return "native (C++ builtins, syscalls)";
  }
  if (isSluice(url)) return `sluice ${shortUrl(url)}`;
  if (url.startsWith("node:internal/http2")) return "node:http2 (JS)";
  if (url.startsWith("node:internal/streams") || url === "node:stream") return "node streams";
  if (url.startsWith("node:internal/stream_base") || url.startsWith("node:net") || url === "node:internal/net") return "node net / stream_base";
  if (url === "node:events" || url.startsWith("node:internal/event")) return "node events";
  if (url.startsWith("node:internal/process") || url.startsWith("node:internal/timers") || url === "node:timers") return "node timers / ticks";
  if (url.startsWith("node:")) return `node other (${url})`;
  if (url.includes("/node_modules/")) return `dependency ${shortUrl(url).split("/")[0] ?? url}`;
  return url;
}

export function summarize(profile: CpuProfile, rpcs: number, top = 25): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Sample i lasts until sample i+1; the last one gets the mean interval.
  const totalUs = profile.endTime - profile.startTime;
  const count = profile.samples.length;
  const meanUs = count > 0 ? totalUs / count : 0;
  const weight = (i: number): number => profile.timeDeltas[i + 1] ?? meanUs;

  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const innermost = new Map<string, number>();
  let busyUs = 0;
  for (let i = 0; i < count; i++) {
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    const w = weight(i);
    const f = node.callFrame;
    if (IDLE.has(f.functionName)) continue;
    busyUs += w;
    add(self, functionKey(f), w);
    add(areas, area(f), w);
    const seen = new Set<string>();
    let innermostKey: string | undefined;
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id)!.callFrame;
      if (!isSluice(cf.url)) continue;
      const key = functionKey(cf);
      innermostKey ??= key;
      if (!seen.has(key)) {
        seen.add(key);
        add(inclusive, key, w);
      }
    }
    add(innermost, innermostKey ?? "(no sluice frame: socket read, HTTP/2 parsing, GC, timers)", w);
  }
  const rows = (m: Map<string, number>, limit: number): Row[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({
        name,
        ms: us / 1000,
        percent: busyUs > 0 ? (100 * us) / busyUs : 0,
        usPerRpc: rpcs > 0 ? us / rpcs : NaN,
      }));
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    rpcs,
    topSelf: rows(self, top),
    byArea: rows(areas, 15),
    sluiceInclusive: rows(inclusive, 20),
    byInnermostSluiceFrame: rows(innermost, 15),
  };
}

function add(m: Map<string, number>, key: string, v: number): void {
  m.set(key, (m.get(key) ?? 0) + v);
}

export function loadProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
}

export function profileMarkdown(s: ProfileSummary): string {
  const table = (title: string, rows: readonly Row[]): string =>
    [
      `| ${title} | ms | % of busy | µs/RPC |`,
      "|---|---:|---:|---:|",
      ...rows.map(
        (r) =>
          `| \`${r.name.replace(/\|/g, "\\|")}\` | ${r.ms.toFixed(0)} | ${r.percent.toFixed(1)} | ${Number.isNaN(r.usPerRpc) ? "-" : r.usPerRpc.toFixed(2)} |`,
      ),
    ].join("\n");
  return [
    `Profile: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy, ${s.rpcs} RPCs` +
      (s.rpcs > 0 ? ` (${((s.busyMs * 1000) / s.rpcs).toFixed(1)} µs busy per RPC, profiler overhead included).` : "."),
    "",
    table("area (self time)", s.byArea),
    "",
    table("function (self time)", s.topSelf),
    "",
    table("sluice function (inclusive)", s.sluiceInclusive),
    "",
    table("innermost sluice frame on the stack", s.byInnermostSluiceFrame),
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, rpcs] = process.argv.slice(2);
  if (file === undefined) {
    console.error("usage: node dist/bench/profile.js FILE.cpuprofile [RPCS]");
    process.exit(2);
  }
  console.log(profileMarkdown(summarize(loadProfile(file), Number(rpcs ?? 0))));
}

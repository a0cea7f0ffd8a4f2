// The supervisor, in process with a scripted config source and signals from an EventEmitter:
// a snapshot given while the proxy starts is applied once it serves, a rejected one leaves
// the running config, SIGHUP asks the source to read again, SIGTERM drains and ends run()
// with 0, and a source with nothing to start with ends it with 1 before anything listens.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { loadConfigText } from "../../src/config/load.js";
import type { ProxyConfig } from "../../src/config/types.js";
import type { ConfigSnapshot, ConfigSource, SnapshotSink, SourceStart } from "../../src/runtime/config-source.js";
import { Supervisor } from "../../src/runtime/supervisor.js";
import { listenerYaml, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { ConfigInvalidError } from "../../src/runtime/errors.js";

function configOf(pod: Pod): ProxyConfig {
  // No admin server: tests run side by side, and none takes the default port.
  const result = loadConfigText(`${listenerYaml()}\n---\n${serviceEntryYaml("echo", [pod.port])}`, "test.yaml", { admin: "none" });
  assert.ok(result.ok);
  return result.config;
}

function snapshotOf(config: ProxyConfig, n: number): ConfigSnapshot {
  return { config, digest: `d${n}`, updates: [{ name: `test update #${n}`, description: "scripted", logMessage: "test update applied", logFields: { n } }] };
}

/** Gives `first` at start, and `duringStart` to the sink before start() returns (a change made while the proxy starts). */
class ScriptedSource implements ConfigSource {
  sink: SnapshotSink | undefined;
  readonly rereads: string[] = [];
  stopped = false;
  duringStart: Promise<boolean> | undefined;

  constructor(
    private readonly first: ProxyConfig | undefined,
    private readonly whileStarting?: ConfigSnapshot,
  ) {}

  start(sink: SnapshotSink): Promise<SourceStart | undefined> {
    this.sink = sink;
    if (this.first === undefined) return Promise.resolve(undefined);
    if (this.whileStarting !== undefined) this.duringStart = sink.apply(this.whileStarting);
    return Promise.resolve({
      snapshot: { config: this.first, digest: "d0", updates: [] },
      events: [{ event: "scripted source started", line: "scripted source started" }],
    });
  }
  reread(reason: string): void {
    this.rereads.push(reason);
  }
  stop(): void {
    this.stopped = true;
  }
}

function capture(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void }; next(re: RegExp): Promise<string> } {
  const out: string[] = [];
  const err: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const push = (to: string[], l: string): void => {
    to.push(l);
    for (const w of waiters.filter((x) => x.re.test(l))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  };
  return {
    out,
    err,
    io: { out: (l) => push(out, l), err: (l) => push(err, l) },
    next: (re) => new Promise((resolve) => waiters.push({ re, resolve })),
  };
}

const ports = (s: Supervisor): number[] =>
  s
    .proxy!.cluster("echo|50051|")!
    .endpointList()
    .map((e) => e.port);

test("a config given while the proxy starts applies once it serves; a rejected one keeps the running config; SIGHUP rereads; SIGTERM drains, exit 0", async (t) => {
  const pods = await scriptedPods(t, 2);
  const source = new ScriptedSource(configOf(pods[0]!), snapshotOf(configOf(pods[1]!), 1));
  const lines = capture();
  const signals = new EventEmitter();
  const supervisor = new Supervisor({ source, io: lines.io, signals });
  const applied = lines.next(/^sluice proxy: test update #1 applied \(scripted\): /);
  const exit = supervisor.run();
  // A test that fails before its SIGTERM still drains the proxy (before the pods stop).
  defer(t, async () => {
    if (supervisor.proxy !== undefined) signals.emit("SIGTERM", "SIGTERM");
    await exit;
  });
  await applied;
  assert.equal(await source.duringStart, true);
  assert.match(lines.out[0] ?? "", /^sluice proxy listening on 127\.0\.0\.1:\d+ \(mode request, transport h2\)$/);
  assert.ok(lines.out.includes("scripted source started"), "the source's start lines follow the listening line");
  assert.deepEqual(ports(supervisor), [pods[1]!.port]);

  source.sink!.reject({
    what: "test update #2 rejected",
    why: "1 problem",
    details: ["test.yaml:3 spec: bad"],
    error: new ConfigInvalidError("bad"),
    logMessage: "rejected",
    logFields: {},
  });
  assert.deepEqual(lines.out.slice(-2), ["sluice proxy: test update #2 rejected, keeping the running config: 1 problem", "test.yaml:3 spec: bad"]);
  assert.deepEqual(ports(supervisor), [pods[1]!.port]);

  signals.emit("SIGHUP", "SIGHUP");
  assert.deepEqual(source.rereads, ["SIGHUP"]);

  signals.emit("SIGTERM", "SIGTERM");
  assert.equal(await exit, 0);
  assert.equal(source.stopped, true);
  assert.deepEqual(lines.out.slice(-2), ["sluice proxy: SIGTERM: draining (RPCs in flight get up to 5s)", "sluice proxy: drained, exiting"]);
  assert.equal(supervisor.proxy, undefined);
  assert.equal(await source.sink!.apply(snapshotOf(configOf(pods[0]!), 3)), false, "nothing is applied after the drain");
});

test("a source with no config to start with: run() resolves 1 and nothing listens", async () => {
  const source = new ScriptedSource(undefined);
  const lines = capture();
  const supervisor = new Supervisor({ source, io: lines.io, signals: new EventEmitter() });
  assert.equal(await supervisor.run(), 1);
  assert.deepEqual(lines.out, []);
  assert.equal(supervisor.proxy, undefined);
});

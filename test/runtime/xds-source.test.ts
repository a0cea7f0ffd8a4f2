// The xDS source, in process with a fake ADS client, a fake listener source and a recording
// reload target behind a real applier: the pending config before any snapshot, snapshots and
// listener reloads composed in order (neither undoes the other), --default-host checked
// against the control plane's hosts, and the lines printed. (A listener reload whose files
// gain a ServiceEntry is rejected by the file source: test/runtime/file-source.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ProxyConfig } from "../../src/config/types.js";
import { buildResources } from "../../src/xds-server/to-xds.js";
import { TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import type { XdsResources } from "../../src/xds-client/decoded-resources.js";
import { ConfigApplier, type AppliedReload, type ReloadTarget } from "../../src/runtime/config-applier.js";
import { configDigest } from "../../src/runtime/config-digest.js";
import type { ConfigSource, SnapshotSink, SourceStart } from "../../src/runtime/config-source.js";
import { PENDING_HOST } from "../../src/runtime/xds-pending.js";
import { XdsSource } from "../../src/runtime/xds-source.js";
import { configFromXds } from "../../src/xds-client/from-xds.js";
import { parseConfig, serviceEntryYaml, listenerYaml } from "../support/cluster.js";

class FakeAds extends EventEmitter {
  closed = false;
  start(): void {}
  close(): void {
    this.closed = true;
  }
}

/** The listener settings of listenerYaml(), and a file reload when a test calls reload(). */
class FakeListener implements ConfigSource {
  private sink: SnapshotSink | undefined;
  stopped = false;
  start(sink: SnapshotSink): Promise<SourceStart> {
    this.sink = sink;
    return Promise.resolve({ snapshot: { config: parseConfig(listenerYaml()), digest: "-", updates: [] }, events: [] });
  }
  reread(): void {}
  stop(): void {
    this.stopped = true;
  }
  /** A file reload with `config`'s listener settings, as the file source gives it. */
  reload(config: ProxyConfig, n: number): Promise<boolean> {
    return this.sink!.apply({
      config,
      digest: "-",
      updates: [{ name: `config reload #${n}`, description: "file change", logMessage: "config reloaded", logFields: { reload: n } }],
    });
  }
}

/** What the ADS client would deliver for this config: every resource decoded. */
function snapshot(yaml: string): XdsResources {
  const set = buildResources(parseConfig(yaml));
  const kind = (t: string): Map<string, Record<string, unknown>> => new Map([...(set.byType.get(t) ?? [])].map(([n, any]) => [n, unpackAny(any)]));
  return { listeners: kind(TYPE_URL.listener), routes: kind(TYPE_URL.route), clusters: kind(TYPE_URL.cluster), endpoints: kind(TYPE_URL.endpoint) };
}

/** A target that records each config and finishes each apply only when told to. */
class Target implements ReloadTarget {
  readonly applied: ProxyConfig[] = [];
  private readonly gates: (() => void)[] = [];
  hold = false;
  /** Applies begun and not finished, now and at most. */
  inFlight = 0;
  maxInFlight = 0;

  apply(config: ProxyConfig): Promise<AppliedReload> {
    this.applied.push(config);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const done: AppliedReload = { summary: `applied ${this.applied.length}`, noop: false, warnings: [], fields: {} };
    const finish = (): AppliedReload => {
      this.inFlight--;
      return done;
    };
    if (!this.hold) return Promise.resolve().then(finish);
    return new Promise((resolve) => this.gates.push(() => resolve(finish())));
  }

  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

type Io = { out(l: string): void; err(l: string): void };

function lines(): { out: string[]; err: string[]; io: Io } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

/** An xDS source on fake ADS and listener sources; its sink, an applier, applies nothing until a test attaches a target. */
function xds(
  io: Io,
  server: string,
  opts: { defaultHost?: string; initialWaitMs?: number } = {},
): { ads: FakeAds; listener: FakeListener; source: XdsSource; applier: ConfigApplier } {
  const ads = new FakeAds();
  const listener = new FakeListener();
  const source = new XdsSource({ ads, listener, server, defaultHost: opts.defaultHost, initialWaitMs: opts.initialWaitMs ?? 1, command: "sluice proxy", io });
  return { ads, listener, source, applier: new ConfigApplier("sluice proxy", io) };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("before the first snapshot every RPC routes to a cluster with no endpoints; the first snapshot replaces it", async () => {
  const { io, out } = lines();
  const { ads, source, applier } = xds(io, "cp:15010");
  const start = await source.start(applier);
  assert.ok(start !== undefined);
  assert.deepEqual(out.splice(0), [
    "sluice proxy: no config from the control plane at cp:15010 within 1ms; starting with none (RPCs get UNAVAILABLE) and still trying",
  ]);
  const pending = start.snapshot.config;
  assert.equal(pending.listener.defaultHost, PENDING_HOST);
  assert.deepEqual(
    [...pending.clusters.values()].map((c) => [c.name, c.endpoints.length]),
    [[`${PENDING_HOST}|0|`, 0]],
  );
  assert.deepEqual(start.events, [], "the wait's warning said it: nothing more to say once listening");

  const target = new Target();
  applier.attach(target);
  await flush();
  assert.equal(target.applied.length, 0, "nothing new to apply");
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7002])));
  await flush();
  assert.equal(target.applied.length, 1);
  const cfg = target.applied[0]!;
  assert.deepEqual([...cfg.clusters.keys()], ["echo|50051|"]);
  assert.equal(cfg.listener.defaultHost, "echo", "one host: it is the default, as with files");
  assert.equal(out.length, 1);
  assert.match(out[0] ?? "", /^sluice proxy: xds update #1 applied \(config [0-9a-f]{8}: 1 cluster, 1 virtual host\): applied 1$/);
});

test("a file reload and snapshots apply one at a time, each with the latest of both", async () => {
  const { io, out } = lines();
  const { ads, listener, source, applier } = xds(io, "cp", { initialWaitMs: 1000 });
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  const start = await source.start(applier);
  assert.match(start?.events.map((e) => e.line).join("\n") ?? "", /xds update #1 in force/, "the first snapshot came within the wait");
  const target = new Target();
  target.hold = true;
  applier.attach(target);
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7002])));
  await flush();
  // While that apply is in progress: a file reload (access log on), then another snapshot.
  const withLog = parseConfig(listenerYaml("  accessLog: true\n"));
  const fileApplied = listener.reload(withLog, 1);
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7002, 7003])));
  for (let i = 0; i < 4; i++) {
    target.release();
    await flush();
  }
  assert.equal(await fileApplied, true);
  assert.equal(target.maxInFlight, 1, "no apply begins before the one before it has finished");
  assert.ok(target.applied.length >= 2);
  const last = target.applied.at(-1)!;
  assert.equal(last.listener.accessLog, true, "the file's listener settings stay");
  assert.deepEqual(
    last.clusters.get("echo|50051|")?.endpoints.map((e) => e.port),
    [7001, 7002, 7003],
    "the latest snapshot stays",
  );
  assert.ok(target.applied.length <= 3, `queued updates coalesce (${target.applied.length} applies)`);
  assert.ok(
    out.some((l) => l.startsWith("sluice proxy: config reload #1 applied (file change): ")),
    "the file reload is announced",
  );
});

test("--default-host is used while the control plane routes it, and warned about (once) when it does not", async () => {
  const { io, out } = lines();
  const { ads, source, applier } = xds(io, "cp", { defaultHost: "Other" });
  const target = new Target();
  await source.start(applier);
  applier.attach(target);
  const mark = out.length; // after "no config ... within 1ms"
  const two = `${serviceEntryYaml("echo", [7001])}\n---\n${serviceEntryYaml("other", [7002])}`;
  ads.emit("update", snapshot(two));
  await flush();
  assert.equal(target.applied.at(-1)?.listener.defaultHost, "other");
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  await flush();
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7003])));
  await flush();
  assert.equal(target.applied.at(-1)?.listener.defaultHost, null);
  assert.deepEqual(
    out.slice(mark).filter((l) => l.startsWith("warning:")),
    ["warning: sluice proxy: --default-host other is not a host the control plane routes (hosts: echo); requests for other hosts get UNIMPLEMENTED"],
  );
});

test("the config digest is the same for the same clusters and routes, whatever order they came in, and differs otherwise", () => {
  const a = configFromXds(snapshot(`${serviceEntryYaml("echo", [7001])}\n---\n${serviceEntryYaml("other", [7002])}`));
  const b = configFromXds(snapshot(`${serviceEntryYaml("other", [7002])}\n---\n${serviceEntryYaml("echo", [7001])}`));
  const c = configFromXds(snapshot(`${serviceEntryYaml("echo", [7001])}\n---\n${serviceEntryYaml("other", [7003])}`));
  assert.equal(configDigest(a), configDigest(b));
  assert.notEqual(configDigest(a), configDigest(c));
});

test("connection changes are reported; a disconnect keeps the config; stop() closes the ADS client and the listener source", async () => {
  const { io, out } = lines();
  const { ads, listener, source, applier } = xds(io, "cp:1");
  ads.emit("connection", "disconnected");
  assert.deepEqual(out, [], "never connected: nothing lost");
  ads.emit("connection", "connected");
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  await source.start(applier);
  ads.emit("connection", "disconnected");
  ads.emit("nack", { typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", version: "3", message: "bad" });
  assert.deepEqual(out, [
    "sluice proxy: connected to the control plane at cp:1",
    "sluice proxy: lost the control plane at cp:1; keeping the config in force, reconnecting",
    "warning: sluice proxy: rejected Cluster version 3 from the control plane: bad",
  ]);
  assert.deepEqual([...source.config().clusters.keys()], ["echo|50051|"]);
  source.stop();
  assert.equal(ads.closed, true);
  assert.equal(listener.stopped, true);
});

test("a snapshot that cannot be mapped is not applied: the running config stays, and the failure is said", async () => {
  const { io, out } = lines();
  const { ads, source, applier } = xds(io, "cp");
  await source.start(applier);
  const target = new Target();
  applier.attach(target);
  const mark = out.length; // after "no config ... within 1ms"
  ads.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  await flush();
  assert.equal(target.applied.length, 1);
  const good = snapshot(serviceEntryYaml("echo", [7001]));
  const evil = Object.defineProperty({}, "type", {
    enumerable: true,
    get: (): never => {
      throw new Error("boom");
    },
  });
  ads.emit("update", { ...good, clusters: new Map([...good.clusters, ["evil", evil]]) });
  await flush();
  assert.equal(target.applied.length, 1, "nothing applied");
  assert.deepEqual([...source.config().clusters.keys()], ["echo|50051|"], "the last good snapshot is still the one in force");
  assert.deepEqual(out.slice(mark).slice(1), [
    "sluice proxy: xds update #2 not applied, keeping the running config: the control plane's resources cannot be mapped: boom",
  ]);
  assert.match(out[mark] ?? "", /^sluice proxy: xds update #1 applied /);
});

test("stop() is no lost control plane: nothing about reconnecting is printed", () => {
  const { io, out } = lines();
  const { ads, source } = xds(io, "cp:1");
  ads.emit("connection", "connected");
  source.stop();
  // The ADS client reports its stream ending as it closes.
  ads.emit("connection", "disconnected");
  assert.deepEqual(out, ["sluice proxy: connected to the control plane at cp:1"]);
});

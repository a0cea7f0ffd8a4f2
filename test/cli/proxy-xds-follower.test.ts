// XdsFollower, in process with a fake ADS source and a recording reload target: the pending
// config before any snapshot, snapshots and file reloads composed in order (neither undoes
// the other), --default-host checked against the control plane's hosts, and the lines printed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ProxyConfig } from "../../src/config/types.js";
import { buildResources } from "../../src/xds/resources.js";
import { TYPE_URL, unpackAny } from "../../src/xds/protos.js";
import type { XdsResources } from "../../src/xds/xds-resources.js";
import type { AppliedReload, ReloadTarget } from "../../src/cli/reload.js";
import { configDigest, PENDING_HOST, XdsFollower } from "../../src/cli/proxy-xds.js";
import { configFromXds } from "../../src/xds/from-xds.js";
import { parseConfig, serviceEntryYaml, listenerYaml } from "../support/cluster.js";

class FakeSource extends EventEmitter {
  closed = false;
  start(): void {}
  close(): void {
    this.closed = true;
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
  readonly command = "sluice proxy";
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

function lines(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

const LISTENER = parseConfig(listenerYaml()).listener;
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("before the first snapshot every RPC routes to a cluster with no endpoints; the first snapshot replaces it", async () => {
  const source = new FakeSource();
  const { io, out } = lines();
  const follower = new XdsFollower(source, LISTENER, { server: "cp:15010", defaultHost: undefined, command: "sluice proxy" }, io);
  assert.equal(await follower.waitForFirst(1), false);
  const pending = follower.config();
  assert.equal(pending.listener.defaultHost, PENDING_HOST);
  assert.deepEqual(
    [...pending.clusters.values()].map((c) => [c.name, c.endpoints.length]),
    [[`${PENDING_HOST}|0|`, 0]],
  );
  assert.match(follower.describeStart(), /no config from the control plane at cp:15010 yet/);

  const target = new Target();
  follower.attach(target);
  await flush();
  assert.equal(target.applied.length, 0, "nothing new to apply");
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7002])));
  await flush();
  assert.equal(target.applied.length, 1);
  const cfg = target.applied[0]!;
  assert.deepEqual([...cfg.clusters.keys()], ["echo|50051|"]);
  assert.equal(cfg.listener.defaultHost, "echo", "one host: it is the default, as with files");
  assert.equal(out.length, 1);
  assert.match(out[0] ?? "", /^sluice proxy: xds update #1 applied \(config [0-9a-f]{8}: 1 cluster, 1 virtual host\): applied 1$/);
});

test("a file reload and snapshots apply one at a time, each with the latest of both", async () => {
  const source = new FakeSource();
  const { io, err } = lines();
  const follower = new XdsFollower(source, LISTENER, { server: "cp", defaultHost: undefined, command: "sluice proxy" }, io);
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  assert.equal(await follower.waitForFirst(1000), true);
  follower.config();
  const target = new Target();
  target.hold = true;
  follower.attach(target);
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7002])));
  await flush();
  // While that apply is in progress: a file reload (access log on), then another snapshot.
  const fileTarget = follower.fileTarget(target);
  const withLog = { ...parseConfig(listenerYaml("  accessLog: true\n")) };
  const fileApplied = fileTarget.apply(withLog);
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7002, 7003])));
  for (let i = 0; i < 4; i++) {
    target.release();
    await flush();
  }
  await fileApplied;
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

  // A file that gains a ServiceEntry is not applied: clusters come from the control plane.
  // The rejection is said on stderr, and the apply fails (so no "reload applied" line follows).
  const before = target.applied.length;
  await assert.rejects(fileTarget.apply(parseConfig(serviceEntryYaml("other", [7009]))), /config reload rejected/);
  assert.deepEqual(
    err.filter((l) => /rejected/.test(l)),
    [
      "sluice proxy: error [SLUICE_ERR_RELOAD_REJECTED]: config reload rejected, keeping the running config: with --xds the config files may hold only the Proxy resource (clusters and routes come from the control plane)",
    ],
  );
  assert.equal(target.applied.length, before);
});

test("--default-host is used while the control plane routes it, and warned about (once) when it does not", async () => {
  const source = new FakeSource();
  const { io, err } = lines();
  const follower = new XdsFollower(source, LISTENER, { server: "cp", defaultHost: "Other", command: "sluice proxy" }, io);
  const target = new Target();
  follower.config();
  follower.attach(target);
  const two = `${serviceEntryYaml("echo", [7001])}\n---\n${serviceEntryYaml("other", [7002])}`;
  source.emit("update", snapshot(two));
  await flush();
  assert.equal(target.applied.at(-1)?.listener.defaultHost, "other");
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  await flush();
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001, 7003])));
  await flush();
  assert.equal(target.applied.at(-1)?.listener.defaultHost, null);
  assert.deepEqual(err, [
    "warning: sluice proxy: --default-host other is not a host the control plane routes (hosts: echo); requests for other hosts get UNIMPLEMENTED",
  ]);
});

test("the config digest is the same for the same clusters and routes, whatever order they came in, and differs otherwise", () => {
  const a = configFromXds(snapshot(`${serviceEntryYaml("echo", [7001])}\n---\n${serviceEntryYaml("other", [7002])}`));
  const b = configFromXds(snapshot(`${serviceEntryYaml("other", [7002])}\n---\n${serviceEntryYaml("echo", [7001])}`));
  const c = configFromXds(snapshot(`${serviceEntryYaml("echo", [7001])}\n---\n${serviceEntryYaml("other", [7003])}`));
  assert.equal(configDigest(a), configDigest(b));
  assert.notEqual(configDigest(a), configDigest(c));
});

test("connection changes are reported; a disconnect keeps the config; close() closes the source", () => {
  const source = new FakeSource();
  const { io, err } = lines();
  const follower = new XdsFollower(source, LISTENER, { server: "cp:1", defaultHost: undefined, command: "sluice proxy" }, io);
  source.emit("connection", "disconnected");
  assert.deepEqual(err, [], "never connected: nothing lost");
  source.emit("connection", "connected");
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  source.emit("connection", "disconnected");
  source.emit("nack", { typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", version: "3", message: "bad" });
  assert.deepEqual(err, [
    "sluice proxy: connected to the control plane at cp:1",
    "sluice proxy: lost the control plane at cp:1; keeping the config in force, reconnecting",
    "warning: sluice proxy: rejected Cluster version 3 from the control plane: bad",
  ]);
  assert.deepEqual([...follower.config().clusters.keys()], ["echo|50051|"]);
  follower.close();
  assert.equal(source.closed, true);
});

test("a snapshot that cannot be mapped is not applied: the running config stays, and the failure is said", async () => {
  const source = new FakeSource();
  const { io, err, out } = lines();
  const follower = new XdsFollower(source, LISTENER, { server: "cp", defaultHost: undefined, command: "sluice proxy" }, io);
  follower.config();
  const target = new Target();
  follower.attach(target);
  source.emit("update", snapshot(serviceEntryYaml("echo", [7001])));
  await flush();
  assert.equal(target.applied.length, 1);
  const good = snapshot(serviceEntryYaml("echo", [7001]));
  const evil = Object.defineProperty({}, "type", {
    enumerable: true,
    get: (): never => {
      throw new Error("boom");
    },
  });
  source.emit("update", { ...good, clusters: new Map([...good.clusters, ["evil", evil]]) });
  await flush();
  assert.equal(target.applied.length, 1, "nothing applied");
  assert.deepEqual([...follower.config().clusters.keys()], ["echo|50051|"], "the last good snapshot is still the one in force");
  assert.deepEqual(err, ["sluice proxy: xds update #2 not applied, keeping the running config: the control plane's resources cannot be mapped: boom"]);
  assert.equal(out.length, 1);
});

test("close() is no lost control plane: nothing about reconnecting is printed", () => {
  const source = new FakeSource();
  const { io, err } = lines();
  const follower = new XdsFollower(source, LISTENER, { server: "cp:1", defaultHost: undefined, command: "sluice proxy" }, io);
  source.emit("connection", "connected");
  follower.close();
  // The ADS client reports its stream ending as it closes.
  source.emit("connection", "disconnected");
  assert.deepEqual(err, ["sluice proxy: connected to the control plane at cp:1"]);
});

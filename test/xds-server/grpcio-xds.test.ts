// The proof with a client sluice did not write, in another language: Python's grpcio (gRPC
// C-core, which has its own xDS client) dials xds:///echo with a GRPC_XDS_BOOTSTRAP file that
// points at sluice's ADS server, and spreads its calls over the ServiceEntry's endpoints.
// The client is test/support/xds_echo_client.py on /usr/bin/python3 (Debian's python3-grpcio;
// SLUICE_PYTHON overrides); without grpc there, the tests skip and say so.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { AckEvent, AdsServer } from "../../src/xds-server/ads-server.js";
import { TYPE_URL } from "../../src/xds-proto/protos.js";
import { destinationRuleYaml, parseConfig, serviceEntryYaml, startPods, type Pod } from "../support/cluster.js";
import { repoPath } from "../support/paths.js";
import { serveAds } from "../support/ads.js";
import { defer, type Owner } from "../support/teardown.js";

const PYTHON = process.env["SLUICE_PYTHON"] || "/usr/bin/python3";
const CLIENT = repoPath("test/support/xds_echo_client.py");
const NODE_ID = "grpcio-test";

/** grpcio's version, or why the tests cannot run. */
function grpcioVersion(): { version: string } | { skip: string } {
  const r = spawnSync(PYTHON, ["-c", "import grpc; print(grpc.__version__)"], { encoding: "utf8", timeout: 10_000 });
  if (r.status === 0) return { version: r.stdout.trim() };
  return { skip: `${PYTHON} cannot import grpc: install the Debian package python3-grpcio (.ci/run does)` };
}

const grpcio = grpcioVersion();
const skip = "skip" in grpcio ? grpcio.skip : false;

interface Batch {
  readonly pods: (string | null)[];
  readonly errors: string[];
}

/** One xds_echo_client.py process: one grpcio channel to `target`, driven batch by batch. */
class PythonXdsClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = "";
  private readonly limit: NodeJS.Timeout;
  private readonly closed: Promise<[number | null, NodeJS.Signals | null]>;

  constructor(target: string, bootstrap: string, env: Record<string, string> = {}) {
    // Between batches no RPC is in flight, and grpcio then reads the ADS stream (a pushed
    // update) only on its backup poller, every 5 s by default: poll every 100 ms instead.
    const polling = { GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS: "100" };
    this.child = spawn(PYTHON, ["-u", CLIENT, target], { env: { ...process.env, ...polling, GRPC_XDS_BOOTSTRAP: bootstrap, ...env } });
    this.closed = once(this.child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
    this.child.stderr.on("data", (c: Buffer) => (this.stderr += c.toString()));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
    // A hung channel fails the test instead of hanging the file.
    this.limit = setTimeout(() => this.child.kill("SIGKILL"), 60_000);
  }

  /** `n` unary calls one after another on the channel; which pod answered each. */
  async calls(n: number, metadata: Record<string, string> = {}): Promise<Batch> {
    this.child.stdin.write(JSON.stringify({ calls: n, metadata: Object.entries(metadata) }) + "\n");
    const line = await this.lines.next();
    if (line.done === true) {
      const [code, signal] = await this.closed;
      throw new Error(`xds_echo_client.py exited (${String(code ?? signal)}): ${this.stderr}`);
    }
    return JSON.parse(line.value) as Batch;
  }

  /** Batches of `n` calls until one reaches `pod`; fails after `batches`. */
  async callsUntil(pod: string, n: number, batches: number): Promise<void> {
    for (let i = 0; i < batches; i++) {
      const b = await this.calls(n);
      assert.deepEqual(b.errors, []);
      if (b.pods.includes(pod)) return;
    }
    assert.fail(`no call reached ${pod} in ${batches * n} calls`);
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    const [code, signal] = await this.closed;
    clearTimeout(this.limit);
    assert.equal(code, 0, `xds_echo_client.py exited (${String(code ?? signal)}): ${this.stderr}`);
  }
}

/** A PythonXdsClient closed when `owner` ends (its close asserts a clean exit). */
function pythonClient(owner: Owner, target: string, bootstrap: string): PythonXdsClient {
  const client = new PythonXdsClient(target, bootstrap);
  defer(owner, () => client.close());
  return client;
}

function counts(pods: readonly (string | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pods) out[String(p)] = (out[String(p)] ?? 0) + 1;
  return out;
}

/** Resolves on the first ACK of `typeUrl` at `version` from NODE_ID. */
function acked(ads: AdsServer, typeUrl: string, version: string): Promise<AckEvent> {
  return new Promise((resolve) => {
    const onAck = (e: AckEvent): void => {
      if (e.nodeId !== NODE_ID || e.typeUrl !== typeUrl || e.version !== version) return;
      ads.off("ack", onAck);
      resolve(e);
    };
    ads.on("ack", onAck);
  });
}

describe(`grpcio${"version" in grpcio ? ` ${grpcio.version}` : ""} (C-core xDS) -> sluice's ADS server`, { skip, timeout: 120_000 }, () => {
  let pods: Pod[];
  let dir: string;
  const yamlFor = (ps: readonly Pod[], dr = ""): string =>
    serviceEntryYaml(
      "echo",
      ps.map((p) => p.port),
    ) + (dr === "" ? "" : `\n---\n${destinationRuleYaml("echo", dr)}`);

  /** Starts an ADS server on `yaml` (stopped when the test ends) and writes a bootstrap for it; returns both. */
  async function control(owner: Owner, yaml: string, name: string): Promise<{ ads: AdsServer; bootstrap: string }> {
    const { ads, port } = await serveAds(owner, parseConfig(yaml));
    const bootstrap = join(dir, `${name}.json`);
    writeFileSync(
      bootstrap,
      JSON.stringify({
        xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
        node: { id: NODE_ID },
      }),
    );
    return { ads, bootstrap };
  }

  before(async () => {
    pods = await startPods(4);
    dir = mkdtempSync(join(tmpdir(), "sluice-grpcio-xds-"));
  });

  after(async () => {
    for (const p of pods ?? []) await p.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test("ROUND_ROBIN: xds:///echo spreads calls evenly over the 3 endpoints and follows a pushed endpoint change", async (t) => {
    const three = pods.slice(0, 3);
    const { ads, bootstrap } = await control(t, yamlFor(three, "    loadBalancer: { simple: ROUND_ROBIN }"), "round-robin");
    const client = pythonClient(t, "xds:///echo", bootstrap);
    // round_robin picks among READY subchannels: once each pod answered, all three are.
    for (const pod of ["pod-1", "pod-2", "pod-3"]) await client.callsUntil(pod, 10, 5);
    const spread = await client.calls(30);
    assert.deepEqual(spread.errors, []);
    assert.deepEqual(counts(spread.pods), { "pod-1": 10, "pod-2": 10, "pod-3": 10 });

    const [stream, ...others] = ads.streamStates();
    assert.equal(others.length, 0, "one ADS stream");
    assert.ok(stream?.t === "open");
    assert.equal(stream.nodeId, NODE_ID);
    for (const type of [TYPE_URL.listener, TYPE_URL.route, TYPE_URL.cluster, TYPE_URL.endpoint]) {
      assert.equal(stream.types.get(type)?.accepted, "1", `${type} ACKed`);
    }

    // pod-3 leaves, pod-4 joins: only the ClusterLoadAssignment changes.
    const edsAcked = acked(ads, TYPE_URL.endpoint, "2");
    ads.update(parseConfig(yamlFor([pods[0]!, pods[1]!, pods[3]!], "    loadBalancer: { simple: ROUND_ROBIN }")));
    await edsAcked;
    await client.callsUntil("pod-4", 10, 5);
    for (const pod of ["pod-1", "pod-2"]) await client.callsUntil(pod, 10, 5);
    const after = await client.calls(30);
    assert.deepEqual(after.errors, []);
    assert.deepEqual(counts(after.pods), { "pod-1": 10, "pod-2": 10, "pod-4": 10 });
    assert.deepEqual(
      ads.streamStates().map((s) => s.id),
      [stream.id],
      "same ADS stream",
    );
  });

  // grpcio before 1.55 reads only lb_policy (gRFC A52 was behind GRPC_EXPERIMENTAL_XDS_CUSTOM_LB_CONFIG)
  // and rejected lb_policy LEAST_REQUEST ("LB policy is not supported"): sluice says ROUND_ROBIN
  // there and LeastRequest in load_balancing_policy, so every version takes the default policy.
  test("the default policy (LeastRequest then RoundRobin in load_balancing_policy, lb_policy ROUND_ROBIN) reaches all 3 endpoints, no client setting needed", async (t) => {
    const { ads, bootstrap } = await control(t, yamlFor(pods.slice(0, 3)), "default");
    const nacks: string[] = [];
    ads.on("nack", (e) => nacks.push(`${e.typeUrl}: ${e.message}`));
    const client = pythonClient(t, "xds:///echo", bootstrap);
    for (const pod of ["pod-1", "pod-2", "pod-3"]) await client.callsUntil(pod, 10, 5);
    const b = await client.calls(30);
    assert.deepEqual(b.errors, []);
    assert.deepEqual(Object.keys(counts(b.pods)).sort(), ["pod-1", "pod-2", "pod-3"]);
    assert.deepEqual(nacks, []);
    const stream = ads.streamStates()[0];
    assert.ok(stream?.t === "open");
    assert.equal(stream.types.get(TYPE_URL.cluster)?.accepted, "1", "Cluster ACKed");
  });

  test("control plane down: an open channel keeps balancing on its last config; a new one fails UNAVAILABLE", async (t) => {
    const { ads, bootstrap } = await control(t, yamlFor(pods.slice(0, 3), "    loadBalancer: { simple: ROUND_ROBIN }"), "down");
    const client = pythonClient(t, "xds:///echo", bootstrap);
    for (const pod of ["pod-1", "pod-2", "pod-3"]) await client.callsUntil(pod, 10, 5);
    await ads.stop();
    const b = await client.calls(30);
    assert.deepEqual(b.errors, []);
    assert.deepEqual(counts(b.pods), { "pod-1": 10, "pod-2": 10, "pod-3": 10 });
    const late = pythonClient(t, "xds:///echo", bootstrap);
    const first = await late.calls(1);
    assert.equal(first.errors.length, 1);
    assert.match(first.errors[0] ?? "", /^UNAVAILABLE: .*127\.0\.0\.1:\d+/, "names the control plane it cannot reach");
  });

  // gRFC A29: C-core takes a Cluster's TLS only from certificate provider instances, and with
  // channel credentials other than XdsCredentials it would not apply it at all. The file names
  // sluice serves make it reject the Cluster: no plaintext to the (here plaintext) backend.
  test("a TLS cluster (DestinationRule tls SIMPLE) is NACKed; calls fail UNAVAILABLE and none reaches the backend", async (t) => {
    const pod = pods[3]!;
    const before = pod.stats.rpcs;
    const { ads, bootstrap } = await control(t, yamlFor([pod], "    tls: { mode: SIMPLE }"), "tls");
    const nacks: string[] = [];
    ads.on("nack", (e) => nacks.push(`${e.typeUrl}: ${e.message}`));
    const client = pythonClient(t, "xds:///echo", bootstrap);
    const b = await client.calls(3);
    assert.equal(b.errors.length, 3, JSON.stringify(b));
    for (const e of b.errors) assert.match(e, /^UNAVAILABLE: /);
    assert.equal(pod.stats.rpcs, before, "no call reached the backend in plaintext");
    // C-core 1.51: "no CA certificate provider instance configured".
    assert.ok(
      nacks.some((n) => n.startsWith(`${TYPE_URL.cluster}: `) && /certificate provider/i.test(n)),
      nacks.join("\n"),
    );
  });
});

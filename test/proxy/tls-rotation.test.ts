// The listener's certificate rotated under load, the two ways Kubernetes does it: cert-manager
// style (new files written beside, renamed over the old) and a secret volume's atomic writer
// (a new timestamped directory, the `..data` symlink swapped to it). grpc-js clients keep a
// steady stream of RPCs on long-lived channels while others open new channels all along;
// after each reload a new handshake gets the new certificate, and no RPC fails. A chain with
// a key that is not its own is refused once: the old certificate stays, logged and counted.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { setLogWriter } from "../../src/core/trace.js";
import { callUnary, type CallResult } from "../../src/demo/echo-client.js";
import type { CertificateEvent } from "../../src/proxy/listener-certificates.js";
import { TestPki, type Issued } from "../support/certs.js";
import { listenerYaml, serviceEntryYaml, startPods, startProxy } from "../support/cluster.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

/** The names clients reach the proxy by: every certificate the listener serves carries them. */
const PROXY_SANS = ["echo", "localhost", "IP:127.0.0.1"];
const hello = Buffer.from("hello");
const OK: number = grpc.status.OK;
/** Long-lived channels, each with one RPC after another the whole test through. */
const STEADY_CHANNELS = 4;
/** Rotations that succeed, after the first certificate. */
const ROTATIONS = 4;
/** See CertificateEvents.take. */
const RELOAD_LIMIT_MS = 30_000;

interface PemPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Where the listener's files live and how a rotation replaces them, never writing in place. */
interface CertificateFiles {
  readonly chain: string;
  readonly key: string;
  install(pair: PemPair): void;
}

/** cert-manager's way: the new pair written beside, then renamed over the old (the key first). */
function renamedFiles(dir: string): CertificateFiles {
  const chain = join(dir, "tls.crt");
  const key = join(dir, "tls.key");
  return {
    chain,
    key,
    install(pair) {
      writeFileSync(join(dir, ".tls.key.new"), pair.key);
      writeFileSync(join(dir, ".tls.crt.new"), pair.cert);
      renameSync(join(dir, ".tls.key.new"), key);
      renameSync(join(dir, ".tls.crt.new"), chain);
    },
  };
}

/**
 * A secret volume's atomic writer: tls.crt and tls.key are symlinks through `..data`, itself a
 * symlink to a timestamped directory; an update writes a new directory, points a temporary
 * symlink at it, renames that over `..data` (the one atomic step) and removes the old directory.
 */
function secretVolume(dir: string): CertificateFiles {
  let generation = 0;
  let current: string | undefined;
  symlinkSync("..data/tls.crt", join(dir, "tls.crt"));
  symlinkSync("..data/tls.key", join(dir, "tls.key"));
  return {
    chain: join(dir, "tls.crt"),
    key: join(dir, "tls.key"),
    install(pair) {
      const next = `..2030_01_01_00_00_0${++generation}.000000000`;
      mkdirSync(join(dir, next));
      writeFileSync(join(dir, next, "tls.crt"), pair.cert);
      writeFileSync(join(dir, next, "tls.key"), pair.key);
      symlinkSync(next, join(dir, "..data_tmp"));
      renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
      if (current !== undefined) rmSync(join(dir, current), { recursive: true });
      current = next;
    },
  };
}

/** The proxy's certificate reload events in order; take() gives the next one, waiting if need be. */
class CertificateEvents {
  private readonly seen: CertificateEvent[] = [];
  private readonly emitter = new EventEmitter();
  private taken = 0;

  push(e: CertificateEvent): void {
    this.seen.push(e);
    this.emitter.emit("event");
  }

  /** A hang guard, not a speed limit: a reload that never comes fails the test instead of stalling it. */
  async take(what: string): Promise<CertificateEvent> {
    const timer = setTimeout(() => this.emitter.emit("error", new Error(`no certificate reload event ${what} within ${RELOAD_LIMIT_MS} ms`)), RELOAD_LIMIT_MS);
    try {
      while (this.seen.length <= this.taken) await once(this.emitter, "event");
    } finally {
      clearTimeout(timer);
    }
    return this.seen[this.taken++]!;
  }
}

/** RPCs that keep going until stop(): long-lived channels, and a new channel for each RPC of another loop. */
class Load {
  ok = 0;
  newChannels = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly progress = new EventEmitter();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly newClient: () => grpc.Client,
    steady: number,
  ) {
    for (let i = 0; i < steady; i++) this.loops.push(this.steady(this.newClient()));
    this.loops.push(this.churn());
  }

  private record(r: CallResult): void {
    if (r.code === OK) this.ok++;
    else this.failures.push(`${grpc.status[r.code]}: ${r.details}`);
    this.progress.emit("rpc");
  }

  private async steady(client: grpc.Client): Promise<void> {
    // A hang guard, not a speed limit: a stuck RPC fails the test instead of stalling it.
    while (this.running) this.record(await callUnary(client, hello, undefined, { deadline: Date.now() + 30_000 }));
    client.close();
  }

  /** A channel of its own for each RPC: each one a new TLS handshake, racing the rotations. */
  private async churn(): Promise<void> {
    while (this.running) {
      const client = this.newClient();
      const r = await callUnary(client, hello, undefined, { deadline: Date.now() + 30_000 });
      client.close();
      this.newChannels++;
      this.record(r);
    }
  }

  /** Resolves once `rpcs` more RPCs succeeded and `channels` more new channels made theirs. */
  async advance(rpcs: number, channels: number): Promise<void> {
    const [okTarget, channelTarget] = [this.ok + rpcs, this.newChannels + channels];
    while ((this.ok < okTarget || this.newChannels < channelTarget) && this.failures.length === 0) await once(this.progress, "rpc");
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** The serial of the certificate a new TLS client is served. */
function servedSerial(target: string): Promise<string> {
  const [host, port] = [target.split(":")[0]!, Number(target.split(":")[1])];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ALPNProtocols: ["h2"], rejectUnauthorized: false, servername: "echo" }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? "";
      socket.destroy();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

const serialOf = (issued: Issued): string => new X509Certificate(issued.cert).serialNumber;

const layouts: Array<[string, (dir: string) => CertificateFiles]> = [
  ["write-then-rename (cert-manager)", renamedFiles],
  ["..data symlink swap (Kubernetes secret volume)", secretVolume],
];

for (const transport of TEST_TRANSPORTS) {
  describe(`transport ${transport}`, () => {
    for (const [layout, filesIn] of layouts) {
      test(`certificate rotated ${ROTATIONS} times under load, ${layout}: 0 failed RPCs, each new handshake gets the new certificate; a mismatched key is refused and the old certificate stays`, async (t) => {
        const logs: string[] = [];
        setLogWriter((record, write) => {
          logs.push(record);
          write(record);
        });
        t.after(() => setLogWriter((record, write) => write(record)));

        const pki = TestPki.create(t);
        const pairs = Array.from({ length: ROTATIONS + 1 }, (_, i) => pki.issue("sluice", { sans: PROXY_SANS }, `listener-${i}`));
        const stranger = pki.issue("sluice", { sans: PROXY_SANS }, "stranger");
        const dir = join(pki.dir, "listener");
        mkdirSync(dir);
        const files = filesIn(dir);
        files.install(pairs[0]!);

        const pods = await startPods(2);
        for (const p of pods) defer(t, () => p.stop());
        const events = new CertificateEvents();
        const yaml = [
          listenerYaml(`  tls:\n    serverCertificate: ${files.chain}\n    privateKey: ${files.key}\n`, transport),
          serviceEntryYaml(
            "echo",
            pods.map((p) => p.port),
          ),
        ].join("\n---\n");
        const running = await startProxy(yaml, { onCertificates: (e) => events.push(e) });
        defer(t, () => running.stop());
        const { proxy, target } = running;
        assert.equal(await servedSerial(target), serialOf(pairs[0]!));

        const credentials = grpc.credentials.createSsl(pki.ca.cert);
        const load = new Load(
          () => new grpc.Client(target, credentials, { "grpc.ssl_target_name_override": "echo", "grpc.use_local_subchannel_pool": 1 }),
          STEADY_CHANNELS,
        );
        defer(t, () => load.stop());
        await load.advance(50, 3);

        for (let i = 1; i <= ROTATIONS; i++) {
          if (i === 2) {
            // The current chain with another certificate's key: refused, the old pair serves on.
            const served = serialOf(pairs[1]!);
            files.install({ cert: pairs[1]!.cert, key: stranger.key });
            const refused = await events.take("after the mismatched key");
            assert.equal(refused.ok, false, "a chain with a key not its own is not taken");
            assert.equal(await servedSerial(target), served, "the old certificate stays");
            await load.advance(50, 3);
          }
          files.install(pairs[i]!);
          const event = await events.take(`after rotation ${i}`);
          assert.ok(event.ok, `rotation ${i}: ${event.ok ? "" : event.error}`);
          assert.equal(await servedSerial(target), serialOf(pairs[i]!), `rotation ${i}: a new handshake gets the new certificate`);
          // RPCs go on, on the old channels and on new ones, before the next rotation.
          await load.advance(50, 3);
        }
        await load.stop();

        assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.ok + load.failures.length} RPCs failed`);
        assert.ok(load.newChannels >= 3 * (ROTATIONS + 2), `only ${load.newChannels} new channels`);
        assert.deepEqual(proxy.certificateReloads, { ok: ROTATIONS, failed: 1 });
        const warnings = logs
          .map((l) => JSON.parse(l) as { level: number; msg: string })
          .filter((r) => r.level === 40 && /certificates not reloaded/.test(r.msg));
        assert.equal(warnings.length, 1, "the refused pair is logged once");
        assert.match(warnings[0]!.msg, /the old ones stay/);
        assert.match(warnings[0]!.msg, /key/i, "the log says it was the key");
      });
    }
  });
}

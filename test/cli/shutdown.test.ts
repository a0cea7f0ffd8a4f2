// `sluice proxy` shutdown, end to end: SIGTERM drains (stop accepting, GOAWAY, RPCs in flight
// finish, bounded by the drain timeout, exit 0), and SIGUSR2 hands the listening socket to a
// second sluice that takes over while the first drains.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { callUnary, type CallResult } from "../../src/demo/echo-client.js";
import type { TransportKind } from "../../src/config/types.js";
import { clientFor } from "../support/calls.js";
import { endWith, tempFile } from "../support/cli.js";
import { deadPort, listenerYaml, md, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { Load, spawnSluice } from "../support/lines.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

function configFile(pods: readonly Pod[], transport: TransportKind, spec = ""): string {
  return tempFile(
    "sluice.yaml",
    [
      listenerYaml(spec, transport),
      serviceEntryYaml(
        "echo",
        pods.map((p) => p.port),
      ),
    ].join("\n---\n"),
  );
}

/** Resolves once the pods have `n` RPCs in flight between them (counted at the backends). */
function inFlightAtPods(pods: readonly Pod[], n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (pods.reduce((sum, p) => sum + p.stats.active, 0) < n) return;
      for (const p of pods) p.stats.events.off("begin", check);
      resolve();
    };
    for (const p of pods) p.stats.events.on("begin", check);
    check();
  });
}

function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("SIGTERM with 50 slow RPCs in flight: new connections refused, all 50 complete OK, exit code 0", async (t) => {
      const pods = await scriptedPods(t, 2);
      const sluice = await spawnSluice(["-c", configFile(pods, transport, "  drainTimeout: 30s\n")]);
      endWith(t, sluice.child, "SIGKILL");
      const cs = Array.from({ length: 5 }, () => clientFor(t, `127.0.0.1:${sluice.port}`, { "grpc.default_authority": "echo" }));
      const exited = once(sluice.child, "exit") as Promise<[number | null, string | null]>;
      const calls: Promise<CallResult>[] = [];
      for (const c of cs) for (let i = 0; i < 10; i++) calls.push(callUnary(c, Buffer.from(`rpc-${calls.length}`), md({ "x-echo-delay-ms": "1500" })));
      await inFlightAtPods(pods, 50);
      sluice.child.kill("SIGTERM");
      await sluice.out.waitFor(/SIGTERM: draining \(RPCs in flight get up to 30s\)/);
      assert.equal(await connectError(sluice.port), "ECONNREFUSED", "still accepting after SIGTERM");
      const results = await Promise.all(calls);
      assert.deepEqual(
        results.filter((r) => r.code !== 0).map((r) => `${r.code} ${r.details}`),
        [],
      );
      assert.deepEqual(await exited, [0, null]);
      assert.match(sluice.out.text, /drained, exiting/);
    });

    test("the drain timeout bounds a drain: RPCs still running after --drain-timeout are cut, and the exit code is 0", async (t) => {
      const pods = await scriptedPods(t, 1);
      const sluice = await spawnSluice(["-c", configFile(pods, transport, "  drainTimeout: 1h\n"), "--drain-timeout", "300ms"]);
      endWith(t, sluice.child, "SIGKILL");
      const client = clientFor(t, `127.0.0.1:${sluice.port}`, { "grpc.default_authority": "echo" });
      const exited = once(sluice.child, "exit") as Promise<[number | null, string | null]>;
      const calls = Array.from({ length: 5 }, () => callUnary(client, Buffer.from("x"), md({ "x-echo-delay-ms": "60000" })));
      await inFlightAtPods(pods, 5);
      const started = performance.now();
      sluice.child.kill("SIGTERM");
      await sluice.out.waitFor(/SIGTERM: draining \(RPCs in flight get up to 300ms\)/);
      assert.deepEqual(await exited, [0, null]);
      const results = await Promise.all(calls);
      assert.ok(performance.now() - started < 10_000, "the drain outlived its timeout");
      // Cut connections: grpc-js reports UNAVAILABLE (or INTERNAL for an RST_STREAM it did not expect).
      const cut = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.INTERNAL]);
      assert.ok(
        results.every((r) => cut.has(r.code)),
        results.map((r) => `${r.code} ${r.details}`).join("; "),
      );
    });

    test("takeover, twice: on SIGUSR2 a new sluice takes over the listening socket while the old one drains; a client keeping 50 RPCs in flight sees 0 failures", async (t) => {
      const pods = await scriptedPods(t, 2);
      const pidFile = join(mkdtempSync(join(tmpdir(), "sluice-test-")), "sluice.pid");
      // A fixed admin port: each successor takes it over once its predecessor has handed over.
      const adminPort = await deadPort();
      const first = await spawnSluice(["-c", configFile(pods, transport), "--pid-file", pidFile, "--admin", `127.0.0.1:${adminPort}`]);
      const firstExited = once(first.child, "exit") as Promise<[number | null, string | null]>;
      // The successor inherits the first one's stdout and stderr: both close when it exits.
      const allClosed = once(first.child, "close");
      let successor: number | undefined;
      defer(t, async () => {
        if (first.child.exitCode === null) first.child.kill("SIGKILL");
        if (successor !== undefined) process.kill(successor, "SIGTERM");
        await allClosed;
      });
      const client = clientFor(t, `127.0.0.1:${first.port}`, { "grpc.default_authority": "echo" });
      const load = new Load([client], 50, () => md({ "x-echo-delay-ms": "30" }));
      defer(t, () => load.stop());
      assert.equal(readFileSync(pidFile, "utf8").trim(), String(first.child.pid));
      await load.completions(300);
      const mark = first.out.mark();
      first.child.kill("SIGUSR2");
      successor = Number((await first.out.waitFor(/handed over to pid (\d+)\n/))[1]);
      assert.notEqual(successor, first.child.pid);
      // The successor listens on the same port: the very socket the first one listened on.
      await first.out.waitFor(new RegExp(`sluice proxy listening on 127\\.0\\.0\\.1:${first.port} `), mark);
      await first.out.waitFor(new RegExp(`sluice proxy admin on http://127\\.0\\.0\\.1:${adminPort}/`), mark);
      assert.deepEqual(await firstExited, [0, null]);
      assert.equal(readFileSync(pidFile, "utf8").trim(), String(successor));
      assert.equal((await fetch(`http://127.0.0.1:${adminPort}/ready`)).status, 200);
      load.phase = 1; // the first sluice is gone: from here on the successor serves everything
      await load.completions(300);
      // The successor hands over in turn (it was started with --listen-fd 3 itself).
      const mark2 = first.out.mark();
      process.kill(successor, "SIGUSR2");
      const third = Number((await first.out.waitFor(/handed over to pid (\d+)\n/, mark2))[1]);
      const second = successor;
      successor = third;
      assert.notEqual(third, second);
      await first.out.waitFor(/drained, exiting\n/, mark2); // the second one's last words
      assert.equal(readFileSync(pidFile, "utf8").trim(), String(third));
      load.phase = 2;
      await load.completions(300);
      await load.stop();
      assert.deepEqual(load.failures(), []);
      assert.ok(load.outcomes.filter((o) => o.phase === 1).length >= 300);
      assert.ok(load.outcomes.filter((o) => o.phase === 2).length >= 300);
    });
  });

test("a takeover whose successor cannot start (its config became invalid) leaves the first sluice serving", async (t) => {
  const pods = await scriptedPods(t, 1);
  const file = configFile(pods, TEST_TRANSPORTS[0]!);
  const first = await spawnSluice(["-c", file]);
  endWith(t, first.child);
  const client = clientFor(t, `127.0.0.1:${first.port}`, { "grpc.default_authority": "echo" });
  // Invalid for the successor; the running sluice rejects the reload and keeps its config.
  writeFileSync(file, readFileSync(file, "utf8").replace("resolution: STATIC", "resolution: STATICALLY"));
  await first.out.waitFor(/config reload \(file change\) rejected/);
  const mark = first.err.mark();
  first.child.kill("SIGUSR2");
  const m = await first.out.waitFor(/takeover failed, still serving: pid \d+ exited before it was ready \(code 1\)\n/);
  assert.ok(m.index >= 0);
  // The successor could not start: it says why on stderr (which it shares with the first one).
  assert.match(first.err.text.slice(mark), /spec\.resolution: must be one of/);
  assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);
  assert.equal(first.child.exitCode, null);
});

test("a second signal while draining (SIGUSR2, SIGTERM, SIGINT) does not kill the process: the RPC in flight finishes, exit 0", async (t) => {
  const pods = await scriptedPods(t, 1);
  const sluice = await spawnSluice(["-c", configFile(pods, "h2", "  drainTimeout: 30s\n")]);
  endWith(t, sluice.child, "SIGKILL");
  const client = clientFor(t, `127.0.0.1:${sluice.port}`, { "grpc.default_authority": "echo" });
  const exited = once(sluice.child, "exit") as Promise<[number | null, string | null]>;
  const call = callUnary(client, Buffer.from("x"), md({ "x-echo-delay-ms": "1000" }));
  await inFlightAtPods(pods, 1);
  sluice.child.kill("SIGTERM");
  await sluice.out.waitFor(/draining/);
  for (const signal of ["SIGUSR2", "SIGTERM", "SIGINT"] as const) sluice.child.kill(signal);
  const r = await call;
  assert.equal(r.code, grpc.status.OK, r.details);
  assert.deepEqual(await exited, [0, null]);
});

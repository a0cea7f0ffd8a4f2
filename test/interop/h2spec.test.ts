// h2spec, the HTTP/2 conformance suite, against `sluice proxy` in front of a grpc-js pod:
// sluice's own transport passes every default case and every strict one; the node:http2
// transport passes at least what a bare node:http2 server passes in the same run (its
// failures are node's). h2spec sends GET requests, which the proxy answers itself (415), so
// the cases test the transport's handling of every frame around a finished stream too.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { listenerYaml, serviceEntryYaml, startPods, startProxy } from "../support/cluster.js";
import { defer, type Owner } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { h2specBinary } from "./support/tools.js";

interface H2specResult {
  readonly tests: number;
  readonly passed: number;
  readonly failed: number;
  readonly output: string;
}

/** Runs h2spec (async: the proxy under test runs in this process) and reads its summary line. */
function h2spec(port: number, strict: boolean): Promise<H2specResult> {
  const args = ["-h", "127.0.0.1", "-p", String(port), ...(strict ? ["--strict"] : [])];
  return new Promise((resolve, reject) => {
    // h2spec exits 1 when a case fails: its summary says which.
    execFile(h2specBinary(), args, { timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout) => {
      const m = /(\d+) tests, (\d+) passed, \d+ skipped, (\d+) failed/.exec(stdout);
      if (m === null) return reject(new Error(`h2spec printed no summary (${err?.message ?? "no error"}):\n${stdout}`));
      resolve({ tests: Number(m[1]), passed: Number(m[2]), failed: Number(m[3]), output: stdout });
    });
  });
}

/** The failures section of h2spec's output, for the assertion message. */
function failures(r: H2specResult): string {
  const at = r.output.indexOf("Failures:");
  return at < 0 ? r.output.slice(-2000) : r.output.slice(at);
}

async function proxyPort(owner: Owner, transport: string): Promise<number> {
  const [pod] = await startPods(1);
  defer(owner, () => pod!.stop());
  const proxy = await startProxy(`${listenerYaml(`  transport: ${transport}\n`)}---\n${serviceEntryYaml("echo", [pod!.port])}`);
  defer(owner, () => proxy.stop());
  return Number(proxy.target.split(":")[1]);
}

/** A bare node:http2 server answering every request: what node:http2 itself passes. */
async function nodeHttp2Port(owner: Owner): Promise<number> {
  const server = http2.createServer((_req, res) => res.end("ok"));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("sessionError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(owner, async () => {
    // Sessions h2spec left half-done would hold close() open.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sessions) s.destroy();
    await closed;
  });
  return (server.address() as AddressInfo).port;
}

describe("h2spec (HTTP/2 conformance)", { timeout: 600_000 }, () => {
  if (TEST_TRANSPORTS.includes("h2")) {
    test("sluice's transport passes all 146 default cases, and the strict ones", async (t) => {
      const port = await proxyPort(t, "h2");
      const plain = await h2spec(port, false);
      assert.deepEqual([plain.tests, plain.failed], [146, 0], failures(plain));
      const strict = await h2spec(port, true);
      assert.ok(strict.tests > 146, `strict mode adds cases: ${strict.tests}`);
      assert.equal(strict.failed, 0, failures(strict));
    });
  }

  if (TEST_TRANSPORTS.includes("node")) {
    test("the node:http2 transport passes at least what node:http2's own server passes", async (t) => {
      const [oracle, proxied] = await Promise.all([nodeHttp2Port(t).then((p) => h2spec(p, false)), proxyPort(t, "node").then((p) => h2spec(p, false))]);
      t.diagnostic(`node:http2 server ${oracle.passed}/${oracle.tests}, sluice --transport node ${proxied.passed}/${proxied.tests}`);
      assert.equal(proxied.tests, 146);
      assert.ok(proxied.passed >= oracle.passed, failures(proxied));
    });
  }
});

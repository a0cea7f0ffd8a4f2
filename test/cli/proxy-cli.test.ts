// `sluice proxy` as operators run it: a separate process, flags over the config, graceful
// shutdown, and end-to-end flow control that keeps its memory bounded.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { callServerStream, callUnary } from "../../src/demo/echo-client.js";
import { clientFor } from "../support/calls.js";
import { CLI, currentRss, endWith, peakRss, runCli, spawnProxy, tempFile } from "../support/cli.js";
import { md, serviceEntryYaml } from "../support/cluster.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

test("sluice --help lists the commands; each command has --help", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  for (const cmd of ["proxy", "validate", "demo"]) assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
  const p = await runCli(["proxy", "--help"]);
  for (const flag of ["--config", "--listen", "--admin", "--mode", "--default-host"]) assert.ok(p.stdout.includes(flag), flag);
});

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("sluice proxy: flags override the Proxy resource; SIGTERM drains and exits 0", async (t) => {
      const pods = await scriptedPods(t, 1);
      const file = tempFile(
        "cfg.yaml",
        `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: { name: p }\nspec:\n  listen: 127.0.0.1:1\n---\n${serviceEntryYaml("a", [pods[0]!.port])}\n---\n${serviceEntryYaml("b", [pods[0]!.port])}`,
      );
      const { child, port } = await spawnProxy(["-c", file, "--listen", "127.0.0.1:0", "--default-host", "b", "--transport", transport]);
      endWith(t, child);
      const client = clientFor(t, `127.0.0.1:${port}`, { "grpc.default_authority": "unknown-host" });
      const r = await callUnary(client, Buffer.from("x"));
      assert.equal(r.code, 0, r.details); // routed to the --default-host
      client.close();
      child.kill("SIGTERM");
      const [code] = (await once(child, "close")) as [number];
      assert.equal(code, 0);
    });

    test("sluice proxy with an invalid config exits 1 and names the problem", async () => {
      const file = tempFile("bad.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: x }\nspec:\n  host: nowhere\n");
      const r = await runCli(["proxy", "-c", file, "--transport", transport]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bad\.yaml:\d+ spec\.host/);
    });

    test("a 200 MB server stream to a slow reader keeps the proxy's memory bounded (< 64 MB growth)", async (t) => {
      const pods = await scriptedPods(t, 1);
      const file = tempFile("cfg.yaml", serviceEntryYaml("echo", [pods[0]!.port]));
      const { child, port } = await spawnProxy(["-c", file, "--listen", "127.0.0.1:0", "--transport", transport]);
      endWith(t, child);
      const client = clientFor(t, `127.0.0.1:${port}`, { "grpc.max_receive_message_length": 2 * 1024 * 1024 });
      const read = (p: string): string => readFileSync(p, "utf8");
      // Warm up so the baseline includes the proxy's steady-state heap.
      assert.equal((await callUnary(client, Buffer.alloc(1000))).code, 0);
      const baseline = currentRss(child.pid!, read);
      let bytes = 0;
      let messages = 0;
      const r = await callServerStream(client, Buffer.from("x"), md({ "x-echo-count": "200", "x-echo-size": String(1024 * 1024) }), {}, (m, call) => {
        bytes += m.length;
        // A slow reader: stop reading for a moment every few messages.
        if (++messages % 4 === 0) {
          call.pause();
          setTimeout(() => call.resume(), 15);
        }
      });
      assert.equal(r.code, 0, r.details);
      assert.equal(bytes, 200 * 1024 * 1024);
      // VmHWM: the highest the proxy's RSS ever was, sampled by the kernel, not by us.
      const growth = peakRss(child.pid!, read) - baseline;
      assert.ok(growth < 64 * 1024 * 1024, `proxy RSS grew by ${(growth / 1048576).toFixed(1)} MB`);
    });
  });

const h2Skipped = !TEST_TRANSPORTS.includes("h2") && "SLUICE_TEST_TRANSPORTS leaves h2 out";

test("sluice proxy --transport h2 names it in the listening line and serves RPCs; --transport quic is refused", { skip: h2Skipped }, async (t) => {
  const pods = await scriptedPods(t, 1);
  const file = tempFile("cfg.yaml", serviceEntryYaml("echo", [pods[0]!.port]));
  const child = spawn(process.execPath, [CLI, "proxy", "-c", file, "--listen", "127.0.0.1:0", "--transport", "h2", "--admin", "none"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  endWith(t, child);
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /^(sluice proxy listening on .*)\n/m.exec(out); // a whole line: chunks may split it
      if (m) resolve(m[1]!);
    });
    child.once("close", (code) => reject(new Error(`proxy exited with ${code}: ${stderr}`)));
  });
  assert.match(line, /\(mode request, transport h2\)$/);
  const port = Number(/listening on [^\s]+:(\d+)/.exec(line)?.[1]);
  const client = clientFor(t, `127.0.0.1:${port}`);
  const r = await callUnary(client, Buffer.from("over h2"));
  assert.equal(r.code, 0, r.details);
  assert.ok(r.response?.equals(Buffer.from("over h2")));
  assert.deepEqual(r.headers?.get("x-pod"), ["pod-1"]);

  const bad = await runCli(["proxy", "-c", file, "--listen", "127.0.0.1:0", "--transport", "quic"]);
  assert.notEqual(bad.code, 0);
  assert.equal(bad.stderr, 'sluice proxy: --transport: must be one of h2, node, got "quic"\n');
  assert.equal(bad.stdout, "", "nothing listened");
});

// `sluice proxy` with the admin server and the access log, as operators run it: a separate
// process whose admin URL is printed, metrics that count the RPCs, JSON lines on stdout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { callUnary } from "../../src/demo/echo-client.js";
import { CLI, endWith, tempFile } from "../support/cli.js";
import { serviceEntryYaml } from "../support/cluster.js";
import { clientFor } from "../support/calls.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { parsePrometheus, sampleValue } from "../support/admin.js";

test("sluice proxy --admin: prints the admin URL, serves /metrics and /ready; spec.accessLog writes a JSON line per RPC on stdout", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const file = tempFile(
    "cfg.yaml",
    `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: { name: p }\nspec:\n  accessLog: true\n---\n${serviceEntryYaml("echo", [pod!.port])}`,
  );
  const child = spawn(process.execPath, [CLI, "proxy", "-c", file, "--listen", "127.0.0.1:0", "--admin", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(t, child);
  let out = "";
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const closed = once(child, "close") as Promise<[number]>;
  const lines = (): string[] => out.split("\n");
  // One listener for the whole run: output between two waits is kept, not dropped.
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
    child.emit("out");
  });
  const waitOut = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(out);
      if (m !== null) return m;
      await Promise.race([once(child, "out"), closed.then(([code]) => Promise.reject(new Error(`proxy exited with ${code}: ${err}`)))]);
    }
  };
  const [, port] = await waitOut(/listening on 127\.0\.0\.1:(\d+)/);
  const [, admin] = await waitOut(/sluice proxy admin on (http:\/\/127\.0\.0\.1:\d+\/)\n/);
  assert.equal((await fetch(`${admin}ready`)).status, 200);
  const client = clientFor(t, `127.0.0.1:${port}`, { "grpc.default_authority": "echo" });
  assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);
  client.close();
  const { samples } = parsePrometheus(await (await fetch(`${admin}metrics`)).text());
  assert.equal(sampleValue(samples, "istio_requests_total", { destination_service: "echo", grpc_response_status: "0" }), 1);
  await waitOut(/"upstream_host"/);
  const log = lines().filter((l) => l.startsWith("{"));
  assert.equal(log.length, 1);
  const entry = JSON.parse(log[0]!) as Record<string, unknown>;
  assert.deepEqual([entry["authority"], entry["grpc_status"], entry["upstream_host"]], ["echo", 0, `127.0.0.1:${pod!.port}`]);
  child.kill("SIGTERM");
  const [code] = await closed;
  assert.equal(code, 0);
});

test("sluice proxy with no admin address: the admin server on 127.0.0.1:15000, or a warning when that port is taken", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const file = tempFile("cfg.yaml", serviceEntryYaml("echo", [pod!.port]));
  const child = spawn(process.execPath, [CLI, "proxy", "-c", file, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(t, child);
  let out = "";
  let err = "";
  const closed = once(child, "close") as Promise<[number]>;
  const seen = new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (
        /sluice proxy admin on http:\/\/127\.0\.0\.1:15000\/\n/.test(out) ||
        (/listening on/.test(out) && /default address 127\.0\.0\.1:15000 is not usable/.test(out))
      )
        resolve();
    };
    child.stdout.on("data", (c: Buffer) => ((out += c.toString()), check()));
    child.stderr.on("data", (c: Buffer) => ((err += c.toString()), check()));
    void closed.then(([code]) => reject(new Error(`proxy exited with ${code}: ${err}`)));
  });
  await seen;
  // Either way the proxy serves; when it owns the port, its admin server answers there.
  if (/admin on/.test(out)) {
    assert.doesNotMatch(out, /in use/);
    assert.equal((await fetch("http://127.0.0.1:15000/healthz")).status, 200);
  }
  const [, port] = /listening on 127\.0\.0\.1:(\d+)/.exec(out) ?? [];
  const client = clientFor(t, `127.0.0.1:${port}`, { "grpc.default_authority": "echo" });
  assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);
  client.close();
  child.kill("SIGTERM");
  const [code] = await closed;
  assert.equal(code, 0);
});

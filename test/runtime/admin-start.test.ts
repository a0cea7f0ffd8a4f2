// Starting `sluice proxy`'s admin server when its port is taken: the default address is only
// a warning (a second sluice on the machine still serves), a configured one is an error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { once } from "node:events";
import { Observability } from "../../src/admin/observability.js";
import { startAdminServer } from "../../src/runtime/admin-start.js";
import { Proxy } from "../../src/proxy/proxy.js";
import { listenerYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { defer, type Owner } from "../support/teardown.js";

/** A loopback port held by a listening server until close() or until `owner` ends. */
async function holdPort(owner: Owner): Promise<{ port: number; close(): void }> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  defer(owner, () => server.close());
  return { port: address.port, close: () => server.close() };
}

/** A proxy (not started) whose admin address is 127.0.0.1:`port`, and its Observability, stopped when `owner` ends. */
function observed(owner: Owner, port: number): { observability: Observability; proxy: Proxy } {
  const proxy = new Proxy(parseConfig(serviceEntryYaml("grpc-service", [1]) + "---\n" + listenerYaml(`  admin: 127.0.0.1:${port}\n`)));
  const observability = new Observability();
  observability.attach(proxy);
  defer(owner, () => observability.stop());
  return { observability, proxy };
}

test("admin port taken: the default address warns and runs without it; a configured one fails; a free one starts", async (t) => {
  const held = await holdPort(t);
  const lines: string[] = [];
  const io = { out: (l: string) => lines.push(`out: ${l}`), err: (l: string) => lines.push(`err: ${l}`) };
  const { observability, proxy } = observed(t, held.port);
  const where = proxy.config.listener.admin;
  assert.ok(where !== null);

  const asDefault = await startAdminServer(observability, { ...where, configured: false }, false, io);
  assert.ok(asDefault.ok);
  assert.equal(asDefault.address, undefined);
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    new RegExp(
      `^out: warning: the admin server's default address 127\\.0\\.0\\.1:${held.port} is not usable \\(in use, by another sluice\\?\\); running without it`,
    ),
  );

  lines.length = 0;
  const configured = await startAdminServer(observability, where, false, io);
  assert.equal(configured.ok, false);
  assert.match(lines[0]!, /^err: sluice proxy: cannot start the admin server: .*EADDRINUSE/);

  held.close();
  const free = await startAdminServer(observability, where, false, io);
  assert.ok(free.ok);
  assert.equal(free.address?.port, held.port);
  assert.equal((await fetch(`http://127.0.0.1:${held.port}/healthz`)).status, 200);
});

test("admin port taken during a takeover: the successor waits for it and starts once it is free", async (t) => {
  const held = await holdPort(t);
  const lines: string[] = [];
  let announced!: () => void;
  const started = new Promise<void>((resolve) => (announced = resolve));
  const io = { out: (l: string) => (lines.push(l), announced()), err: (l: string) => lines.push(l) };
  const { observability, proxy } = observed(t, held.port);
  const r = await startAdminServer(observability, proxy.config.listener.admin, true, io);
  assert.ok(r.ok);
  assert.equal(r.address, undefined);
  assert.deepEqual(lines, []);
  held.close(); // the predecessor lets go
  await started;
  assert.deepEqual(lines, [`sluice proxy admin on http://127.0.0.1:${held.port}/`]);
  assert.equal((await fetch(`http://127.0.0.1:${held.port}/healthz`)).status, 200);
});

test("admin port still taken after a takeover's wait: the successor stops retrying and serves without it, saying so", async (t) => {
  const held = await holdPort(t);
  const lines: string[] = [];
  let said!: () => void;
  const gaveUp = new Promise<void>((resolve) => (said = resolve));
  const io = { out: (l: string) => (lines.push(l), said()), err: (l: string) => lines.push(l) };
  const { observability, proxy } = observed(t, held.port);
  const r = await startAdminServer(observability, proxy.config.listener.admin, true, io, 5, 50);
  assert.ok(r.ok);
  await gaveUp;
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^sluice proxy: cannot start the admin server: still in use 0\.05 s after the takeover; serving without it$/);
});

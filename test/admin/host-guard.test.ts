// The admin server's DNS-rebinding guard: a request is answered only when its Host names the
// server (its address, a loopback name when it listens on loopback; any address or this
// machine's name when it listens on every address). A page that rebinds its own name to
// 127.0.0.1 sends that name and gets 403, and nothing of the config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { hostname } from "node:os";
import { hostAllowed, hostOf } from "../../src/admin/host-guard.js";
import { listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { startAdminProxy } from "../support/admin.js";
import { defer } from "../support/teardown.js";

test("which Host headers are let in, by the address the admin server listens on", () => {
  const rows: readonly [host: string | undefined, bound: string, allowed: boolean][] = [
    ["127.0.0.1:15000", "127.0.0.1", true],
    ["localhost:15000", "127.0.0.1", true],
    ["LOCALHOST", "127.0.0.1", true],
    ["app.localhost:15000", "127.0.0.1", true],
    ["[::1]:15000", "127.0.0.1", true],
    ["127.0.0.2:15000", "127.0.0.1", true],
    ["evil.example:15000", "127.0.0.1", false],
    ["127.0.0.1.evil.example", "127.0.0.1", false],
    ["10.0.0.5:15000", "127.0.0.1", false],
    ["10.0.0.5:15000", "10.0.0.5", true],
    ["localhost:15000", "10.0.0.5", false],
    ["evil.example", "10.0.0.5", false],
    ["10.0.0.5:15000", "0.0.0.0", true],
    ["[fd00::5]:15000", "::", true],
    ["localhost", "0.0.0.0", true],
    [`${hostname()}:15000`, "0.0.0.0", true],
    ["evil.example:15000", "0.0.0.0", false],
    [undefined, "127.0.0.1", true],
  ];
  for (const [host, bound, allowed] of rows) assert.equal(hostAllowed(host, bound), allowed, `Host ${host} on ${bound}`);
  assert.deepEqual(["[::1]:80", "Example.COM:8080", "example.com"].map(hostOf), ["::1", "example.com", "example.com"]);
});

/** GET `path` from 127.0.0.1:`port` with the Host header given (fetch would not let a page set it; a rebinding page needs not). */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a live admin server: /config_dump for its own address, 403 for a rebound name", async (t) => {
  const p = await startAdminProxy(`${listenerYaml("  admin: 127.0.0.1:0\n")}---\n${serviceEntryYaml("echo", [1])}`);
  defer(t, () => p.stop());
  const port = Number(new URL(p.admin).port);
  const own = await getWithHost(port, "/config_dump", `127.0.0.1:${port}`);
  assert.equal(own.status, 200);
  assert.match(own.body, /"echo/);
  const rebound = await getWithHost(port, "/config_dump", `attacker.example:${port}`);
  assert.equal(rebound.status, 403);
  assert.doesNotMatch(rebound.body, /echo/);
});

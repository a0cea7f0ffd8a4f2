// The built CLI refuses bad TLS files before anything starts: `sluice validate` and `sluice
// proxy` print the same problem at the file:line of the field (or the flag), exit 1. The
// checks themselves are covered in test/config/tls-files.test.ts; this is the end to end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TestPki } from "../support/certs.js";
import { runCli, tempDir } from "../support/cli.js";
import { repoPath } from "../support/paths.js";

const SEED = repoPath("examples/seed.yaml");

const config = (ca: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  ports: [{number: 50051, name: grpc}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy:
    tls:
      mode: SIMPLE
      caCertificates: ${ca}
`;

test("validate and proxy refuse a CA file that is not a CA, at its line; a good one validates", async (t) => {
  const pki = TestPki.create(t, "cli CA", 365);
  const leaf = pki.issue("leaf", { days: 365 });
  const dir = tempDir(t, "sluice-tls-cli-");
  copyFileSync(leaf.certPath, join(dir, "leaf.pem"));
  copyFileSync(pki.ca.certPath, join(dir, "ca.pem"));
  const file = join(dir, "api.yaml");
  writeFileSync(file, config("leaf.pem"));
  const problem = `${file}:18 spec.trafficPolicy.tls.caCertificates: ${join(dir, "leaf.pem")}: certificate 1 ("CN=leaf") is not a CA certificate`;
  for (const args of [
    ["validate", file],
    ["proxy", "-c", file, "--listen", "127.0.0.1:0", "--admin", "none"],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.ok(r.stderr.includes(problem), `${args[0]}:\n${r.stderr}`);
  }
  writeFileSync(file, config("ca.pem"));
  const ok = await runCli(["validate", file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: 2 resources .*, 0 warnings$/m);
});

test("proxy refuses a --tls-cert it cannot read, naming the flag", async () => {
  const r = await runCli([
    "proxy",
    "-c",
    SEED,
    "--listen",
    "127.0.0.1:0",
    "--admin",
    "none",
    "--tls-cert",
    "/nonexistent/tls.crt",
    "--tls-key",
    "/nonexistent/tls.key",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^\(command line\) --tls-cert: cannot read \/nonexistent\/tls\.crt: no such file$/m);
  assert.match(r.stderr, /^\(command line\) --tls-key: cannot read \/nonexistent\/tls\.key: no such file$/m);
});

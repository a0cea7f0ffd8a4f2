// `sluice analyze` end to end: the built CLI, its exit codes (0 clean, 1 warnings, 2 errors),
// text blocks, --format json, and client options files good and bad.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runCli, tempFile } from "../support/cli.js";
import { repoPath } from "../support/paths.js";

const SEED = repoPath("examples/seed.yaml");
/** The one example about the deprecated alias. */
const ALIAS = repoPath("examples/least-conn-alias.yaml");
/** The seed (LEAST_REQUEST): nothing to report. */
const CLEAN = SEED;
/** The seed in connection mode without maxRequestsPerConnection. */
const STICKY = tempFile(
  "sticky.yaml",
  readFileSync(SEED, "utf8")
    .replace(/ *maxRequestsPerConnection: 100.*\n/, "")
    .replace("listen: 127.0.0.1:15001", "listen: 127.0.0.1:15001\n  mode: connection"),
);

interface JsonReport {
  findings: { rule: string; severity: string; file: string; line: number; path: string; clusters: string[]; reason: string; fix: string | null }[];
  notes: string[];
  summary: { errors: number; warnings: number; files: string[]; exitCode: number };
}

test("a clean config: exit 0, 'ok', and the rules that need more input say so", async () => {
  const r = await runCli(["analyze", CLEAN]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: no findings in 1 file$/m);
  assert.match(r.stdout, /^info: max-requests-below-concurrency: not checked/m);
  assert.match(r.stdout, /^info: keepalive-too-frequent: not checked/m);
  assert.equal(r.stderr, "");
});

test("LEAST_CONN: exit 1 with one block (rule, file:line path, reason, fix)", async () => {
  const r = await runCli(["analyze", ALIAS]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^warning\\[least-conn-deprecated\\] ${ALIAS.replace(/[.]/g, "\\.")}:15 spec\\.trafficPolicy\\.loadBalancer\\.simple\\n  reason: LEAST_CONN is a deprecated alias.*\\n  fix: .*\\n {6}simple: LEAST_REQUEST$`,
      "m",
    ),
  );
  assert.match(r.stdout, /^1 warning, 0 errors in 1 file$/m);
});

test("--format json: one document with findings (rule, where, reason, fix) and a summary", async () => {
  const r = await runCli(["analyze", STICKY, "--format", "json", "--concurrency", "grpc-service=2000", "--rps", "50"]);
  assert.equal(r.code, 1, r.stderr);
  const doc = JSON.parse(r.stdout) as JsonReport;
  assert.deepEqual(doc.findings.map((f) => f.rule).sort(), ["connection-mode-no-cycling", "max-requests-below-concurrency"]);
  const sticky = doc.findings.find((f) => f.rule === "connection-mode-no-cycling");
  assert.equal(sticky?.severity, "warning");
  assert.equal(sticky?.file, STICKY);
  assert.equal(sticky?.path, "spec.trafficPolicy.connectionPool.http");
  assert.deepEqual(sticky?.clusters, ["grpc-service|50051|"]);
  assert.match(sticky?.fix ?? "", /maxRequestsPerConnection: 100/);
  const cb = doc.findings.find((f) => f.rule === "max-requests-below-concurrency");
  assert.match(cb?.reason ?? "", /http2MaxRequests 1000 is below the expected 2000/);
  assert.deepEqual(doc.summary, { errors: 0, warnings: 2, files: [STICKY], exitCode: 1 });
  assert.ok(doc.notes.some((n) => n.startsWith("keepalive-too-frequent")));
});

test("--client-options with a 30 s client keepalive: keepalive-too-frequent with the option's line", async () => {
  const client = tempFile("client.json", '{\n  "grpc.keepalive_time_ms": 30000,\n  "grpc.keepalive_timeout_ms": 10000\n}\n');
  const r = await runCli(["analyze", CLEAN, "--client-options", client]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, new RegExp(`^warning\\[keepalive-too-frequent\\] ${client.replace(/[.]/g, "\\.")}:2 grpc\\.keepalive_time_ms$`, "m"));
  assert.match(r.stdout, /too_many_pings/);
  assert.match(r.stdout, /fix: in .*"grpc\.keepalive_time_ms": 330000/);

  const good = tempFile("client.json", '{"grpc.keepalive_time_ms": 330000}');
  assert.equal((await runCli(["analyze", CLEAN, "--client-options", good])).code, 0);
});

test("errors exit 2: a broken config (printed as validate does), malformed client JSON, a missing file, a bad flag value", async () => {
  const broken = tempFile("broken.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec:\n  host: nowhere\n");
  const cfg = await runCli(["analyze", broken]);
  assert.equal(cfg.code, 2);
  assert.match(cfg.stderr, new RegExp(`^${broken.replace(/[.]/g, "\\.")}:5 spec\\.host: host "nowhere" is not defined`, "m"));
  assert.equal(cfg.stdout, "");
  const cfgJson = await runCli(["analyze", broken, "--format", "json"]);
  assert.equal(cfgJson.code, 2);
  const doc = JSON.parse(cfgJson.stdout) as JsonReport;
  assert.equal(doc.findings[0]?.rule, "config-error");
  assert.equal(doc.summary.exitCode, 2);

  const gone = await runCli(["analyze", "/nonexistent/grpc.yaml", CLEAN]);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /^\/nonexistent\/grpc\.yaml: cannot read file: no such file$/m);

  const badJson = tempFile("client.json", '{"grpc.keepalive_time_ms": 30000,,}');
  const bj = await runCli(["analyze", CLEAN, "--client-options", badJson]);
  assert.equal(bj.code, 2);
  assert.match(bj.stderr, new RegExp(`^${badJson.replace(/[.]/g, "\\.")}:1: not valid JSON: `, "m"));
  assert.doesNotMatch(bj.stderr, /at .*\.js:\d+/, "no stack trace");

  const missing = await runCli(["analyze", CLEAN, "--client-options", "/nonexistent/client.json"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the client options: no such file/);

  const flag = await runCli(["analyze", CLEAN, "--concurrency", "lots"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--concurrency: must be a whole number > 0, or HOST=NUMBER, got "lots"/);

  const usage = await runCli(["analyze", CLEAN, "--format", "xml"]);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr, 'sluice analyze: --format: must be one of text, json, got "xml"\n');
});

test("maxRequestsPerConnection: 1 in connection mode: the reason carries the cost the simulator measured", async () => {
  const file = tempFile(
    "reuse.yaml",
    readFileSync(SEED, "utf8")
      .replace("maxRequestsPerConnection: 100", "maxRequestsPerConnection: 1")
      .replace("listen: 127.0.0.1:15001", "listen: 127.0.0.1:15001\n  mode: connection"),
  );
  const r = await runCli(["analyze", file, "--format", "json"]);
  assert.equal(r.code, 1, r.stderr);
  const { findings } = JSON.parse(r.stdout) as { findings: { rule: string; reason: string }[] };
  const reuse = findings.find((f) => f.rule === "reuse-disabled");
  assert.ok(reuse !== undefined, r.stdout);
  assert.match(
    reuse.reason,
    /measured: simulated \(sluice sim's own test traffic, not yours: 3,000 RPC\/s from 3 clients on 3 pods, 1 ms per connection handshake\): [\d,]+ new connections per second and p50\/p99 [\d.]+\/[\d.]+ ms, against \d+ per second/,
  );
});

// --concurrency takes whole numbers only.
for (const v of ["0x10", "1e3", "0.5"]) {
  test(`--concurrency ${v} is refused: whole numbers only`, async () => {
    const r = await runCli(["analyze", SEED, "--concurrency", v]);
    assert.equal(r.code, 2, v);
    assert.match(r.stderr, /--concurrency: must be a whole number > 0/);
  });
}

test("--concurrency HOST= naming no service in the config is an error (exit 2), not a check silently skipped", async () => {
  const r = await runCli(["analyze", SEED, "--concurrency", "grpc-servce=1000"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--concurrency: no service grpc-servce in the config \(there are: grpc-service\)/);
});

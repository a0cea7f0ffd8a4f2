// sluice as an npm package: packed as `npm pack` packs it (its prepack build runs), the
// tarball holds the compiled src/ and the examples and nothing else, and installed into an
// empty project it gives a working `sluice` (npx, and a global install's PATH) and a
// `sluice/client` that a grpc-js program imports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "../support/cli.js";
import { repoPath } from "../support/paths.js";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const version = (JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as { version: string }).version;
/** npm's own output stays quiet; the registry is asked only for what the cache lacks (CI's npm ci filled it). */
const quiet = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];

/** What the package is built from, copied away from the checkout so that packing rebuilds nothing the other tests are running. */
function sourceCopy(dir: string): string {
  const src = join(dir, "source");
  for (const entry of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md", "src", "examples"]) {
    cpSync(repoPath(entry), join(src, entry), { recursive: true });
  }
  symlinkSync(repoPath("node_modules"), join(src, "node_modules"), "dir");
  return src;
}

/** A grpc-js program of the user's: sluice's policies exist only after register(), and peak_ewma then balances real calls. */
const CLIENT_PROGRAM = `
import * as grpc from "@grpc/grpc-js";
import { register } from "sluice/client";

const say = { path: "/try.Echo/Say", requestStream: false, responseStream: false,
  requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b };
const before = grpc.experimental.isLoadBalancerNameRegistered("peak_ewma");
register();
const after = grpc.experimental.isLoadBalancerNameRegistered("peak_ewma");
const servers = [];
const ports = [];
for (let i = 0; i < 2; i++) {
  const server = new grpc.Server();
  server.addService({ Say: say }, { Say: (call, cb) => cb(null, Buffer.from("pod-" + i)) });
  ports.push(await new Promise((ok, fail) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p)))));
  servers.push(server);
}
const Client = grpc.makeGenericClientConstructor({ Say: say }, "Echo");
const client = new Client("ipv4:" + ports.map((p) => "127.0.0.1:" + p).join(","), grpc.credentials.createInsecure(), {
  "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ peak_ewma: {} }] }),
});
const answers = new Set();
for (let i = 0; i < 20; i++) {
  answers.add(String(await new Promise((ok, fail) => client.Say(Buffer.from("hi"), (e, r) => (e ? fail(e) : ok(r))))));
}
client.close();
for (const s of servers) s.forceShutdown();
console.log(JSON.stringify({ before, after, answered: answers.size > 0 }));
`;

test("npm pack, then install: sluice --version, sluice validate and sluice/client work from the tarball", { timeout: 600_000 }, async (t) => {
  const dir = tempDir(t, "sluice-package-");
  const source = sourceCopy(dir);

  // The prepack script builds src/ afresh: nothing stale, nothing of the tests.
  const packed = await run(npm, ["pack", "--json", "--pack-destination", dir, ...quiet], { cwd: source, maxBuffer: 64 << 20 });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  assert.ok(files.includes("dist/src/cli/main.js"), "the CLI");
  assert.ok(files.includes("dist/src/client/index.js") && files.includes("dist/src/client/index.d.ts"), "sluice/client and its types");
  assert.ok(files.includes("examples/seed.yaml"), "the demo's config");
  const stray = files.filter((f) => !/^(dist\/src\/.*\.(js|d\.ts)|examples\/.*|package\.json|README\.md)$/.test(f));
  assert.deepEqual(stray, [], "only compiled src/, the examples, package.json and README.md");
  const tarball = join(dir, info!.filename);

  // An empty project of the user's, depending on the tarball.
  const project = join(dir, "project");
  cpSync(repoPath("test/package/empty-project.json"), join(project, "package.json"));
  await run(npm, ["install", tarball, ...quiet], { cwd: project, maxBuffer: 64 << 20 });

  const npxVersion = await run(npm, ["exec", "--no", "--", "sluice", "--version"], { cwd: project });
  assert.equal(npxVersion.stdout.trim(), version);
  const validated = await run(npm, ["exec", "--no", "--", "sluice", "validate", "node_modules/sluice/examples/seed.yaml"], { cwd: project });
  assert.match(validated.stdout, /^ok: \d+ resources/);

  writeFileSync(join(project, "client.mjs"), CLIENT_PROGRAM);
  const client = await run(process.execPath, ["client.mjs"], { cwd: project });
  assert.deepEqual(JSON.parse(client.stdout), { before: false, after: true, answered: true });

  // A global install puts `sluice` on PATH (here, the prefix's bin/).
  const prefix = join(dir, "global");
  await run(npm, ["install", "--global", "--prefix", prefix, tarball, ...quiet], { maxBuffer: 64 << 20 });
  const globalVersion = await run(join(prefix, "bin", "sluice"), ["--version"]);
  assert.equal(globalVersion.stdout.trim(), version);
});

// What README.md, docs/*.md and examples/README.md show runs as written: every sluice config
// they show validates (or fails as shown, where marked invalid), every command line runs with
// the exit code it documents, the walkthroughs work end to end, every examples/*.yaml
// validates, links resolve, and the lists that mirror the code (tracers, admin paths, CI
// packages) are complete.
//
// The docs steer the test with HTML comments right above a fenced block:
//   <!-- not-run: why -->              the block is not run (a reason is required)
//   <!-- invalid-example: FILE -->     a config that must fail; a ```text block right after it
//                                      holds `sluice validate FILE`'s output, which must match
//   <!-- validate-with: FILE ... -->   a config fragment, validated together with these files
//   <!-- expect-warnings -->           validation may warn (otherwise a warning fails the test)
//   <!-- same-as: FILE -->             the block is FILE (less its leading # comment lines)
//   <!-- flow: NAME -->                commands (and a js snippet) that FLOWS below run in order
//
// Tests run side by side on one machine, so where a documented command takes a fixed port
// the test gives it a free one instead, and says so at that place: `sluice proxy` gets
// `--listen 127.0.0.1:0 --admin 127.0.0.1:0`, `sluice control-plane` gets `--listen
// 127.0.0.1:0`, `sluice sim --out DIR` a temporary DIR, and the walkthroughs' stand-in
// backends (examples/backends.mjs) listen on free ports that replace 16001-16003 in a copy
// of the config. Nothing else is changed.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { validateBootstrapConfig } from "@grpc/grpc-js-xds/build/src/xds-bootstrap.js";
import { ADMIN_PATHS } from "../../src/admin/admin-server.js";
import { formatProblem } from "../../src/config/diagnostics.js";
import { loadConfigSources, type ConfigSource } from "../../src/config/load.js";
import { parseScenario } from "../../src/sim/scenario-file.js";
import { CLI, tempDir } from "../support/cli.js";
import { Output } from "../support/lines.js";
import { fencedBlocks, headingAnchors, marker, relativeLinks, type FencedBlock } from "../support/markdown.js";
import { repoPath, repoRoot } from "../support/paths.js";
import { defer } from "../support/teardown.js";

const DOCS = ["README.md", ...readdirSync(repoPath("docs")).map((f) => `docs/${f}`), "examples/README.md"].filter((f) => f.endsWith(".md"));
const BLOCKS = DOCS.flatMap((f) => fencedBlocks(f, readFileSync(repoPath(f), "utf8")));
const SHELL = new Set(["sh", "shell", "bash", "console"]);
/** Linked from the README, written by the lead in the same issue: drop this once it exists. */
const PENDING_LINKS = new Set<string>();
/** The stand-in backends' ports in the examples, which the walkthroughs move to free ones. */
const EXAMPLE_PORTS = [16001, 16002, 16003];

const where = (b: FencedBlock): string => `${b.file}:${b.line}`;
const runnable = (b: FencedBlock): boolean => marker(b, "not-run") === undefined;

/** A file as the docs show it: without its leading comment lines (a header for readers of the file). */
function withoutHeader(text: string): string {
  const lines = text.split("\n");
  while (lines[0]?.startsWith("#")) lines.shift();
  return lines.join("\n").trim();
}

/** Lines of a shell block worth running: comments stripped, with the exit code a comment documents. */
function commandLines(b: FencedBlock): { cmd: string; exit: number; at: string }[] {
  return b.text
    .split("\n")
    .map((l, i) => ({ raw: l, at: `${b.file}:${b.line + 1 + i}` }))
    .filter(({ raw }) => raw.trim() !== "" && !raw.trim().startsWith("#"))
    .map(({ raw, at }) => {
      const hash = raw.search(/\s#(\s|$)/);
      const cmd = (hash < 0 ? raw : raw.slice(0, hash)).trim();
      const comment = hash < 0 ? "" : raw.slice(hash);
      const exit = /\bexit (\d+)/.exec(comment);
      return { cmd, exit: exit ? Number(exit[1]) : 0, at };
    });
}

test("every fenced block is either runnable as written or says why not", () => {
  for (const b of BLOCKS) {
    const reason = marker(b, "not-run");
    if (reason !== undefined) assert.ok(reason.length > 10, `${where(b)}: <!-- not-run --> needs a reason`);
    // A command in an untagged block would escape this test: tag it sh (run) or text (not a command).
    if (b.lang === "") assert.doesNotMatch(b.text, /^(\$ )?(sluice|npm|node|npx) /m, `${where(b)}: a command in an untagged block: tag it sh or text`);
  }
});

test("every sluice config in the docs validates as written (or fails as shown, where marked invalid)", () => {
  const configs = BLOCKS.filter((b) => b.lang === "yaml" && runnable(b) && /^kind: /m.test(b.text) && /^apiVersion: /m.test(b.text));
  assert.ok(configs.length >= 3, "the configuration reference, the README's and the invalid example");
  for (const b of configs) {
    const invalidAs = marker(b, "invalid-example");
    const name = invalidAs ?? `${where(b)}.yaml`;
    const extra: ConfigSource[] = (marker(b, "validate-with") ?? "")
      .split(/\s+/)
      .filter((f) => f !== "")
      .map((f) => ({ file: f, text: readFileSync(repoPath(f), "utf8") }));
    const { result } = loadConfigSources([...extra, { file: name, text: b.text }]);
    if (invalidAs !== undefined) {
      assert.ok(!result.ok, `${where(b)} is marked invalid but validates`);
      // The output shown right after it is what `sluice validate` prints.
      const shown = BLOCKS[BLOCKS.indexOf(b) + 1];
      if (shown?.file === b.file && shown.lang === "text") {
        const n = result.problems.length;
        const expected = [...result.problems.map(formatProblem), `${n} problem${n === 1 ? "" : "s"} in 1 file`];
        assert.deepEqual(shown.text.trim().split("\n"), expected, `${where(shown)}: the output shown is not what validate prints`);
      }
      continue;
    }
    assert.ok(result.ok, `${where(b)}: ${result.ok ? "" : result.problems.map(formatProblem).join("\n")}`);
    if (marker(b, "expect-warnings") === undefined) assert.deepEqual(result.config.warnings.map(formatProblem), [], `${where(b)} warns`);
  }
});

test("every other yaml block is a sim scenario that parses, or says why it is not run", () => {
  for (const b of BLOCKS.filter((x) => x.lang === "yaml" && runnable(x) && !/^kind: /m.test(x.text))) {
    assert.match(b.text, /^(clients|backends|base|events):/m, `${where(b)}: neither a sluice config nor a scenario: mark it <!-- not-run: why -->`);
    assert.doesNotThrow(() => parseScenario(b.text, where(b)), `${where(b)}`);
  }
});

test("a block marked same-as FILE is that file", () => {
  const marked = BLOCKS.filter((b) => marker(b, "same-as") !== undefined);
  assert.ok(marked.length >= 3);
  for (const b of marked) {
    const file = marker(b, "same-as")!;
    assert.equal(b.text.trim(), withoutHeader(readFileSync(repoPath(file), "utf8")), `${where(b)} differs from ${file}`);
  }
});

test("every xDS bootstrap in the docs is one grpc-js-xds accepts", () => {
  const bootstraps = BLOCKS.filter((b) => b.lang === "json" && b.text.includes('"xds_servers"'));
  assert.ok(bootstraps.length >= 2);
  for (const b of bootstraps) assert.doesNotThrow(() => validateBootstrapConfig(JSON.parse(b.text)), where(b));
});

test("every examples/*.yaml validates with no warning, but the one about the LEAST_CONN warning; every scenario parses", () => {
  const files = readdirSync(repoPath("examples")).filter((f) => f.endsWith(".yaml"));
  assert.ok(files.length >= 8, files.join(", "));
  for (const f of files) {
    const file = `examples/${f}`;
    const text = readFileSync(repoPath(file), "utf8");
    // proxy-reference.yaml holds only the Proxy resource: it goes with a file that defines its hosts.
    const sources = f === "proxy-reference.yaml" ? [{ file: "examples/local-backends.yaml", text: readFileSync(repoPath("examples/local-backends.yaml"), "utf8") }] : [];
    const { result } = loadConfigSources([...sources, { file, text }]);
    assert.ok(result.ok, `${file}: ${result.ok ? "" : result.problems.map(formatProblem).join("\n")}`);
    const warnings = result.config.warnings.map(formatProblem);
    if (f === "least-conn-alias.yaml") assert.deepEqual(warnings, [`${file}:15 spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is a deprecated alias of LEAST_REQUEST (as in Istio); sluice uses LEAST_REQUEST`]);
    else assert.deepEqual(warnings, [], file);
  }
  for (const f of readdirSync(repoPath("examples/scenarios"))) {
    assert.doesNotThrow(() => parseScenario(readFileSync(repoPath("examples/scenarios", f), "utf8"), f));
  }
});

test("every relative link resolves, to a heading that exists where it names one", () => {
  for (const file of DOCS) {
    const text = readFileSync(repoPath(file), "utf8");
    for (const { line, target } of relativeLinks(text)) {
      const [path = "", anchor] = target.split("#");
      const dest = path === "" ? repoPath(file) : resolve(dirname(repoPath(file)), decodeURI(path));
      const rel = relative(repoRoot, dest);
      if (PENDING_LINKS.has(rel) && !existsSync(dest)) continue;
      assert.ok(existsSync(dest), `${file}:${line}: ${target}: no such file`);
      if (anchor !== undefined && statSync(dest).isFile()) {
        assert.ok(headingAnchors(readFileSync(dest, "utf8")).has(anchor), `${file}:${line}: ${target}: no such heading in ${rel}`);
      }
    }
  }
});

test("docs/operations.md's SLUICE_TRACE table names every tracer in src/, and no other", () => {
  const inSrc = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) for (const m of readFileSync(p, "utf8").matchAll(/\btracer\("([^"]+)"\)/g)) inSrc.add(m[1]!);
    }
  };
  walk(repoPath("src"));
  const doc = readFileSync(repoPath("docs/operations.md"), "utf8");
  const inDoc = new Set([...doc.matchAll(/^\| `([a-z_0-9]+)` \| .* \| `src\//gm)].map((m) => m[1]!));
  assert.ok(inSrc.size >= 20);
  assert.deepEqual([...inDoc].sort(), [...inSrc].sort());
});

test("docs/operations.md's admin path table lists every path the admin server serves, and no other", () => {
  const doc = readFileSync(repoPath("docs/operations.md"), "utf8");
  const table = doc.slice(doc.indexOf("| path | answers |"));
  const inDoc = [...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `(\/[^`]*)` \|/gm)].map((m) => m[1]!);
  assert.deepEqual(inDoc.sort(), Object.keys(ADMIN_PATHS).sort());
});

test("the README names every Debian package .ci/run installs", () => {
  // The install line may go on over continuation lines.
  const script = readFileSync(repoPath(".ci/run"), "utf8").replace(/\\\n\s*/g, " ");
  const install = /apt-get install -y --no-install-recommends (.*)$/m.exec(script);
  assert.ok(install !== null);
  const readme = readFileSync(repoPath("README.md"), "utf8");
  const packages = install[1]!.trim().split(/\s+/);
  assert.ok(packages.length >= 4, packages.join(" "));
  for (const p of packages) assert.ok(readme.includes(`\`${p}\``), `README.md does not name ${p}`);
  assert.match(readme, /`\.ci\/run` installs them all/);
});

// ---- Commands ------------------------------------------------------------------------------

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `node ARGS` in the repository root (where the docs' relative paths start). */
/** Runs node with `args` (or, with `node: false`, the program args[0]) in the clone, killed at the test's end. */
function start(
  t: TestContext,
  args: readonly string[],
  opts: { node?: boolean } = {},
): { out: Output; err: Output; done: Promise<Run>; stop: (s: NodeJS.Signals) => Promise<Run> } {
  const [program, rest] = opts.node === false ? [args[0]!, args.slice(1)] : [process.execPath, args];
  const child = spawn(program, rest, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const done = once(child, "close").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stdout: out.text, stderr: err.text }));
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await done;
  });
  return {
    out,
    err,
    done,
    stop: async (signal) => {
      child.kill(signal);
      return done;
    },
  };
}

type Started = ReturnType<typeof start>;

/**
 * Resolves once the process has answered a request, i.e. has run past the turn in which it
 * printed its ready line: sluice installs its SIGTERM handler just after printing it, so a
 * signal sent on the line alone may find Node's default action (exit by signal) still in place.
 */
async function settled(request: () => Promise<unknown>): Promise<void> {
  await request();
}

/** Any gRPC answer from a server (UNIMPLEMENTED will do). */
function answered(address: string): Promise<void> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const bytes = (b: Buffer): Buffer => b;
  return new Promise<void>((resolve) => client.makeUnaryRequest("/sluice.docs.Test/Ping", bytes, bytes, Buffer.alloc(0), () => resolve())).finally(() =>
    client.close(),
  );
}

/** Waits for a line on the process's stdout; if it exits first, fails with what it printed. */
async function waitLine(p: Started, re: RegExp, said: string): Promise<RegExpExecArray> {
  try {
    return await p.out.waitFor(re);
  } catch (err) {
    throw new Error(`${said}: ${(err as Error).message}\nstderr:\n${p.err.text}`);
  }
}

/** Runs one documented `sluice ...` line; long-running commands get a bounded life. */
async function runSluice(t: TestContext, cmd: string, exit: number, at: string): Promise<void> {
  assert.doesNotMatch(cmd, /["'$|&;<>]/, `${at}: write the command plainly (no quotes, pipes or substitutions), or mark the block not-run`);
  const args = cmd.split(/\s+/).slice(1);
  const verb = args[0] ?? "";
  const said = `${at}: ${cmd}`;
  if (verb === "proxy") {
    // A free port for the proxy and its admin server, not the documented 15001 / 15000.
    const p = start(t, [CLI, ...args, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    await waitLine(p, /listening on \S+:\d+/, said);
    const [, admin] = await waitLine(p, /admin on (http:\/\/\S+\/)/, said);
    await settled(() => fetch(`${admin!}healthz`));
    const r = await p.stop("SIGTERM");
    assert.equal(r.code, exit, `${said}: exit after SIGTERM\n${r.stderr}`);
  } else if (verb === "control-plane") {
    // A free port, not the documented 15010.
    const p = start(t, [CLI, ...args, "--listen", "127.0.0.1:0"]);
    const [, ads] = await waitLine(p, /serving ADS on (\S+:\d+)/, said);
    await settled(() => answered(ads!));
    const r = await p.stop("SIGTERM");
    assert.equal(r.code, exit, `${said}: exit after SIGTERM\n${r.stderr}`);
  } else if (verb === "demo" && !/--mode connection/.test(cmd) && !args.includes("--duration")) {
    // Runs until Ctrl-C: stopped once it has printed its first per-pod table.
    const p = start(t, [CLI, ...args]);
    await waitLine(p, /^pod +rps/m, said);
    const r = await p.stop("SIGINT");
    assert.equal(r.code, exit, `${said}: exit after Ctrl-C\n${r.stdout}\n${r.stderr}`);
  } else {
    // --out DIR: a temporary directory instead of the documented one.
    const out = args.indexOf("--out");
    if (out >= 0) args[out + 1] = tempDir(t, "sluice-docs-sim-");
    const r = await start(t, [CLI, ...args]).done;
    assert.equal(r.code, exit, `${said}: exit code\n${r.stdout}\n${r.stderr}`);
    if (verb === "validate" && exit === 0) assert.match(r.stdout, /^ok: /, said);
  }
}

const COMMAND_BLOCKS = BLOCKS.filter((b) => SHELL.has(b.lang) && runnable(b) && marker(b, "flow") === undefined);

test("every documented sluice command line runs as written, with the exit code it documents", { concurrency: 4 }, async (t) => {
  const lines = COMMAND_BLOCKS.flatMap(commandLines);
  assert.ok(lines.length >= 15, `${lines.length} command lines`);
  await Promise.all(
    lines.map(({ cmd, exit, at }) =>
      t.test(`${at}: ${cmd}`, async (st) => {
        assert.match(cmd, /^sluice /, `${at}: only sluice commands run here: put "${cmd}" in a flow, or mark its block not-run`);
        await runSluice(st, cmd, exit, at);
      }),
    ),
  );
});

// ---- Walkthroughs (<!-- flow: NAME -->) ----------------------------------------------------

/** The stand-in backends on free ports, and a copy of `configFile` pointing at them. */
async function standIns(t: TestContext, configFile: string): Promise<{ ports: number[]; config: string }> {
  // Free ports, not the documented 16001-16003: `node examples/backends.mjs` takes them as arguments.
  const b = start(t, ["examples/backends.mjs", "0", "0", "0"]);
  await waitLine(b, /(backend listening on 127\.0\.0\.1:\d+\n){3}/, "node examples/backends.mjs");
  const ports = [...b.out.text.matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  let text = readFileSync(repoPath(configFile), "utf8");
  EXAMPLE_PORTS.forEach((p, i) => (text = text.replaceAll(String(p), String(ports[i]))));
  const config = join(tempDir(t, "sluice-docs-flow-"), configFile.replace(/\//g, "_"));
  writeFileSync(config, text);
  return { ports, config };
}

function flow(name: string): { lines: string[]; js: string[] } {
  const blocks = BLOCKS.filter((b) => marker(b, "flow") === name);
  return {
    lines: blocks.filter((b) => SHELL.has(b.lang)).flatMap((b) => commandLines(b).map((l) => l.cmd)),
    js: blocks.filter((b) => b.lang === "js").map((b) => b.text),
  };
}

const FLOWS: Record<string, (t: TestContext) => Promise<void>> = {
  /** README "Run it on your backends": stand-ins, validate, proxy, the js snippet, call.mjs, /clusters. */
  "local-backends": async (t) => {
    const { lines, js } = flow("local-backends");
    assert.deepEqual(lines, [
      "node examples/backends.mjs",
      "sluice validate examples/local-backends.yaml",
      "sluice proxy -c examples/local-backends.yaml",
      "node examples/call.mjs 127.0.0.1:15001",
      "curl -s http://127.0.0.1:15000/clusters",
    ]);
    assert.equal(js.length, 1, "one test RPC snippet");
    const { config } = await standIns(t, "examples/local-backends.yaml");
    const v = await start(t, [CLI, "validate", "examples/local-backends.yaml"]).done;
    assert.equal(v.code, 0, v.stderr);
    const proxy = start(t, [CLI, "proxy", "-c", config, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    const [, listen] = await waitLine(proxy, /listening on (127\.0\.0\.1:\d+)/, "sluice proxy");
    const [, admin] = await waitLine(proxy, /admin on (http:\/\/127\.0\.0\.1:\d+\/)/, "sluice proxy");
    // The snippet as the README shows it, saved in the clone (for @grpc/grpc-js), at the proxy's port.
    const dir = mkdtempSync(repoPath("dist/docs-snippet-"));
    defer(t, () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "test-rpc.mjs"), js[0]!.replaceAll("127.0.0.1:15001", listen!));
    const snippet = await start(t, [join(dir, "test-rpc.mjs")]).done;
    assert.equal(snippet.stdout, "OK, 2 bytes\n", snippet.stderr);
    const call = await start(t, ["examples/call.mjs", listen!]).done;
    assert.equal(call.code, 0, call.stdout + call.stderr);
    assert.equal([...call.stdout.matchAll(/^RPC \d: OK \(2 bytes\) from 127\.0\.0\.1:\d+$/gm)].length, 6, call.stdout);
    // curl's GET, made with fetch (curl is not part of the test's requirements).
    const clusters = (await (await fetch(`${admin!}clusters`)).json()) as { clusters: { endpoints: { state: string; requests: number }[] }[] };
    const endpoints = clusters.clusters[0]!.endpoints;
    assert.equal(endpoints.length, 3);
    assert.equal(
      endpoints.reduce((n, e) => n + e.requests, 0),
      7,
      "the snippet's RPC and call.mjs's 6",
    );
    const r = await proxy.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
  },
  /** docs/control-plane.md "Try it": stand-ins, the control plane, a grpc-js-xds client. */
  "control-plane": async (t) => {
    const { lines } = flow("control-plane");
    assert.deepEqual(lines, ["node examples/backends.mjs", "sluice control-plane -c examples/control-plane.yaml", "node examples/xds-client.mjs 127.0.0.1:15010"]);
    const { ports, config } = await standIns(t, "examples/control-plane.yaml");
    const cp = start(t, [CLI, "control-plane", "-c", config, "--listen", "127.0.0.1:0"]);
    const [, ads] = await waitLine(cp, /serving ADS on (127\.0\.0\.1:\d+)/, "sluice control-plane");
    const client = await start(t, ["examples/xds-client.mjs", ads!]).done;
    assert.equal(client.code, 0, client.stdout + client.stderr);
    const answered = new Set([...client.stdout.matchAll(/^RPC \d: OK from 127\.0\.0\.1:(\d+)$/gm)].map((m) => Number(m[1])));
    assert.ok([...answered].every((p) => ports.includes(p)) && answered.size >= 2, client.stdout);
    const r = await cp.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
  },
  /** README "TLS and mutual TLS": certificates made by the script, TLS stand-ins, the proxy, call.mjs with and without a client certificate. */
  mtls: async (t) => {
    assert.deepEqual(flow("mtls").lines, [
      "sh examples/mtls/make-certs.sh",
      "node examples/backends.mjs --tls examples/mtls/certs 16001 16002",
      "sluice proxy -c examples/mtls/sluice.yaml",
      "node examples/call.mjs 127.0.0.1:15443 --authority payments.internal --tls examples/mtls/certs",
    ]);
    // A copy of the example's directory: the script writes certs/ beside itself.
    const dir = tempDir(t, "sluice-docs-mtls-");
    for (const f of ["make-certs.sh", "sluice.yaml"]) writeFileSync(join(dir, f), readFileSync(repoPath("examples/mtls", f)));
    const made = await start(t, ["/bin/sh", join(dir, "make-certs.sh")], { node: false }).done;
    assert.equal(made.code, 0, made.stderr);
    const certs = join(dir, "certs");
    const b = start(t, ["examples/backends.mjs", "--tls", certs, "0", "0"]);
    await waitLine(b, /(backend listening on 127\.0\.0\.1:\d+ \(TLS, client certificates required\)\n){2}/, "node examples/backends.mjs --tls");
    const ports = [...b.out.text.matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    const config = join(dir, "sluice.yaml");
    writeFileSync(config, readFileSync(config, "utf8").replace("16001", String(ports[0])).replace("16002", String(ports[1])));
    const proxy = start(t, [CLI, "proxy", "-c", config, "--listen", "127.0.0.1:0", "--admin", "none"]);
    const [, listen] = await waitLine(proxy, /listening on (127\.0\.0\.1:\d+)/, "sluice proxy");
    const call = await start(t, ["examples/call.mjs", listen!, "--authority", "payments.internal", "--tls", certs]).done;
    assert.equal(call.code, 0, call.stdout + call.stderr);
    const answered = [...call.stdout.matchAll(/^RPC \d: OK \(2 bytes\) from 127\.0\.0\.1:(\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(answered.length, 6, call.stdout);
    assert.ok(answered.every((p) => ports.includes(p)), call.stdout);
    // No client certificate: the handshake fails, the RPC with it.
    const refused = await start(t, ["examples/call.mjs", listen!, "--authority", "payments.internal", "--count", "1"]).done;
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stdout, /^RPC 1: UNAVAILABLE/m);
    const r = await proxy.stop("SIGTERM");
    assert.equal(r.code, 0, r.stderr);
  },
  /** examples/README.md: sluice/client balancing over the stand-ins, no proxy. */
  client: async (t) => {
    assert.deepEqual(flow("client").lines, ["node examples/client.mjs"]);
    const { ports } = await standIns(t, "examples/local-backends.yaml");
    // The documented default target is the stand-ins' fixed ports: the same list, at their free ones.
    const client = await start(t, ["examples/client.mjs", `static:///${ports.map((p) => `127.0.0.1:${p}`).join(",")}`]).done;
    assert.equal(client.code, 0, client.stdout + client.stderr);
    const counts = [...client.stdout.matchAll(/^127\.0\.0\.1:\d+: (\d+) RPCs$/gm)].map((m) => Number(m[1]));
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      30,
      client.stdout,
    );
    assert.ok(counts.length >= 2, `least_request spreads the calls: ${client.stdout}`);
  },
};

test("every walkthrough the docs mark as a flow has a runner here, and each runs", { concurrency: 3 }, async (t) => {
  const named = new Set(BLOCKS.map((b) => marker(b, "flow")).filter((n) => n !== undefined));
  assert.deepEqual([...named].sort(), Object.keys(FLOWS).sort());
  await Promise.all(Object.entries(FLOWS).map(([name, run]) => t.test(name, run)));
});

// Each lifecycle event of a running sluice is said once per stream: one plain line on stdout
// (people, scripts) and one record in the log on stderr, in the --log-format asked for (JSON
// lines, or text lines), never both shapes on one stream and never twice. Run for the proxy
// (listening, admin, a reload applied, a reload rejected, the drain) and the control plane
// (serving, a reload applied, stopping), in both formats.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, endWith, tempDir } from "../support/cli.js";
import { listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { Output } from "../support/lines.js";
import { scriptedPods } from "../support/scripted-pods.js";
import type { Owner } from "../support/teardown.js";

/** An event as each stream says it. */
interface Event {
  /** The whole stdout line. */
  readonly line: RegExp;
  /** The log record's message. */
  readonly msg: string;
}

const TEXT_RECORD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \S/;

/** The log's records: every stderr line one record in `format`, or the test fails. */
function records(stderr: string, format: "json" | "text"): string[] {
  const lines = stderr.split("\n").filter((l) => l !== "");
  if (format === "text") {
    for (const l of lines) assert.match(l, TEXT_RECORD, "a text record, not JSON or a plain line");
    return lines;
  }
  return lines.map((l) => {
    const r = JSON.parse(l) as { msg?: unknown; level?: unknown; time?: unknown };
    assert.equal(typeof r.msg, "string", l);
    assert.equal(typeof r.level, "number", l);
    return l;
  });
}

/** How many of the log's records are `msg`. */
function countRecords(log: readonly string[], msg: string, format: "json" | "text"): number {
  if (format === "json") return log.filter((l) => (JSON.parse(l) as { msg: string }).msg === msg).length;
  const escaped = msg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return log.filter((l) => new RegExp(`^\\S+ [A-Z]+ ${escaped}( |$)`).test(l)).length;
}

function assertOncePerStream(events: readonly Event[], stdout: string, stderr: string, format: "json" | "text"): void {
  const log = records(stderr, format);
  const outLines = stdout.split("\n");
  for (const e of events) {
    assert.equal(outLines.filter((l) => e.line.test(l)).length, 1, `once on stdout: ${e.line}\n${stdout}`);
    assert.equal(countRecords(log, e.msg, format), 1, `once in the log: "${e.msg}"\n${stderr}`);
  }
  // The log is the log: no human line of any event strays onto stderr.
  for (const e of events) assert.ok(!stderr.split("\n").some((l) => e.line.test(l)), `${e.line} on stderr`);
}

function start(owner: Owner, args: readonly string[]): { out: Output; err: Output; closed: Promise<[number | null]>; kill(signal: NodeJS.Signals): void } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(owner, child, "SIGKILL"); // only if the test failed before its SIGTERM
  return {
    out: new Output(child.stdout),
    err: new Output(child.stderr),
    closed: once(child, "close") as Promise<[number | null]>,
    kill: (signal) => child.kill(signal),
  };
}

for (const format of ["json", "text"] as const) {
  describe(`--log-format ${format}`, () => {
    test("sluice proxy: listening, admin, reload applied, reload rejected, drain: each once on stdout and once in the log", async (t) => {
      const pods = await scriptedPods(t, 1);
      const file = join(tempDir(t), "sluice.yaml");
      const good = `${serviceEntryYaml(
        "echo",
        pods.map((p) => p.port),
      )}---\n${listenerYaml("  admin: 127.0.0.1:0\n")}`;
      writeFileSync(file, good);
      const p = start(t, ["proxy", "-c", file, "--log-format", format]);
      await p.out.waitFor(/^sluice proxy admin on /m);
      p.kill("SIGHUP");
      await p.out.waitFor(/config reload #1 applied \(SIGHUP\)/);
      writeFileSync(file, good.replace("resolution: STATIC", "resolution: SOMETIMES"));
      await p.out.waitFor(/config reload \(file change\) rejected/);
      // The record follows its line: wait for it too, so the counts below see everything.
      await p.err.waitFor(/config reload rejected; the running config stays/);
      p.kill("SIGTERM");
      const [code] = await p.closed;
      assert.equal(code, 0, p.err.text);
      assertOncePerStream(
        [
          { line: /^sluice proxy listening on 127\.0\.0\.1:\d+ /, msg: "sluice proxy listening" },
          { line: /^sluice proxy admin on http:\/\/127\.0\.0\.1:\d+\/$/, msg: "admin server listening" },
          { line: /^sluice proxy: config reload #1 applied \(SIGHUP\): no changes$/, msg: "config reloaded: no changes" },
          {
            line: /^sluice proxy: config reload \(file change\) rejected, keeping the running config: 1 problem$/,
            msg: "config reload rejected; the running config stays",
          },
          { line: /^sluice proxy: SIGTERM: draining \(RPCs in flight get up to 5s\)$/, msg: "drain started" },
          { line: /^sluice proxy: drained, exiting$/, msg: "drained" },
        ],
        p.out.text,
        p.err.text,
        format,
      );
      // The rejected config's problem: on stdout after its line, as `sluice validate` words it.
      assert.match(p.out.text, /sluice\.yaml:\d+ spec\.resolution: must be one of/);
    });

    test("sluice control-plane: serving, reload applied, stopping: each once on stdout and once in the log", async (t) => {
      const file = join(tempDir(t), "xds.yaml");
      writeFileSync(file, serviceEntryYaml("echo", [7001]));
      const cp = start(t, ["control-plane", "-c", file, "--listen", "127.0.0.1:0", "--log-format", format]);
      await cp.out.waitFor(/serving ADS on /);
      cp.kill("SIGHUP");
      await cp.out.waitFor(/config reload #1 applied \(SIGHUP\)/);
      cp.kill("SIGTERM");
      const [code] = await cp.closed;
      assert.equal(code, 0, cp.err.text);
      assertOncePerStream(
        [
          { line: /^sluice control-plane serving ADS on 127\.0\.0\.1:\d+ /, msg: "control plane serving" },
          { line: /^sluice control-plane: config reload #1 applied \(SIGHUP\): no changes$/, msg: "config reloaded: no changes" },
          { line: /^sluice control-plane: SIGTERM: closing the ADS streams$/, msg: "control plane stopping" },
        ],
        cp.out.text,
        cp.err.text,
        format,
      );
    });
  });
}

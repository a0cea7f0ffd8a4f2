// Every flag of every command refuses a bad value, and every flag that means nothing with the
// others given is refused too (not silently ignored): one line on stderr naming the flag, exit
// 1 (analyze: 2, its code for errors), nothing on stdout, never a stack trace. Each row runs
// the built CLI; none gets as far as starting anything.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../support/cli.js";
import { repoPath } from "../support/paths.js";

const SEED = repoPath("examples/seed.yaml");

interface Row {
  readonly args: readonly string[];
  /** The flag the line must name. */
  readonly flag: string;
  /** What the line must say after `sluice <command>: `. */
  readonly says: RegExp;
  /** Default 1. */
  readonly code?: number;
}

const DURATION = /must be a duration such as "30s", "1\.5s", "500ms" or "2m", or a number of seconds, got /;
const HOST_PORT = /must be host:port such as "127\.0\.0\.1:15001" or "\[::1\]:15001", got /;

/** A bad value for each flag (several for the numbers: their bounds and their syntax). */
const BAD_VALUES: readonly Row[] = [
  // proxy
  { args: ["proxy", "-c"], flag: "--config", says: /option '-c, --config <file>' argument missing/ },
  { args: ["proxy", "-c", ""], flag: "--config", says: /--config: must not be empty, got ""/ },
  { args: ["proxy", "--xds", "cp"], flag: "--xds", says: HOST_PORT },
  { args: ["proxy", "--xds", "127.0.0.1:65536"], flag: "--xds", says: HOST_PORT },
  { args: ["proxy", "--xds", "127.0.0.1:1", "--xds-node-id", ""], flag: "--xds-node-id", says: /must not be empty/ },
  { args: ["proxy", "--xds", "127.0.0.1:1", "--xds-initial-wait", "soon"], flag: "--xds-initial-wait", says: DURATION },
  { args: ["proxy", "--xds", "127.0.0.1:1", "--xds-initial-wait", "0s"], flag: "--xds-initial-wait", says: /must be at least 1ms, got "0s"/ },
  { args: ["proxy", "-c", SEED, "--listen", "nowhere"], flag: "--listen", says: HOST_PORT },
  { args: ["proxy", "-c", SEED, "--admin", "nowhere"], flag: "--admin", says: /must be host:port .*, a port \(on 127\.0\.0\.1\), or "none", got "nowhere"/ },
  { args: ["proxy", "-c", SEED, "--admin", "70000"], flag: "--admin", says: /got "70000"/ },
  { args: ["proxy", "-c", SEED, "--mode", "fast"], flag: "--mode", says: /must be one of request, connection, got "fast"/ },
  { args: ["proxy", "-c", SEED, "--transport", "quic"], flag: "--transport", says: /must be one of h2, node, got "quic"/ },
  { args: ["proxy", "-c", SEED, "--default-host", ""], flag: "--default-host", says: /must not be empty/ },
  { args: ["proxy", "-c", SEED, "--drain-timeout", "forever"], flag: "--drain-timeout", says: DURATION },
  { args: ["proxy", "-c", SEED, "--drain-timeout", "-1"], flag: "--drain-timeout", says: /must be at least 1ms, got "-1"/ },
  { args: ["proxy", "-c", SEED, "--drain-timeout", "1000h"], flag: "--drain-timeout", says: /must be at most 596h, got "1000h"/ },
  { args: ["proxy", "-c", SEED, "--tls-cert", ""], flag: "--tls-cert", says: /must not be empty/ },
  { args: ["proxy", "-c", SEED, "--tls-key", ""], flag: "--tls-key", says: /must not be empty/ },
  { args: ["proxy", "-c", SEED, "--tls-client-ca", ""], flag: "--tls-client-ca", says: /must not be empty/ },
  { args: ["proxy", "-c", SEED, "--listen-fd", "abc"], flag: "--listen-fd", says: /must be a whole number >= 0, got "abc"/ },
  { args: ["proxy", "-c", SEED, "--listen-fd", "-1"], flag: "--listen-fd", says: /got "-1"/ },
  { args: ["proxy", "-c", SEED, "--listen-fd", "3.5"], flag: "--listen-fd", says: /got "3\.5"/ },
  { args: ["proxy", "-c", SEED, "--pid-file", ""], flag: "--pid-file", says: /must not be empty/ },
  { args: ["proxy", "-c", SEED, "--log-format", "yaml"], flag: "--log-format", says: /must be one of json, text, got "yaml"/ },
  { args: ["proxy", "-c", SEED, "--colour"], flag: "--colour", says: /unknown option '--colour'/ },
  // control-plane
  { args: ["control-plane", "-c", ""], flag: "--config", says: /must not be empty/ },
  { args: ["control-plane", "-c", SEED, "--listen", "15010"], flag: "--listen", says: HOST_PORT },
  { args: ["control-plane", "-c", SEED, "--weights-from-load", "--load-report-interval", "often"], flag: "--load-report-interval", says: DURATION },
  { args: ["control-plane", "-c", SEED, "--log-format", "xml"], flag: "--log-format", says: /must be one of json, text/ },
  // validate
  { args: ["validate"], flag: "file", says: /missing required argument 'file'/ },
  { args: ["validate", "--strict", SEED], flag: "--strict", says: /unknown option '--strict'/ },
  // analyze: exit 2 is its code for errors (1 means warnings)
  { args: ["analyze", SEED, "--format", "yaml"], flag: "--format", says: /must be one of text, json, got "yaml"/, code: 2 },
  { args: ["analyze", SEED, "--client-options", ""], flag: "--client-options", says: /must not be empty/, code: 2 },
  { args: ["analyze", SEED, "--concurrency", "lots"], flag: "--concurrency", says: /must be a whole number > 0, or HOST=NUMBER, got "lots"/, code: 2 },
  { args: ["analyze", SEED, "--rps", "grpc-service=0"], flag: "--rps", says: /got "grpc-service=0"/, code: 2 },
  // demo
  { args: ["demo", "--mode", "story"], flag: "--mode", says: /must be one of request, connection, got "story"/ },
  { args: ["demo", "--pods", "0"], flag: "--pods", says: /must be a whole number from 1 to 64, got "0"/ },
  { args: ["demo", "--pods", "65"], flag: "--pods", says: /got "65"/ },
  { args: ["demo", "--pods", "1e1"], flag: "--pods", says: /got "1e1"/ },
  { args: ["demo", "--clients", "0"], flag: "--clients", says: /must be a whole number from 1 to 256, got "0"/ },
  { args: ["demo", "--clients", "two"], flag: "--clients", says: /got "two"/ },
  { args: ["demo", "--duration", "-1"], flag: "--duration", says: /must be at least 1ms, got "-1"/ },
  { args: ["demo", "--duration", "0"], flag: "--duration", says: /must be at least 1ms, got "0"/ },
  { args: ["demo", "--duration", "a while"], flag: "--duration", says: DURATION },
  { args: ["demo", "-c", ""], flag: "--config", says: /must not be empty/ },
  { args: ["demo", "--failing-pods", "0"], flag: "--failing-pods", says: /must be a whole number from 1 to 64, got "0"/ },
  { args: ["demo", "--log-format", "pretty"], flag: "--log-format", says: /must be one of json, text, got "pretty"/ },
  // sim
  { args: ["sim"], flag: "--scenario", says: /required option '--scenario <name\|file>' not specified/ },
  { args: ["sim", "--scenario", ""], flag: "--scenario", says: /must not be empty/ },
  { args: ["sim", "--scenario", "seed", "-c", ""], flag: "--config", says: /must not be empty/ },
  { args: ["sim", "--scenario", "seed", "--layer", "l7"], flag: "--layer", says: /must be one of proxy-request, proxy-connection, client, l4, got "l7"/ },
  {
    args: ["sim", "--scenario", "seed", "--client-policy", "fastest"],
    flag: "--client-policy",
    says: /must be one of round_robin, least_request, peak_ewma, random/,
  },
  { args: ["sim", "--scenario", "seed", "--host", ""], flag: "--host", says: /must not be empty/ },
  { args: ["sim", "--scenario", "seed", "--out", ""], flag: "--out", says: /must not be empty/ },
  { args: ["sim", "--scenario", "seed", "--seed", "-1"], flag: "--seed", says: /must be a whole number from 0 to 4294967295, got "-1"/ },
  { args: ["sim", "--scenario", "seed", "--seed", "4294967296"], flag: "--seed", says: /got "4294967296"/ },
  { args: ["sim", "--scenario", "seed", "--seed", "0x10"], flag: "--seed", says: /got "0x10"/ },
  { args: ["sim", "--scenario", "seed", "--format", "csv"], flag: "--format", says: /must be one of text, json, got "csv"/ },
  // the program
  { args: ["serve"], flag: "serve", says: /unknown command 'serve'/ },
];

/** Flags that mean nothing with the others given. */
const MEANINGLESS: readonly Row[] = [
  { args: ["proxy", "-c", SEED, "--xds-initial-wait", "1s"], flag: "--xds-initial-wait", says: /--xds-initial-wait only applies with --xds$/ },
  { args: ["proxy", "-c", SEED, "--xds-node-id", "edge-1"], flag: "--xds-node-id", says: /--xds-node-id only applies with --xds$/ },
  { args: ["proxy", "-c", SEED, "--tls-cert", "cert.pem"], flag: "--tls-cert", says: /--tls-cert needs --tls-key: the certificate's private key$/ },
  { args: ["proxy", "-c", SEED, "--tls-key", "key.pem"], flag: "--tls-key", says: /--tls-key needs --tls-cert: the certificate chain the key belongs to$/ },
  {
    args: ["control-plane", "-c", SEED, "--load-report-interval", "1s"],
    flag: "--load-report-interval",
    says: /--load-report-interval only applies with --weights-from-load$/,
  },
  { args: ["demo", "--mode", "connection", "--failing-pods", "1"], flag: "--failing-pods", says: /--failing-pods only applies in request mode/ },
  { args: ["demo", "--mode", "connection", "--duration", "5s"], flag: "--duration", says: /--duration only applies in request mode/ },
  { args: ["demo", "--pods", "2", "--failing-pods", "3"], flag: "--failing-pods", says: /--failing-pods: must be at most --pods \(2\), got 3$/ },
  {
    args: ["sim", "--scenario", "seed", "--layer", "l4", "--client-policy", "random"],
    flag: "--client-policy",
    says: /--client-policy only applies with --layer client$/,
  },
  // Without --layer the scenario's own layer decides (the seed scenario's is proxy-connection).
  {
    args: ["sim", "--scenario", "seed", "--client-policy", "random"],
    flag: "--client-policy",
    says: /--client-policy only applies with --layer client \(scenario seed runs on layer proxy-connection\)$/,
  },
];

async function refused(row: Row): Promise<void> {
  const r = await runCli([...row.args]);
  const where = `sluice ${row.args.join(" ")}:\n${r.stderr}`;
  assert.equal(r.code, row.code ?? 1, where);
  assert.doesNotMatch(r.stderr, /^ {4}at /m, `a stack trace: ${where}`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `one line on stderr: ${where}`);
  const line = lines[0]!;
  const command = row.args[0] === "serve" ? "sluice" : `sluice ${row.args[0]}`;
  assert.ok(line.startsWith(`${command}: `), `starts with "${command}: ": ${line}`);
  assert.ok(line.includes(row.flag), `names ${row.flag}: ${line}`);
  assert.match(line, row.says);
  assert.equal(r.stdout, "", "nothing on stdout: nothing started");
}

describe("a bad flag value: one line naming the flag, exit 1, no stack trace", { concurrency: 4 }, () => {
  for (const row of BAD_VALUES) test(`sluice ${row.args.map((a) => (a === "" ? '""' : a.replace(SEED, "seed.yaml"))).join(" ")}`, () => refused(row));
});

describe("a flag that means nothing with the others given is refused, not ignored", { concurrency: 4 }, () => {
  for (const row of MEANINGLESS) test(`sluice ${row.args.map((a) => a.replace(SEED, "seed.yaml")).join(" ")}`, () => refused(row));
});

test("what the flags accept: a duration in plain seconds (the demo stops by itself), HOST=N", async () => {
  // A run that gets past the flags: the demo with a duration in plain seconds stops by itself.
  const r = await runCli(["demo", "--pods", "1", "--clients", "1", "--duration", "1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sluice demo: stopped/);
  const analyze = await runCli(["analyze", SEED, "--concurrency", "grpc-service=10", "--rps", "5"]);
  assert.notEqual(analyze.code, 2, analyze.stderr);
});

#!/usr/bin/env node
// sluice command line: one file per command; this one only wires them to commander.
import type { Option } from "commander";
import { formatError, InternalError, SluiceError } from "../core/errors.js";
import { LOG_FORMATS, useLogFormat, type LogFormat } from "../runtime/log-format.js";
import { proxyCommand, type ProxyOptions } from "./proxy.js";
import type { AnalyzeCliOptions } from "./analyze.js";
import { validateCommand } from "./validate.js";
import { packageVersion } from "./version.js";
import type { ClientPolicy, Layer } from "../sim/scenario.js";
import { adminAddress, count, durationMs, FLAG_DURATION_HELP, hostPort, nonEmpty, perHost, repeatable } from "./flags.js";
import { choiceOption, SluiceCommand } from "./usage.js";

const io = {
  out: (line: string) => console.log(line),
  err: (line: string) => console.error(line),
};

// A SluiceCommand refuses a bad command line in one line (usage.ts); its subcommands are SluiceCommands too.
const program = new SluiceCommand();
program.name("sluice").description("Keeps gRPC load evenly spread across backends although gRPC holds HTTP/2 connections open for hours.");
program.version(packageVersion(), "-V, --version", "print sluice's version");

/** Enough to see balancing at work; past these the demo measures the machine, not sluice. */
const MAX_DEMO_PODS = 64;
const MAX_DEMO_CLIENTS = 256;

/** --log-format, on the commands that log (pino, on stderr). */
const logFormat = (fallback: LogFormat): Option =>
  choiceOption("--log-format <format>", "the log on stderr: one JSON object a line, or one line of text a record", LOG_FORMATS).default(fallback);

program
  .command("proxy")
  .description("run the gRPC proxy, configured with Istio DestinationRule / ServiceEntry / VirtualService YAML, or by a control plane (--xds)")
  .option("-c, --config <file>", "YAML config file (repeatable); with --xds, only the Proxy resource (listener settings)", repeatable(nonEmpty), [])
  .option("--xds <host:port>", "take clusters and routes from this control plane (ADS, e.g. sluice control-plane), following its updates", hostPort)
  .option("--xds-node-id <id>", "with --xds, the node id sent to the control plane (default sluice-proxy~HOSTNAME~PID)", nonEmpty)
  .option(
    "--xds-initial-wait <duration>",
    `with --xds, how long to wait for the first config before listening anyway (RPCs get UNAVAILABLE until it arrives; default 15s): ${FLAG_DURATION_HELP}`,
    durationMs,
  )
  .option("--listen <host:port>", "downstream listen address (overrides the Proxy resource)", hostPort)
  .option(
    "--admin <address>",
    "admin server address: host:port, a port on 127.0.0.1, or none (default 127.0.0.1:15000; overrides the Proxy resource)",
    adminAddress,
  )
  .addOption(choiceOption("--mode <mode>", "balance every RPC, or pin every connection", ["request", "connection"]))
  .addOption(choiceOption("--transport <kind>", "HTTP/2 implementation: sluice's own (h2) or node:http2 (node)", ["h2", "node"]))
  .option("--default-host <host>", "host for requests whose :authority matches no configured host", nonEmpty)
  .option("--drain-timeout <duration>", "on SIGTERM, how long RPCs in flight may take to finish (overrides the Proxy resource; default 5s)", durationMs)
  .option("--tls-cert <file>", "serve TLS with this certificate chain (PEM; with --tls-key; overrides the Proxy resource's spec.tls certificates)", nonEmpty)
  .option("--tls-key <file>", "the private key of --tls-cert (PEM, unencrypted)", nonEmpty)
  .option("--tls-client-ca <file>", "require client certificates issued by these CAs (PEM): mutual TLS (overrides spec.tls.caCertificates)", nonEmpty)
  .option("--listen-fd <fd>", "accept on this inherited listening socket (takeover on SIGUSR2, systemd socket activation)", count(0))
  .option("--pid-file <path>", "write the process id here once listening (a successor after SIGUSR2 writes its own)", nonEmpty)
  .addOption(logFormat("json"))
  .onlyWhen("xdsNodeId", "--xds-node-id", "with --xds", (o) => o["xds"] !== undefined)
  .onlyWhen("xdsInitialWait", "--xds-initial-wait", "with --xds", (o) => o["xds"] !== undefined)
  // A certificate without its key (or the reverse) cannot serve TLS: refused before anything starts.
  .rule((o) => (o["tlsCert"] !== undefined && o["tlsKey"] === undefined ? "--tls-cert needs --tls-key: the certificate's private key" : undefined))
  .rule((o) => (o["tlsKey"] !== undefined && o["tlsCert"] === undefined ? "--tls-key needs --tls-cert: the certificate chain the key belongs to" : undefined))
  .action(async (opts: ProxyOptions & { logFormat: LogFormat }) => {
    useLogFormat(opts.logFormat);
    process.exitCode = await proxyCommand(opts, io);
  });

program
  .command("control-plane")
  .description("serve the config over xDS (ADS v3) to proxyless gRPC clients (xds:///HOST for each ServiceEntry host)")
  .requiredOption("-c, --config <file>", "YAML config file (repeatable)", repeatable(nonEmpty), [])
  // istiod's plaintext xDS port, on loopback unless told otherwise.
  .option("--listen <host:port>", "ADS listen address", hostPort, "127.0.0.1:15010")
  .option("--weights-from-load", "serve LRS too and push endpoint weights learned from the clients' load reports in EDS (off: no load reporting)")
  .option("--load-report-interval <duration>", "with --weights-from-load: how often clients report load (default 1s)", durationMs)
  .addOption(logFormat("json"))
  .onlyWhen("loadReportInterval", "--load-report-interval", "with --weights-from-load", (o) => o["weightsFromLoad"] === true)
  .action(async (opts: { config: string[]; listen: string; weightsFromLoad?: boolean; loadReportInterval?: number; logFormat: LogFormat }) => {
    useLogFormat(opts.logFormat);
    // Loaded on use: the xDS protos cost the other commands nothing.
    const { controlPlaneCommand } = await import("./control-plane.js");
    process.exitCode = await controlPlaneCommand(opts, io);
  });

program
  .command("validate")
  .description("check config files; print every problem with file:line and field path")
  .argument("<file...>", "YAML config files")
  .action(async (files: string[]) => {
    process.exitCode = await validateCommand(files, io);
  });

program
  .command("analyze")
  .description("check config files for settings that work against balancing, each with the reason and the fix; exit 0 clean, 1 warnings, 2 errors")
  .argument("<file...>", "YAML config files")
  .addOption(choiceOption("--format <format>", "output format", ["text", "json"]).default("text"))
  .option("--client-options <file>", "the clients' gRPC channel options and/or service config, as JSON (checks their keepalive against the proxy's)", nonEmpty)
  .option(
    "--concurrency <n>",
    "expected concurrent RPCs to a service: N for every host, or HOST=N (repeatable); checks http2MaxRequests",
    repeatable(perHost),
    [],
  )
  .option("--rps <n>", "expected RPCs per second to a service: N or HOST=N (repeatable); puts numbers on connection costs", repeatable(perHost), [])
  // Bad flags are errors: exit 2, as for a config that cannot be read (1 means warnings here).
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .action(async (files: string[], opts: AnalyzeCliOptions) => {
    const { analyzeCommand } = await import("./analyze.js");
    // The simulator measures what maxRequestsPerConnection: 1 costs.
    const { reuseCost } = await import("../sim/reuse-cost.js");
    process.exitCode = await analyzeCommand(files, opts, io, { costOf: reuseCost });
  });

program
  .command("demo")
  .description("local pods, the proxy loaded with examples/seed.yaml, and clients with one long-lived channel each")
  .addOption(
    choiceOption(
      "--mode <mode>",
      "request: every RPC balanced, a per-pod table every second until stopped; connection: clients pinned to pod 1, spread over every pod by connection cycling (maxRequestsPerConnection)",
      ["request", "connection"],
    ).default("request"),
  )
  .option("--pods <n>", `backend pods (1 to ${MAX_DEMO_PODS})`, count(1, MAX_DEMO_PODS), 3)
  .option("--clients <n>", `clients, one channel each (1 to ${MAX_DEMO_CLIENTS})`, count(1, MAX_DEMO_CLIENTS), 3)
  .option("--duration <duration>", `request mode: stop after this long (default: run until Ctrl-C): ${FLAG_DURATION_HELP}`, durationMs)
  .option("-c, --config <file>", "config to load instead of examples/seed.yaml", nonEmpty)
  .option(
    "--failing-pods <n>",
    "request mode: the last n pods answer UNAVAILABLE to every call from 5 s in, for outlier detection to eject",
    count(1, MAX_DEMO_PODS),
  )
  .addOption(logFormat("text"))
  .onlyWhen("duration", "--duration", "in request mode (the connection-mode story runs to its end)", (o) => o["mode"] === "request")
  .onlyWhen("failingPods", "--failing-pods", "in request mode (the connection-mode story runs with healthy pods)", (o) => o["mode"] === "request")
  .rule((o) => {
    const failing = o["failingPods"] as number | undefined;
    const pods = o["pods"] as number;
    return failing !== undefined && failing > pods ? `--failing-pods: must be at most --pods (${pods}), got ${failing}` : undefined;
  })
  .action(
    async (opts: {
      mode: "request" | "connection";
      pods: number;
      clients: number;
      duration?: number;
      config?: string;
      failingPods?: number;
      logFormat: LogFormat;
    }) => {
      useLogFormat(opts.logFormat);
      // Loaded on use: the demo's gRPC clients and servers (grpc-js) cost `sluice proxy` memory.
      const { demoCommand } = await import("./demo.js");
      process.exitCode = await demoCommand(opts, io);
    },
  );

program
  .command("sim")
  .description("simulate how a config spreads load, on a virtual clock, with the proxy's own balancing code (examples/seed.yaml's DestinationRule without -c)")
  .option("-c, --config <file>", "YAML config file (repeatable); its DestinationRule's policy is simulated", repeatable(nonEmpty), [])
  .requiredOption(
    "--scenario <name|file>",
    "a built-in scenario (seed, scale-out, slow-pod, failing-pod, rolling-restart) or a scenario file (YAML or JSON)",
    nonEmpty,
  )
  .addOption(choiceOption("--layer <layer>", "where balancing happens (default: the scenario's)", ["proxy-request", "proxy-connection", "client", "l4"]))
  .addOption(
    choiceOption("--client-policy <policy>", "with the client layer: the channels' policy (default: the scenario's)", [
      "round_robin",
      "least_request",
      "peak_ewma",
      "random",
    ]),
  )
  .option("--host <host>", "the service to simulate when the config has several", nonEmpty)
  .option("--out <dir>", "write the series (CSV), the summary (CSV, JSON) and charts (SVG, PNG) there", nonEmpty)
  .option("--seed <n>", "random seed (default: the scenario's)", count(0, 2 ** 32 - 1))
  .addOption(choiceOption("--format <format>", "summary on stdout as a table or JSON", ["text", "json"]).default("text"))
  // The scenario's own layer is known once it is read: sim.ts checks that case.
  .onlyWhen("clientPolicy", "--client-policy", "with --layer client", (o) => o["layer"] === undefined || o["layer"] === "client")
  .action(
    async (opts: {
      config: string[];
      scenario: string;
      layer?: Layer;
      clientPolicy?: ClientPolicy;
      host?: string;
      out?: string;
      seed?: number;
      format: "text" | "json";
    }) => {
      // Loaded on use, as the other commands are.
      const { simCommand } = await import("./sim.js");
      process.exitCode = await simCommand({ ...opts, progress: process.stderr.isTTY }, io);
    },
  );

// A flag value that does not parse, an unknown flag, a flag that means nothing with the
// others given: one line, exit 1 (usage.ts). A SluiceError a command did not handle is one
// line with its code; a bug in sluice (InternalError) and anything else keep node's report
// and stack.
try {
  await program.parseAsync(process.argv);
} catch (err: unknown) {
  if (!(err instanceof SluiceError) || err instanceof InternalError) throw err;
  io.err(`sluice: ${formatError(err)}`);
  process.exitCode = 1;
}

#!/usr/bin/env node
// sluice command line: one file per command; this one only wires them to commander.
import { Command, InvalidArgumentError, Option } from "commander";
import { formatError, InternalError, SluiceError } from "../core/errors.js";
import { proxyCommand, type ProxyOptions } from "./proxy.js";
import type { AnalyzeCliOptions } from "./analyze.js";
import { validateCommand } from "./validate.js";
import { packageVersion } from "./version.js";
import type { ClientPolicy, Layer } from "../sim/scenario.js";

const io = {
  out: (line: string) => console.log(line),
  err: (line: string) => console.error(line),
};

const program = new Command();
program.name("sluice").description("Keeps gRPC load evenly spread across backends although gRPC holds HTTP/2 connections open for hours.").showHelpAfterError();
program.version(packageVersion(), "-V, --version", "print sluice's version");

program
  .command("proxy")
  .description("run the gRPC proxy, configured with Istio DestinationRule / ServiceEntry / VirtualService YAML, or by a control plane (--xds)")
  .option("-c, --config <file>", "YAML config file (repeatable); with --xds, only the Proxy resource (listener settings)", collect, [])
  .option("--xds <host:port>", "take clusters and routes from this control plane (ADS, e.g. sluice control-plane), following its updates")
  .option("--xds-node-id <id>", "the node id sent to the control plane (default sluice-proxy~HOSTNAME~PID)")
  .option(
    "--xds-initial-wait <duration>",
    "with --xds, how long to wait for the first config before listening anyway (RPCs get UNAVAILABLE until it arrives)",
    "15s",
  )
  .option("--listen <host:port>", "downstream listen address (overrides the Proxy resource)")
  .option("--admin <address>", "admin server address: host:port, a port on 127.0.0.1, or none (default 127.0.0.1:15000; overrides the Proxy resource)")
  .addOption(new Option("--mode <mode>", "balance every RPC, or pin every connection").choices(["request", "connection"]))
  .addOption(new Option("--transport <kind>", "HTTP/2 implementation: sluice's own (h2) or node:http2 (node)").choices(["h2", "node"]))
  .option("--default-host <host>", "host for requests whose :authority matches no configured host")
  .option("--drain-timeout <duration>", "on SIGTERM, how long RPCs in flight may take to finish (overrides the Proxy resource; default 5s)")
  .option("--listen-fd <fd>", "accept on this inherited listening socket (takeover on SIGUSR2, systemd socket activation)", parseFd)
  .option("--pid-file <path>", "write the process id here once listening (a successor after SIGUSR2 writes its own)")
  .action(async (opts: ProxyOptions) => {
    process.exitCode = await proxyCommand(opts, io);
  });

program
  .command("control-plane")
  .description("serve the config over xDS (ADS v3) to proxyless gRPC clients (xds:///HOST for each ServiceEntry host)")
  .requiredOption("-c, --config <file>", "YAML config file (repeatable)", collect, [])
  // istiod's plaintext xDS port, on loopback unless told otherwise.
  .option("--listen <host:port>", "ADS listen address", "127.0.0.1:15010")
  .option("--weights-from-load", "serve LRS too and push endpoint weights learned from the clients' load reports in EDS (off: no load reporting)")
  .option("--load-report-interval <duration>", "with --weights-from-load: how often clients report load (default 1s)")
  .action(async (opts: { config: string[]; listen: string; weightsFromLoad?: boolean; loadReportInterval?: string }) => {
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
  .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
  .option("--client-options <file>", "the clients' gRPC channel options and/or service config, as JSON (checks their keepalive against the proxy's)")
  .option("--concurrency <n>", "expected concurrent RPCs to a service: N for every host, or HOST=N (repeatable); checks http2MaxRequests", collect, [])
  .option("--rps <n>", "expected RPCs per second to a service: N or HOST=N (repeatable); puts numbers on connection costs", collect, [])
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
    new Option(
      "--mode <mode>",
      "request: every RPC balanced, a per-pod table every second until stopped; connection: the seed document's story, connections pinned to pod 1 spread by cycling",
    )
      .choices(["request", "connection"])
      .default("request"),
  )
  .option("--pods <n>", "backend pods", parsePositive, 3)
  .option("--clients <n>", "clients, one channel each", parsePositive, 3)
  .option("--duration <seconds>", "request mode: stop after this many seconds (default: run until Ctrl-C)", parsePositive)
  .option("-c, --config <file>", "config to load instead of examples/seed.yaml")
  .option("--failing-pods <n>", "request mode: the last n pods answer UNAVAILABLE to every call from 5 s in, for outlier detection to eject", parsePositive)
  .action(async (opts: { mode: "request" | "connection"; pods: number; clients: number; duration?: number; config?: string; failingPods?: number }) => {
    // Loaded on use: the demo's gRPC clients and servers (grpc-js) cost `sluice proxy` memory.
    const { demoCommand } = await import("./demo.js");
    process.exitCode = await demoCommand(opts, io);
  });

program
  .command("sim")
  .description("simulate how a config spreads load, on a virtual clock, with the proxy's own balancing code (the seed document's DestinationRule without -c)")
  .option("-c, --config <file>", "YAML config file (repeatable); its DestinationRule's policy is simulated", collect, [])
  .requiredOption("--scenario <name|file>", "a built-in scenario (seed, scale-out, slow-pod, failing-pod, rolling-restart) or a scenario file (YAML or JSON)")
  .addOption(new Option("--layer <layer>", "where balancing happens (default: the scenario's)").choices(["proxy-request", "proxy-connection", "client", "l4"]))
  .addOption(
    new Option("--client-policy <policy>", "with --layer client: the channels' policy (default: the scenario's)").choices([
      "round_robin",
      "least_request",
      "peak_ewma",
      "random",
    ]),
  )
  .option("--host <host>", "the service to simulate when the config has several")
  .option("--out <dir>", "write the series (CSV), the summary (CSV, JSON) and charts (SVG, PNG) there")
  .option("--seed <n>", "random seed (default: the scenario's)", parseNonNegative)
  .addOption(new Option("--format <format>", "summary on stdout as a table or JSON").choices(["text", "json"]).default("text"))
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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseFd(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a file descriptor number, got "${value}"`);
  return n;
}

function parseNonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a non-negative integer, got "${value}"`);
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`must be a positive integer, got "${value}"`);
  return n;
}

// Option values that do not parse throw commander's InvalidArgumentError, which commander
// reports with the option's name. A SluiceError a command did not handle is one line with
// its code; a bug in sluice (InternalError) and anything else keep node's report and stack.
try {
  await program.parseAsync(process.argv);
} catch (err: unknown) {
  if (!(err instanceof SluiceError) || err instanceof InternalError) throw err;
  io.err(`sluice: ${formatError(err)}`);
  process.exitCode = 1;
}

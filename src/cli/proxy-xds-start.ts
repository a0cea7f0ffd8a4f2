// How `sluice proxy --xds` gets its first config: the listener settings from the -c files
// (which may hold only a Proxy resource) and the flags, then up to --xds-initial-wait for the
// control plane's first consistent snapshot. Loaded only with --xds: the xDS protos and
// grpc-js cost a file-configured proxy nothing.
import { hostname } from "node:os";
import { formatProblem } from "../config/diagnostics.js";
import { DURATION_HELP, formatDuration, parseDuration } from "../config/duration.js";
import { HOST_PORT_HELP, parseHostPort } from "../config/host-port.js";
import { loadConfigFilesReport, loadConfigSources, type ConfigOverrides, type LoadReport } from "../config/load.js";
import { AdsClient } from "../xds-client/ads-client.js";
import type { Io } from "./io.js";
import type { ProxyStart } from "./proxy-start.js";
import { ConfigReloader, proxyReloadTarget } from "./reload.js";
import { XdsFollower } from "./proxy-xds.js";

export interface XdsStartOptions {
  /** The control plane, host:port. */
  readonly xds: string;
  readonly xdsNodeId?: string;
  /** A duration; default 15s (Envoy's initial_fetch_timeout). */
  readonly xdsInitialWait?: string;
  readonly defaultHost?: string;
  readonly config: readonly string[];
  /**
   * Started by a running proxy to take its socket over (SIGUSR2): without a first snapshot
   * within the initial wait it exits instead of listening, and the old proxy keeps serving.
   */
  readonly successor?: boolean;
}

const COMMAND = "sluice proxy";
export const DEFAULT_INITIAL_WAIT = "15s";

export async function xdsStart(opts: XdsStartOptions, overrides: ConfigOverrides, io: Io): Promise<ProxyStart | undefined> {
  if (parseHostPort(opts.xds) === undefined) {
    io.err(`${COMMAND}: --xds: must be ${HOST_PORT_HELP}, got "${opts.xds}"`);
    return undefined;
  }
  const wait = parseDuration(opts.xdsInitialWait ?? DEFAULT_INITIAL_WAIT);
  if (!wait.ok) {
    io.err(`${COMMAND}: --xds-initial-wait: must be ${DURATION_HELP}, got "${opts.xdsInitialWait}"`);
    return undefined;
  }
  // --default-host names a host of the control plane's: the follower checks it at every update.
  const { defaultHost: _checkedLater, ...fileOverrides } = overrides;
  const files = [...opts.config];
  const initialTexts = files.length === 0 ? undefined : await ConfigReloader.readTexts(files);
  const report = files.length === 0 ? loadConfigSources([], fileOverrides) : await loadConfigFilesReport(files, fileOverrides);
  if (!listenerOnly(report, io)) return undefined;
  const result = report.result;
  const warnings = result.ok ? result.config.warnings : result.warnings;
  for (const w of warnings) io.err(`warning: ${formatProblem(w)}`);
  if (!result.ok) {
    for (const p of result.problems) io.err(formatProblem(p));
    io.err(
      `${COMMAND}: with --xds the hosts come from the control plane: a Proxy resource's defaultHost and healthCheck.hosts cannot name them (use --default-host)`,
    );
    return undefined;
  }

  const client = new AdsClient({ server: opts.xds, nodeId: opts.xdsNodeId ?? `sluice-proxy~${hostname()}~${process.pid}`, listeners: "all" });
  const follower = new XdsFollower(client, result.config.listener, { server: opts.xds, defaultHost: opts.defaultHost, command: COMMAND }, io);
  // Without files there is nothing to reload: SIGHUP must not kill the proxy (Node's default).
  let hangup: (() => void) | undefined;
  if (files.length === 0) {
    hangup = () => io.err(`${COMMAND}: SIGHUP: nothing to reload (no -c files; clusters and routes come from the control plane at ${opts.xds}); still serving`);
    process.on("SIGHUP", hangup);
  }
  client.start();
  if (!(await follower.waitForFirst(wait.ms))) {
    if (opts.successor === true) {
      // Taking over now would replace a proxy that has a config with one that has none.
      io.err(
        `${COMMAND}: no config from the control plane at ${opts.xds} within ${formatDuration(wait.ms)}; not taking over (the running proxy keeps serving)`,
      );
      follower.close();
      if (hangup !== undefined) process.off("SIGHUP", hangup);
      return undefined;
    }
    io.err(
      `${COMMAND}: no config from the control plane at ${opts.xds} within ${formatDuration(wait.ms)}; starting with none (RPCs get UNAVAILABLE) and still trying`,
    );
  }
  return {
    config: follower.config(),
    async follow(proxy) {
      follower.attach(proxyReloadTarget(proxy));
      let reloader: ConfigReloader | undefined;
      if (files.length > 0) {
        reloader = new ConfigReloader(files, fileOverrides, follower.fileTarget(proxyReloadTarget(proxy)), io);
        await reloader.start(initialTexts);
      }
      return {
        close() {
          reloader?.close();
          follower.close();
        },
      };
    },
    startLines: () => [`${COMMAND}: ${follower.describeStart()}`],
    cancel: () => follower.close(),
  };
}

/** With --xds, the -c files give the listener only: a ServiceEntry, DestinationRule or VirtualService there is an error. */
function listenerOnly(report: LoadReport, io: Io): boolean {
  const others = report.resources.filter((r) => r.kind !== "Proxy");
  for (const r of others) {
    io.err(
      `${r.file}:${r.line} ${r.kind}${r.name === null ? "" : ` ${r.name}`}: with --xds, clusters and routes come from the control plane; the config files may hold only the Proxy resource`,
    );
  }
  return others.length === 0;
}

// `sluice control-plane`: serves the config as xDS (ADS v3, state of the world) to proxyless
// gRPC clients (DNS ServiceEntries resolved here, served as addresses); reloads on SIGHUP and when its files change, pushing what changed to every
// subscribed client; SIGINT/SIGTERM end the streams and exit. With --weights-from-load it
// also serves LRS and pushes endpoint weights learned from the clients' load reports.
import { formatProblem } from "../config/diagnostics.js";
import { HOST_PORT_HELP, parseHostPort } from "../config/host-port.js";
import { loadConfigFiles } from "../config/load.js";
import { DURATION_HELP, formatDuration, parseDuration } from "../config/duration.js";
import { AdsServer } from "../xds-server/ads-server.js";
import { DnsEndpoints } from "../xds-server/dns-endpoints.js";
import type { Io } from "./io.js";
import { ConfigReloader, type ReloadTarget } from "./reload.js";

export interface ControlPlaneOptions {
  readonly config: string[];
  readonly listen: string;
  readonly weightsFromLoad?: boolean;
  /** How often clients report load (LRS); default 1s. Only with weightsFromLoad. */
  readonly loadReportInterval?: string;
}

const DEFAULT_LOAD_REPORT_INTERVAL_MS = 1000;

const COMMAND = "sluice control-plane";

export async function controlPlaneCommand(opts: ControlPlaneOptions, io: Io): Promise<number> {
  const listen = parseHostPort(opts.listen);
  if (listen === undefined) {
    io.err(`${COMMAND}: --listen: must be ${HOST_PORT_HELP}, got "${opts.listen}"`);
    return 1;
  }
  let intervalMs = DEFAULT_LOAD_REPORT_INTERVAL_MS;
  if (opts.loadReportInterval !== undefined) {
    if (opts.weightsFromLoad !== true) {
      io.err(`${COMMAND}: --load-report-interval only applies with --weights-from-load`);
      return 1;
    }
    const d = parseDuration(opts.loadReportInterval);
    if (!d.ok) {
      io.err(`${COMMAND}: --load-report-interval: ${d.reason}, got "${opts.loadReportInterval}" (${DURATION_HELP})`);
      return 1;
    }
    intervalMs = Math.round(d.ms);
  }
  const initialTexts = await ConfigReloader.readTexts(opts.config);
  const result = await loadConfigFiles(opts.config);
  const warnings = result.ok ? result.config.warnings : result.warnings;
  for (const w of warnings) io.err(`warning: ${formatProblem(w)}`);
  if (!result.ok) {
    for (const p of result.problems) io.err(formatProblem(p));
    return 1;
  }
  // DNS ServiceEntries are served with the addresses their names resolve to, pushed as they change.
  const serving: { ads?: AdsServer } = {};
  const dns = new DnsEndpoints({ onChange: (resolved) => serving.ads?.update(resolved) });
  dns.set(result.config);
  await dns.firstRound();
  const ads = new AdsServer(dns.set(result.config), opts.weightsFromLoad === true ? { weightsFromLoad: { intervalMs } } : {});
  serving.ads = ads;
  let port: number;
  try {
    port = await ads.start(listen.host, listen.port);
  } catch (err) {
    dns.stop();
    io.err(`${COMMAND}: cannot listen on ${opts.listen}: ${(err as Error).message}`);
    return 1;
  }
  const target: ReloadTarget = {
    command: COMMAND,
    apply(config) {
      const changed = ads.update(dns.set(config)).map((t) => t.slice(t.lastIndexOf(".") + 1));
      const summary = changed.length === 0 ? "no changes" : `pushed ${changed.join(", ")} (${describeCounts(ads)})`;
      return Promise.resolve({ summary, noop: changed.length === 0, warnings: [], fields: { changed } });
    },
  };
  const reloader = new ConfigReloader(opts.config, {}, target, io);
  await reloader.start(initialTexts);
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  const lrs = opts.weightsFromLoad === true ? `; LRS: endpoint weights from load reports every ${formatDuration(intervalMs)}` : "";
  io.out(`${COMMAND} serving ADS on ${host}:${port} (${describeCounts(ads)})${lrs}`);

  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  reloader.close();
  dns.stop();
  io.err(`${COMMAND}: ${signal}: closing the ADS streams`);
  await ads.stop();
  return 0;
}

function describeCounts(ads: AdsServer): string {
  return Object.entries(ads.counts())
    .map(([kind, n]) => `${n} ${kind}`)
    .join(", ");
}

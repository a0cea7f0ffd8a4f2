// `sluice control-plane`: serves the config as xDS (ADS v3, state of the world) to proxyless
// gRPC clients (DNS ServiceEntries resolved here, served as addresses); reloads on SIGHUP and when its files change, pushing what changed to every
// subscribed client; SIGINT/SIGTERM end the streams and exit. With --weights-from-load it
// also serves LRS and pushes endpoint weights learned from the clients' load reports.
import { parseHostPort } from "../config/host-port.js";
import { formatDuration } from "../config/duration.js";
import { InvalidArgumentError } from "../core/errors.js";
import { ConfigApplier } from "../runtime/config-applier.js";
import { announce } from "../runtime/events.js";
import { FileSource } from "../runtime/file-source.js";
import { AdsServer } from "../xds-server/ads-server.js";
import { DnsEndpoints } from "../xds-server/dns-endpoints.js";
import type { Io } from "./io.js";

/** The flags, parsed and checked (main.ts: flags.ts's parsers and the rules between them). */
export interface ControlPlaneOptions {
  readonly config: string[];
  /** host:port. */
  readonly listen: string;
  readonly weightsFromLoad?: boolean;
  /** How often clients report load (LRS), in ms; default 1s. Only with weightsFromLoad. */
  readonly loadReportInterval?: number;
}

const DEFAULT_LOAD_REPORT_INTERVAL_MS = 1000;

const COMMAND = "sluice control-plane";

export async function controlPlaneCommand(opts: ControlPlaneOptions, io: Io): Promise<number> {
  const listen = parseHostPort(opts.listen);
  if (listen === undefined) throw new InvalidArgumentError(`--listen: not host:port: "${opts.listen}"`); // main.ts checked it
  const intervalMs = Math.max(1, Math.round(opts.loadReportInterval ?? DEFAULT_LOAD_REPORT_INTERVAL_MS));
  // The files are watched from here on; what changes before the ADS server serves is pushed once it does.
  const source = new FileSource({ files: opts.config, overrides: {}, command: COMMAND, io });
  const applier = new ConfigApplier(COMMAND, io);
  const start = await source.start(applier);
  if (start === undefined) return 1;
  const config = start.snapshot.config;
  // DNS ServiceEntries are served with the addresses their names resolve to, pushed as they change.
  const serving: { ads?: AdsServer } = {};
  const dns = new DnsEndpoints({ onChange: (resolved) => serving.ads?.update(resolved) });
  dns.set(config);
  await dns.firstRound();
  const ads = new AdsServer(dns.set(config), opts.weightsFromLoad === true ? { weightsFromLoad: { intervalMs } } : {});
  serving.ads = ads;
  let port: number;
  try {
    port = await ads.start(listen.host, listen.port);
  } catch (err) {
    source.stop();
    dns.stop();
    io.err(`${COMMAND}: cannot listen on ${opts.listen}: ${(err as Error).message}`);
    return 1;
  }
  applier.attach({
    apply(next) {
      const changed = ads.update(dns.set(next)).map((t) => t.slice(t.lastIndexOf(".") + 1));
      const summary = changed.length === 0 ? "no changes" : `pushed ${changed.join(", ")} (${describeCounts(ads)})`;
      return Promise.resolve({ summary, noop: changed.length === 0, warnings: [], fields: { changed } });
    },
  });
  // Handled for good: SIGHUP must not kill the process (Node's default), even while it stops.
  process.on("SIGHUP", () => source.reread("SIGHUP"));
  // Handlers before the serving line: whoever reads it may signal at once.
  const signal = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  const lrs = opts.weightsFromLoad === true ? `; LRS: endpoint weights from load reports every ${formatDuration(intervalMs)}` : "";
  announce(io, {
    event: "control plane serving",
    fields: { listen: `${host}:${port}`, resources: ads.counts(), ...(opts.weightsFromLoad === true && { loadReportIntervalMs: intervalMs }) },
    line: `${COMMAND} serving ADS on ${host}:${port} (${describeCounts(ads)})${lrs}`,
  });

  const stoppedBy = await signal;
  source.stop();
  applier.close();
  dns.stop();
  announce(io, { event: "control plane stopping", fields: { signal: stoppedBy }, line: `${COMMAND}: ${stoppedBy}: closing the ADS streams` });
  await ads.stop();
  return 0;
}

function describeCounts(ads: AdsServer): string {
  return Object.entries(ads.counts())
    .map(([kind, n]) => `${n} ${kind}`)
    .join(", ");
}

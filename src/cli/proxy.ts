// `sluice proxy`: load config, start; reload the config on SIGHUP and when its files change,
// or follow a control plane (--xds); drain gracefully on SIGINT/SIGTERM; on SIGUSR2 hand the
// listening socket to a new sluice and drain (takeover.ts).
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { formatDuration } from "../config/duration.js";
import type { ConfigOverrides } from "../config/load.js";
import { observedProxy } from "../admin/observability.js";
import { adminUrl, startAdminServer } from "./admin-start.js";
import type { Io } from "./io.js";
import { fileStart, type ProxyStart } from "./proxy-start.js";
import { announceReady, handOver } from "./takeover.js";

export interface ProxyOptions {
  readonly config: string[];
  /** Clusters and routes from this control plane (host:port) instead of the -c files. */
  readonly xds?: string;
  readonly xdsNodeId?: string;
  readonly xdsInitialWait?: string;
  readonly listen?: string;
  readonly admin?: string;
  readonly mode?: string;
  readonly transport?: string;
  readonly defaultHost?: string;
  readonly drainTimeout?: string;
  /** Accept on this inherited listening socket (a takeover, or systemd socket activation). */
  readonly listenFd?: number;
  /** Written with our pid once we listen (a successor overwrites it). */
  readonly pidFile?: string;
}

export async function proxyCommand(opts: ProxyOptions, io: Io): Promise<number> {
  const overrides: ConfigOverrides = {
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(opts.admin !== undefined ? { admin: opts.admin } : {}),
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.transport !== undefined ? { transport: opts.transport } : {}),
    ...(opts.defaultHost !== undefined ? { defaultHost: opts.defaultHost } : {}),
    ...(opts.drainTimeout !== undefined ? { drainTimeout: opts.drainTimeout } : {}),
  };
  const start = await configStart(opts, overrides, io);
  if (start === undefined) return 1;
  const { proxy, observability } = observedProxy(start.config);
  // Before the proxy listens, so /ready answers 503 while the clusters warm.
  const adminStart = await startAdminServer(observability, start.config.listener.admin, opts.listenFd !== undefined, io);
  if (!adminStart.ok) {
    start.cancel();
    return 1;
  }
  const admin = adminStart.address;
  let address: { host: string; port: number };
  try {
    address = await proxy.start(opts.listenFd);
  } catch (err) {
    io.err(`sluice proxy: cannot listen: ${(err as Error).message}`);
    start.cancel();
    await observability.stop();
    return 1;
  }
  // Watching (and SIGHUP, and the control plane) before the listening line: a change made after it is never missed.
  const reloader = await start.follow(proxy);
  if (opts.pidFile !== undefined) writeFileSync(opts.pidFile, `${process.pid}\n`);
  io.out(`sluice proxy listening on ${address.host}:${address.port} (mode ${start.config.listener.mode}, transport ${start.config.listener.transport})`);
  if (admin !== undefined) io.out(`sluice proxy admin on ${adminUrl(admin)}`);
  for (const line of start.startLines()) io.out(line);
  announceReady();

  await new Promise<void>((resolve) => {
    let phase: "serving" | "handing-over" | "draining" = "serving";
    const drain = async (why: string): Promise<void> => {
      // The handlers stay (and do nothing from now on): a second signal must not kill the
      // process under the RPCs it is draining, as Node's default action would.
      phase = "draining";
      reloader.close();
      const ms = proxy.config.listener.drainTimeoutMs;
      // Stop first: the listening socket is closed by the time the line is out.
      const stopped = proxy.stop(ms);
      io.err(`sluice proxy: ${why}: draining (RPCs in flight get up to ${formatDuration(ms)})`);
      await stopped;
      io.err("sluice proxy: drained, exiting");
      resolve();
    };
    const onStop = (signal: string): void => {
      if (phase !== "draining") void drain(signal);
    };
    const onTakeover = (): void => {
      if (phase !== "serving") return;
      const fd = proxy.listeningFd();
      if (fd === undefined) {
        io.err("sluice proxy: SIGUSR2: no listening socket to hand over");
        return;
      }
      phase = "handing-over";
      io.err("sluice proxy: SIGUSR2: starting a successor on the listening socket");
      void handOver(fd).then((r) => {
        if (phase !== "handing-over") return; // SIGTERM meanwhile: already draining
        if (r.ok) {
          io.err(`sluice proxy: handed over to pid ${r.pid}`);
          // The successor takes the admin port over (it retries until it is free).
          void observability.stop();
          void drain(`handed over to pid ${r.pid}`);
        } else {
          phase = "serving";
          io.err(`sluice proxy: takeover failed, still serving: ${r.reason}`);
        }
      });
    };
    process.on("SIGINT", onStop);
    process.on("SIGTERM", onStop);
    process.on("SIGUSR2", onTakeover);
  });
  // After the drain: /ready answered 503 throughout it.
  adminStart.cancel();
  await observability.stop();
  if (opts.pidFile !== undefined) removePidFile(opts.pidFile);
  return 0;
}

async function configStart(opts: ProxyOptions, overrides: ConfigOverrides, io: Io): Promise<ProxyStart | undefined> {
  if (opts.xds === undefined) {
    if (opts.config.length === 0) {
      io.err("sluice proxy: give the config with -c FILE (repeatable), or a control plane with --xds HOST:PORT");
      return undefined;
    }
    return fileStart(opts.config, overrides, io);
  }
  // Loaded on use: the xDS protos and grpc-js cost a file-configured proxy nothing.
  const { xdsStart } = await import("./proxy-xds-start.js");
  // A successor (takeover.ts sets this variable for the process it starts) waits for the control plane's config.
  const successor = opts.listenFd !== undefined && process.env["SLUICE_TAKEOVER_FROM"] !== undefined;
  return xdsStart({ ...opts, xds: opts.xds, successor }, overrides, io);
}

/** Removes the pid file unless a successor has written its own pid there. */
function removePidFile(file: string): void {
  try {
    if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file);
  } catch {
    // Already gone.
  }
}

// `sluice proxy`: load config, start; reload the config on SIGHUP and when its files change;
// drain gracefully on SIGINT/SIGTERM; on SIGUSR2 hand the listening socket to a new sluice
// and drain (takeover.ts).
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { formatProblem } from "../config/diagnostics.js";
import { formatDuration } from "../config/duration.js";
import { loadConfigFiles, type ConfigOverrides } from "../config/load.js";
import { observedProxy } from "../admin/observability.js";
import { adminUrl, startAdminServer } from "./admin-start.js";
import type { Io } from "./io.js";
import { ConfigReloader, proxyReloadTarget } from "./reload.js";
import { announceReady, handOver } from "./takeover.js";

export interface ProxyOptions {
  readonly config: string[];
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
  // The texts as they were before the first load: a change made while the clusters warm is
  // then seen by the reloader, which compares against these.
  const initialTexts = await ConfigReloader.readTexts(opts.config);
  const result = await loadConfigFiles(opts.config, overrides);
  const warnings = result.ok ? result.config.warnings : result.warnings;
  for (const w of warnings) io.err(`warning: ${formatProblem(w)}`);
  if (!result.ok) {
    for (const p of result.problems) io.err(formatProblem(p));
    return 1;
  }
  const { proxy, observability } = observedProxy(result.config);
  // Before the proxy listens, so /ready answers 503 while the clusters warm.
  const adminStart = await startAdminServer(observability, result.config.listener.admin, opts.listenFd !== undefined, io);
  if (!adminStart.ok) return 1;
  const admin = adminStart.address;
  let address: { host: string; port: number };
  try {
    address = await proxy.start(opts.listenFd);
  } catch (err) {
    io.err(`sluice proxy: cannot listen: ${(err as Error).message}`);
    await observability.stop();
    return 1;
  }
  // Watching (and SIGHUP) before the listening line: a change made after it is never missed.
  const reloader = new ConfigReloader(opts.config, overrides, proxyReloadTarget(proxy), io);
  await reloader.start(initialTexts);
  if (opts.pidFile !== undefined) writeFileSync(opts.pidFile, `${process.pid}\n`);
  io.out(`sluice proxy listening on ${address.host}:${address.port} (mode ${result.config.listener.mode}, transport ${result.config.listener.transport})`);
  if (admin !== undefined) io.out(`sluice proxy admin on ${adminUrl(admin)}`);
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

/** Removes the pid file unless a successor has written its own pid there. */
function removePidFile(file: string): void {
  try {
    if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file);
  } catch {
    // Already gone.
  }
}

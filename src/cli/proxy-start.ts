// Where `sluice proxy` gets its config: files (reloaded when they change), or a control plane
// (--xds, proxy-xds-start.ts). Either gives the config to start with, then keeps the running
// proxy up to date until closed.
import { formatProblem } from "../config/diagnostics.js";
import { loadConfigFiles, type ConfigOverrides } from "../config/load.js";
import type { ProxyConfig } from "../config/types.js";
import type { Proxy } from "../proxy/proxy.js";
import type { Io } from "./io.js";
import { ConfigReloader, proxyReloadTarget } from "./reload.js";

export interface ProxyStart {
  readonly config: ProxyConfig;
  /** Starts applying later configs to the proxy, once it listens; close() stops that (at drain). */
  follow(proxy: Proxy): Promise<{ close(): void }>;
  /** Lines printed after the listening line. */
  startLines(): readonly string[];
  /** The proxy could not start: stop whatever the start set going. */
  cancel(): void;
}

/** -c files: loaded now; reloaded on SIGHUP and when they change on disk. */
export async function fileStart(files: readonly string[], overrides: ConfigOverrides, io: Io): Promise<ProxyStart | undefined> {
  // The texts as they were before the first load: a change made while the clusters warm is
  // then seen by the reloader, which compares against these.
  const initialTexts = await ConfigReloader.readTexts(files);
  const result = await loadConfigFiles([...files], overrides);
  const warnings = result.ok ? result.config.warnings : result.warnings;
  for (const w of warnings) io.err(`warning: ${formatProblem(w)}`);
  if (!result.ok) {
    for (const p of result.problems) io.err(formatProblem(p));
    return undefined;
  }
  return {
    config: result.config,
    async follow(proxy) {
      const reloader = new ConfigReloader(files, overrides, proxyReloadTarget(proxy), io);
      await reloader.start(initialTexts);
      return reloader;
    },
    startLines: () => [],
    cancel: () => undefined,
  };
}

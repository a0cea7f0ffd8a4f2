// `sluice proxy`: load config, start, drain gracefully on SIGINT/SIGTERM.
import { formatProblem } from "../config/diagnostics.js";
import { loadConfigFiles } from "../config/load.js";
import { Proxy } from "../proxy/proxy.js";

export interface ProxyOptions {
  readonly config: string[];
  readonly listen?: string;
  readonly admin?: string;
  readonly mode?: string;
  readonly transport?: string;
  readonly defaultHost?: string;
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export async function proxyCommand(opts: ProxyOptions, io: Io): Promise<number> {
  const result = await loadConfigFiles(opts.config, {
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(opts.admin !== undefined ? { admin: opts.admin } : {}),
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.transport !== undefined ? { transport: opts.transport } : {}),
    ...(opts.defaultHost !== undefined ? { defaultHost: opts.defaultHost } : {}),
  });
  const warnings = result.ok ? result.config.warnings : result.warnings;
  for (const w of warnings) io.err(`warning: ${formatProblem(w)}`);
  if (!result.ok) {
    for (const p of result.problems) io.err(formatProblem(p));
    return 1;
  }
  const proxy = new Proxy(result.config);
  let address: { host: string; port: number };
  try {
    address = await proxy.start();
  } catch (err) {
    io.err(`sluice proxy: cannot listen: ${(err as Error).message}`);
    return 1;
  }
  io.out(`sluice proxy listening on ${address.host}:${address.port} (mode ${result.config.listener.mode}, transport ${result.config.listener.transport})`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      io.err(`sluice proxy: ${signal}: draining`);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void proxy.stop().then(resolve);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}

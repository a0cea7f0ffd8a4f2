// `sluice proxy`: the flags turned into a config source (files, or a control plane with
// --xds) and a supervisor that runs the proxy on it (src/runtime/: reload, drain, takeover).
import { formatDuration } from "../config/duration.js";
import type { ConfigOverrides } from "../config/load.js";
import type { ConfigSource } from "../runtime/config-source.js";
import { FileSource } from "../runtime/file-source.js";
import { Supervisor } from "../runtime/supervisor.js";
import { isSuccessor } from "../runtime/takeover.js";
import type { Io } from "./io.js";

/** The flags, parsed and checked (main.ts: flags.ts's parsers and the rules between them). */
export interface ProxyOptions {
  readonly config: string[];
  /** Clusters and routes from this control plane (host:port) instead of the -c files. */
  readonly xds?: string;
  readonly xdsNodeId?: string;
  /** ms; only with xds. */
  readonly xdsInitialWait?: number;
  readonly listen?: string;
  readonly admin?: string;
  readonly mode?: string;
  readonly transport?: string;
  readonly defaultHost?: string;
  /** ms. */
  readonly drainTimeout?: number;
  /** TLS on the listener: certificate chain and key (together), client CA; paths as typed. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsClientCa?: string;
  /** Accept on this inherited listening socket (a takeover, or systemd socket activation). */
  readonly listenFd?: number;
  /** Written with our pid once we listen (a successor overwrites it). */
  readonly pidFile?: string;
}

const COMMAND = "sluice proxy";
/** Envoy's initial_fetch_timeout. */
export const DEFAULT_INITIAL_WAIT_MS = 15_000;

export async function proxyCommand(opts: ProxyOptions, io: Io): Promise<number> {
  const source = await configSource(opts, io);
  if (source === undefined) return 1;
  return new Supervisor({ source, io, listenFd: opts.listenFd, pidFile: opts.pidFile }).run();
}

async function configSource(opts: ProxyOptions, io: Io): Promise<ConfigSource | undefined> {
  const overrides: ConfigOverrides = {
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(opts.admin !== undefined ? { admin: opts.admin } : {}),
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.transport !== undefined ? { transport: opts.transport } : {}),
    ...(opts.defaultHost !== undefined ? { defaultHost: opts.defaultHost } : {}),
    ...(opts.drainTimeout !== undefined ? { drainTimeout: formatDuration(opts.drainTimeout) } : {}),
    ...(opts.tlsCert !== undefined ? { tlsCert: opts.tlsCert } : {}),
    ...(opts.tlsKey !== undefined ? { tlsKey: opts.tlsKey } : {}),
    ...(opts.tlsClientCa !== undefined ? { tlsClientCa: opts.tlsClientCa } : {}),
  };
  if (opts.xds === undefined) {
    if (opts.config.length === 0) {
      io.err(`${COMMAND}: give the config with -c FILE (repeatable), or a control plane with --xds HOST:PORT`);
      return undefined;
    }
    return new FileSource({ files: opts.config, overrides, command: COMMAND, io });
  }
  // Loaded on use: the xDS protos and grpc-js cost a file-configured proxy nothing.
  const { xdsSource } = await import("../runtime/xds-source.js");
  return xdsSource({
    server: opts.xds,
    nodeId: opts.xdsNodeId,
    initialWaitMs: opts.xdsInitialWait ?? DEFAULT_INITIAL_WAIT_MS,
    files: opts.config,
    overrides,
    successor: isSuccessor(opts.listenFd),
    command: COMMAND,
    io,
  });
}

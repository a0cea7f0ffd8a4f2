// `sluice proxy`: the flags turned into a config source (files, or a control plane with
// --xds) and a supervisor that runs the proxy on it (src/runtime/: reload, drain, takeover).
import { DURATION_HELP, parseDuration } from "../config/duration.js";
import { HOST_PORT_HELP, parseHostPort } from "../config/host-port.js";
import type { ConfigOverrides } from "../config/load.js";
import type { ConfigSource } from "../runtime/config-source.js";
import { FileSource } from "../runtime/file-source.js";
import { Supervisor } from "../runtime/supervisor.js";
import { isSuccessor } from "../runtime/takeover.js";
import type { Io } from "./io.js";

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

const COMMAND = "sluice proxy";
/** Envoy's initial_fetch_timeout. */
const DEFAULT_INITIAL_WAIT = "15s";

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
    ...(opts.drainTimeout !== undefined ? { drainTimeout: opts.drainTimeout } : {}),
  };
  if (opts.xds === undefined) {
    if (opts.config.length === 0) {
      io.err(`${COMMAND}: give the config with -c FILE (repeatable), or a control plane with --xds HOST:PORT`);
      return undefined;
    }
    return new FileSource({ files: opts.config, overrides, command: COMMAND, io });
  }
  if (parseHostPort(opts.xds) === undefined) {
    io.err(`${COMMAND}: --xds: must be ${HOST_PORT_HELP}, got "${opts.xds}"`);
    return undefined;
  }
  const wait = parseDuration(opts.xdsInitialWait ?? DEFAULT_INITIAL_WAIT);
  if (!wait.ok) {
    io.err(`${COMMAND}: --xds-initial-wait: must be ${DURATION_HELP}, got "${opts.xdsInitialWait}"`);
    return undefined;
  }
  // Loaded on use: the xDS protos and grpc-js cost a file-configured proxy nothing.
  const { xdsSource } = await import("../runtime/xds-source.js");
  return xdsSource({
    server: opts.xds,
    nodeId: opts.xdsNodeId,
    initialWaitMs: wait.ms,
    files: opts.config,
    overrides,
    successor: isSuccessor(opts.listenFd),
    command: COMMAND,
    io,
  });
}

// Where a running sluice gets its config: files on disk (file-source.ts), a control plane
// (xds-source.ts), later the Kubernetes API. Each is a ConfigSource: it reads or receives
// config, validates it, and gives whole snapshots to one sink (the supervisor's applier),
// or says why one cannot be applied. The supervisor never knows which source it runs with:
// a new source is a new implementation of this interface and a line of wiring in cli/.
import type { ProxyConfig } from "../config/types.js";
import type { SluiceError } from "../core/errors.js";
import type { LifecycleEvent } from "./events.js";

export interface ConfigSource {
  /**
   * Reads (or waits for) the config to start with; from then on every later one goes to
   * `sink`, and so does every rejection. Undefined when there is none to start with: the
   * source has printed every problem and stopped.
   */
  start(sink: SnapshotSink): Promise<SourceStart | undefined>;
  /** Reads the config again and applies it even if unchanged (SIGHUP); `reason` names the cause in the lines. */
  reread(reason: string): void;
  /** Stops reading and watching (at drain, or when the proxy could not start). Idempotent. */
  stop(): void;
}

export interface SourceStart {
  readonly snapshot: ConfigSnapshot;
  /** Announced after the listening line: what the source started with, when that needs saying. */
  readonly events: readonly LifecycleEvent[];
}

/** One config, whole, as a source gives it. */
export interface ConfigSnapshot {
  /**
   * Valid and fully defaulted: config/ validated it, or the source composed it from parts
   * that were. The applier applies it as it is.
   */
  readonly config: ProxyConfig;
  /** Its clusters and routes in 8 hex digits (config-digest.ts): proxies running the same config log the same digest. */
  readonly digest: string;
  /**
   * What brought it, said once it is in force: one entry per source update folded into it
   * (with --xds a control-plane update and a file reload may apply as one config); none for
   * the first config, or one that only recomposes what runs.
   */
  readonly updates: readonly SnapshotUpdate[];
}

export interface SnapshotUpdate {
  /** "config reload #3", "xds update #7": the line reads `<command>: <name> applied (<description>): <what changed>`. */
  readonly name: string;
  /** "SIGHUP", "config 1a2b3c4d: 2 clusters, 1 virtual host". */
  readonly description: string;
  /** The JSON log line's message ("config reloaded"; ": no changes" is added when nothing changed)... */
  readonly logMessage: string;
  /** ...and the fields that identify the update ({ reload: 3, reason: "SIGHUP" }). */
  readonly logFields: Readonly<Record<string, unknown>>;
}

/** A config a source read or received and will not give: the running config stays. */
export interface Rejection {
  /** What is not applied: "config reload (SIGHUP) rejected", "xds update #2 not applied". */
  readonly what: string;
  /** Why, on the same line: "2 problems", "the control plane's resources cannot be mapped: ...". */
  readonly why: string;
  /** Lines printed after it as they are: every problem, as `sluice validate` prints it. */
  readonly details: readonly string[];
  /** The cause, whose stable code (docs/errors.md) the log line carries. */
  readonly error: SluiceError;
  readonly logMessage: string;
  readonly logFields: Readonly<Record<string, unknown>>;
}

/** What a source gives its snapshots and rejections to (config-applier.ts). */
export interface SnapshotSink {
  /**
   * Applies `snapshot` once the one before it is in force (none is applied before the proxy
   * serves). True once it is in force; false when it was not: applying it failed (the sink
   * has said why; the running config stays), or the sink is closed (the process drains).
   */
  apply(snapshot: ConfigSnapshot): Promise<boolean>;
  /** Says why a config is not applied; may come at any time, before the first apply too. */
  reject(rejection: Rejection): void;
}

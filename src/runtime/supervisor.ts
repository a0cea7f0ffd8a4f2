// The life of `sluice proxy`, whichever source its config comes from (config-source.ts):
//   starting     the source gives the first config; the admin server starts (so /ready says
//                503 while the clusters warm), then the proxy warms its clusters and listens;
//   serving      later configs are applied in place (config-applier.ts); SIGHUP asks the
//                source to read again;
//   handing-over SIGUSR2 started a successor on the listening socket (takeover.ts); until it
//                is ready this process serves on, and serves on if it fails;
//   draining     SIGINT/SIGTERM, or a successor took over: no new connections, RPCs in flight
//                get up to the drain timeout;
//   stopped      the exit code is known.
// Worker processes (one proxy per core) will hang off here: the supervisor will start them,
// give each snapshot to all of them (a ReloadTarget over the workers instead of one Proxy),
// and drain them; the sources, the signals and the takeover stay as they are.
import { formatDuration } from "../config/duration.js";
import { observedProxy, type Observability } from "../admin/observability.js";
import { tracer } from "../core/trace.js";
import type { Proxy } from "../proxy/proxy.js";
import { announceAdmin, startAdminServer, type AdminStart } from "./admin-start.js";
import { ConfigApplier } from "./config-applier.js";
import type { ConfigSource } from "./config-source.js";
import { announce } from "./events.js";
import type { Io } from "./io.js";
import { removePidFile, writePidFile } from "./pid-file.js";
import { proxyReloadTarget } from "./proxy-target.js";
import { announceReady, handOver } from "./takeover.js";

const trace = tracer("supervisor");

const COMMAND = "sluice proxy";

/** The signals the supervisor acts on. */
export type SupervisorSignal = "SIGHUP" | "SIGINT" | "SIGTERM" | "SIGUSR2";

/** Where signals come from: the process, or a test's EventEmitter. */
export interface Signals {
  on(signal: SupervisorSignal, listener: (signal: SupervisorSignal) => void): unknown;
}

export interface SupervisorOptions {
  readonly source: ConfigSource;
  readonly io: Io;
  /** Accept on this inherited listening socket (a takeover, or systemd socket activation). */
  readonly listenFd?: number | undefined;
  /** Written with our pid once we listen (a successor overwrites it). */
  readonly pidFile?: string | undefined;
  /** Default: the process. */
  readonly signals?: Signals;
}

/** What runs once the proxy listens. */
interface Running {
  readonly proxy: Proxy;
  readonly observability: Observability;
  readonly admin: Extract<AdminStart, { ok: true }>;
}

type Phase =
  | { readonly t: "starting" }
  | { readonly t: "serving"; readonly running: Running }
  | { readonly t: "handing-over"; readonly running: Running }
  | { readonly t: "draining"; readonly running: Running; readonly why: string }
  | { readonly t: "stopped"; readonly exitCode: number };

export class Supervisor {
  private phase: Phase = { t: "starting" };
  private readonly applier: ConfigApplier;
  private readonly signals: Signals;

  constructor(private readonly opts: SupervisorOptions) {
    this.applier = new ConfigApplier(COMMAND, opts.io);
    this.signals = opts.signals ?? process;
  }

  /** The proxy, from when it listens until it has drained. */
  get proxy(): Proxy | undefined {
    return this.phase.t === "starting" || this.phase.t === "stopped" ? undefined : this.phase.running.proxy;
  }

  /** Starts the proxy and serves until it has drained; resolves with the exit code. */
  async run(): Promise<number> {
    const { source, io, listenFd, pidFile } = this.opts;
    // From the start, and for good: SIGHUP must not kill the process (Node's default), even while it drains.
    this.signals.on("SIGHUP", (signal) => source.reread(signal));
    const start = await source.start(this.applier);
    if (start === undefined) return this.stop(1);
    const config = start.snapshot.config;
    const { proxy, observability } = observedProxy(config);
    // Before the proxy listens, so /ready answers 503 while the clusters warm.
    const admin = await startAdminServer(observability, config.listener.admin, listenFd !== undefined, io);
    if (!admin.ok) {
      source.stop();
      return this.stop(1);
    }
    let address: { host: string; port: number };
    try {
      address = await proxy.start(listenFd);
    } catch (err) {
      io.err(`${COMMAND}: cannot listen: ${(err as Error).message}`);
      source.stop();
      admin.cancel();
      await observability.stop();
      return this.stop(1);
    }
    if (pidFile !== undefined) {
      try {
        writePidFile(pidFile);
      } catch (err) {
        // Asked for and not written: whatever reads it (a service manager, a script) would act on a stale or missing pid.
        io.err(`${COMMAND}: cannot write the pid file: ${(err as Error).message}`);
        source.stop();
        admin.cancel();
        await proxy.stop(0);
        await observability.stop();
        return this.stop(1);
      }
    }
    // Applying (and watching, and following the control plane) before the listening line: a change made after it is never missed.
    this.applier.attach(proxyReloadTarget(proxy));
    const running: Running = { proxy, observability, admin };
    const drained = new Promise<void>((resolve) => {
      this.transition({ t: "serving", running });
      // The handlers stay (and do nothing once draining): a second signal must not kill the
      // process under the RPCs it is draining, as Node's default action would.
      const onStop = (signal: SupervisorSignal): void => {
        if (this.phase.t === "serving" || this.phase.t === "handing-over") void this.drain(running, signal).then(resolve);
      };
      this.signals.on("SIGINT", onStop);
      this.signals.on("SIGTERM", onStop);
      this.signals.on("SIGUSR2", () => this.takeOver(running, resolve));
    });
    // After the signal handlers: whoever reads the line may signal at once, and must get a drain, not Node's default kill.
    // The line only: the proxy logs its own "sluice proxy listening" record (src/proxy/proxy.ts).
    io.out(`${COMMAND} listening on ${address.host}:${address.port} (mode ${config.listener.mode}, transport ${config.listener.transport})`);
    if (admin.address !== undefined) announceAdmin(io, admin.address);
    for (const event of start.events) announce(io, event);
    announceReady();
    await drained;
    // After the drain: /ready answered 503 throughout it.
    admin.cancel();
    await observability.stop();
    if (pidFile !== undefined) removePidFile(pidFile);
    return this.stop(0);
  }

  /** SIGUSR2: a successor takes the listening socket; once it is ready, this process drains. */
  private takeOver(running: Running, drained: () => void): void {
    if (this.phase.t !== "serving") return;
    const { io } = this.opts;
    const fd = running.proxy.listeningFd();
    if (fd === undefined) {
      announce(io, { level: "warn", event: "takeover refused: no listening socket", line: `${COMMAND}: SIGUSR2: no listening socket to hand over` });
      return;
    }
    this.transition({ t: "handing-over", running });
    announce(io, { event: "takeover started", line: `${COMMAND}: SIGUSR2: starting a successor on the listening socket` });
    void handOver(fd).then((r) => {
      if (this.phase.t !== "handing-over") return; // SIGTERM meanwhile: already draining
      if (r.ok) {
        announce(io, { event: "handed over", fields: { successor: r.pid }, line: `${COMMAND}: handed over to pid ${r.pid}` });
        // The successor takes the admin port over (it retries until it is free).
        void running.observability.stop();
        void this.drain(running, `handed over to pid ${r.pid}`).then(drained);
      } else {
        this.transition({ t: "serving", running });
        announce(io, { level: "error", event: "takeover failed", fields: { err: r.reason }, line: `${COMMAND}: takeover failed, still serving: ${r.reason}` });
      }
    });
  }

  private async drain(running: Running, why: string): Promise<void> {
    const { io, source } = this.opts;
    this.transition({ t: "draining", running, why });
    source.stop();
    this.applier.close();
    const ms = running.proxy.config.listener.drainTimeoutMs;
    // Stop first: the listening socket is closed by the time the line is out.
    const stopped = running.proxy.stop(ms);
    announce(io, {
      event: "drain started",
      fields: { why, drainTimeoutMs: ms },
      line: `${COMMAND}: ${why}: draining (RPCs in flight get up to ${formatDuration(ms)})`,
    });
    await stopped;
    announce(io, { event: "drained", line: `${COMMAND}: drained, exiting` });
  }

  private stop(exitCode: number): number {
    this.applier.close();
    this.transition({ t: "stopped", exitCode });
    return exitCode;
  }

  private transition(to: Phase): void {
    trace("phase", { from: this.phase.t, to: to.t, ...(to.t === "draining" && { why: to.why }), ...(to.t === "stopped" && { exitCode: to.exitCode }) });
    this.phase = to;
  }
}

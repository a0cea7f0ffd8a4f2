// The `sluice` resolver: `sluice:///HOST[:PORT]` follows listener HOST[:PORT] on sluice's
// control plane (`sluice control-plane`, xDS over one ADS stream) and gives the channel the
// endpoints of the cluster its default route goes to, with a service config choosing
// sluice's client policies from that cluster's policy (xds-service-config.ts). Pushes reach
// the channel as they come, without reconnecting anything that stays. When the control plane
// goes away the channel keeps its last addresses (as grpc-js-xds does) until it is back.
//
// Where the control plane is, first found wins:
//   1. the target's authority: sluice://cp.example:15010/echo (the naming spec's place for a name server)
//   2. register({ controlPlane: "host:port" })
//   3. the SLUICE_CONTROL_PLANE environment variable
// With none, every call fails UNAVAILABLE saying how to set one.
import { experimental, type ChannelOptions } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../core/errors.js";
import { logger, tracer } from "../core/trace.js";
import type { XdsResources } from "../xds-client/decoded-resources.js";
import { watchListener } from "./control-plane-watch.js";
import { resolutionError, validPort, type EndpointList } from "./resolver-support.js";
import { resolveXdsTarget } from "./xds-target.js";
import { clusterFromSnapshot } from "./xds-cluster.js";
import { serviceConfigFor } from "./xds-service-config.js";

const trace = tracer("sluice_resolver");

export const CONTROL_PLANE_ENV = "SLUICE_CONTROL_PLANE";

let registeredControlPlane: string | null = null;

/** A "host:port" (IPv6 in brackets), or what is wrong with it. */
export function checkControlPlane(address: string): string | null {
  const hp = experimental.splitHostPort(address);
  if (hp === null || hp.host === "" || hp.port === undefined || !validPort(hp.port) || hp.port === 0) {
    return `control plane address must be host:port (e.g. 127.0.0.1:15010), got ${JSON.stringify(address)}`;
  }
  return null;
}

/** Sets (or with null clears) the control plane register({ controlPlane }) named. */
export function setControlPlane(address: string | null): void {
  if (address !== null) {
    const problem = checkControlPlane(address);
    if (problem !== null) throw new InvalidArgumentError(`register(): ${problem}`);
  }
  registeredControlPlane = address;
}

type Resolution = experimental.StatusOr<EndpointList>;

export class SluiceResolver implements experimental.Resolver {
  private readonly setup: { ok: true; server: string; listener: string } | { ok: false; error: Resolution };
  private readonly name: string;
  private release: (() => void) | null = null;
  /** What was last reported, as a key, so that only changes are reported; null after destroy(). */
  private lastKey: string | null = null;
  private lastError: Resolution | null = null;
  private pending: NodeJS.Immediate | undefined;
  private destroyed = false;
  /** grpc.service_config_disable_resolution: the channel's own grpc.service_config wins (as with DNS TXT records). */
  private readonly ownServiceConfig: boolean;

  constructor(
    uri: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    options: ChannelOptions,
  ) {
    this.name = experimental.uriToString(uri);
    this.ownServiceConfig = options["grpc.service_config_disable_resolution"] === 1;
    this.setup = parseTarget(uri, this.name);
  }

  static getDefaultAuthority(uri: experimental.GrpcUri): string {
    return uri.path;
  }

  updateResolution(): void {
    if (this.destroyed) return;
    const setup = this.setup;
    if (!setup.ok) {
      this.reportSoon(setup.error);
      return;
    }
    if (this.release === null) {
      trace("watching", { target: this.name, server: setup.server, listener: setup.listener });
      this.release = watchListener(setup.server, setup.listener, {
        update: (s) => this.onSnapshot(setup.listener, s),
        streamEnded: (why) => this.onStreamEnded(setup.server, why),
      });
      return;
    }
    // Pushed, not polled: a re-resolution request only repeats a failure (each exit from TRANSIENT_FAILURE says again why).
    if (this.lastError !== null) this.reportSoon(this.lastError);
  }

  destroy(): void {
    this.destroyed = true;
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.pending = undefined;
    this.release?.();
    this.release = null;
    this.lastKey = null;
    this.lastError = null;
  }

  private onSnapshot(listenerName: string, snapshot: XdsResources): void {
    if (this.destroyed) return; // grpc-js's listener is not to be called after destroy()
    const target = resolveXdsTarget(snapshot, listenerName);
    if (typeof target === "string") {
      this.reportError(resolutionError(`${this.name}: ${target}`));
      return;
    }
    const { cluster, problems } = clusterFromSnapshot(snapshot, target.cluster);
    if (cluster === null) {
      this.reportError(resolutionError(`${this.name}: cluster "${target.cluster}" cannot be used: ${problems.join("; ")}`));
      return;
    }
    if (cluster.policy.tls !== null) {
      // The channel connects with its own credentials, not the cluster's TLS: refused rather than risk plaintext.
      this.reportError(
        resolutionError(
          `${this.name}: cluster "${target.cluster}" asks for TLS (${cluster.policy.tls.mode}) to its endpoints, which a sluice:/// channel cannot apply (it connects with the channel's own credentials); reach it through sluice proxy --xds`,
        ),
      );
      return;
    }
    if (cluster.endpoints.length === 0) {
      this.reportError(
        resolutionError(`${this.name}: cluster "${target.cluster}" has no endpoints${problems.length === 0 ? "" : ` (${problems.join("; ")})`}`),
      );
      return;
    }
    const mapped = serviceConfigFor({ policy: cluster.policy, choiceCount: target.choiceCount });
    const allProblems = [...problems, ...mapped.problems];
    const addresses = cluster.endpoints.map((e) => ({ host: e.address, port: e.port }));
    const endpoints: EndpointList = addresses.map((a) => ({ addresses: [a] }));
    const serviceConfig = this.ownServiceConfig ? null : mapped.serviceConfig;
    const key = JSON.stringify([addresses, serviceConfig]);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.lastError = null;
    const note = allProblems.length === 0 ? "" : `${this.name}: ${allProblems.join("; ")}`;
    if (note !== "")
      logger.warn(
        { target: this.name, cluster: target.cluster, problems: allProblems },
        "sluice:/// channel: parts of the cluster's xDS config have no client equivalent",
      );
    trace("resolved", { target: this.name, cluster: target.cluster, endpoints: addresses.length, serviceConfig, problems: allProblems });
    this.listener({ ok: true, value: endpoints }, {}, serviceConfig === null ? null : { ok: true, value: serviceConfig }, note);
  }

  private onStreamEnded(server: string, why: { code: number; details: string }): void {
    if (this.destroyed) return;
    // With addresses already given, the channel keeps them (as grpc-js-xds does) while the client reconnects.
    if (this.lastKey !== null && this.lastError === null) return;
    this.reportError(resolutionError(`${this.name}: cannot reach the sluice control plane at ${server} (${why.details || `status ${why.code}`}); retrying`));
  }

  private reportError(error: Resolution): void {
    const key = JSON.stringify(error.ok ? null : error.error.details);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.lastError = error;
    this.listener(error, {}, null, "");
  }

  private reportSoon(result: Resolution): void {
    if (this.pending !== undefined || this.destroyed) return;
    // Never synchronously from updateResolution() (grpc-js's Resolver contract).
    this.pending = setImmediate(() => {
      this.pending = undefined;
      this.listener(result, {}, null, "");
    });
  }
}

function parseTarget(uri: experimental.GrpcUri, name: string): { ok: true; server: string; listener: string } | { ok: false; error: Resolution } {
  const listener = uri.path;
  const hp = experimental.splitHostPort(listener);
  if (listener === "" || listener.includes("/") || hp === null || hp.host === "" || !validPort(hp.port)) {
    return { ok: false, error: resolutionError(`bad target ${name}: expected sluice:///HOST or sluice:///HOST:PORT`) };
  }
  const fromAuthority = uri.authority !== undefined && uri.authority !== "" ? uri.authority : null;
  const fromEnv = process.env[CONTROL_PLANE_ENV];
  const server = fromAuthority ?? registeredControlPlane ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : null);
  if (server === null) {
    return {
      ok: false,
      error: resolutionError(
        `${name}: no sluice control plane configured: call register({ controlPlane: "host:port" }), set ${CONTROL_PLANE_ENV}=host:port, or name it in the target (sluice://host:port/${listener})`,
      ),
    };
  }
  const problem = checkControlPlane(server);
  if (problem !== null) {
    const source = fromAuthority !== null ? "the target's authority" : registeredControlPlane !== null ? "register({ controlPlane })" : CONTROL_PLANE_ENV;
    return { ok: false, error: resolutionError(`${name}: ${source}: ${problem}`) };
  }
  return { ok: true, server, listener };
}

// The `static` resolver: `static:///10.0.0.1:50051,10.0.0.2:50051,[fd00::3]:50051`, a
// fixed endpoint list written in the target, for tests, sidecars and fixed fleets. Only IP
// addresses: a name resolved once would go stale silently, which is the very problem the
// `dns` resolver's periodic refresh exists to fix, so a name is an error pointing there.
// A missing port is gRPC's default, 443. A bad target is reported as an UNAVAILABLE
// status naming the bad entry, which every call on the channel then carries.
import { isIP } from "node:net";
import { experimental } from "@grpc/grpc-js";
import { Status } from "../core/status.js";
import { DEFAULT_GRPC_PORT, resolutionError, validPort, type EndpointList } from "./resolver-support.js";

/** The endpoints in a static target's path, or what is wrong with it. */
export function parseStaticTarget(path: string): { ok: true; endpoints: EndpointList } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const endpoints: EndpointList = [];
  const seen = new Set<string>();
  const entries = path.split(",");
  entries.forEach((raw, i) => {
    const entry = raw.trim();
    const where = `entry ${i + 1} "${entry}"`;
    if (entry === "") {
      problems.push(`entry ${i + 1} is empty`);
      return;
    }
    const hostPort = experimental.splitHostPort(entry);
    if (hostPort === null || !validPort(hostPort.port)) {
      problems.push(`${where}: expected ip:port or [v6]:port`);
      return;
    }
    if (isIP(hostPort.host) === 0) {
      problems.push(`${where}: "${hostPort.host}" is not an IP address (use dns:///${entry} for names)`);
      return;
    }
    const port = hostPort.port ?? DEFAULT_GRPC_PORT;
    const key = experimental.subchannelAddressToString({ host: hostPort.host, port });
    if (seen.has(key)) {
      problems.push(`${where}: ${key} is listed twice`);
      return;
    }
    seen.add(key);
    endpoints.push({ addresses: [{ host: hostPort.host, port }] });
  });
  return problems.length === 0 ? { ok: true, endpoints } : { ok: false, problems };
}

export class StaticResolver implements experimental.Resolver {
  private readonly result: experimental.StatusOr<EndpointList>;
  /** Whether the list went to the current LB (reset by destroy(): the channel made a new one). */
  private reported = false;
  private pending: NodeJS.Immediate | undefined;

  constructor(
    uri: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
  ) {
    const parsed = parseStaticTarget(uri.path);
    this.result = parsed.ok
      ? { ok: true, value: parsed.endpoints }
      : resolutionError(`bad static target ${experimental.uriToString(uri)}: ${parsed.problems.join("; ")}`, Status.UNAVAILABLE);
  }

  /** The first entry: it names the service (a TLS channel checks the certificate against it). */
  static getDefaultAuthority(uri: experimental.GrpcUri): string {
    return uri.path.split(",")[0]?.trim() ?? uri.path;
  }

  updateResolution(): void {
    // The list never changes: it is reported once per LB; an error is reported every time,
    // so each attempt to leave TRANSIENT_FAILURE says again what is wrong.
    if ((this.reported && this.result.ok) || this.pending !== undefined) return;
    this.reported = true;
    // Never synchronously from updateResolution() (grpc-js's Resolver contract).
    this.pending = setImmediate(() => {
      this.pending = undefined;
      this.listener(this.result, {}, null, "");
    });
  }

  destroy(): void {
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.pending = undefined;
    this.reported = false;
  }
}

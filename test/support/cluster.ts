// Real backends and a real proxy on loopback, port 0, for integration tests.
import net, { type AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { loadConfigText } from "../../src/config/load.js";
import type { ProxyConfig, TransportKind } from "../../src/config/types.js";
import { startEchoServer, type PodStats } from "../../src/demo/echo-service.js";
import { echoClient } from "../../src/demo/echo-client.js";
import { Proxy, type ProxyDeps } from "../../src/proxy/proxy.js";

export interface Pod {
  readonly port: number;
  readonly stats: PodStats;
  readonly server: grpc.Server;
  stop(): Promise<void>;
}

/** `addServices` adds services to pod i (0-based) before it binds. */
export async function startPods(n: number, options: grpc.ServerOptions = {}, addServices?: (server: grpc.Server, i: number) => void): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (let i = 0; i < n; i++) pods.push(await startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, options, addServices && ((s) => addServices(s, i))));
  return pods;
}

/** A ServiceEntry for `host` with the pods as STATIC endpoints (labels pod: pod-N). */
export function serviceEntryYaml(host: string, ports: readonly number[], extra = ""): string {
  const endpoints = ports
    .map((p, i) => `    - address: 127.0.0.1\n      ports: { grpc: ${p} }\n      labels: { pod: pod-${i + 1}, version: v${(i % 2) + 1} }\n${extra}`)
    .join("");
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${host} }
spec:
  hosts: [${host}]
  ports:
    - { number: 50051, name: grpc, protocol: GRPC }
  resolution: STATIC
  endpoints:
${endpoints}`;
}

/** A DestinationRule for `host`; `trafficPolicy` holds its fields, indented by 4 spaces. */
export function destinationRuleYaml(host: string, trafficPolicy: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${host} }
spec:
  host: ${host}
  trafficPolicy:
${trafficPolicy}`;
}

/** A VirtualService routing `host` to its own cluster with `retries`; "{ attempts: 0 }" turns retries off. */
export function retriesYaml(host: string, retries: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${host} }
spec:
  hosts: [${host}]
  http:
  - retries: ${retries}
    route: [{ destination: { host: ${host} } }]`;
}

/** A loopback port nothing listens on (taken, then freed): connects to it are refused. */
export async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** The Proxy resource; `spec` holds extra indented spec lines, `transport` the HTTP/2 implementation (config default if omitted). */
export function listenerYaml(spec = "", transport?: TransportKind): string {
  const transportLine = transport === undefined ? "" : `  transport: ${transport}\n`;
  return `apiVersion: sluice.dev/v1alpha1
kind: Proxy
metadata: { name: test }
spec:
  listen: 127.0.0.1:0
${transportLine}${spec}`;
}

export function parseConfig(yaml: string): ProxyConfig {
  const result = loadConfigText(yaml, "test.yaml");
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.file}:${p.line} ${p.path}: ${p.message}`).join("\n"));
  return result.config;
}

export interface RunningProxy {
  readonly proxy: Proxy;
  readonly target: string;
  stop(): Promise<void>;
}

export async function startProxy(yaml: string, deps: ProxyDeps = {}): Promise<RunningProxy> {
  const proxy = new Proxy(parseConfig(yaml), deps);
  const addr = await proxy.start();
  return { proxy, target: `127.0.0.1:${addr.port}`, stop: () => proxy.stop(1000) };
}

/** Clients that each hold ONE long-lived channel of their own. */
export function clients(target: string, n: number, options: grpc.ChannelOptions = {}): grpc.Client[] {
  return Array.from({ length: n }, () => echoClient(target, options));
}

export function closeAll(cs: readonly grpc.Client[]): void {
  for (const c of cs) c.close();
}

export function md(entries: Record<string, string | Buffer>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) m.add(k, v);
  return m;
}

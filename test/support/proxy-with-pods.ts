// A sluice proxy in process in front of echo pods, with a grpc-js client: the setup of most
// proxy integration tests. Everything stops when the test ends, in order: clients, then the
// proxy (its teardown waits until no downstream connection is left open), then the pods
// (grpc-js tryShutdown: each waits until the proxy's connections to it have closed).
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import type { TransportKind } from "../../src/config/types.js";
import { echoClient } from "../../src/demo/echo-client.js";
import type { Proxy, ProxyDeps } from "../../src/proxy/proxy.js";
import type { ClusterRuntime } from "../../src/upstream/cluster.js";
import { listenerYaml, serviceEntryYaml, startProxy, type RunningProxy } from "./cluster.js";
import { scriptedPods, type Script, type ScriptedPod } from "./scripted-pods.js";
import { defer, once, type Owner } from "./teardown.js";

/** The cluster of host "echo" on port 50051, no subset: serviceEntryYaml("echo", ...)'s. */
export const ECHO_CLUSTER = "echo|50051|";

/** A backend: an echo pod, a pod in a child process, any server on a port. */
export interface Backend {
  readonly port: number;
}

export interface ProxySetup<P extends Backend, R extends RunningProxy = RunningProxy> {
  /**
   * The config's YAML documents, given the pods' ports; by default a Proxy resource on
   * `transport` and a ServiceEntry "echo" with every pod.
   */
  readonly config?: (ports: number[], pods: readonly P[]) => readonly string[];
  /** The HTTP/2 transport of the default config's Proxy resource (the config's default if unset). */
  readonly transport?: TransportKind;
  /** The proxy's dependencies (clock, random, endpoint source, hooks), or a function of the pods giving them. */
  readonly deps?: ProxyDeps | ((pods: readonly P[]) => ProxyDeps);
  /** The client's channel options; its authority is "echo" unless they set another. */
  readonly client?: grpc.ChannelOptions;
  /** Starts the proxy on the YAML: by default startProxy (the Proxy alone); withAdmin() (support/admin.ts) adds its admin server. */
  readonly start?: (yaml: string, deps: ProxyDeps) => Promise<R>;
}

/** The running proxy (`proxy`, `target`, and whatever else its start gave), its pods and clients. */
export type ProxyWithPods<P extends Backend = ScriptedPod, R extends RunningProxy = RunningProxy> = Omit<R, "stop"> & PodsAndClients<P>;

export interface PodsAndClients<P extends Backend> {
  readonly pods: P[];
  /** A client with a channel of its own to the proxy. */
  readonly client: grpc.Client;
  /** A running cluster (by default the "echo" ServiceEntry's); fails the test when there is none. */
  cluster(name?: string): ClusterRuntime;
  /** Another client with a channel of its own, closed at teardown; authority "echo" unless `options` say otherwise. */
  newClient(options?: grpc.ChannelOptions): grpc.Client;
  /** Closes the clients and stops the proxy now (the test's end does it otherwise); the pods keep running. */
  stop(): Promise<void>;
}

/** Scripted echo pods (a count, or each pod's script) and a proxy in front of them; all stopped when `owner` ends. */
export async function proxyWithPods<R extends RunningProxy = RunningProxy>(
  owner: Owner,
  setup: ProxySetup<ScriptedPod, R> & { readonly pods?: number | readonly Script[] } = {},
): Promise<ProxyWithPods<ScriptedPod, R>> {
  const pods = await scriptedPods(owner, setup.pods ?? 1);
  return proxyInFront(owner, pods, setup);
}

/** A proxy in front of pods the test started itself (and stops itself, after the proxy). */
export async function proxyInFront<P extends Backend, R extends RunningProxy = RunningProxy>(
  owner: Owner,
  pods: readonly P[],
  setup: ProxySetup<P, R> = {},
): Promise<ProxyWithPods<P, R>> {
  const ports = pods.map((p) => p.port);
  const yaml = (setup.config ?? ((ps) => [listenerYaml("", setup.transport), serviceEntryYaml("echo", ps)]))(ports, pods).join("\n---\n");
  const deps = typeof setup.deps === "function" ? setup.deps(pods) : setup.deps;
  // Without a start of its own, R is RunningProxy: startProxy's.
  const start = setup.start ?? (startProxy as (yaml: string, deps: ProxyDeps) => Promise<R>);
  const running = await start(yaml, deps ?? {});
  const clients: grpc.Client[] = [];
  const newClient = (options: grpc.ChannelOptions = {}): grpc.Client => {
    const c = echoClient(running.target, { "grpc.default_authority": "echo", ...options });
    clients.push(c);
    return c;
  };
  const proxy = running.proxy;
  const stop = once(async () => {
    for (const c of clients) c.close();
    await running.stop();
    await noOpenConnections(proxy);
  });
  defer(owner, stop);
  return {
    ...running,
    pods: [...pods],
    client: newClient(setup.client),
    cluster: (name = ECHO_CLUSTER) => {
      const c = proxy.cluster(name);
      assert.ok(c !== undefined, `no cluster ${name}`);
      return c;
    },
    newClient,
    stop,
  };
}

/**
 * Resolves once every downstream connection the proxy accepted has closed. The listener's
 * close waits for the sockets; the transport may report a close a few turns of the event
 * loop later, so this waits turns, not time, and fails past a bound.
 */
export async function noOpenConnections(proxy: Proxy): Promise<void> {
  for (let turn = 0; proxy.connectionsClosed < proxy.connectionsAccepted; turn++) {
    assert.ok(turn < 100_000, `${proxy.connectionsAccepted - proxy.connectionsClosed} downstream connections still open after stop`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

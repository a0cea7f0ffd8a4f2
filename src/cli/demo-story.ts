// `sluice demo --mode connection`: how maxRequestsPerConnection spreads long-lived
// connections, replayed on local pods. Pod 1 is alone in the cluster when each client (one
// channel each) sends its first RPC, so every connection is pinned to it; then the other
// pods join and each client sends 2,000 more RPCs, one after another. With
// maxRequestsPerConnection (seed.yaml: 100) the proxy sends GOAWAY after that many RPCs on a
// connection, and LEAST_CONN pins the client's new connection to the pod with the fewest:
// the clients end up spread evenly. Without it they stay on pod 1: a connection is balanced once, when it opens.
import { observedProxy } from "../admin/observability.js";
import type { Cluster, ProxyConfig } from "../config/types.js";
import { InvalidArgumentError } from "../core/errors.js";
import { callUnary, echoClient } from "../demo/echo-client.js";
import type { PodStats } from "../demo/echo-service.js";
import { ManualEndpointSource } from "../discovery/manual.js";
import type { ResolvedEndpoint } from "../discovery/types.js";
import { dashboardLine } from "../runtime/admin-start.js";
import type { Io } from "./io.js";

/** A local backend pod of the demo. */
export interface DemoPod {
  readonly port: number;
  readonly stats: PodStats;
  stop(): Promise<void>;
}

/** RPCs each client sends once the other pods have joined (after its first one). */
export const STORY_RPCS_PER_CLIENT = 2000;

export async function connectionStory(
  config: ProxyConfig,
  pods: readonly DemoPod[],
  clientCount: number,
  banner: (target: string) => void,
  io: Io,
): Promise<number> {
  const first = pods[0];
  if (first === undefined) throw new InvalidArgumentError("the story needs at least one pod");
  const clusters = [...config.clusters.values()];
  // Every cluster starts with pod 1 only; the other pods join in step 2.
  const sources = new Map<Cluster, ManualEndpointSource>();
  const { proxy, observability } = observedProxy(config, {
    endpointSource: (cluster) => {
      const source = new ManualEndpointSource(resolved(cluster).filter((e) => e.port === first.port));
      sources.set(cluster, source);
      return source;
    },
  });
  const admin = await observability.startAdmin();
  const addr = await proxy.start();
  const target = `127.0.0.1:${addr.port}`;
  banner(target);
  if (admin !== undefined) io.out(dashboardLine(admin));
  const main = clusters[0];
  const limit = main?.policy.connectionPool.http.maxRequestsPerConnection ?? 0;
  io.out(
    `cluster ${main?.name ?? "-"}: ${describePolicy(main)}, maxRequestsPerConnection ${limit}` +
      (limit > 0 ? ` (each downstream connection gets GOAWAY after ${limit} RPCs)` : " (connections are never cycled)"),
  );

  const clients = Array.from({ length: clientCount }, () => echoClient(target, { "grpc.default_authority": main?.host ?? "grpc-service" }));
  let running = true;
  const stop = (): void => {
    running = false;
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let failures = 0;
  let sent = 0;
  /** Step 2 has begun: the other pods joined. */
  let joined = false;
  /** Connections pinned to each pod, over every cluster: the counts LEAST_CONN compares. */
  const pinned = (): number[] =>
    pods.map((pod) =>
      clusters.reduce(
        (sum, c) => sum + (proxy.cluster(c.name)?.endpointList() ?? []).filter((e) => e.port === pod.port).reduce((a, e) => a + e.load.activeConnections, 0),
        0,
      ),
    );
  // Per client: RPCs sent, the pod that served the last one (x-pod), whether its first
  // connection cycle in step 2 has been told. One RPC at a time, so a connection carries
  // exactly `limit` RPCs and RPC limit+1 is the first on the client's next connection.
  const perClient = clients.map(() => ({ rpcs: 0, pod: "", told: false }));
  let toldCycles = 0;
  const send = async (ci: number, n: number): Promise<void> => {
    const client = clients[ci];
    const me = perClient[ci];
    if (client === undefined || me === undefined) return;
    for (let i = 0; i < n && running; i++) {
      const r = await callUnary(client, Buffer.from("hello from a long-lived channel"), undefined, { deadline: Date.now() + 10_000 });
      sent++;
      me.rpcs++;
      if (r.code !== 0) failures++;
      const pod = String(r.headers?.get("x-pod")[0] ?? "?");
      if (joined && !me.told && limit > 0 && me.rpcs % limit === 1) {
        // The story's point: the connection was cycled and LEAST_CONN pinned the new one.
        me.told = true;
        const where = pod === me.pod ? `pinned to ${pod} again` : `pinned to ${pod}, not ${me.pod}`;
        io.out(
          `  client ${ci + 1}, RPC ${me.rpcs}: its connection got GOAWAY after ${limit} RPCs; the new one is ${where} (pinned connections ${pinned().join("/")})`,
        );
        if (++toldCycles === clientCount)
          io.out(`  every client has reconnected once: pinned connections ${pinned().join("/")}; connections go on cycling every ${limit} RPCs`);
      }
      me.pod = pod;
    }
  };
  const table = (title: string): string => {
    const counts = pinned();
    const rows = pods.map((p, i) => `${p.stats.name.padEnd(8)} ${String(counts[i] ?? 0).padStart(7)} ${String(p.stats.rpcs).padStart(9)}`);
    return [title, `pod       pinned      RPCs   (failed RPCs: ${failures})`, ...rows, ""].join("\n");
  };

  io.out(`step 1: ${first.stats.name} is the only pod in the cluster; each client sends its first RPC`);
  await Promise.all(clients.map((_, ci) => send(ci, 1)));
  io.out(table(`before: every connection is pinned to ${first.stats.name}`));

  const joining = pods.slice(1).map((p) => p.stats.name);
  for (const [cluster, source] of sources) source.set(resolved(cluster));
  joined = true;
  const total = clientCount * STORY_RPCS_PER_CLIENT;
  io.out(
    `step 2: ${joining.length > 0 ? `${joining.join(", ")} join the cluster` : "no other pod"}; each client sends ${STORY_RPCS_PER_CLIENT} more RPCs, one after another`,
  );
  const base = sent;
  const ticker = setInterval(() => io.out(`  ${sent - base} of ${total} RPCs sent, ${proxy.connectionsCycled} connections cycled`), 1000);
  await Promise.all(clients.map((_, ci) => send(ci, STORY_RPCS_PER_CLIENT)));
  clearInterval(ticker);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  io.out(table(`after ${sent - base} more RPCs${running ? "" : " (interrupted)"}:`));
  io.out(`downstream connections: ${proxy.connectionsAccepted} accepted, ${proxy.connectionsCycled} cycled at maxRequestsPerConnection`);
  const spread = pinned();
  for (const c of clients) c.close();
  await proxy.stop(2000);
  await observability.stop();
  io.out("sluice demo: stopped");
  io.out(verdict(spread, pods, clientCount, limit));
  return failures === 0 ? 0 : 1;
}

/** The closing line: did the pinned connections end up as even as the pod count allows? */
function verdict(spread: readonly number[], pods: readonly DemoPod[], clientCount: number, limit: number): string {
  const even = isEven(spread, clientCount);
  const where = `pinned connections ${spread.join("/")} (${pods.map((p) => p.stats.name).join("/")})`;
  if (even) return `sluice demo: the spread became even: ${where}`;
  const why = limit === 0 ? "; without maxRequestsPerConnection no connection is cycled, so none moves: a connection is balanced once, when it opens" : "";
  return `sluice demo: the spread did NOT become even: ${where}${why}`;
}

/** Every client's connection counted, and no pod more than one connection ahead of another. */
function isEven(spread: readonly number[], clientCount: number): boolean {
  return spread.reduce((a, b) => a + b, 0) === clientCount && Math.max(...spread) - Math.min(...spread) <= 1;
}

function describePolicy(cluster: Cluster | undefined): string {
  const lb = cluster?.policy.loadBalancer;
  if (lb === undefined) return "no cluster";
  if (lb.kind === "consistentHash") return `consistent hash (${lb.algorithm.kind})`;
  return lb.policy === "LEAST_REQUEST" ? "LEAST_REQUEST (LEAST_CONN: the fewest pinned connections)" : lb.policy;
}

function resolved(cluster: Cluster): ResolvedEndpoint[] {
  return cluster.endpoints.map((e) => ({ address: e.address, port: e.port, weight: e.weight, labels: e.labels }));
}

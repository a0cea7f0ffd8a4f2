// The backends of bench/attacks.ts, as their own process: PODS grpc-js echo pods
// (src/demo/echo-service.ts) on 127.0.0.1, port 0. Prints "pods listening P1,P2"; on each
// "stats N" line read from stdin, prints "stats N {json}" (PodsStats): the streams that reached
// the pods, counted by grpc-js's channelz as each stream arrives (before any handler, so
// streams reset before their message count too), and the RPCs the echo handler served.
// Usage: node dist/bench/attack-pods.js PODS
import * as grpc from "@grpc/grpc-js";
import { createInterface } from "node:readline";
import { startEchoServer } from "../src/demo/echo-service.js";

export interface PodsStats {
  /** Streams the pods' HTTP/2 servers accepted (channelz calls_started, all servers). */
  readonly streams: number;
  /** Unary RPCs the echo handler began. */
  readonly rpcs: number;
}

interface ServersReply {
  readonly server: ReadonlyArray<{ readonly data?: { readonly calls_started?: number | string } }>;
}

/** Asks grpc-js's channelz handlers of this process directly (no channelz server needed). */
function streamsStarted(): Promise<number> {
  const handlers = grpc.getChannelzHandlers();
  return new Promise((resolve, reject) => {
    const call = { request: { start_server_id: 0, max_results: 100 } } as unknown as Parameters<typeof handlers.GetServers>[0];
    handlers.GetServers(call, (err, reply) => {
      if (err !== null && err !== undefined) reject(new Error(`channelz GetServers: ${err.details ?? err.code ?? "failed"}`));
      else resolve(((reply as ServersReply | undefined)?.server ?? []).reduce((n, s) => n + Number(s.data?.calls_started ?? 0), 0));
    });
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2);
  const pods = await Promise.all(Array.from({ length: n }, (_, i) => startEchoServer(`pod-${i + 1}`)));
  console.log(`pods listening ${pods.map((p) => p.port).join(",")}`);
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const m = /^stats (\d+)$/.exec(line.trim());
    if (m === null) return;
    void streamsStarted().then(
      (streams) => {
        const stats: PodsStats = { streams, rpcs: pods.reduce((s, p) => s + p.stats.rpcs, 0) };
        console.log(`stats ${m[1]} ${JSON.stringify(stats)}`);
      },
      (err: unknown) => console.log(`stats ${m[1]} error ${String(err)}`),
    );
  });
  lines.on("close", () => void Promise.all(pods.map((p) => p.stop())).then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});

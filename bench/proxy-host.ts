// sluice in a process of its own (pinned like the CLI proxy) whose endpoints the benchmark
// changes at runtime: every cluster gets a ManualEndpointSource fed from stdin instead of its
// ServiceEntry's (the proxy code is the same; only discovery is injected, as the tests do).
// sluice's own DNS discovery would need a resolver whose answers the benchmark controls.
//
// Usage: node dist/bench/proxy-host.js CONFIG.yaml PORT[,PORT...]
//   starts with endpoints 127.0.0.1:PORT..., prints "sluice proxy listening on 127.0.0.1:P".
// stdin lines:
//   endpoints PORT[,PORT...]  replace every cluster's endpoint set; answers "endpoints N"
//   stats                     answers "stats {"connectionsAccepted":N,"connectionsCycled":M}"
//                             (downstream connections accepted, and sent GOAWAY at maxRequestsPerConnection)
// It drains and exits on SIGTERM, or when stdin closes (its driver is gone).
import { createInterface } from "node:readline";
import { formatProblem } from "../src/config/diagnostics.js";
import { loadConfigFiles } from "../src/config/load.js";
import { logger } from "../src/core/trace.js";
import { ManualEndpointSource } from "../src/discovery/manual.js";
import type { ResolvedEndpoint } from "../src/discovery/types.js";
import { Proxy } from "../src/proxy/proxy.js";

function endpointsOf(list: string): ResolvedEndpoint[] {
  return list.split(",").map((p) => {
    const port = Number(p);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad port ${JSON.stringify(p)}`);
    return { address: "127.0.0.1", port, weight: 1, labels: {} };
  });
}

async function main(): Promise<void> {
  const [config, ports] = process.argv.slice(2);
  if (config === undefined || ports === undefined) throw new Error("usage: proxy-host.js CONFIG.yaml PORT[,PORT...]");
  const loaded = await loadConfigFiles([config], {});
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join("\n"));
  logger.level = "warn";
  const sources: ManualEndpointSource[] = [];
  const proxy = new Proxy(loaded.config, {
    endpointSource: () => {
      const s = new ManualEndpointSource(endpointsOf(ports));
      sources.push(s);
      return s;
    },
  });
  const addr = await proxy.start();
  console.log(`sluice proxy listening on ${addr.host}:${addr.port} (mode ${loaded.config.listener.mode})`);
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === "endpoints" && arg !== undefined) {
      const eps = endpointsOf(arg);
      for (const s of sources) s.set(eps);
      console.log(`endpoints ${eps.length}`);
    } else if (cmd === "stats") {
      console.log(`stats ${JSON.stringify({ connectionsAccepted: proxy.connectionsAccepted, connectionsCycled: proxy.connectionsCycled })}`);
    } else console.error(`proxy-host: unknown command ${JSON.stringify(line)}`);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void proxy.stop(1000).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // stdin closes when the process that drives this one is gone, however it went.
  lines.on("close", stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});

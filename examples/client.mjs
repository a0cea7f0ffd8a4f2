// Client-side balancing with sluice/client: no proxy, the grpc-js channel itself spreads RPCs
// over every backend. `node examples/client.mjs` (with examples/backends.mjs running) sends 30
// RPCs on one channel and prints how many each backend got.
//
//   node examples/client.mjs [TARGET]
//
// TARGET defaults to the three stand-in backends as a fixed list. For a Kubernetes service
// use its headless name, dns:///greeter.default.svc.cluster.local:50051: sluice's dns resolver
// looks it up again every 30 s (and on the records' TTL), so new pods get RPCs while the
// channel stays up, where grpc-js's own resolver waits for a connection to fail.
// docs/client.md lists the policies and options.
import * as grpc from "@grpc/grpc-js";
import { recommendedChannelOptions, register } from "sluice/client";

register(); // adds sluice's resolvers and policies to grpc-js; nothing changes before this

const target = process.argv[2] ?? "static:///127.0.0.1:16001,127.0.0.1:16002,127.0.0.1:16003";
const serviceConfig = {
  loadBalancingConfig: [
    // Istio's consecutive-error ejection around least_request (the less busy of 2 random picks).
    { sluice_outlier: { consecutive5xxErrors: 5, baseEjectionTime: "30s", childPolicy: [{ least_request: { choiceCount: 2 } }] } },
  ],
};
const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
  ...recommendedChannelOptions(), // keepalive that gRPC servers at their defaults accept
  "grpc.service_config": JSON.stringify(serviceConfig),
});

const bytes = (b) => b;
function check() {
  return new Promise((resolve, reject) => {
    let backend = "a backend";
    const call = client.makeUnaryRequest("/grpc.health.v1.Health/Check", bytes, bytes, Buffer.alloc(0), (err) => (err ? reject(err) : resolve(backend)));
    call.on("metadata", (md) => (backend = String(md.get("x-backend")[0] ?? backend)));
  });
}

const counts = new Map();
try {
  for (let i = 0; i < 30; i++) {
    const backend = await check();
    counts.set(backend, (counts.get(backend) ?? 0) + 1);
  }
  for (const [backend, n] of [...counts].sort()) console.log(`${backend}: ${n} RPCs`);
} catch (err) {
  console.error(`RPC failed: ${grpc.status[err.code] ?? ""} ${err.details ?? err.message}`);
  process.exitCode = 1;
} finally {
  client.close();
}

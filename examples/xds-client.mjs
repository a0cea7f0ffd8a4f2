// A proxyless gRPC client on sluice's control plane: @grpc/grpc-js-xds fetches the endpoints
// and the policy of xds:///greeter from `sluice control-plane` and balances by itself.
//
//   sluice control-plane -c examples/control-plane.yaml     (and node examples/backends.mjs)
//   node examples/xds-client.mjs 127.0.0.1:15010
//
// A real deployment writes the bootstrap to a file and names it in GRPC_XDS_BOOTSTRAP (the
// same file serves grpc-go, grpc-java and Python; docs/lookaside.md); here it is built from
// the control plane's address and passed inline in GRPC_XDS_BOOTSTRAP_CONFIG.
import * as grpc from "@grpc/grpc-js";

const controlPlane = process.argv[2] ?? "127.0.0.1:15010";
process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
  xds_servers: [{ server_uri: controlPlane, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
  node: { id: "examples-xds-client", locality: {} }, // grpc-js-xds requires a locality, even empty
});
// Loaded after the bootstrap is set, which it reads when registering.
const xds = await import("@grpc/grpc-js-xds");
xds.register();

const client = new grpc.Client("xds:///greeter", grpc.credentials.createInsecure());
const bytes = (b) => b;
function check() {
  return new Promise((resolve, reject) => {
    let backend = "a backend";
    const deadline = Date.now() + 10_000; // the first RPC waits for the control plane's answer
    const call = client.makeUnaryRequest("/grpc.health.v1.Health/Check", bytes, bytes, Buffer.alloc(0), { deadline }, (err) =>
      err ? reject(err) : resolve(backend),
    );
    call.on("metadata", (md) => (backend = String(md.get("x-backend")[0] ?? backend)));
  });
}

try {
  for (let i = 1; i <= 6; i++) console.log(`RPC ${i}: OK from ${await check()}`);
} catch (err) {
  console.error(`RPC failed: ${grpc.status[err.code] ?? ""} ${err.details ?? err.message}`);
  process.exitCode = 1;
} finally {
  client.close();
  process.exit(); // grpc-js-xds keeps its ADS stream open
}

// One test RPC through sluice (or any gRPC server): `node examples/call.mjs 127.0.0.1:15001`
// sends 6 RPCs, one after another, on ONE channel (one HTTP/2 connection), and prints where
// each went. Without a proxy they would all reach the same backend; through sluice each is
// balanced on its own.
//
//   node examples/call.mjs ADDRESS [--method /pkg.Service/Method] [--authority HOST] [--count N] [--tls DIR]
//
// The method defaults to grpc.health.v1.Health/Check, which many servers implement; the
// request is an empty message (valid for any protobuf request type), the answer is shown as
// its size. --authority sets :authority, which picks the service when the proxy serves
// several (examples/several-services.yaml). --tls DIR: TLS, trusting DIR/ca.pem and presenting
// DIR/client.pem and DIR/client.key (examples/mtls/). Exit 1 if an RPC failed.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    method: { type: "string", default: "/grpc.health.v1.Health/Check" },
    authority: { type: "string" },
    count: { type: "string", default: "6" },
    tls: { type: "string" },
  },
});
const dir = values.tls;
const credentials =
  dir === undefined
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(readFileSync(join(dir, "ca.pem")), readFileSync(join(dir, "client.key")), readFileSync(join(dir, "client.pem")));
const address = positionals[0] ?? "127.0.0.1:15001";
// With TLS, the authority is also the name the proxy's certificate is checked against (and the SNI).
const options =
  values.authority === undefined
    ? {}
    : { "grpc.default_authority": values.authority, ...(values.tls === undefined ? {} : { "grpc.ssl_target_name_override": values.authority }) };
const client = new grpc.Client(address, credentials, options);
const bytes = (b) => b;

function call() {
  return new Promise((resolve) => {
    let backend = "?";
    const c = client.makeUnaryRequest(values.method, bytes, bytes, Buffer.alloc(0), (err, reply) => {
      resolve(err ? `${grpc.status[err.code]}: ${err.details}` : `OK (${reply.length} bytes) from ${backend}`);
    });
    c.on("metadata", (md) => (backend = String(md.get("x-backend")[0] ?? "a backend")));
  });
}

let failed = 0;
for (let i = 1; i <= Number(values.count); i++) {
  const result = await call();
  if (!result.startsWith("OK")) failed++;
  console.log(`RPC ${i}: ${result}`);
}
client.close();
process.exitCode = failed > 0 ? 1 : 0;

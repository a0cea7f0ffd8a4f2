// Three stand-in gRPC backends on 127.0.0.1, for trying sluice before pointing it at your
// own: `node examples/backends.mjs` listens on 16001, 16002 and 16003 (the ports of
// examples/local-backends.yaml and the other examples); `node examples/backends.mjs 7001 7002`
// on the ports given (0 = any free port). `--tls DIR` serves TLS with DIR/backend.pem and
// DIR/backend.key and requires client certificates from DIR/ca.pem (examples/mtls/).
//
// Each serves grpc.health.v1.Health/Check (answer: SERVING), which is also what the proxy's
// active health checks call, and says in the response header `x-backend` which backend
// answered, so that examples/call.mjs can show where each RPC went. Messages are handled as
// raw bytes, so this needs no .proto file. Ctrl-C stops them.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const bytes = (b) => b;
const health = {
  Check: {
    path: "/grpc.health.v1.Health/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
};
// HealthCheckResponse { status: SERVING }: field 1, varint 1.
const SERVING = Buffer.from([0x08, 0x01]);

const { values, positionals } = parseArgs({ allowPositionals: true, options: { tls: { type: "string" } } });
const ports = positionals.length > 0 ? positionals.map(Number) : [16001, 16002, 16003];
const dir = values.tls;
const credentials =
  dir === undefined
    ? grpc.ServerCredentials.createInsecure()
    : grpc.ServerCredentials.createSsl(
        readFileSync(join(dir, "ca.pem")),
        [{ cert_chain: readFileSync(join(dir, "backend.pem")), private_key: readFileSync(join(dir, "backend.key")) }],
        true,
      );
const servers = [];
for (const port of ports) {
  const server = new grpc.Server();
  const bound = await new Promise((resolve) =>
    server.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => resolve(err ? undefined : p)),
  );
  if (bound === undefined) {
    console.error(`backends: cannot listen on 127.0.0.1:${port} (in use?); give other ports: node examples/backends.mjs PORT ...`);
    for (const s of servers) s.forceShutdown();
    process.exit(1);
  }
  const name = `127.0.0.1:${bound}`;
  server.addService(health, {
    Check: (call, callback) => {
      const header = new grpc.Metadata();
      header.set("x-backend", name);
      call.sendMetadata(header);
      callback(null, SERVING);
    },
  });
  servers.push(server);
  console.log(`backend listening on ${name}${dir === undefined ? "" : " (TLS, client certificates required)"}`);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    for (const s of servers) s.forceShutdown();
  });
}

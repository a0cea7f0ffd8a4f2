// A minimal gRPC echo backend on raw node:http2, run as its own process by the benchmark.
// It is the cheapest correct gRPC server node offers: no grpc-js, no protobuf. Every POST
// gets response headers, the request's bytes back (a unary request is one 5-byte-prefixed
// message, so the echo is a valid response message), and trailers grpc-status 0.
// GET /stub_status answers in nginx's stub_status format, so the benchmark counts the
// connections a proxy opened to either backend the same way (bench/backend-stats.ts).
// Usage: node dist/bench/backend.js [port [CERT KEY]]; prints "backend listening on 127.0.0.1:PORT".
// With CERT and KEY (PEM files) it serves TLS, ALPN h2 only, for the TLS passes.
import { readFileSync } from "node:fs";
import http2 from "node:http2";

const RESPONSE_HEADERS = { ":status": 200, "content-type": "application/grpc" };
const TRAILERS = { "grpc-status": "0" };

const [portArg, certFile, keyFile] = process.argv.slice(2);
const options: http2.ServerOptions = {
  // One upstream connection carries every proxied stream; no reason to make proxies open more.
  settings: { maxConcurrentStreams: 1024, initialWindowSize: 1 << 20 },
  maxSessionMemory: 64,
};
const server =
  certFile !== undefined && keyFile !== undefined
    ? http2.createSecureServer({ ...options, cert: readFileSync(certFile), key: readFileSync(keyFile) })
    : http2.createServer(options);

/** Connections accepted and requests received since start, as nginx's stub_status counts them. */
let accepts = 0;
let requests = 0;
server.on("session", () => accepts++);

server.on("stream", (stream, headers) => {
  requests++;
  if (headers[":path"] === "/stub_status") {
    stream.respond({ ":status": 200, "content-type": "text/plain" });
    stream.end(`Active connections: -\nserver accepts handled requests\n ${accepts} ${accepts} ${requests}\n`);
    return;
  }
  const chunks: Buffer[] = [];
  stream.on("error", () => {
    // A reset from the client ends the stream; nothing to answer.
  });
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => {
    if (stream.closed || stream.destroyed) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(TRAILERS));
    stream.end(body);
  });
});
server.on("sessionError", () => {
  // A client that goes away mid-connection is normal at the end of a load run.
});

const port = Number(portArg ?? 0);
server.listen(port, "127.0.0.1", () => {
  const addr = server.address();
  const bound = typeof addr === "object" && addr !== null ? addr.port : port;
  console.log(`backend listening on 127.0.0.1:${bound}`);
});

const stop = (): void => {
  server.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

// A gRPC echo service over raw bytes, used by the demo, the tests and the benchmarks as a
// backend "pod". Messages are opaque bytes (identity serializers), so whatever a client
// sends must come back bit for bit. Request metadata steers it:
//   x-echo-status / x-echo-message (or UTF-8 x-echo-message-bin): end with this status and message
//   x-echo-delay-ms: wait before answering
//   x-echo-count / x-echo-size: server streaming: how many messages, of what size
//   x-echo-trailers-only: send no response headers before an error status
//   every other x-echo-* key and every -bin key is echoed back in headers and trailers.
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";

const identity = (b: Buffer): Buffer => b;

function method<Req extends boolean, Res extends boolean>(name: string, requestStream: Req, responseStream: Res): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/sluice.demo.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export const echoService = {
  unary: method("Unary", false, false),
  serverStream: method("ServerStream", false, true),
  clientStream: method("ClientStream", true, false),
  bidi: method("Bidi", true, true),
} satisfies grpc.ServiceDefinition;

export interface PodStats {
  readonly name: string;
  rpcs: number;
  active: number;
  readonly peers: Set<string>;
  /** Emits "begin" and "end" for every RPC (tests wait on these instead of sleeping). */
  readonly events: EventEmitter;
}

function meta(call: { metadata: grpc.Metadata }, key: string): string | undefined {
  const v = call.metadata.get(key)[0];
  return typeof v === "string" ? v : undefined;
}

function echoedMetadata(md: grpc.Metadata, extra?: Record<string, string>): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const k of Object.keys(md.getMap())) {
    if (k.startsWith("x-echo-") || k.endsWith("-bin")) {
      for (const v of md.get(k)) out.add(k, v);
    }
  }
  for (const [k, v] of Object.entries(extra ?? {})) out.set(k, v);
  return out;
}

/** The status message: x-echo-message, or UTF-8 from x-echo-message-bin (metadata is ASCII). */
function messageOf(call: { metadata: grpc.Metadata }): string {
  const bin = call.metadata.get("x-echo-message-bin")[0];
  if (Buffer.isBuffer(bin)) return bin.toString("utf8");
  return meta(call, "x-echo-message") ?? "";
}

function statusOf(call: { metadata: grpc.Metadata }): grpc.StatusObject | undefined {
  const code = meta(call, "x-echo-status");
  if (code === undefined) return undefined;
  return {
    code: Number(code),
    details: messageOf(call),
    metadata: echoedMetadata(call.metadata),
  };
}

/**
 * Starts an echo backend on host:port (0 = any); resolves to its port and stats.
 * `addServices` may add more services before it binds (the tests' grpc.health.v1).
 */
export async function startEchoServer(
  name: string,
  host = "127.0.0.1",
  port = 0,
  options: grpc.ServerOptions = {},
  addServices?: (server: grpc.Server) => void,
  /** TLS (grpc.ServerCredentials.createSsl) or, by default, plaintext. */
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<{ server: grpc.Server; port: number; stats: PodStats; stop: () => Promise<void> }> {
  const stats: PodStats = { name, rpcs: 0, active: 0, peers: new Set(), events: new EventEmitter() };
  const server = new grpc.Server(options);
  const podHeader = { "x-pod": name };
  const begin = (peer: string): void => {
    stats.rpcs++;
    stats.active++;
    stats.peers.add(peer);
    stats.events.emit("begin");
  };
  const done = (): void => {
    stats.active--;
    stats.events.emit("end");
  };
  const sendHeaders = (call: { metadata: grpc.Metadata; sendMetadata(md: grpc.Metadata): void }): void => {
    if (meta(call, "x-echo-trailers-only") === undefined) call.sendMetadata(echoedMetadata(call.metadata, podHeader));
  };
  server.addService(echoService, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      begin(call.getPeer());
      const delay = Number(meta(call, "x-echo-delay-ms") ?? 0);
      let finished = false;
      const answer = (): void => {
        if (finished) return;
        finished = true;
        done();
        sendHeaders(call);
        const status = statusOf(call);
        if (status !== undefined) cb(status);
        else cb(null, call.request, echoedMetadata(call.metadata, podHeader));
      };
      if (delay > 0) {
        const t = setTimeout(answer, delay);
        call.on("cancelled", () => {
          clearTimeout(t);
          if (!finished) {
            finished = true;
            done();
          }
        });
      } else answer();
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      begin(call.getPeer());
      const count = Number(meta(call, "x-echo-count") ?? 3);
      const size = Number(meta(call, "x-echo-size") ?? 0);
      sendHeaders(call);
      let i = 0;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        done();
      };
      call.on("cancelled", finish);
      const pump = (): void => {
        while (i < count && !finished) {
          const msg = size > 0 ? Buffer.alloc(size, i % 251) : call.request;
          i++;
          if (!call.write(msg)) {
            call.once("drain", pump);
            return;
          }
        }
        if (finished) return;
        finish();
        const status = statusOf(call);
        if (status !== undefined) call.emit("error", status);
        else call.end(echoedMetadata(call.metadata, podHeader));
      };
      pump();
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      begin(call.getPeer());
      const parts: Buffer[] = [];
      call.on("data", (b: Buffer) => parts.push(b));
      call.on("end", () => {
        done();
        const status = statusOf(call);
        if (status !== undefined) cb(status);
        else cb(null, Buffer.concat(parts), echoedMetadata(call.metadata, podHeader));
      });
      call.on("cancelled", done);
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      begin(call.getPeer());
      sendHeaders(call);
      call.on("data", (b: Buffer) => call.write(b));
      call.on("end", () => {
        done();
        const status = statusOf(call);
        if (status !== undefined) call.emit("error", status);
        else call.end(echoedMetadata(call.metadata, podHeader));
      });
      call.on("cancelled", done);
    },
  });
  addServices?.(server);
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
    });
  return { server, port: boundPort, stats, stop };
}

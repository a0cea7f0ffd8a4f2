// For tests of sluice's HTTP/2 connections: an H2Server on loopback with an echo handler
// (what a proxy's downstream side sees), and a raw client that writes hand-made frames and
// records every frame the server sends back.
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { FrameReader } from "../../../src/transport/h2/frames/reader.js";
import { FrameWriter } from "../../../src/transport/h2/frames/writer.js";
import type { H2ConnectionOptions } from "../../../src/transport/h2/connection.js";
import { H2Server } from "../../../src/transport/h2/server.js";
import { HpackEncoder } from "../../../src/transport/h2/hpack/index.js";
import type { Headers, ServerHandlers, ServerStream, StreamListener } from "../../../src/transport/types.js";
import { defer, type Owner } from "../../support/teardown.js";
import { CLIENT_PRELUDE, Recorder } from "./frames/helpers.js";

export interface ServerLog {
  streams: number;
  connections: number;
  closed: number;
  /** Per stream id: what its listener heard. */
  events: Map<number, string[]>;
  /** Called (then cleared) when a connection closes. */
  onClose: Array<() => void>;
}

/** Resolves when the server side of some connection closes next. */
export function nextServerClose(log: ServerLog): Promise<void> {
  return new Promise((resolve) => log.onClose.push(resolve));
}

/** Echoes each request: 200 + application/grpc, the request bytes back, grpc-status 0. */
export function echoHandlers(log: ServerLog): ServerHandlers {
  let next = 0;
  return {
    onConnection: () => void log.connections++,
    onConnectionClose: () => {
      log.closed++;
      for (const f of log.onClose.splice(0)) f();
    },
    onStream: (stream: ServerStream) => {
      const id = ++next;
      log.streams++;
      const events: string[] = [];
      log.events.set(id, events);
      stream.respond({ ":status": "200", "content-type": "application/grpc" }, false);
      const listener: StreamListener = {
        onHeaders: () => events.push("headers"),
        onData: (chunk) => {
          events.push(`data ${chunk.length}`);
          if (!stream.write(chunk)) stream.pause(); // backpressure, as the proxy applies it
        },
        onTrailers: () => {
          events.push("trailers");
          stream.end({ "grpc-status": "0" });
        },
        onEnd: () => {
          events.push("end");
          stream.end({ "grpc-status": "0" });
        },
        onReset: (code, reason, lost) => events.push(`reset ${code} ${lost ? "lost" : reason}`),
        onDrain: () => {
          events.push("drain");
          stream.resume();
        },
      };
      stream.attach(listener);
    },
  };
}

export interface TestServer {
  readonly port: number;
  readonly log: ServerLog;
  readonly transport: H2Server;
  close(): Promise<void>;
}

export async function startH2Server(
  tuning: Partial<H2ConnectionOptions> = {},
  handlers?: (log: ServerLog) => ServerHandlers,
  options = { initialWindowSize: 1 << 20, maxConcurrentStreams: 1000 },
): Promise<TestServer> {
  const log: ServerLog = { streams: 0, connections: 0, closed: 0, events: new Map(), onClose: [] };
  const transport = new H2Server(options, (handlers ?? echoHandlers)(log), tuning);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // the connection reports errors; nothing to add here
    socket.pause();
    transport.accept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    log,
    transport,
    close: async () => {
      transport.destroyAll();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** startH2Server, closed when `owner` ends. */
export async function h2Server(
  owner: Owner,
  tuning: Partial<H2ConnectionOptions> = {},
  handlers?: (log: ServerLog) => ServerHandlers,
  options?: { initialWindowSize: number; maxConcurrentStreams: number },
): Promise<TestServer> {
  const server = await startH2Server(tuning, handlers, options);
  defer(owner, () => server.close());
  return server;
}

/** A node:http2 client session to 127.0.0.1:`port`, destroyed when `owner` ends. */
export function http2Client(owner: Owner, port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  defer(owner, () => session.destroy());
  return session;
}

/** A client that speaks frames by hand. */
export class RawClient {
  readonly recorder = new Recorder();
  readonly writer = new FrameWriter();
  readonly hpack = new HpackEncoder();
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(this.recorder, { role: "client" });
  private waiters: Array<() => void> = [];
  bytesReceived = 0;

  private constructor(port: number, readResponses: boolean) {
    this.socket = net.connect({ port, host: "127.0.0.1" });
    this.socket.on("error", () => undefined); // a reset by the server is what some tests expect
    this.closed = new Promise((resolve) => this.socket.on("close", () => resolve()));
    if (readResponses) this.startReading();
    else this.socket.pause();
    this.socket.on("close", () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Connects and sends the preface with an empty (or the given) SETTINGS. */
  static async connect(port: number, opts: { settings?: Array<[number, number]>; read?: boolean } = {}): Promise<RawClient> {
    const c = new RawClient(port, opts.read ?? true);
    await new Promise<void>((resolve) => c.socket.once("connect", resolve));
    if (opts.settings === undefined) c.socket.write(CLIENT_PRELUDE);
    else {
      c.writer.preface();
      c.writer.settings(opts.settings);
      c.flush();
    }
    return c;
  }

  /** Reads and records what the server sent; `skipAcks` leaves PING/SETTINGS ACKs out (floods). */
  startReading(skipAcks = false): void {
    if (skipAcks) {
      this.recorder.onPing = () => undefined;
      this.recorder.onSettingsAck = () => undefined;
    }
    this.socket.on("data", (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      this.reader.push(chunk);
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.resume();
  }

  get events(): readonly string[] {
    return this.recorder.events;
  }

  /** Sends what was appended to the writer. */
  flush(): void {
    const out = this.writer.take();
    for (const b of Array.isArray(out) ? out : [out]) if (b.length > 0) this.socket.write(b);
  }

  headerBlock(headers: Headers): Buffer {
    const fields: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(headers)) if (typeof v === "string") fields.push([k, v]);
    return this.hpack.encode(fields);
  }

  /** A gRPC request's HEADERS on `id`. */
  request(id: number, endStream = false, extra: Headers = {}): void {
    const block = this.headerBlock({
      ":method": "POST",
      ":scheme": "http",
      ":path": "/sluice.demo.Echo/Unary",
      ":authority": "test",
      "content-type": "application/grpc",
      te: "trailers",
      ...extra,
    });
    this.writer.headers(id, block, endStream);
  }

  /** Resolves when `pred` holds for the recorded events (checked on every read), or the socket closes. */
  async until(pred: (events: readonly string[]) => boolean): Promise<boolean> {
    while (!pred(this.events)) {
      if (this.socket.destroyed) return pred(this.events);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return true;
  }

  goaway(): string | undefined {
    return this.events.find((e) => e.startsWith("GOAWAY"));
  }

  close(): void {
    this.socket.destroy();
  }
}

// The transport's connection-management API on both HTTP/2 implementations (h2 and node):
// PING with ACK or timeout, the client's PINGs reported to the server's owner, GOAWAY with
// our own code and debug data, and the stream count idle tracking needs.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { TransportKind } from "../../src/config/types.js";
import { createClientTransport, createServerTransport } from "../../src/transport/create.js";
import { FrameType } from "../../src/transport/h2/frames/constants.js";
import {
  H2Code,
  type ClientConnection,
  type ServerConnection,
  type ServerHandlers,
  type ServerStream,
  type StreamListener,
} from "../../src/transport/types.js";
import { defer, type Owner } from "../support/teardown.js";
import { http2Client, RawClient } from "./h2/support.js";
import { frame } from "./h2/frames/helpers.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const QUIET: StreamListener = {
  onHeaders: () => undefined,
  onData: () => undefined,
  onTrailers: () => undefined,
  onEnd: () => undefined,
  onReset: () => undefined,
  onDrain: () => undefined,
};

interface ServerSide {
  readonly port: number;
  /** The server side of the next connection to arrive. */
  nextConnection(): Promise<ServerConnection>;
  /** Resolves when `conn` has closed. */
  closed(conn: ServerConnection): Promise<void>;
  readonly streams: ServerStream[];
  /** Each stream's reset, by the order the streams arrived. */
  readonly resets: Array<{ code: number; lost: boolean } | undefined>;
  pings: number;
  streamCloses: number;
  readonly events: { on(f: () => void): void };
}

/** A server transport of `kind` on loopback whose streams get 200 and are held open; closed when `owner` ends. */
async function startServer(owner: Owner, kind: TransportKind): Promise<ServerSide> {
  const waiting: Array<(c: ServerConnection) => void> = [];
  const arrived: ServerConnection[] = [];
  const closes = new Map<ServerConnection, () => void>();
  const closedSet = new Set<ServerConnection>();
  let listeners: Array<() => void> = [];
  const notify = (): void => {
    const ls = listeners;
    listeners = [];
    for (const l of ls) l();
  };
  const side: ServerSide = {
    port: 0,
    nextConnection: () => {
      const c = arrived.shift();
      return c !== undefined ? Promise.resolve(c) : new Promise((resolve) => waiting.push(resolve));
    },
    closed: (conn) => (closedSet.has(conn) ? Promise.resolve() : new Promise((resolve) => closes.set(conn, resolve))),
    streams: [],
    resets: [],
    pings: 0,
    streamCloses: 0,
    events: { on: (f) => listeners.push(f) },
  };
  const handlers: ServerHandlers = {
    onConnection: (c) => {
      const w = waiting.shift();
      if (w !== undefined) w(c);
      else arrived.push(c);
    },
    onStream: (s) => {
      const i = side.streams.push(s) - 1;
      side.resets.push(undefined);
      s.respond({ ":status": "200", "content-type": "application/grpc" }, false);
      s.attach({ ...QUIET, onReset: (code, _reason, lost) => ((side.resets[i] = { code, lost }), notify()) });
      notify();
    },
    onStreamClose: () => {
      side.streamCloses++;
      notify();
    },
    onPing: () => {
      side.pings++;
      notify();
    },
    onConnectionClose: (c) => {
      closedSet.add(c);
      closes.get(c)?.();
    },
  };
  const transport = createServerTransport(kind, { initialWindowSize: 65_535, maxConcurrentStreams: 100 }, handlers);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // resets are what some tests make
    socket.pause();
    transport.accept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(owner, async () => {
    transport.destroyAll();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return Object.assign(side, { port: (server.address() as AddressInfo).port });
}

/** Resolves once `pred` holds, re-checked on every server event. */
async function until(side: ServerSide, pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise<void>((resolve) => side.events.on(resolve));
}

function pingResult(conn: ServerConnection | ClientConnection, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => conn.ping(resolve, timeoutMs));
}

function grpcRequest(session: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const s = session.request({ ":method": "POST", ":path": "/x.Y/Z", "content-type": "application/grpc", te: "trailers" }, { endStream: false });
  s.on("error", () => undefined); // a reset is what some tests make
  return s;
}

for (const kind of TEST_TRANSPORTS)
  describe(`transport ${kind}`, () => {
    describe("server connection", () => {
      test("ping: a peer's ACK resolves true; the peer's own PINGs reach onPing", async (t) => {
        const side = await startServer(t, kind);
        const client = http2Client(t, side.port);
        const conn = await side.nextConnection();
        assert.equal(await pingResult(conn, 5000), true);
        await new Promise<void>((resolve, reject) => client.ping((err) => (err === null ? resolve() : reject(err))));
        await until(side, () => side.pings === 1);
      });

      test("ping: no ACK within the timeout resolves false; a connection closing first resolves false at once", async (t) => {
        const side = await startServer(t, kind);
        const raw = await RawClient.connect(side.port); // records frames, answers none
        const conn = await side.nextConnection();
        const started = performance.now();
        assert.equal(await pingResult(conn, 50), false);
        assert.ok(performance.now() - started >= 45);
        await raw.until((e) => e.some((l) => l.startsWith("PING ack=false")));
        const pending = pingResult(conn, 60_000);
        raw.close();
        assert.equal(await pending, false);
        assert.equal(await pingResult(conn, 60_000), false, "a closed connection");
      });

      test("ping works while the connection drains", async (t) => {
        const side = await startServer(t, kind);
        const client = http2Client(t, side.port);
        const conn = await side.nextConnection();
        const s = grpcRequest(client);
        await until(side, () => side.streams.length === 1);
        conn.drain();
        await new Promise<void>((resolve) => client.once("goaway", () => resolve()));
        assert.equal(await pingResult(conn, 5000), true);
        s.close();
        await side.closed(conn);
      });

      test("activeStreams, onStreamClose and headersOrDataSent follow the streams", async (t) => {
        const side = await startServer(t, kind);
        const client = http2Client(t, side.port);
        const conn = await side.nextConnection();
        assert.equal(conn.activeStreams, 0);
        const before = conn.headersOrDataSent;
        const a = grpcRequest(client);
        const b = grpcRequest(client);
        await until(side, () => side.streams.length === 2);
        assert.equal(conn.activeStreams, 2);
        assert.ok(conn.headersOrDataSent > before, "response headers counted");
        a.close(http2.constants.NGHTTP2_CANCEL);
        await until(side, () => side.streamCloses === 1);
        assert.equal(conn.activeStreams, 1);
        const sent = conn.headersOrDataSent;
        side.streams[1]!.write(Buffer.from([0, 0, 0, 0, 0]));
        side.streams[1]!.end({ "grpc-status": "0" });
        assert.ok(conn.headersOrDataSent > sent, "data and trailers counted");
        b.end();
        await until(side, () => side.streamCloses === 2);
        assert.equal(conn.activeStreams, 0);
      });

      test("goaway: our code and debug data, then close; open streams are reset", async (t) => {
        const side = await startServer(t, kind);
        const raw = await RawClient.connect(side.port);
        const conn = await side.nextConnection();
        raw.request(1);
        raw.flush();
        await until(side, () => side.streams.length === 1);
        conn.goaway(H2Code.ENHANCE_YOUR_CALM, "too_many_pings");
        await raw.closed;
        await side.closed(conn);
        assert.equal(raw.goaway(), `GOAWAY last=1 ENHANCE_YOUR_CALM ${Buffer.from("too_many_pings").toString("hex")}`, raw.events.join("\n"));
        assert.equal(side.resets[0]?.lost, true);
      });
    });

    describe("server connection destroy", () => {
      test("destroy: closes the socket at once; open streams are reset as connection lost", async (t) => {
        const side = await startServer(t, kind);
        const raw = await RawClient.connect(side.port);
        const conn = await side.nextConnection();
        raw.request(1);
        raw.flush();
        await until(side, () => side.streams.length === 1);
        conn.destroy();
        await raw.closed;
        await side.closed(conn);
        assert.equal(side.resets[0]?.lost, true);
      });
    });

    describe("client connection", () => {
      /**
       * A connection of the client role, ready, to a node:http2 server, or (`mute`) to a raw one
       * that sends SETTINGS and then ignores everything; `closed` resolves when it closes. When
       * `owner` ends the connection is destroyed (its close awaited), then the server.
       */
      async function backend(owner: Owner, mute: boolean): Promise<{ conn: ClientConnection; closed: Promise<void> }> {
        const h2server = http2.createServer();
        h2server.on("stream", (s: http2.ServerHttp2Stream) => {
          s.on("error", () => undefined);
          s.respond({ ":status": 200, "content-type": "application/grpc" });
        });
        const sockets = new Set<net.Socket>();
        const server = mute
          ? net.createServer((socket) => {
              sockets.add(socket);
              socket.on("error", () => undefined);
              socket.write(frame(FrameType.SETTINGS, 0, 0));
            })
          : h2server;
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        defer(owner, async () => {
          for (const s of sockets) s.destroy();
          if (!mute) h2server.close();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        });
        const port = (server.address() as AddressInfo).port;
        let ready!: () => void;
        const isReady = new Promise<void>((resolve) => (ready = resolve));
        let closed!: () => void;
        const isClosed = new Promise<void>((resolve) => (closed = resolve));
        const conn = createClientTransport(kind, { initialWindowSize: 65_535 }).connect(
          { host: "127.0.0.1", port, connectTimeoutMs: 5000 },
          { onReady: () => ready(), onGoaway: () => undefined, onClose: () => closed() },
        );
        defer(owner, async () => {
          conn.destroy();
          await isClosed;
        });
        await isReady;
        return { conn, closed: isClosed };
      }

      test("ping: true when the backend answers, also while draining; false when it does not", async (t) => {
        const { conn, closed } = await backend(t, false);
        assert.equal(await pingResult(conn, 5000), true);
        const s = conn.open({ ":method": "POST", ":path": "/x.Y/Z", ":scheme": "http", ":authority": "b", "content-type": "application/grpc" }, QUIET);
        conn.drain();
        assert.equal(await pingResult(conn, 5000), true);
        s.reset(H2Code.CANCEL);
        await closed;
        assert.equal(await pingResult(conn, 5000), false, "a closed connection");
        const mute = await backend(t, true);
        assert.equal(await pingResult(mute.conn, 50), false);
      });
    });
  });

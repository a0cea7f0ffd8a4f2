// sluice's HTTP/2 client role against node:http2 servers (the oracle): streams, flow
// control over many windows' worth of data in both directions, trailers, trailers-only
// responses, never-indexed fields kept, GOAWAY, connection loss.
import { test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { H2ClientTransport } from "../../../src/transport/h2/client.js";
import { H2Code, type ClientConnection, type Headers, type StreamListener } from "../../../src/transport/types.js";
import { defer, type Owner } from "../../support/teardown.js";

interface Outcome {
  headers?: Headers;
  trailersOnly?: boolean;
  data: Buffer[];
  trailers?: Headers;
  ended?: boolean;
  reset?: { code: number; reason: string; lost: boolean };
}

function collect(): { listener: StreamListener; done: Promise<Outcome> } {
  const o: Outcome = { data: [] };
  let finish!: (o: Outcome) => void;
  const done = new Promise<Outcome>((resolve) => (finish = resolve));
  return {
    done,
    listener: {
      onHeaders: (h, end) => {
        o.headers = h;
        o.trailersOnly = end;
        if (end) finish(o);
      },
      onData: (c) => o.data.push(Buffer.from(c)),
      onTrailers: (t) => {
        o.trailers = t;
        finish(o);
      },
      onEnd: () => {
        o.ended = true;
        finish(o);
      },
      onReset: (code, reason, lost) => {
        o.reset = { code, reason, lost };
        finish(o);
      },
      onDrain: () => undefined,
    },
  };
}

/**
 * A node:http2 server that hands each stream to `onStream`, and sluice's client connection to
 * it, once ready. When `owner` ends the connection is destroyed (its close awaited), then the
 * server's sessions and the server.
 */
async function connectedTo(
  owner: Owner,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]) => void,
  settings: http2.Settings = {},
): Promise<ClientConnection> {
  const server = http2.createServer({ settings });
  server.on("stream", (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, flags: number, raw: string[]) => {
    s.on("error", () => undefined); // refused and reset streams are what some tests make
    onStream(s, h, flags, raw);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s: http2.ServerHttp2Session) => sessions.add(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(owner, async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  const transport = new H2ClientTransport({ initialWindowSize: 65_535 });
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  let closed!: () => void;
  const isClosed = new Promise<void>((resolve) => (closed = resolve));
  const conn = transport.connect(
    { host: "127.0.0.1", port, connectTimeoutMs: 5000 },
    { onReady: () => ready(), onGoaway: () => undefined, onClose: () => closed() },
  );
  defer(owner, async () => {
    conn.destroy();
    await isClosed;
  });
  await isReady;
  return conn;
}

const REQUEST: Headers = {
  ":method": "POST",
  ":scheme": "http",
  ":path": "/svc/Method",
  ":authority": "backend",
  "content-type": "application/grpc",
  te: "trailers",
};

test("echo of 3 MB each way through 64 KB windows, then trailers", async (t) => {
  const conn = await connectedTo(t, (s) => {
    s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0", "x-sum": "done" }));
    s.pipe(s);
  });
  const { listener, done } = collect();
  const stream = conn.open(REQUEST, listener);
  const payload = Buffer.alloc(3 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  // Respect backpressure as the proxy does.
  let off = 0;
  const pump = (): void => {
    while (off < payload.length) {
      const chunk = payload.subarray(off, off + 100_000);
      off += chunk.length;
      if (!stream.write(chunk)) return;
    }
    stream.end();
  };
  listener.onDrain = pump;
  pump();
  const o = await done;
  assert.equal(o.headers?.[":status"], "200");
  assert.ok(Buffer.concat(o.data).equals(payload), "echoed bytes differ");
  assert.equal(o.trailers?.["grpc-status"], "0");
  assert.equal(o.trailers?.["x-sum"], "done");
});

test("a trailers-only response and a 1xx before the final headers", async (t) => {
  const conn = await connectedTo(t, (s) => {
    s.additionalHeaders({ ":status": 103, link: "</x>" });
    s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "5", "grpc-message": "nope" }, { endStream: true });
  });
  const { listener, done } = collect();
  conn.open(REQUEST, listener).end();
  const o = await done;
  assert.equal(o.trailersOnly, true);
  assert.equal(o.headers?.["grpc-status"], "5");
  assert.equal(o.headers?.[":status"], "200");
});

test("never-indexed fields stay never-indexed on the way out", async (t) => {
  const seen: string[] = [];
  const conn = await connectedTo(t, (s, h) => {
    // node lists the never-indexed names it received under http2.sensitiveHeaders.
    const names: unknown = Reflect.get(h, http2.sensitiveHeaders);
    if (Array.isArray(names)) seen.push(...(names as string[]));
    s.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
  });
  const headers: Headers = { ...REQUEST, "x-token": "secret", "x-plain": "visible" };
  Reflect.set(headers, http2.sensitiveHeaders, ["x-token"]);
  const { listener, done } = collect();
  conn.open(headers, listener).end();
  await done;
  assert.deepEqual(seen, ["x-token"]);
});

test("GOAWAY: streams above last-stream-id are refused (safe to retry), lower ones finish", async (t) => {
  const pending: http2.ServerHttp2Stream[] = [];
  const conn = await connectedTo(t, (s) => {
    pending.push(s);
    if (pending.length === 2) {
      // Accept stream 1 only: GOAWAY with last-stream-id 1, then answer it.
      const session = s.session!;
      session.goaway(H2Code.NO_ERROR, 1);
      const first = pending[0]!;
      first.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      first.on("wantTrailers", () => first.sendTrailers({ "grpc-status": "0" }));
      first.end("ok");
    }
  });
  const a = collect();
  const b = collect();
  conn.open(REQUEST, a.listener).end();
  conn.open(REQUEST, b.listener).end();
  const [oa, ob] = await Promise.all([a.done, b.done]);
  assert.equal(oa.trailers?.["grpc-status"], "0");
  assert.equal(Buffer.concat(oa.data).toString(), "ok");
  assert.equal(ob.reset?.code, H2Code.REFUSED_STREAM);
  assert.equal(conn.usable, false);
});

test("the server's MAX_CONCURRENT_STREAMS is reported; a reset from the server reaches the stream", async (t) => {
  const conn = await connectedTo(t, (s) => s.close(H2Code.ENHANCE_YOUR_CALM), { maxConcurrentStreams: 7 });
  assert.equal(conn.peerMaxConcurrentStreams, 7);
  const { listener, done } = collect();
  conn.open(REQUEST, listener).end();
  const o = await done;
  assert.deepEqual(o.reset, { code: H2Code.ENHANCE_YOUR_CALM, reason: "upstream reset", lost: false });
});

test("the connection dying mid-response reaches every open stream as connection lost", async (t) => {
  const conn = await connectedTo(t, (s) => {
    s.respond({ ":status": 200, "content-type": "application/grpc" });
    s.write("partial", () => setImmediate(() => s.session?.destroy()));
  });
  const { listener, done } = collect();
  conn.open(REQUEST, listener).end();
  const o = await done;
  assert.equal(Buffer.concat(o.data).toString(), "partial");
  assert.equal(o.reset?.lost, true);
  assert.match(o.reset?.reason ?? "", /upstream connection lost/);
});

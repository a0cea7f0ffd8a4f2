// sluice's HTTP/2 server role, driven by hand-made frames: flow-control accounting when
// held data is dropped, early responses, graceful drain, the stream limit, malformed requests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { H2Code, type ServerHandlers, type ServerStream } from "../../../src/transport/types.js";
import { h2Server, RawClient, type ServerLog } from "./support.js";

/** A handler that holds every request stream paused and never reads it. */
function holdingHandlers(log: ServerLog, held: ServerStream[]): ServerHandlers {
  return {
    onConnection: () => void log.connections++,
    onConnectionClose: () => void log.closed++,
    onStream: (stream) => {
      log.streams++;
      held.push(stream);
      stream.pause();
      stream.attach({
        onHeaders: () => undefined,
        onData: () => undefined,
        onTrailers: () => undefined,
        onEnd: () => undefined,
        onReset: () => undefined,
        onDrain: () => undefined,
      });
    },
  };
}

test("data held for a paused stream that is then reset gives its connection window back", async (t) => {
  const held: ServerStream[] = [];
  const server = await h2Server(t, {}, (log) => holdingHandlers(log, held));
  const c = await RawClient.connect(server.port);
  // 20 streams x 1 MB, each filling its stream window, each reset while held: 20 MB through
  // a 16 MB connection window. Without the credit the 17th would be a FLOW_CONTROL_ERROR.
  const chunk = Buffer.alloc(16_384, 7);
  for (let s = 0; s < 20; s++) {
    const id = 1 + 2 * s;
    c.request(id);
    for (let i = 0; i < 64; i++) c.writer.data(id, chunk, false);
    c.writer.rstStream(id, H2Code.CANCEL);
    c.flush();
  }
  c.request(41, true);
  c.writer.ping(Buffer.alloc(8, 1), false);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("PING ack=true")));
  assert.equal(c.goaway(), undefined, c.events.join("\n"));
  assert.equal(held.length, 21);
  c.close();
});

test("a complete response while the request is still open: the stream stays half-closed until the client ends it, its DATA read and dropped", async (t) => {
  const server = await h2Server(t, {}, (log) => ({
    onConnection: () => void log.connections++,
    onConnectionClose: () => void log.closed++,
    onStream: (stream) => {
      stream.attach({
        onHeaders: () => undefined,
        onData: () => undefined,
        onTrailers: () => undefined,
        onEnd: () => undefined,
        onReset: () => undefined,
        onDrain: () => undefined,
      });
      stream.respond({ ":status": "200", "content-type": "application/grpc", "grpc-status": "7" }, true);
    },
  }));
  const c = await RawClient.connect(server.port);
  c.request(1);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("HEADERS s=1 end=true")));
  // More request DATA is taken (window granted back), no reset; a second HEADERS without
  // END_STREAM is still a stream error, as on any open stream (RFC 9113 8.1).
  c.writer.data(1, Buffer.alloc(40_000, 1), false);
  c.writer.ping(Buffer.alloc(8, 2), false);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("PING ack=true")));
  assert.deepEqual(
    c.events.filter((l) => l.startsWith("RST_STREAM")),
    [],
  );
  c.writer.headers(1, c.headerBlock({ "x-late": "1" }), false);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("RST_STREAM s=1")));
  assert.ok(c.events.includes("RST_STREAM s=1 PROTOCOL_ERROR"), c.events.join("\n"));
  assert.equal(c.goaway(), undefined);
  c.close();
});

test("drain: GOAWAY with the last stream id, in-flight streams finish, new ones are refused", async (t) => {
  const server = await h2Server(t);
  const c = await RawClient.connect(server.port);
  c.request(1);
  c.writer.data(1, Buffer.from("first"), false);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("DATA s=1")));
  server.transport.drainAll();
  await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
  assert.match(c.goaway()!, /^GOAWAY last=1 NO_ERROR/);
  c.request(3, true);
  c.writer.data(1, Buffer.from("second"), true);
  c.flush();
  await c.closed;
  const hex = (s: string): string => Buffer.from(s).toString("hex");
  assert.ok(c.events.includes(`DATA s=1 end=false flow=6 ${hex("second")}`), c.events.join("\n"));
  assert.ok(
    c.events.some((l) => l.startsWith("HEADERS s=1 end=true")),
    "stream 1 got its trailers",
  );
  assert.ok(c.events.includes("RST_STREAM s=3 REFUSED_STREAM"));
  assert.equal(server.log.streams, 1);
});

test("streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused", async (t) => {
  const held: ServerStream[] = [];
  const server = await h2Server(t, {}, (log) => holdingHandlers(log, held), { initialWindowSize: 65_535, maxConcurrentStreams: 2 });
  const c = await RawClient.connect(server.port);
  await c.until((e) => e.some((l) => l.startsWith("SETTINGS ")));
  assert.match(
    c.events.find((l) => l.startsWith("SETTINGS "))!,
    /3=2/,
  );
  for (const id of [1, 3, 5]) c.request(id);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("RST_STREAM")));
  assert.deepEqual(
    c.events.filter((l) => l.startsWith("RST_STREAM")),
    ["RST_STREAM s=5 REFUSED_STREAM"],
  );
  assert.equal(held.length, 2);
  c.close();
});

for (const [what, extra, expected] of [
  ["an upper-case field name", { "X-Upper": "1" }, "PROTOCOL_ERROR"],
  ["a connection-specific field", { connection: "keep-alive" }, "PROTOCOL_ERROR"],
  ["te other than trailers", { te: "gzip" }, "PROTOCOL_ERROR"],
  ["a response pseudo-header in a request", { ":status": "200" }, "PROTOCOL_ERROR"],
  ["an empty :path", { ":path": "" }, "PROTOCOL_ERROR"],
] as const) {
  test(`a request with ${what} is reset (${expected}); the connection goes on`, async (t) => {
    const server = await h2Server(t);
    const c = await RawClient.connect(server.port);
    c.request(1, true, extra);
    c.request(3, false);
    c.writer.data(3, Buffer.from("ok"), true);
    c.flush();
    await c.until((e) => e.some((l) => l.startsWith("HEADERS s=3 end=true")) || e.some((l) => l.startsWith("GOAWAY")));
    assert.ok(c.events.includes(`RST_STREAM s=1 ${expected}`), c.events.join("\n"));
    assert.equal(c.goaway(), undefined);
    assert.equal(server.log.streams, 1);
    c.close();
  });
}

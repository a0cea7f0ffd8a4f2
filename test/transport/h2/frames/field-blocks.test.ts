// Field blocks split by CONTINUATION, the flood caps, padding, unknown frame types, and the
// reader's behaviour when its own handler misbehaves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Flag, FrameType } from "../../../../src/transport/h2/frames/constants.js";
import { FrameReader } from "../../../../src/transport/h2/frames/reader.js";
import { H2Code } from "../../../../src/transport/types.js";
import { CLIENT_PRELUDE, frame, readAll, readBytewise, Recorder, SERVER_PRELUDE, u32 } from "./helpers.js";

const T = FrameType;

test("HEADERS + CONTINUATION arrive as one block, END_STREAM taken from HEADERS", () => {
  const input = Buffer.concat([
    CLIENT_PRELUDE,
    frame(T.HEADERS, Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY, 1, [2, ...u32(0x8000_0000), 200, 0x82, 0x86, 0, 0]),
    frame(T.CONTINUATION, Flag.END_STREAM, 1, [0x84]), // END_STREAM bit here means nothing
    frame(T.CONTINUATION, Flag.END_HEADERS, 1, [0x41, 0x01, 0x61]),
    frame(T.DATA, 0, 1, [1]),
  ]);
  for (const r of [readAll(input, { role: "server" }), readBytewise(input, { role: "server" })]) {
    assert.deepEqual(r.events.slice(1), ["HEADERS s=1 end=true 828684410161", "DATA s=1 end=false flow=1 01"]);
  }
});

test("PUSH_PROMISE + CONTINUATION arrive as one block with the promised stream", () => {
  const input = Buffer.concat([
    SERVER_PRELUDE,
    frame(T.PUSH_PROMISE, Flag.PADDED, 1, [1, ...u32(0x8000_0002), 0x82, 0]),
    frame(T.CONTINUATION, Flag.END_HEADERS, 1, [0x87]),
  ]);
  assert.deepEqual(readAll(input, { role: "client" }).events.slice(1), ["PUSH_PROMISE s=1 promised=2 8287"]);
});

function flood(continuations: number, fragment: number[]): Buffer {
  const frames = [CLIENT_PRELUDE, frame(T.HEADERS, 0, 1, [0x82])];
  for (let i = 0; i < continuations; i++) frames.push(frame(T.CONTINUATION, 0, 1, fragment));
  return Buffer.concat(frames);
}

test("CONTINUATION flood of empty frames stops at maxContinuationFrames", () => {
  const atCap = readAll(Buffer.concat([flood(15, []), frame(T.CONTINUATION, Flag.END_HEADERS, 1)]), { role: "server" });
  assert.deepEqual(atCap.connectionErrors, [], "16 CONTINUATIONs (the default cap) are fine");
  assert.deepEqual(atCap.events.slice(1), ["HEADERS s=1 end=false 82"]);

  const r = new Recorder();
  const reader = new FrameReader(r, { role: "server" });
  reader.push(flood(100_000, []));
  assert.equal(r.connectionErrors.length, 1);
  assert.equal(r.connectionErrors[0]!.code, H2Code.ENHANCE_YOUR_CALM);
  assert.equal(r.connectionErrors[0]!.kind, "too-many-continuations");
  assert.equal(r.events.length, 2, "SETTINGS, then only the error: no block delivered");
  assert.ok(reader.stopped);
  assert.equal(reader.bufferedBytes, 0, "the partial block is released");
});

test("CONTINUATION flood of data stops at maxHeaderBlockSize, with the caller's code", () => {
  const options = { role: "server" as const, maxHeaderBlockSize: 1000, maxContinuationFrames: 1000, headerFloodCode: H2Code.COMPRESSION_ERROR };
  const fill = Array.from({ length: 100 }, () => 0x61);
  const ok = readAll(Buffer.concat([flood(9, fill), frame(T.CONTINUATION, Flag.END_HEADERS, 1, fill.slice(0, 99))]), options);
  assert.deepEqual(ok.connectionErrors, [], "exactly 1000 octets is within the cap");
  const r = readAll(flood(10, fill), options);
  assert.equal(r.connectionErrors.length, 1);
  assert.equal(r.connectionErrors[0]!.code, H2Code.COMPRESSION_ERROR);
  assert.equal(r.connectionErrors[0]!.kind, "header-block-too-large");
  // A single HEADERS frame over the cap is refused as well.
  const single = readAll(Buffer.concat([CLIENT_PRELUDE, frame(T.HEADERS, Flag.END_HEADERS, 1, Buffer.alloc(1001))]), options);
  assert.equal(single.connectionErrors[0]?.kind, "header-block-too-large");
});

test("padding is stripped from DATA and the flow-controlled length includes it", () => {
  const input = Buffer.concat([
    CLIENT_PRELUDE,
    frame(T.DATA, Flag.PADDED, 1, [5, 0x68, 0x65, 0x79, 0, 0, 0, 0, 0]),
    frame(T.DATA, Flag.PADDED | Flag.END_STREAM, 1, [0]), // Pad Length 0, no data
    frame(T.DATA, 0, 3, [0x68]), // not padded: the first octet is data
  ]);
  assert.deepEqual(readAll(input, { role: "server" }).events.slice(1), [
    "DATA s=1 end=false flow=9 686579",
    "DATA s=1 end=true flow=1 ",
    "DATA s=3 end=false flow=1 68",
  ]);
});

test("unknown frame types are ignored, whatever their flags, stream or length", () => {
  const input = Buffer.concat([
    CLIENT_PRELUDE,
    frame(0x0a, 0xff, 0, []),
    frame(0xff, 0, 0x7fff_ffff, Buffer.alloc(16_384, 1)),
    frame(T.PING, 0, 0, Buffer.alloc(8)),
  ]);
  const r = readAll(input, { role: "server" });
  assert.deepEqual(r.connectionErrors, []);
  assert.equal(r.events.length, 4);
  assert.equal(r.events[1], "UNKNOWN type=10 flags=255 s=0");
  assert.equal(r.events[3], "PING ack=false 0000000000000000");

  // Without onUnknownFrame the frame is dropped silently.
  const events: string[] = [];
  const reader = new FrameReader(
    {
      onData: () => events.push("data"),
      onHeaders: () => events.push("headers"),
      onPushPromise: () => events.push("push"),
      onRstStream: () => events.push("rst"),
      onSettings: () => events.push("settings"),
      onSettingsAck: () => events.push("ack"),
      onPing: () => events.push("ping"),
      onGoaway: () => events.push("goaway"),
      onWindowUpdate: () => events.push("wu"),
      onStreamError: () => events.push("stream-error"),
      onConnectionError: () => events.push("connection-error"),
    },
    { role: "server" },
  );
  reader.push(input);
  reader.push(frame(T.PRIORITY, 0, 1, [0, 0, 0, 3, 1])); // optional onPriority absent too
  assert.deepEqual(events, ["settings", "ping"]);
});

test("a throwing handler becomes an INTERNAL_ERROR connection error; push() does not throw", () => {
  const r = new Recorder();
  const boom = new Error("handler bug");
  r.onPing = () => {
    throw boom;
  };
  const reader = new FrameReader(r, { role: "server" });
  assert.doesNotThrow(() => reader.push(Buffer.concat([CLIENT_PRELUDE, frame(T.PING, 0, 0, Buffer.alloc(8)), frame(T.DATA, 0, 1, [1])])));
  assert.equal(r.connectionErrors.length, 1);
  assert.equal(r.connectionErrors[0]!.code, H2Code.INTERNAL_ERROR);
  assert.equal(r.connectionErrors[0]!.kind, "handler-threw");
  assert.equal(r.connectionErrors[0]!.cause, boom);
  assert.ok(!r.events.some((e) => e.startsWith("DATA")), "parsing stopped");
  reader.push(frame(T.DATA, 0, 1, [1]));
  assert.equal(r.events.length, 2, "input after the error is ignored");
});

test("stop() from inside a callback halts the rest of the chunk", () => {
  const r = new Recorder();
  const reader = new FrameReader(r, { role: "server" });
  r.onGoaway = () => {
    r.events.push("GOAWAY");
    reader.stop();
  };
  reader.push(Buffer.concat([CLIENT_PRELUDE, frame(T.GOAWAY, 0, 0, Buffer.alloc(8)), frame(T.DATA, 0, 1, [1])]));
  assert.deepEqual(r.events, ["SETTINGS", "GOAWAY"]);
  assert.ok(reader.stopped);
});

test("inFieldBlock tells the connection that EOF would truncate a field block", () => {
  const r = new Recorder();
  const reader = new FrameReader(r, { role: "server" });
  reader.push(Buffer.concat([CLIENT_PRELUDE, frame(T.HEADERS, 0, 1, [0x82])]));
  assert.ok(reader.inFieldBlock);
  reader.push(frame(T.CONTINUATION, Flag.END_HEADERS, 1, [0x84]));
  assert.ok(!reader.inFieldBlock);
  assert.deepEqual(r.events.slice(1), ["HEADERS s=1 end=false 8284"]);
});

test("a reassembled block stays intact after the next block arrives (no buffer reuse)", () => {
  const r = new Recorder();
  const reader = new FrameReader(r, { role: "server" });
  const block = (stream: number, byte: number): Buffer =>
    Buffer.concat([
      frame(T.HEADERS, 0, stream, Buffer.alloc(700, byte)),
      frame(T.CONTINUATION, 0, stream, Buffer.alloc(700, byte)),
      frame(T.CONTINUATION, Flag.END_HEADERS, stream, Buffer.alloc(700, byte)),
    ]);
  reader.push(Buffer.concat([CLIENT_PRELUDE, block(1, 0x61)]));
  const first = r.views[0]!;
  reader.push(block(3, 0x62));
  assert.equal(r.views.length, 2);
  assert.ok(first.equals(Buffer.alloc(2100, 0x61)), "first block unchanged");
  assert.ok(r.views[1]!.equals(Buffer.alloc(2100, 0x62)));
});

// FrameWriter -> FrameReader for every frame type, splitting by max frame size, and the
// writer's output buffer contract (take() slices stay intact, big payloads referenced).
import { test } from "node:test";
import assert from "node:assert/strict";
import { CONNECTION_PREFACE, Flag, FrameType, SettingId } from "../../../../src/transport/h2/frames/constants.js";
import { FrameWriter } from "../../../../src/transport/h2/frames/writer.js";
import { SlabPool } from "../../../../src/transport/h2/frames/slab-pool.js";
import { H2Code } from "../../../../src/transport/types.js";
import { frame, readAll, settingsPayload } from "./helpers.js";

function flat(out: Buffer | Buffer[]): Buffer {
  return Array.isArray(out) ? Buffer.concat(out) : out;
}

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test("every frame type survives writer -> reader with its fields", () => {
  const w = new FrameWriter();
  w.preface();
  w.settings([
    [SettingId.HEADER_TABLE_SIZE, 0],
    [SettingId.ENABLE_PUSH, 0],
    [SettingId.MAX_CONCURRENT_STREAMS, 100],
    [SettingId.INITIAL_WINDOW_SIZE, 2 ** 31 - 1],
    [SettingId.MAX_FRAME_SIZE, 2 ** 24 - 1],
    [SettingId.MAX_HEADER_LIST_SIZE, 8192],
  ]);
  w.settingsAck();
  w.headers(1, Buffer.from("82868441", "hex"), false);
  w.data(1, Buffer.from("hello"), false);
  w.data(1, Buffer.alloc(0), true);
  w.headers(3, Buffer.from("88", "hex"), true);
  w.priority(5, 3, 256, true);
  w.priority(7, 0, 1, false);
  w.rstStream(3, H2Code.CANCEL);
  w.ping(Buffer.from("0102030405060708", "hex"), false);
  w.ping(Buffer.from("a1a2a3a4a5a6a7a8", "hex"), true);
  w.windowUpdate(0, 2 ** 31 - 1);
  w.windowUpdate(1, 1);
  w.goaway(2 ** 31 - 1, H2Code.ENHANCE_YOUR_CALM, Buffer.from("calm"));
  w.goaway(0, H2Code.NO_ERROR);
  w.raw(0xfa, 0xff, 9, Buffer.from("ext"));

  const r = readAll(flat(w.take()), { role: "server" });
  assert.deepEqual(r.events, [
    "SETTINGS 1=0,2=0,3=100,4=2147483647,5=16777215,6=8192",
    "SETTINGS_ACK",
    "HEADERS s=1 end=false 82868441",
    "DATA s=1 end=false flow=5 68656c6c6f",
    "DATA s=1 end=true flow=0 ",
    "HEADERS s=3 end=true 88",
    "PRIORITY s=5 dep=3 excl=true w=256",
    "PRIORITY s=7 dep=0 excl=false w=1",
    "RST_STREAM s=3 CANCEL",
    "PING ack=false 0102030405060708",
    "PING ack=true a1a2a3a4a5a6a7a8",
    "WINDOW_UPDATE s=0 +2147483647",
    "WINDOW_UPDATE s=1 +1",
    `GOAWAY last=2147483647 ENHANCE_YOUR_CALM ${Buffer.from("calm").toString("hex")}`,
    "GOAWAY last=0 NO_ERROR",
    "UNKNOWN type=250 flags=255 s=9 657874",
  ]);
});

test("PUSH_PROMISE round-trips to a client, split into CONTINUATION when large", () => {
  const w = new FrameWriter();
  w.settings([]);
  const block = pattern(40_000);
  w.pushPromise(1, 2, block);
  w.pushPromise(1, 4, Buffer.from("abcd"));
  const r = readAll(flat(w.take()), { role: "client" });
  assert.deepEqual(r.events, ["SETTINGS", `PUSH_PROMISE s=1 promised=2 ${block.toString("hex")}`, "PUSH_PROMISE s=1 promised=4 61626364"]);
});

test("DATA is split by the peer's max frame size, END_STREAM on the last frame only", () => {
  const w = new FrameWriter();
  const payload = pattern(16_384 * 2 + 100);
  w.data(1, payload, true);
  const bytes = flat(w.take());
  // Frame headers on the wire: 16384, 16384, 100; flags 0, 0, END_STREAM.
  assert.equal(bytes.readUIntBE(0, 3), 16_384);
  assert.equal(bytes[4], 0);
  assert.equal(bytes.readUIntBE(9 + 16_384, 3), 16_384);
  assert.equal(bytes.readUIntBE(2 * (9 + 16_384), 3), 100);
  assert.equal(bytes[2 * (9 + 16_384) + 4], Flag.END_STREAM);
  const r = readAll(Buffer.concat([frame(FrameType.SETTINGS, 0, 0), bytes]), { role: "client" });
  const datas = r.events.filter((e) => e.startsWith("DATA"));
  assert.equal(datas.length, 3);
  assert.equal(Buffer.concat(r.views).toString("hex"), payload.toString("hex"));
  assert.ok(datas[2]!.includes("end=true") && !datas[0]!.includes("end=true"));

  // A larger peer limit gives one frame.
  const big = new FrameWriter();
  big.maxFrameSize = 65_536;
  big.data(1, payload, false);
  assert.equal(flat(big.take()).readUIntBE(0, 3), payload.length);
});

test("HEADERS is split into CONTINUATION frames; END_STREAM on HEADERS, END_HEADERS on the last", () => {
  const w = new FrameWriter();
  const block = pattern(16_384 * 2 + 1);
  w.headers(5, block, true);
  const bytes = flat(w.take());
  assert.equal(bytes[3], FrameType.HEADERS);
  assert.equal(bytes[4], Flag.END_STREAM);
  const second = 9 + 16_384;
  assert.equal(bytes[second + 3], FrameType.CONTINUATION);
  assert.equal(bytes[second + 4], 0);
  const third = 2 * second;
  assert.equal(bytes[third + 3], FrameType.CONTINUATION);
  assert.equal(bytes[third + 4], Flag.END_HEADERS);
  assert.equal(bytes.readUIntBE(third, 3), 1);
  const r = readAll(Buffer.concat([frame(FrameType.SETTINGS, 0, 0), bytes]), { role: "client" });
  assert.deepEqual(r.events, ["SETTINGS", `HEADERS s=5 end=true ${block.toString("hex")}`]);
});

test("a block that fits exactly is one HEADERS frame with END_HEADERS", () => {
  const w = new FrameWriter();
  w.headers(1, pattern(16_384), false);
  const bytes = flat(w.take());
  assert.equal(bytes.length, 9 + 16_384);
  assert.equal(bytes[4], Flag.END_HEADERS);
});

test("the preface and an empty SETTINGS are what a server reader expects first", () => {
  const w = new FrameWriter();
  w.preface();
  w.settings([]);
  const bytes = flat(w.take());
  assert.deepEqual(bytes.subarray(0, 24), CONNECTION_PREFACE);
  assert.deepEqual(bytes.subarray(24), frame(FrameType.SETTINGS, 0, 0));
  assert.deepEqual(frame(FrameType.SETTINGS, 0, 0, settingsPayload([[3, 7]])).subarray(9), settingsPayload([[3, 7]]));
});

test("take() returns one Buffer per turn; later frames never overwrite a taken slice", () => {
  const w = new FrameWriter({ pool: new SlabPool(64, 4) });
  w.ping(Buffer.alloc(8, 1), false);
  const first = w.take();
  assert.ok(Buffer.isBuffer(first));
  const firstCopy = Buffer.from(first);
  assert.equal(w.pending, 0);
  // Enough small frames to outgrow the 64-octet slab several times (doubling).
  for (let i = 0; i < 50; i++) w.windowUpdate(1, i + 1);
  assert.equal(w.pending, 50 * 13);
  const second = w.take();
  assert.ok(Buffer.isBuffer(second));
  assert.equal(second.length, 50 * 13);
  assert.deepEqual(first, firstCopy);
  const r = readAll(Buffer.concat([frame(FrameType.SETTINGS, 0, 0), second]), { role: "client" });
  assert.equal(r.events.length, 51);
  assert.equal(r.events[50], "WINDOW_UPDATE s=1 +50");
  assert.equal(w.take().length, 0);
});

test("large payloads are referenced, not copied: take() returns the segments in order", () => {
  const w = new FrameWriter({ referenceThreshold: 1024 });
  const big = pattern(5000);
  w.headers(1, Buffer.from("82", "hex"), false);
  w.data(1, big, false);
  w.data(1, Buffer.from("tail"), true);
  const out = w.take();
  assert.ok(Array.isArray(out));
  assert.ok(out.includes(big), "the DATA payload is the caller's buffer itself");
  const r = readAll(Buffer.concat([frame(FrameType.SETTINGS, 0, 0), ...out]), { role: "client" });
  assert.deepEqual(r.events.slice(1), ["HEADERS s=1 end=false 82", `DATA s=1 end=false flow=5000 ${big.toString("hex")}`, "DATA s=1 end=true flow=4 7461696c"]);
  // Below the threshold the bytes are copied into the slab.
  const small = new FrameWriter({ referenceThreshold: 1024 });
  small.data(1, pattern(1023), false);
  assert.ok(Buffer.isBuffer(small.take()));
});

test("the writer refuses arguments no valid caller produces", () => {
  const w = new FrameWriter();
  assert.throws(() => w.data(0, Buffer.alloc(1), false), RangeError);
  assert.throws(() => w.headers(2 ** 31, Buffer.alloc(1), false), RangeError);
  assert.throws(() => w.windowUpdate(1, 0), RangeError);
  assert.throws(() => w.windowUpdate(1, 2 ** 31), RangeError);
  assert.throws(() => w.ping(Buffer.alloc(7), false), RangeError);
  assert.throws(() => w.priority(1, 0, 0, false), RangeError);
  assert.throws(() => {
    w.maxFrameSize = 16_383;
  }, RangeError);
  assert.equal(w.pending, 0, "a refused call appends nothing");
});

test("headersFrom() writes the bytes headers() writes, for small and CONTINUATION-sized blocks", () => {
  for (const size of [1, 300, 4095, 4096, 20_000, 40_000]) {
    const block = pattern(size, size);
    const source = {
      blockLength: block.length,
      copyBlock: (target: Uint8Array, offset: number): number => block.copy(target, offset),
      endBlock: (): Buffer => block,
    };
    for (const endStream of [false, true]) {
      const a = new FrameWriter();
      a.headersFrom(7, source, endStream);
      const b = new FrameWriter();
      b.headers(7, Buffer.from(block), endStream);
      const out = a.take();
      // The source is the encoder's buffer, reused for its next block: never referenced.
      for (const segment of Array.isArray(out) ? out : [out]) assert.notEqual(segment.buffer, block.buffer);
      assert.deepEqual(flat(out), flat(b.take()), `block of ${size}, endStream ${endStream}`);
    }
  }
});

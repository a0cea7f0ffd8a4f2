// The same byte stream gives the same frames however the socket cuts it: all at once, one
// byte at a time, and at random places. Views are zero-copy when a frame sits inside one
// chunk, and stay intact when later chunks arrive.
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "../../../../src/core/random.js";
import { Flag, FrameType, SettingId } from "../../../../src/transport/h2/frames/constants.js";
import { FrameReader } from "../../../../src/transport/h2/frames/reader.js";
import { FrameWriter } from "../../../../src/transport/h2/frames/writer.js";
import { H2Code } from "../../../../src/transport/types.js";
import { CLIENT_PRELUDE, frame, randomCuts, readAll, readBytewise, readCut, Recorder, u32 } from "./helpers.js";

/** A conversation with every frame type, padding, CONTINUATION and an extension frame. */
function conversation(): Buffer {
  const w = new FrameWriter();
  w.preface();
  w.settings([
    [SettingId.INITIAL_WINDOW_SIZE, 1 << 20],
    [SettingId.ENABLE_PUSH, 0],
  ]);
  w.windowUpdate(0, 983_041);
  w.headers(1, Buffer.from("8286418aa0e41d139d09b8f01e07", "hex"), false);
  w.data(1, Buffer.alloc(40_000, 0x61), true); // 3 DATA frames
  w.headers(3, Buffer.alloc(20_000, 0x7e), true); // HEADERS + CONTINUATION
  w.priority(3, 1, 16, false);
  w.rstStream(3, H2Code.CANCEL);
  w.ping(Buffer.from("0102030405060708", "hex"), false);
  w.settingsAck();
  w.raw(0xbb, 0, 0, Buffer.from("extension"));
  w.raw(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 5, Buffer.from([3, 0x68, 0x69, 0, 0, 0]));
  w.raw(FrameType.HEADERS, Flag.PADDED, 7, Buffer.from([2, 0x82, 0x84, 0, 0]));
  w.raw(FrameType.CONTINUATION, 0, 7, Buffer.alloc(0));
  w.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 7, Buffer.from([0x86]));
  w.windowUpdate(5, 100);
  w.goaway(7, H2Code.NO_ERROR, Buffer.from("done"));
  const out = w.take();
  return Array.isArray(out) ? Buffer.concat(out) : out;
}

test("all at once, byte by byte and random cuts give identical frames", () => {
  const bytes = conversation();
  const options = { role: "server" as const };
  const whole = readAll(bytes, options);
  assert.equal(whole.connectionErrors.length, 0, whole.events.join("\n"));
  assert.equal(whole.events.length, 16);
  assert.ok(whole.events.includes("DATA s=5 end=true flow=6 6869"), "padding stripped, flow length kept");
  assert.ok(whole.events.includes("HEADERS s=7 end=false 828486"), "fragments joined");
  assert.deepEqual(readBytewise(bytes, options).events, whole.events);
  const random = seededRandom(9113);
  for (let round = 0; round < 200; round++) {
    const cuts = randomCuts(bytes.length, random, 1 + (round % 40));
    assert.deepEqual(readCut(bytes, cuts, options).events, whole.events, `cuts ${cuts.join(",")}`);
  }
});

test("a frame inside one chunk is handed out as a view of that chunk (no copy)", () => {
  const r = new Recorder();
  const reader = new FrameReader(r, { role: "server" });
  const chunk = Buffer.concat([CLIENT_PRELUDE, frame(FrameType.DATA, 0, 1, Buffer.from("abc")), frame(FrameType.DATA, 0, 1, Buffer.from("def"))]);
  reader.push(chunk);
  assert.equal(r.views.length, 2);
  for (const view of r.views) assert.equal(view.buffer, chunk.buffer, "view shares the chunk's memory");
  assert.equal(r.views[1]!.byteOffset, chunk.byteOffset + chunk.length - 3);
});

test("a straddling frame is copied once; views handed out earlier stay intact", () => {
  const r = new Recorder();
  const reader = new FrameReader(r, { role: "server" });
  const bytes = Buffer.concat([CLIENT_PRELUDE, frame(FrameType.DATA, 0, 1, Buffer.from("first")), frame(FrameType.DATA, 0, 1, Buffer.from("second"))]);
  const cut = bytes.length - 3;
  const a = Buffer.from(bytes.subarray(0, cut));
  const b = Buffer.from(bytes.subarray(cut));
  reader.push(a);
  assert.equal(r.views.length, 1);
  assert.equal(reader.bufferedBytes, 3, "the second frame's first 3 payload octets are held");
  reader.push(b);
  assert.equal(r.views.length, 2);
  // The socket's memory could be anything now: the straddling frame was copied.
  a.fill(0);
  b.fill(0);
  assert.equal(r.views[1]!.toString(), "second");
  assert.equal(reader.bufferedBytes, 0);
});

test("a frame header split across chunks is reassembled", () => {
  const bytes = Buffer.concat([CLIENT_PRELUDE, frame(FrameType.WINDOW_UPDATE, 0, 3, u32(77))]);
  for (let cut = CLIENT_PRELUDE.length + 1; cut < bytes.length; cut++) {
    const r = readCut(bytes, [cut], { role: "server" });
    assert.deepEqual(r.events, ["SETTINGS", "WINDOW_UPDATE s=3 +77"], `cut at ${cut}`);
  }
});

test("reusedInput: DATA payloads outlive the reused read buffer; events match a fresh-memory read", () => {
  const bytes = conversation();
  const whole = readAll(bytes, { role: "server" });
  const wholeData = whole.views.filter((_, i) => whole.events.filter((e) => e.startsWith("DATA") || e.startsWith("HEADERS"))[i]!.startsWith("DATA"));
  const random = seededRandom(44);
  for (let round = 0; round < 50; round++) {
    const r = new Recorder();
    const reader = new FrameReader(r, { role: "server", reusedInput: true });
    const scratch = Buffer.alloc(bytes.length);
    let from = 0;
    for (const cut of [...randomCuts(bytes.length, random, 1 + (round % 20)), bytes.length]) {
      const n = bytes.copy(scratch, 0, from, cut);
      reader.push(scratch.subarray(0, n));
      scratch.fill(0xee); // the socket's next read overwrites it
      from = cut;
    }
    assert.deepEqual(r.events, whole.events);
    const kinds = r.events.filter((e) => e.startsWith("DATA") || e.startsWith("HEADERS"));
    const data = r.views.filter((_, i) => kinds[i]!.startsWith("DATA"));
    assert.deepEqual(
      data.map((v) => v.toString("hex")),
      wholeData.map((v) => v.toString("hex")),
    );
    for (const v of data) assert.notEqual(v.buffer, scratch.buffer);
  }
});

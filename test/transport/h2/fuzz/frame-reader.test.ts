// Property-based fuzzing of FrameReader in both roles. Inputs: valid conversations (whose
// expected callbacks the generator knows), the same with byte-level mutations (bit flips,
// truncation, deletion, insertion, duplication, corrupted Length fields), structurally
// sound frames with random fields, and arbitrary bytes; each fed whole and cut into random
// chunks. Every feed checks that push() does not throw, reports at most one connection
// error and nothing after it, keeps bufferedBytes within maxFrameSize + maxHeaderBlockSize,
// leaves delivered payload views intact, and is online: the callbacks after any chunk are a
// prefix of those for the whole input. A runaway loop fails the test (see isolated.ts).
import assert from "node:assert/strict";
import fc from "fast-check";
import { CONNECTION_PREFACE, FrameType } from "../../../../src/transport/h2/frames/constants.js";
import type { FrameHandler } from "../../../../src/transport/h2/frames/handler.js";
import { FrameReader, type FrameReaderOptions } from "../../../../src/transport/h2/frames/reader.js";
import { frame, Recorder, SERVER_PRELUDE } from "../frames/helpers.js";
import { conversation, randomFrame, type Role, settings } from "./frame-arbitraries.js";
import { isolatedFuzz } from "./isolated.js";
import { cutsFor, frameMutations, mutate } from "./mutations.js";

const fuzz = isolatedFuzz(import.meta.url);

const DEFAULT_MAX_FRAME = 16_384;
const DEFAULT_MAX_BLOCK = 64 * 1024;
const PING = frame(FrameType.PING, 0, 0, Buffer.alloc(8));

/** Reader options with small caps, so the flood and size limits are reached. */
function readerOptions(role: Role): fc.Arbitrary<FrameReaderOptions> {
  return fc.record({
    role: fc.constant(role),
    maxFrameSize: fc.option(fc.integer({ min: DEFAULT_MAX_FRAME, max: 2 * DEFAULT_MAX_FRAME }), { nil: undefined }),
    maxHeaderBlockSize: fc.option(fc.oneof(fc.integer({ min: 0, max: 256 }), fc.integer({ min: 257, max: 4096 })), { nil: undefined }),
    maxContinuationFrames: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  });
}

/** Chunk boundaries: random cut points, or (sometimes) one byte at a time. */
const chunking = fc.record({ cuts: fc.array(fc.nat(), { maxLength: 48 }), bytewise: fc.boolean() });

function cutsOf(length: number, c: { cuts: number[]; bytewise: boolean }): number[] {
  if (c.bytewise) return Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1);
  return cutsFor(length, c.cuts);
}

function bufferBound(options: FrameReaderOptions): number {
  return (options.maxFrameSize ?? DEFAULT_MAX_FRAME) + (options.maxHeaderBlockSize ?? DEFAULT_MAX_BLOCK);
}

/**
 * Feeds bytes in chunks ending at `cuts`, checking the invariants after every push. With
 * `whole` (the events for the same bytes in one chunk), also checks that each push only
 * extends that sequence.
 */
function feed(bytes: Buffer, cuts: readonly number[], options: FrameReaderOptions, whole?: readonly string[]): { recorder: Recorder; reader: FrameReader } {
  const recorder = new Recorder();
  const reader = new FrameReader(recorder, options);
  const bound = bufferBound(options);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A fresh copy per chunk, as a socket hands out; push() must not throw (Recorder never does).
    reader.push(Buffer.from(bytes.subarray(from, cut)));
    from = cut;
    assert.ok(reader.bufferedBytes <= bound, `bufferedBytes ${reader.bufferedBytes} > ${bound} after ${cut} octets`);
    assert.ok(reader.bufferedBytes >= 0);
    if (reader.stopped) assert.equal(reader.bufferedBytes, 0, "a stopped reader holds no input");
    if (whole !== undefined) {
      const events = recorder.events;
      assert.ok(events.length <= whole.length, `more events after ${cut} octets than for the whole input`);
      for (let i = 0; i < events.length; i++) assert.equal(events[i], whole[i], `event ${i} after ${cut} octets`);
    }
  }
  checkTermination(recorder, reader);
  checkViews(recorder);
  return { recorder, reader };
}

/** DATA and field block views still hold what was delivered: the reader never reuses their memory. */
function checkViews(recorder: Recorder): void {
  const delivered = recorder.events.filter((e) => e.startsWith("DATA ") || e.startsWith("HEADERS "));
  assert.equal(recorder.views.length, delivered.length);
  recorder.views.forEach((view, i) => assert.equal(view.toString("hex"), delivered[i]!.split(" ").at(-1), `view ${i} changed`));
}

/** At most one connection error, the last callback; the reader then ignores all input. */
function checkTermination(recorder: Recorder, reader: FrameReader): void {
  const errors = recorder.connectionErrors.length;
  assert.ok(errors <= 1, `${errors} connection errors`);
  if (errors === 1) {
    assert.ok(reader.stopped);
    assert.match(recorder.events.at(-1)!, /^CONNECTION_ERROR /, "the connection error is the last callback");
    const before = recorder.events.length;
    reader.push(Buffer.concat([SERVER_PRELUDE, PING]));
    reader.push(PING);
    assert.equal(recorder.events.length, before, "no callback after the connection error");
    assert.equal(reader.bufferedBytes, 0);
  }
}

/** The same bytes, whole and in chunks: same callbacks, invariants checked on both feeds. */
function feedBothWays(bytes: Buffer, options: FrameReaderOptions, c: { cuts: number[]; bytewise: boolean }): void {
  const whole = feed(bytes, [], options).recorder;
  const chunked = feed(bytes, cutsOf(bytes.length, c), options, whole.events).recorder;
  assert.deepEqual(chunked.events, whole.events);
}

for (const role of ["server", "client"] as const) {
  fuzz(`${role}: valid conversations give exactly the expected callbacks, however chunked`, 300, () =>
    fc.property(conversation(role), chunking, (conv, c) => {
      const bytes = Buffer.concat([conv.prefix, ...conv.frames]);
      const { recorder, reader } = feed(bytes, cutsOf(bytes.length, c), { role });
      assert.deepEqual(recorder.events, conv.events);
      assert.equal(reader.stopped, false);
      assert.equal(reader.inFieldBlock, false);
      assert.equal(reader.bufferedBytes, 0, "nothing held between frames");
    }),
  );

  fuzz(`${role}: mutated conversations (flips, truncation, splices, Length corruption)`, 500, () =>
    fc.property(conversation(role, 8), frameMutations(), readerOptions(role), chunking, (conv, mutations, options, c) => {
      const starts: number[] = [];
      let offset = 0;
      for (const f of conv.frames) {
        starts.push(offset);
        offset += f.length;
      }
      // The preface magic stays intact: corrupting it only ever ends in the same error.
      const bytes = Buffer.concat([conv.prefix, mutate(Buffer.concat(conv.frames), mutations, starts)]);
      feedBothWays(bytes, options, c);
    }),
  );

  fuzz(`${role}: frames with correct lengths and random fields`, 400, () =>
    fc.property(settings(role), fc.array(randomFrame, { maxLength: 16 }), readerOptions(role), chunking, (first, frames, options, c) => {
      const prefix = role === "server" ? CONNECTION_PREFACE : Buffer.alloc(0);
      feedBothWays(Buffer.concat([prefix, ...first.frames, ...frames]), options, c);
    }),
  );

  fuzz(`${role}: arbitrary bytes, with or without a valid preface first`, 400, () =>
    fc.property(fc.constantFrom("none", "magic", "preface"), fc.uint8Array({ maxLength: 400 }), readerOptions(role), chunking, (lead, random, options, c) => {
      const magic = role === "server" ? CONNECTION_PREFACE : Buffer.alloc(0);
      const prefix = lead === "none" ? Buffer.alloc(0) : lead === "magic" ? magic : Buffer.concat([magic, SERVER_PRELUDE]);
      feedBothWays(Buffer.concat([prefix, random]), options, c);
    }),
  );

  fuzz(`${role}: a callback that throws or calls stop() ends parsing at that callback`, 200, () =>
    fc.property(conversation(role, 8), fc.nat({ max: 16 }), fc.constantFrom("throw", "stop"), chunking, (conv, k, action, c) => {
      const bytes = Buffer.concat([conv.prefix, ...conv.frames]);
      let calls = 0;
      const recorder = new Recorder();
      // The Recorder, with the k-th callback (onConnectionError aside) then throwing or stopping.
      const handler: FrameHandler = new Proxy(recorder, {
        get(target, prop, receiver): unknown {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (typeof value !== "function" || prop === "onConnectionError") return value;
          return (...args: unknown[]): void => {
            Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
            if (++calls !== k) return;
            if (action === "stop") reader.stop();
            else throw new Error("handler failure");
          };
        },
      });
      const reader = new FrameReader(handler, { role });
      let from = 0;
      for (const cut of [...cutsOf(bytes.length, c), bytes.length]) {
        reader.push(Buffer.from(bytes.subarray(from, cut)));
        from = cut;
      }
      checkTermination(recorder, reader);
      if (k === 0 || k > conv.events.length) {
        assert.deepEqual(recorder.events, conv.events);
        return;
      }
      const expected = conv.events.slice(0, k);
      if (action === "throw") expected.push("CONNECTION_ERROR INTERNAL_ERROR handler-threw");
      assert.deepEqual(recorder.events, expected);
      assert.equal(reader.stopped, true);
      assert.equal(reader.bufferedBytes, 0);
    }),
  );
}

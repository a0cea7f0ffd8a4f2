// Structurally valid frame sequences for the FrameReader fuzz tests, each with the events
// the test Recorder must log for it: the generator is its own oracle. Frames are built
// with the hand-rolled frame() helper, not FrameWriter, and use the liberties RFC 9113
// gives a sender (reserved bits set, undefined flags, padding, CONTINUATION splits, empty
// fragments, extension frames) so a reader that is stricter than the RFC shows up too.
import fc from "fast-check";
import { CONNECTION_PREFACE, Flag, FrameType, Limit, SettingId } from "../../../../src/transport/h2/frames/constants.js";
import { h2CodeName } from "../../../../src/transport/types.js";
import { frame, settingsPayload } from "../frames/helpers.js";

export type Role = "client" | "server";

/** Some frames and what the Recorder logs for them. */
export interface FramesCase {
  readonly frames: Buffer[];
  readonly events: string[];
}

/** A whole conversation: the frames come after `prefix` (the client preface magic, or nothing). */
export interface ConversationCase extends FramesCase {
  readonly prefix: Buffer;
}

const MAX_ID = Limit.MAX_STREAM_ID;
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u31 = fc.integer({ min: 0, max: MAX_ID });
const streamId = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: MAX_ID }));
/** The reserved top bit of a stream id: receivers must ignore it (section 4.1). */
const reserved = fc.boolean();
const errorCode = fc.oneof(fc.integer({ min: 0, max: 0xf }), u32);
const bytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));
/** Mostly short; sometimes up to `large` octets (a repeated pattern: cheap to generate). */
const payload = (short: number, large: number): fc.Arbitrary<Buffer> =>
  fc.oneof(
    { arbitrary: bytes(short), weight: 9 },
    fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.integer({ min: short, max: large }))
      .map(([pattern, length]) => Buffer.alloc(length, Buffer.from(pattern))),
  );
/** Flag bits with no meaning for a frame type (`defined` are the meaningful ones): ignored on receipt. */
const undefinedFlags = (defined: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 0xff }).map((f) => f & ~defined & 0xff);
const padLength = fc.option(fc.integer({ min: 0, max: 24 }), { nil: undefined });

const wire = (id: number, reservedBit: boolean): number => (reservedBit ? id | 0x8000_0000 : id) >>> 0;
const hex = (b: Buffer): string => b.toString("hex");
const zeros = (n: number): Buffer => Buffer.alloc(n);
const one = (f: Buffer, event: string): FramesCase => ({ frames: [f], events: [event] });

const selfDependency = (id: number): string => `STREAM_ERROR s=${id} PROTOCOL_ERROR self-dependency`;

function split(block: Buffer, rawCuts: readonly number[]): Buffer[] {
  const cuts = [...new Set(rawCuts.map((c) => c % (block.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(block.subarray(from, cut));
    from = cut;
  }
  out.push(block.subarray(from));
  return out;
}

/** CONTINUATION frames carrying fragments[1..]; END_HEADERS on the last. */
function continuations(id: number, fragments: readonly Buffer[], noise: readonly number[], reservedBits: readonly boolean[]): Buffer[] {
  return fragments.slice(1).map((fragment, i) => {
    const last = i === fragments.length - 2;
    const flags = (noise[i % Math.max(1, noise.length)] ?? 0) | (last ? Flag.END_HEADERS : 0);
    return frame(FrameType.CONTINUATION, flags, wire(id, reservedBits[i % Math.max(1, reservedBits.length)] ?? false), fragment);
  });
}

const data = fc
  .record({
    id: streamId,
    r: reserved,
    body: payload(64, 16_384 - 256),
    end: fc.boolean(),
    pad: padLength,
    noise: undefinedFlags(Flag.END_STREAM | Flag.PADDED),
  })
  .map(({ id, r, body, end, pad, noise }): FramesCase => {
    const payload = pad === undefined ? body : Buffer.concat([Buffer.from([pad]), body, zeros(pad)]);
    const flags = noise | (end ? Flag.END_STREAM : 0) | (pad === undefined ? 0 : Flag.PADDED);
    return one(frame(FrameType.DATA, flags, wire(id, r), payload), `DATA s=${id} end=${end} flow=${payload.length} ${hex(body)}`);
  });

const CONTINUATION_NOISE = fc.array(undefinedFlags(Flag.END_HEADERS), { maxLength: 4 });

const headers = fc
  .record({
    id: streamId,
    r: reserved,
    // Large blocks make the reader grow its field block buffer (1 KiB at first).
    block: payload(96, 6000),
    end: fc.boolean(),
    pad: padLength,
    priority: fc.option(fc.record({ dependency: fc.oneof(u31, fc.constant(-1)), exclusive: fc.boolean(), weight: fc.integer({ min: 0, max: 255 }) }), {
      nil: undefined,
    }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
    noise: undefinedFlags(Flag.END_STREAM | Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY),
    continuationNoise: CONTINUATION_NOISE,
    continuationReserved: fc.array(fc.boolean(), { maxLength: 4 }),
  })
  .map(({ id, r, block, end, pad, priority, cuts, noise, continuationNoise, continuationReserved }): FramesCase => {
    const fragments = split(block, cuts);
    const parts: Buffer[] = [];
    if (pad !== undefined) parts.push(Buffer.from([pad]));
    let selfDependent = false;
    if (priority !== undefined) {
      // -1 stands for "the stream itself", which is a stream error after the block.
      const dependency = priority.dependency < 0 ? id : priority.dependency;
      selfDependent = dependency === id;
      const fields = Buffer.alloc(5);
      fields.writeUInt32BE(((priority.exclusive ? 0x8000_0000 : 0) | dependency) >>> 0, 0);
      fields[4] = priority.weight;
      parts.push(fields);
    }
    parts.push(fragments[0]!);
    if (pad !== undefined) parts.push(zeros(pad));
    const flags =
      noise |
      (end ? Flag.END_STREAM : 0) |
      (pad === undefined ? 0 : Flag.PADDED) |
      (priority === undefined ? 0 : Flag.PRIORITY) |
      (fragments.length === 1 ? Flag.END_HEADERS : 0);
    const frames = [
      frame(FrameType.HEADERS, flags, wire(id, r), Buffer.concat(parts)),
      ...continuations(id, fragments, continuationNoise, continuationReserved),
    ];
    const events = [`HEADERS s=${id} end=${end} ${hex(block)}`];
    if (selfDependent) events.push(selfDependency(id));
    return { frames, events };
  });

const pushPromise = fc
  .record({
    id: streamId,
    r: reserved,
    promised: u31,
    promisedReserved: reserved,
    block: bytes(64),
    pad: padLength,
    cuts: fc.array(fc.nat(), { maxLength: 3 }),
    noise: undefinedFlags(Flag.END_HEADERS | Flag.PADDED),
    continuationNoise: CONTINUATION_NOISE,
  })
  .map(({ id, r, promised, promisedReserved, block, pad, cuts, noise, continuationNoise }): FramesCase => {
    const fragments = split(block, cuts);
    const promisedField = Buffer.alloc(4);
    promisedField.writeUInt32BE(wire(promised, promisedReserved), 0);
    const payload = Buffer.concat(pad === undefined ? [promisedField, fragments[0]!] : [Buffer.from([pad]), promisedField, fragments[0]!, zeros(pad)]);
    const flags = noise | (pad === undefined ? 0 : Flag.PADDED) | (fragments.length === 1 ? Flag.END_HEADERS : 0);
    return {
      frames: [frame(FrameType.PUSH_PROMISE, flags, wire(id, r), payload), ...continuations(id, fragments, continuationNoise, [])],
      events: [`PUSH_PROMISE s=${id} promised=${promised} ${hex(block)}`],
    };
  });

const priority = fc
  .record({
    id: streamId,
    r: reserved,
    dependency: fc.oneof(u31, fc.constant(-1)),
    exclusive: fc.boolean(),
    weight: fc.integer({ min: 0, max: 255 }),
    flags: undefinedFlags(0),
  })
  .map(({ id, r, dependency, exclusive, weight, flags }): FramesCase => {
    const dep = dependency < 0 ? id : dependency;
    const payload = Buffer.alloc(5);
    payload.writeUInt32BE(((exclusive ? 0x8000_0000 : 0) | dep) >>> 0, 0);
    payload[4] = weight;
    const event = dep === id ? selfDependency(id) : `PRIORITY s=${id} dep=${dep} excl=${exclusive} w=${weight + 1}`;
    return one(frame(FrameType.PRIORITY, flags, wire(id, r), payload), event);
  });

const rstStream = fc.record({ id: streamId, r: reserved, code: errorCode, flags: undefinedFlags(0) }).map(({ id, r, code, flags }) => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return one(frame(FrameType.RST_STREAM, flags, wire(id, r), payload), `RST_STREAM s=${id} ${h2CodeName(code)}`);
});

/** One SETTINGS entry whose value is legal from a peer in `role`'s position. */
function settingEntry(role: Role): fc.Arbitrary<[number, number]> {
  const bit = fc.integer({ min: 0, max: 1 });
  return fc.oneof(
    fc.tuple(fc.constant(SettingId.HEADER_TABLE_SIZE), u32),
    // We are the client: the peer is a server, which may only send ENABLE_PUSH 0.
    fc.tuple(fc.constant(SettingId.ENABLE_PUSH), role === "client" ? fc.constant(0) : bit),
    fc.tuple(fc.constant(SettingId.MAX_CONCURRENT_STREAMS), u32),
    fc.tuple(fc.constant(SettingId.INITIAL_WINDOW_SIZE), fc.integer({ min: 0, max: Limit.MAX_WINDOW_SIZE })),
    fc.tuple(fc.constant(SettingId.MAX_FRAME_SIZE), fc.integer({ min: Limit.MIN_MAX_FRAME_SIZE, max: Limit.MAX_MAX_FRAME_SIZE })),
    fc.tuple(fc.constant(SettingId.MAX_HEADER_LIST_SIZE), u32),
    fc.tuple(fc.constantFrom(SettingId.ENABLE_CONNECT_PROTOCOL, SettingId.NO_RFC7540_PRIORITIES), bit),
    // Unknown identifiers are ignored whatever their value (section 6.5.2).
    fc.tuple(fc.oneof(fc.constantFrom(0, 7), fc.integer({ min: 10, max: 0xffff })), u32),
  );
}

export function settings(role: Role): fc.Arbitrary<FramesCase> {
  return fc.record({ entries: fc.array(settingEntry(role), { maxLength: 6 }), r: reserved, flags: undefinedFlags(Flag.ACK) }).map(({ entries, r, flags }) => {
    const event = `SETTINGS ${entries.map(([id, value]) => `${id}=${value}`).join(",")}`.trimEnd();
    return one(frame(FrameType.SETTINGS, flags, wire(0, r), settingsPayload(entries)), event);
  });
}

const settingsAck = fc
  .record({ r: reserved, flags: undefinedFlags(Flag.ACK) })
  .map(({ r, flags }) => one(frame(FrameType.SETTINGS, flags | Flag.ACK, wire(0, r), []), "SETTINGS_ACK"));

const ping = fc
  .record({ r: reserved, payload: fc.uint8Array({ minLength: 8, maxLength: 8 }), ack: fc.boolean(), flags: undefinedFlags(Flag.ACK) })
  .map(({ r, payload, ack, flags }) => {
    const body = Buffer.from(payload);
    return one(frame(FrameType.PING, flags | (ack ? Flag.ACK : 0), wire(0, r), body), `PING ack=${ack} ${hex(body)}`);
  });

const goaway = fc
  .record({ r: reserved, last: u31, lastReserved: reserved, code: errorCode, debug: bytes(32), flags: undefinedFlags(0) })
  .map(({ r, last, lastReserved, code, debug, flags }) => {
    const fixed = Buffer.alloc(8);
    fixed.writeUInt32BE(wire(last, lastReserved), 0);
    fixed.writeUInt32BE(code, 4);
    const event = `GOAWAY last=${last} ${h2CodeName(code)} ${hex(debug)}`.trimEnd();
    return one(frame(FrameType.GOAWAY, flags, wire(0, r), Buffer.concat([fixed, debug])), event);
  });

const windowUpdate = fc
  .record({
    id: fc.oneof(fc.constant(0), streamId),
    r: reserved,
    increment: fc.integer({ min: 1, max: MAX_ID }),
    incrementReserved: reserved,
    flags: undefinedFlags(0),
  })
  .map(({ id, r, increment, incrementReserved, flags }) => {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(wire(increment, incrementReserved), 0);
    return one(frame(FrameType.WINDOW_UPDATE, flags, wire(id, r), payload), `WINDOW_UPDATE s=${id} +${increment}`);
  });

/** Extension frame types are ignored (section 5.5), outside a field block. */
const unknown = fc
  .record({
    type: fc.integer({ min: FrameType.CONTINUATION + 1, max: 0xff }),
    flags: fc.integer({ min: 0, max: 0xff }),
    id: fc.oneof(fc.constant(0), streamId),
    r: reserved,
    payload: bytes(48),
  })
  .map(({ type, flags, id, r, payload }) =>
    one(frame(type, flags, wire(id, r), payload), `UNKNOWN type=${type} flags=${flags} s=${id} ${hex(payload)}`.trimEnd()),
  );

/** Any one valid frame (or field block) a peer in `role`'s position may send after its SETTINGS. */
export function validFrame(role: Role): fc.Arbitrary<FramesCase> {
  const common = [data, headers, priority, rstStream, settings(role), settingsAck, ping, goaway, windowUpdate, unknown];
  // Only servers push, so only a reader in the client role accepts PUSH_PROMISE.
  return fc.oneof(...common, ...(role === "client" ? [pushPromise] : []));
}

/** The peer's preface (magic for a client peer, then SETTINGS) and up to maxFrames valid frames. */
export function conversation(role: Role, maxFrames = 12): fc.Arbitrary<ConversationCase> {
  return fc.tuple(settings(role), fc.array(validFrame(role), { maxLength: maxFrames })).map(([first, rest]) => ({
    prefix: role === "server" ? CONNECTION_PREFACE : Buffer.alloc(0),
    frames: [first, ...rest].flatMap((c) => c.frames),
    events: [first, ...rest].flatMap((c) => c.events),
  }));
}

/**
 * Frames that are only structurally sound: a correct Length for the payload that follows,
 * every other field random. Reaches the per-type checks that random bytes rarely get to.
 */
export const randomFrame: fc.Arbitrary<Buffer> = fc
  .record({
    type: fc.oneof({ arbitrary: fc.integer({ min: 0, max: FrameType.CONTINUATION }), weight: 5 }, fc.integer({ min: 0, max: 0xff })),
    flags: fc.integer({ min: 0, max: 0xff }),
    id: fc.oneof(fc.constantFrom(0, 1, 3, 0x8000_0001), u32),
    payload: fc.oneof(bytes(12), bytes(64)),
  })
  .map(({ type, flags, id, payload }) => frame(type, flags, id, payload));

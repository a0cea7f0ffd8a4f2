// Every framing rule the reader enforces, as a table: bytes after the peer's prelude ->
// expected error (scope, code, kind). A PING follows each case's bytes: after a stream
// error it must still arrive (parsing goes on), after a connection error it must not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Flag, FrameType, SettingId } from "../../../../src/transport/h2/frames/constants.js";
import { H2Code, h2CodeName } from "../../../../src/transport/types.js";
import { frame, prelude, readAll, readBytewise, settingsPayload, u32 } from "./helpers.js";

const T = FrameType;
const PING = frame(T.PING, 0, 0, Buffer.from("0011223344556677", "hex"));
const PING_EVENT = "PING ack=false 0011223344556677";

interface Case {
  readonly name: string;
  readonly role?: "client" | "server";
  /** Replaces the prelude (preface cases). */
  readonly raw?: boolean;
  readonly bytes: Buffer | Buffer[];
  readonly scope: "connection" | "stream";
  readonly code: number;
  readonly kind: string;
  readonly streamId?: number;
}

const headersOpen = frame(T.HEADERS, 0, 1, [0x82]); // no END_HEADERS
const cases: Case[] = [
  // Frame size (section 4.2)
  {
    name: "frame above SETTINGS_MAX_FRAME_SIZE",
    bytes: frame(T.DATA, 0, 1, Buffer.alloc(16_385)),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  {
    name: "unknown type above max frame size",
    bytes: frame(0x42, 0, 0, Buffer.alloc(16_385)),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  // Stream id 0 where a stream is required
  { name: "DATA on stream 0", bytes: frame(T.DATA, 0, 0, [1]), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  { name: "HEADERS on stream 0", bytes: frame(T.HEADERS, Flag.END_HEADERS, 0, [0x82]), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  { name: "PRIORITY on stream 0", bytes: frame(T.PRIORITY, 0, 0, [0, 0, 0, 1, 15]), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  { name: "RST_STREAM on stream 0", bytes: frame(T.RST_STREAM, 0, 0, u32(8)), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  {
    name: "PUSH_PROMISE on stream 0",
    role: "client",
    bytes: frame(T.PUSH_PROMISE, Flag.END_HEADERS, 0, u32(2)),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "stream-id",
  },
  // Stream id non-0 on connection frames
  { name: "SETTINGS on stream 1", bytes: frame(T.SETTINGS, 0, 1), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  { name: "PING on stream 1", bytes: frame(T.PING, 0, 1, Buffer.alloc(8)), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  { name: "GOAWAY on stream 1", bytes: frame(T.GOAWAY, 0, 1, Buffer.alloc(8)), scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "stream-id" },
  // Per-type lengths (section 6)
  { name: "PING of 7 octets", bytes: frame(T.PING, 0, 0, Buffer.alloc(7)), scope: "connection", code: H2Code.FRAME_SIZE_ERROR, kind: "frame-size" },
  { name: "PING of 9 octets", bytes: frame(T.PING, Flag.ACK, 0, Buffer.alloc(9)), scope: "connection", code: H2Code.FRAME_SIZE_ERROR, kind: "frame-size" },
  { name: "RST_STREAM of 3 octets", bytes: frame(T.RST_STREAM, 0, 1, [0, 0, 8]), scope: "connection", code: H2Code.FRAME_SIZE_ERROR, kind: "frame-size" },
  {
    name: "WINDOW_UPDATE of 3 octets on stream 0",
    bytes: frame(T.WINDOW_UPDATE, 0, 0, [0, 0, 1]),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  {
    name: "WINDOW_UPDATE of 5 octets on a stream",
    bytes: frame(T.WINDOW_UPDATE, 0, 1, [0, 0, 0, 1, 0]),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  {
    name: "PRIORITY of 4 octets is a stream error",
    bytes: frame(T.PRIORITY, 0, 3, [0, 0, 0, 1]),
    scope: "stream",
    streamId: 3,
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  { name: "SETTINGS of 5 octets", bytes: frame(T.SETTINGS, 0, 0, Buffer.alloc(5)), scope: "connection", code: H2Code.FRAME_SIZE_ERROR, kind: "frame-size" },
  {
    name: "SETTINGS ACK with a payload",
    bytes: frame(T.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  { name: "GOAWAY of 7 octets", bytes: frame(T.GOAWAY, 0, 0, Buffer.alloc(7)), scope: "connection", code: H2Code.FRAME_SIZE_ERROR, kind: "frame-size" },
  {
    name: "PADDED DATA with no Pad Length octet",
    bytes: frame(T.DATA, Flag.PADDED, 1),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  {
    name: "HEADERS with PRIORITY too short for it",
    bytes: frame(T.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 1, [0, 0, 0, 0]),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  {
    name: "PUSH_PROMISE too short for the promised id",
    role: "client",
    bytes: frame(T.PUSH_PROMISE, Flag.END_HEADERS, 1, [0, 0, 2]),
    scope: "connection",
    code: H2Code.FRAME_SIZE_ERROR,
    kind: "frame-size",
  },
  // Padding (section 6.1, 6.2, 6.6)
  {
    name: "DATA Pad Length equal to the payload length",
    bytes: frame(T.DATA, Flag.PADDED, 1, [4, 1, 2, 3]),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "padding",
  },
  {
    name: "DATA Pad Length above the payload length",
    bytes: frame(T.DATA, Flag.PADDED, 1, [200, 1]),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "padding",
  },
  {
    name: "HEADERS padding eating the priority fields",
    bytes: frame(T.HEADERS, Flag.PADDED | Flag.PRIORITY | Flag.END_HEADERS, 1, [1, 0, 0, 0, 0, 16]),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "padding",
  },
  {
    name: "PUSH_PROMISE padding eating the promised id",
    role: "client",
    bytes: frame(T.PUSH_PROMISE, Flag.PADDED | Flag.END_HEADERS, 1, [2, 0, 0, 0, 2]),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "padding",
  },
  // WINDOW_UPDATE increment 0 (section 6.9)
  {
    name: "WINDOW_UPDATE 0 on the connection",
    bytes: frame(T.WINDOW_UPDATE, 0, 0, u32(0)),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "zero-window-increment",
  },
  {
    name: "WINDOW_UPDATE 0 on a stream is a stream error",
    bytes: frame(T.WINDOW_UPDATE, 0, 7, u32(0)),
    scope: "stream",
    streamId: 7,
    code: H2Code.PROTOCOL_ERROR,
    kind: "zero-window-increment",
  },
  {
    name: "WINDOW_UPDATE 0 with only the reserved bit set",
    bytes: frame(T.WINDOW_UPDATE, 0, 7, u32(0x8000_0000)),
    scope: "stream",
    streamId: 7,
    code: H2Code.PROTOCOL_ERROR,
    kind: "zero-window-increment",
  },
  // Self-dependency (RFC 7540 5.3.1, still checked by h2spec)
  {
    name: "PRIORITY on itself",
    bytes: frame(T.PRIORITY, 0, 5, [...u32(5), 15]),
    scope: "stream",
    streamId: 5,
    code: H2Code.PROTOCOL_ERROR,
    kind: "self-dependency",
  },
  // SETTINGS values (section 6.5.2)
  {
    name: "ENABLE_PUSH 2",
    bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[SettingId.ENABLE_PUSH, 2]])),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "settings-value",
  },
  {
    name: "ENABLE_PUSH 1 from a server",
    role: "client",
    bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[SettingId.ENABLE_PUSH, 1]])),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "settings-value",
  },
  {
    name: "INITIAL_WINDOW_SIZE 2^31",
    bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, 2 ** 31]])),
    scope: "connection",
    code: H2Code.FLOW_CONTROL_ERROR,
    kind: "settings-value",
  },
  {
    name: "MAX_FRAME_SIZE 16383",
    bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[SettingId.MAX_FRAME_SIZE, 16_383]])),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "settings-value",
  },
  {
    name: "MAX_FRAME_SIZE 2^24",
    bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[SettingId.MAX_FRAME_SIZE, 2 ** 24]])),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "settings-value",
  },
  {
    name: "bad value after a good one",
    bytes: frame(
      T.SETTINGS,
      0,
      0,
      settingsPayload([
        [SettingId.MAX_CONCURRENT_STREAMS, 5],
        [SettingId.ENABLE_PUSH, 9],
      ]),
    ),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "settings-value",
  },
  {
    name: "ENABLE_CONNECT_PROTOCOL 2",
    bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[SettingId.ENABLE_CONNECT_PROTOCOL, 2]])),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "settings-value",
  },
  // PUSH_PROMISE to a server (section 8.4)
  {
    name: "PUSH_PROMISE from a client",
    bytes: frame(T.PUSH_PROMISE, Flag.END_HEADERS, 1, u32(2)),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "push-promise",
  },
  // CONTINUATION sequencing (section 6.10)
  {
    name: "CONTINUATION with no open field block",
    bytes: frame(T.CONTINUATION, Flag.END_HEADERS, 1, [0x82]),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "continuation",
  },
  { name: "DATA inside a field block", bytes: [headersOpen, frame(T.DATA, 0, 1, [1])], scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "continuation" },
  { name: "PING inside a field block", bytes: [headersOpen, PING], scope: "connection", code: H2Code.PROTOCOL_ERROR, kind: "continuation" },
  {
    name: "CONTINUATION on another stream",
    bytes: [headersOpen, frame(T.CONTINUATION, Flag.END_HEADERS, 3, [0x84])],
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "continuation",
  },
  {
    name: "unknown frame type inside a field block",
    bytes: [headersOpen, frame(0x42, 0, 1)],
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "continuation",
  },
  {
    name: "PUSH_PROMISE block interrupted",
    role: "client",
    bytes: [frame(T.PUSH_PROMISE, 0, 1, u32(2)), frame(T.HEADERS, Flag.END_HEADERS, 3, [0x82])],
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "continuation",
  },
  // Preface (section 3.4)
  {
    name: "wrong client preface",
    raw: true,
    bytes: Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "preface",
  },
  {
    name: "client preface then PING before SETTINGS",
    raw: true,
    bytes: [prelude("server").subarray(0, 24), PING],
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "preface",
  },
  {
    name: "server's first frame is a SETTINGS ACK",
    role: "client",
    raw: true,
    bytes: frame(T.SETTINGS, Flag.ACK, 0),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "preface",
  },
  {
    name: "server's first frame is HEADERS",
    role: "client",
    raw: true,
    bytes: frame(T.HEADERS, Flag.END_HEADERS, 1, [0x88]),
    scope: "connection",
    code: H2Code.PROTOCOL_ERROR,
    kind: "preface",
  },
];

for (const c of cases) {
  const role = c.role ?? "server";
  test(`${c.scope} ${h2CodeName(c.code)}: ${c.name} (${role})`, () => {
    const parts = Array.isArray(c.bytes) ? c.bytes : [c.bytes];
    const input = Buffer.concat([...(c.raw === true ? [] : [prelude(role)]), ...parts, PING]);
    for (const r of [readAll(input, { role }), readBytewise(input, { role })]) {
      const errors = [...r.connectionErrors, ...r.streamErrors];
      assert.equal(errors.length, 1, `exactly one error, got ${JSON.stringify(r.events)}`);
      const e = errors[0]!;
      assert.equal(e.scope, c.scope);
      assert.equal(h2CodeName(e.code), h2CodeName(c.code));
      assert.equal(e.kind, c.kind);
      if (e.scope === "stream") assert.equal(e.streamId, c.streamId);
      const last = r.events[r.events.length - 1];
      if (c.scope === "stream") assert.equal(last, PING_EVENT, "parsing continues after a stream error");
      else assert.match(last!, /^CONNECTION_ERROR/, "nothing is delivered after a connection error");
    }
  });
}

// The edges just inside each rule must pass, or the table above could pass by rejecting everything.
test("values just inside each limit are accepted", () => {
  const input = Buffer.concat([
    prelude("server"),
    frame(
      T.SETTINGS,
      0,
      0,
      settingsPayload([
        [SettingId.ENABLE_PUSH, 1], // from a client: allowed
        [SettingId.ENABLE_PUSH, 0],
        [SettingId.INITIAL_WINDOW_SIZE, 2 ** 31 - 1],
        [SettingId.MAX_FRAME_SIZE, 16_384],
        [SettingId.MAX_FRAME_SIZE, 2 ** 24 - 1],
        [SettingId.HEADER_TABLE_SIZE, 2 ** 32 - 1],
        [SettingId.ENABLE_CONNECT_PROTOCOL, 1],
        [0x99, 2 ** 32 - 1], // unknown identifier: ignored by the caller, not an error
      ]),
    ),
    frame(T.DATA, 0, 1, Buffer.alloc(16_384)), // exactly the max frame size
    frame(T.DATA, Flag.PADDED, 1, [3, 9, 9, 9]), // Pad Length = payload - 1: empty data
    frame(T.HEADERS, Flag.PADDED | Flag.PRIORITY | Flag.END_HEADERS, 3, [1, 0, 0, 0, 1, 16, 0]), // empty block
    frame(T.WINDOW_UPDATE, 0, 0, u32(0x8000_0001)), // reserved bit ignored
    frame(T.GOAWAY, 0, 0, Buffer.alloc(8)),
    frame(T.PRIORITY, 0, 0x8000_0005, [...u32(3), 0]), // reserved stream-id bit ignored
    frame(T.SETTINGS, Flag.ACK | 0xf0, 0), // undefined flags ignored
  ]);
  const r = readAll(input, { role: "server" });
  assert.deepEqual(r.connectionErrors, []);
  assert.deepEqual(r.streamErrors, []);
  assert.equal(r.events[1], "SETTINGS 2=1,2=0,4=2147483647,5=16384,5=16777215,1=4294967295,8=1,153=4294967295");
  assert.ok(r.events[2]!.startsWith("DATA s=1 end=false flow=16384 "));
  assert.deepEqual(r.events.slice(3), [
    "DATA s=1 end=false flow=4 ",
    "HEADERS s=3 end=false ",
    "WINDOW_UPDATE s=0 +1",
    "GOAWAY last=0 NO_ERROR",
    "PRIORITY s=5 dep=3 excl=false w=1",
    "SETTINGS_ACK",
  ]);
});

test("HEADERS depending on itself: the block is still delivered (HPACK), then a stream error", () => {
  const input = Buffer.concat([prelude("server"), frame(T.HEADERS, Flag.PRIORITY | Flag.END_HEADERS | Flag.END_STREAM, 1, [...u32(1), 15, 0x82]), PING]);
  const r = readAll(input, { role: "server" });
  assert.deepEqual(r.events.slice(1), ["HEADERS s=1 end=true 82", "STREAM_ERROR s=1 PROTOCOL_ERROR self-dependency", PING_EVENT]);
});

test("a raised maxFrameSize admits larger frames; the setter refuses values outside the RFC range", async () => {
  const { FrameReader } = await import("../../../../src/transport/h2/frames/reader.js");
  const { Recorder } = await import("./helpers.js");
  const r = new Recorder();
  const reader = new FrameReader(r, { role: "client", maxFrameSize: 20_000 });
  reader.push(Buffer.concat([prelude("client"), frame(T.DATA, 0, 1, Buffer.alloc(20_000))]));
  assert.equal(r.connectionErrors.length, 0);
  reader.push(frame(T.DATA, 0, 1, Buffer.alloc(20_001)));
  assert.equal(r.connectionErrors[0]?.kind, "frame-size");
  assert.throws(() => new FrameReader(r, { role: "client", maxFrameSize: 2 ** 24 }), RangeError);
});

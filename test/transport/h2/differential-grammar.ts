// The client half of the differential test: a grammar of client behaviour, valid and
// slightly invalid, as fast-check arbitraries over abstract actions, and a builder that
// turns a list of actions into the bytes of each step. Actions name streams by role
// ("the second stream opened", "an idle id") rather than by number, so a shrunk case
// still means what it meant; the builder resolves them against what it has sent so far.
// Both transports get byte-identical input: nothing here depends on their answers.
import fc from "fast-check";
import { CONNECTION_PREFACE, Flag, FrameType, SettingId } from "../../../src/transport/h2/frames/constants.js";
import { HpackEncoder } from "../../../src/transport/h2/hpack/index.js";
import { H2Code } from "../../../src/transport/types.js";
import { frame, settingsPayload, u32 } from "./frames/helpers.js";

/** Per-stream receive window both servers advertise; the builder keeps DATA inside it. */
export const SERVER_STREAM_WINDOW = 65_535;
/** What our client advertises, so echoed responses never wait on it unless a SETTINGS says so. */
const CLIENT_WINDOW = 1 << 20;

/** Which stream an action is about. */
export type Target =
  /** A stream this client opened (the pick-th, modulo how many there are). */
  | { readonly k: "opened"; readonly pick: number }
  /** The newest stream opened. */
  | { readonly k: "last" }
  /** A stream this client opened and has not ended or reset (the pick-th; else the newest). */
  | { readonly k: "live"; readonly pick: number }
  /** An odd id above every id used: idle (section 5.1). */
  | { readonly k: "idle" }
  /** An odd id below the newest that was skipped, never opened: closed (section 5.1.1). */
  | { readonly k: "skipped" };

/** How a new request's stream id is chosen. */
export type IdChoice = "next" | "skip" | "even" | "reuse" | "lower" | "zero";

/**
 * What is wrong with a request's header block, if anything ("no-authority" is unusual rather
 * than wrong: section 8.3.1 makes :authority optional; both transports refuse it as nghttp2 does).
 */
export type FieldFault =
  | "none"
  | "uppercase-name"
  | "connection-specific"
  | "te-not-trailers"
  | "no-method"
  | "no-scheme"
  | "no-path"
  | "empty-path"
  | "no-authority"
  | "pseudo-after-regular"
  | "unknown-pseudo"
  | "response-pseudo"
  | "repeated-pseudo";

/** What is wrong with a trailer block, if anything. */
export type TrailerFault = "none" | "pseudo" | "uppercase-name" | "no-end-stream";

/** How a field block is framed: CONTINUATION pieces, padding, the PRIORITY flag. */
export interface BlockFraming {
  readonly pieces: number;
  readonly pad: number | undefined;
  /** Dependency of the PRIORITY flag: "none" (flag off), "root" (0), or the stream itself. */
  readonly priority: "none" | "root" | "self";
}

export type Action =
  | {
      readonly t: "request";
      readonly id: IdChoice;
      readonly endStream: boolean;
      readonly fault: FieldFault;
      readonly path: string;
      readonly metadata: ReadonlyArray<readonly [string, string]>;
      readonly framing: BlockFraming;
    }
  | { readonly t: "data"; readonly target: Target; readonly size: number; readonly pad: number | undefined; readonly endStream: boolean; readonly fill: number }
  | {
      readonly t: "trailers";
      readonly target: Target;
      readonly fault: TrailerFault;
      readonly metadata: ReadonlyArray<readonly [string, string]>;
      readonly framing: BlockFraming;
    }
  | { readonly t: "rst"; readonly target: Target; readonly code: number }
  | { readonly t: "window"; readonly target: Target | "connection"; readonly increment: number }
  | { readonly t: "ping"; readonly ack: boolean }
  | { readonly t: "settings"; readonly params: ReadonlyArray<readonly [number, number]> }
  | { readonly t: "priority"; readonly target: Target; readonly self: boolean };

// --- arbitraries ---

const target: fc.Arbitrary<Target> = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 7 }).map((pick): Target => ({ k: "opened", pick })) },
  { weight: 4, arbitrary: fc.constant<Target>({ k: "last" }) },
  { weight: 1, arbitrary: fc.constant<Target>({ k: "idle" }) },
  { weight: 1, arbitrary: fc.constant<Target>({ k: "skipped" }) },
);

const metadataName = fc.constantFrom("x-user", "x-trace", "x-tenant", "x-retry", "x-a");
const metadataValue = fc.stringMatching(/^[a-z0-9][a-z0-9 ._-]{0,14}[a-z0-9]$/);
const metadata = fc.array(fc.tuple(metadataName, metadataValue), { maxLength: 3 });

const framing: fc.Arbitrary<BlockFraming> = fc.record({
  pieces: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 2, max: 4 }) }),
  pad: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined, freq: 3 }),
  priority: fc.oneof(
    { weight: 16, arbitrary: fc.constant("none" as const) },
    { weight: 4, arbitrary: fc.constant("root" as const) },
    { weight: 1, arbitrary: fc.constant("self" as const) },
  ),
});

const idChoice: fc.Arbitrary<IdChoice> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("next" as const) },
  { weight: 2, arbitrary: fc.constant("skip" as const) },
  { weight: 1, arbitrary: fc.constant("even" as const) },
  { weight: 1, arbitrary: fc.constant("reuse" as const) },
  { weight: 1, arbitrary: fc.constant("lower" as const) },
  { weight: 1, arbitrary: fc.constant("zero" as const) },
);

const FIELD_FAULTS: readonly FieldFault[] = [
  "uppercase-name",
  "connection-specific",
  "te-not-trailers",
  "no-method",
  "no-scheme",
  "no-path",
  "empty-path",
  "no-authority",
  "pseudo-after-regular",
  "unknown-pseudo",
  "response-pseudo",
  "repeated-pseudo",
];
const fieldFault: fc.Arbitrary<FieldFault> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("none" as const) },
  { weight: 4, arbitrary: fc.constantFrom(...FIELD_FAULTS) },
);

const request = fc.record({
  t: fc.constant("request" as const),
  id: idChoice,
  endStream: fc.boolean(),
  fault: fieldFault,
  path: fc.constantFrom("/sluice.Echo/Unary", "/sluice.Echo/Stream", "/a/b"),
  metadata,
  framing,
});

const data = fc.record({
  t: fc.constant("data" as const),
  target,
  size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 16_000 })),
  pad: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined, freq: 3 }),
  endStream: fc.boolean(),
  fill: fc.integer({ min: 0, max: 255 }),
});

const trailers = fc.record({
  t: fc.constant("trailers" as const),
  target,
  fault: fc.oneof(
    { weight: 6, arbitrary: fc.constant("none" as const) },
    { weight: 1, arbitrary: fc.constantFrom("pseudo" as const, "uppercase-name" as const, "no-end-stream" as const) },
  ),
  metadata,
  framing,
});

const rstCode = fc.constantFrom(H2Code.CANCEL, H2Code.NO_ERROR, H2Code.PROTOCOL_ERROR, H2Code.INTERNAL_ERROR, H2Code.REFUSED_STREAM, 0x1234);
const rst = fc.record({ t: fc.constant("rst" as const), target, code: rstCode });

const window = fc.record({
  t: fc.constant("window" as const),
  target: fc.oneof({ weight: 1, arbitrary: fc.constant("connection" as const) }, { weight: 2, arbitrary: target }),
  increment: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 1, max: 100_000 }) },
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.constant(0x7fff_ffff) },
  ),
});

/** Mostly plain PINGs: an unsolicited ACK ends the comparison (node closes the connection). */
const ping = fc.record({
  t: fc.constant("ping" as const),
  ack: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const setting: fc.Arbitrary<readonly [number, number]> = fc.oneof(
  fc.tuple(fc.constant(SettingId.HEADER_TABLE_SIZE), fc.constantFrom(0, 256, 4096, 65_536)),
  fc.tuple(fc.constant(SettingId.ENABLE_PUSH), fc.constantFrom(0, 1, 2)),
  fc.tuple(fc.constant(SettingId.MAX_CONCURRENT_STREAMS), fc.constantFrom(0, 10, 1000)),
  fc.tuple(fc.constant(SettingId.INITIAL_WINDOW_SIZE), fc.constantFrom(0, 1000, 65_535, CLIENT_WINDOW, 0x7fff_ffff, 0x8000_0000)),
  fc.tuple(fc.constant(SettingId.MAX_FRAME_SIZE), fc.constantFrom(16_384, 20_000, 100, 0x100_0000)),
  fc.tuple(fc.constant(SettingId.MAX_HEADER_LIST_SIZE), fc.constantFrom(100, 65_536)),
  fc.tuple(fc.constant(0x4242), fc.nat()),
);
// Distinct parameters per frame: nghttp2 keeps only the last value of a repeated one and
// validates only that, where section 6.5.3 processes each in order (node is wrong there).
const settings = fc.record({ t: fc.constant("settings" as const), params: fc.uniqueArray(setting, { maxLength: 3, selector: ([id]) => id }) });

const priority = fc.record({ t: fc.constant("priority" as const), target, self: fc.boolean() });

export const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: request },
  { weight: 6, arbitrary: data },
  { weight: 2, arbitrary: trailers },
  { weight: 2, arbitrary: rst },
  { weight: 2, arbitrary: window },
  { weight: 1, arbitrary: ping },
  { weight: 1, arbitrary: settings },
  { weight: 1, arbitrary: priority },
);

const VALID_SETTING: Readonly<Record<number, (v: number) => boolean>> = {
  [SettingId.ENABLE_PUSH]: (v) => v <= 1,
  // 2^31-1 itself is valid, but overflows any stream window the client has raised (6.9.2).
  [SettingId.INITIAL_WINDOW_SIZE]: (v) => v <= CLIENT_WINDOW,
  [SettingId.MAX_FRAME_SIZE]: (v) => v >= 16_384 && v <= 0xff_ffff,
};

/** The same action without its protocol errors: how a correct client would have behaved. */
function wellBehaved(a: Action): Action {
  const live = (t: Target): Target => ({ k: "live", pick: t.k === "opened" ? t.pick : 0 });
  const framing = (f: BlockFraming): BlockFraming => (f.priority === "self" ? { ...f, priority: "root" } : f);
  switch (a.t) {
    case "request":
      return { ...a, id: a.id === "skip" ? "skip" : "next", fault: "none", framing: framing(a.framing) };
    case "data":
      return { ...a, target: live(a.target) };
    case "trailers":
      return { ...a, target: live(a.target), fault: "none", framing: framing(a.framing) };
    case "rst":
      return { ...a, target: live(a.target) };
    case "window":
      return { ...a, target: a.target === "connection" ? a.target : live(a.target), increment: Math.min(Math.max(a.increment, 1), 100_000) };
    case "ping":
      return { ...a, ack: false };
    case "settings":
      return { ...a, params: a.params.filter(([id, v]) => VALID_SETTING[id]?.(v) ?? true) };
    case "priority":
      return { ...a, self: false };
  }
}

/**
 * A conversation. The first action always opens a valid stream, so most cases get
 * somewhere; a third are well-behaved throughout (many invalid actions end the connection,
 * which would otherwise leave long exchanges rare).
 */
export const conversation: fc.Arbitrary<Action[]> = fc
  .tuple(
    request.map((r): Action => ({ ...r, id: "next", fault: "none" })),
    fc.array(action, { minLength: 1, maxLength: 14 }),
    fc.nat({ max: 2 }),
  )
  .map(([first, rest, mode]) => [first, ...(mode === 0 ? rest.map(wellBehaved) : rest)]);

// --- building bytes ---

/** One step: bytes written at once, then both servers are given time to settle. */
export interface Step {
  readonly label: string;
  readonly bytes: Buffer;
}

/** The client preface: magic, SETTINGS with a wide window, and a wide connection window. */
export function clientPreface(): Buffer {
  return Buffer.concat([
    CONNECTION_PREFACE,
    frame(FrameType.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, CLIENT_WINDOW]])),
    frame(FrameType.WINDOW_UPDATE, 0, 0, u32(CLIENT_WINDOW)),
  ]);
}

/** Resolves actions against the ids sent so far and encodes them with one HPACK context. */
export class ConversationBuilder {
  private readonly hpack = new HpackEncoder({ huffman: false });
  /** Ids of streams opened, in order. */
  private readonly opened: number[] = [];
  /** Odd ids skipped over by "skip" (never opened). */
  private readonly skipped: number[] = [];
  /** Streams this client ended (END_STREAM) or reset. */
  private readonly ended = new Set<number>();
  /** Flow-controlled octets sent per stream. */
  private readonly sent = new Map<number, number>();
  private highest = 0;

  build(actions: readonly Action[]): Step[] {
    return actions.map((a) => this.step(a));
  }

  private step(a: Action): Step {
    switch (a.t) {
      case "request": {
        const id = this.requestId(a.id);
        const fields = requestFields(a.fault, a.path, a.metadata);
        const bytes = this.fieldBlock(id, fields, a.endStream, a.framing);
        if (a.endStream) this.ended.add(id);
        return {
          label: `HEADERS(${a.id}) s=${id}${a.endStream ? " END_STREAM" : ""}${a.fault === "none" ? "" : ` fault=${a.fault}`}${framingLabel(a.framing)}`,
          bytes,
        };
      }
      case "data": {
        const id = this.resolve(a.target);
        const flowOverhead = a.pad === undefined ? 0 : a.pad + 1;
        const used = this.sent.get(id) ?? 0;
        // Stay inside the advertised window: both servers grant window back on their own
        // schedules, which would otherwise decide whether a frame fits.
        const size = Math.max(0, Math.min(a.size, SERVER_STREAM_WINDOW - 1024 - used - flowOverhead));
        this.sent.set(id, used + size + flowOverhead);
        if (a.endStream) this.ended.add(id);
        const body = Buffer.alloc(size, a.fill);
        const flags = (a.endStream ? Flag.END_STREAM : 0) | (a.pad === undefined ? 0 : Flag.PADDED);
        const payload = a.pad === undefined ? body : Buffer.concat([Buffer.from([a.pad]), body, Buffer.alloc(a.pad)]);
        return {
          label: `DATA s=${id} ${size}B${a.pad === undefined ? "" : ` pad=${a.pad}`}${a.endStream ? " END_STREAM" : ""}`,
          bytes: frame(FrameType.DATA, flags, id, payload),
        };
      }
      case "trailers": {
        const id = this.resolve(a.target);
        // On an idle id these open a stream (a malformed request): later ids must pass it.
        if (id > this.highest) this.highest = id;
        const fields: Array<[string, string]> = a.metadata.map(([n, v]) => [n, v]);
        if (a.fault === "pseudo") fields.unshift([":path", "/late"]);
        if (a.fault === "uppercase-name") fields.push(["X-Late", "1"]);
        if (fields.length === 0) fields.push(["x-end", "1"]);
        const bytes = this.fieldBlock(id, fields, a.fault !== "no-end-stream", a.framing);
        this.ended.add(id);
        return { label: `TRAILERS s=${id}${a.fault === "none" ? "" : ` fault=${a.fault}`}${framingLabel(a.framing)}`, bytes };
      }
      case "rst": {
        const id = this.resolve(a.target);
        this.ended.add(id);
        return { label: `RST_STREAM s=${id} code=${a.code}`, bytes: frame(FrameType.RST_STREAM, 0, id, u32(a.code)) };
      }
      case "window": {
        const id = a.target === "connection" ? 0 : this.resolve(a.target);
        return { label: `WINDOW_UPDATE s=${id} +${a.increment}`, bytes: frame(FrameType.WINDOW_UPDATE, 0, id, u32(a.increment)) };
      }
      case "ping":
        return { label: `PING${a.ack ? " ACK" : ""}`, bytes: frame(FrameType.PING, a.ack ? Flag.ACK : 0, 0, Buffer.from("clientpg")) };
      case "settings":
        return {
          label: `SETTINGS ${a.params.map(([k, v]) => `${k}=${v}`).join(",")}`,
          bytes: frame(FrameType.SETTINGS, 0, 0, settingsPayload(a.params.map(([k, v]) => [k, v]))),
        };
      case "priority": {
        const id = this.resolve(a.target);
        const dependency = a.self ? id : 0;
        return { label: `PRIORITY s=${id} dep=${dependency}`, bytes: frame(FrameType.PRIORITY, 0, id, [...u32(dependency), 15]) };
      }
    }
  }

  private requestId(choice: IdChoice): number {
    const next = this.highest === 0 ? 1 : this.highest + 2;
    let id: number;
    switch (choice) {
      case "next":
        id = next;
        break;
      case "skip":
        this.skipped.push(next);
        id = next + 2;
        break;
      case "even":
        return next + 1;
      case "zero":
        return 0;
      case "reuse":
        return this.opened[this.opened.length - 1] ?? next;
      case "lower": {
        // A skipped id if there is one, else the first stream's; a first request is just new.
        const lower = this.skipped[0] ?? this.opened[0];
        if (lower !== undefined) return lower;
        id = next;
        break;
      }
    }
    this.opened.push(id);
    this.highest = id;
    return id;
  }

  private resolve(t: Target): number {
    switch (t.k) {
      case "opened":
        return this.opened.length === 0 ? 1 : this.opened[t.pick % this.opened.length]!;
      case "last":
        return this.opened[this.opened.length - 1] ?? 1;
      case "live": {
        const live = this.opened.filter((id) => !this.ended.has(id));
        return live.length === 0 ? (this.opened[this.opened.length - 1] ?? 1) : live[t.pick % live.length]!;
      }
      case "idle":
        return this.idleId();
      case "skipped":
        return this.skipped[0] ?? this.idleId() + 2;
    }
  }

  /** An odd id well above every id sent, so "next" does not reach it soon. */
  private idleId(): number {
    return (this.highest === 0 ? 1 : this.highest + 2) + 8;
  }

  /** HEADERS (+ CONTINUATION): the block cut into `pieces`, padding and PRIORITY on the first frame. */
  private fieldBlock(id: number, fields: ReadonlyArray<readonly [string, string]>, endStream: boolean, f: BlockFraming): Buffer {
    // Raw literals (no name validation): the faults include names the encoder would refuse.
    const block = this.hpack.encode(fields.map(([n, v]) => [n, v] as const));
    const cuts: number[] = [];
    for (let i = 1; i < f.pieces; i++) cuts.push(Math.floor((block.length * i) / f.pieces));
    const fragments: Buffer[] = [];
    let from = 0;
    for (const cut of [...cuts, block.length]) {
      fragments.push(block.subarray(from, cut));
      from = cut;
    }
    const out: Buffer[] = [];
    fragments.forEach((fragment, i) => {
      const last = i === fragments.length - 1;
      if (i > 0) {
        out.push(frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, id, fragment));
        return;
      }
      let flags = (endStream ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0);
      const parts: Buffer[] = [];
      if (f.pad !== undefined) {
        flags |= Flag.PADDED;
        parts.push(Buffer.from([f.pad]));
      }
      if (f.priority !== "none") {
        flags |= Flag.PRIORITY;
        parts.push(Buffer.from([...u32(f.priority === "self" ? id : 0), 15]));
      }
      parts.push(fragment);
      if (f.pad !== undefined) parts.push(Buffer.alloc(f.pad));
      out.push(frame(FrameType.HEADERS, flags, id, Buffer.concat(parts)));
    });
    return Buffer.concat(out);
  }
}

function framingLabel(f: BlockFraming): string {
  const parts: string[] = [];
  if (f.pieces > 1) parts.push(`pieces=${f.pieces}`);
  if (f.pad !== undefined) parts.push(`pad=${f.pad}`);
  if (f.priority !== "none") parts.push(`prio=${f.priority}`);
  return parts.length === 0 ? "" : ` ${parts.join(" ")}`;
}

/** A gRPC request's fields with `fault` applied. */
export function requestFields(fault: FieldFault, path: string, metadata: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  const pseudo: Array<[string, string]> = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", fault === "empty-path" ? "" : path],
    [":authority", "sluice.test"],
  ];
  const drop = { "no-method": ":method", "no-scheme": ":scheme", "no-path": ":path", "no-authority": ":authority", "pseudo-after-regular": ":authority" }[
    fault as string
  ];
  const fields: Array<[string, string]> = pseudo.filter(([n]) => n !== drop);
  if (fault === "unknown-pseudo") fields.push([":color", "blue"]);
  if (fault === "response-pseudo") fields.push([":status", "200"]);
  if (fault === "repeated-pseudo") fields.push([":path", "/again"]);
  fields.push(["content-type", "application/grpc"], ["te", fault === "te-not-trailers" ? "gzip" : "trailers"]);
  for (const [n, v] of metadata) fields.push([n, v]);
  if (fault === "uppercase-name") fields.push(["X-Upper", "1"]);
  if (fault === "connection-specific") fields.push(["connection", "keep-alive"]);
  if (fault === "pseudo-after-regular") fields.push([":authority", "sluice.test"]);
  return fields;
}

// Shared by the frame tests: hand-built frame bytes (independent of FrameWriter, so reader
// tests do not trust the code they check), a FrameHandler that records every callback as a
// line of text, and feeding helpers that cut a byte stream into chunks.
import { CONNECTION_PREFACE, FrameType } from "../../../../src/transport/h2/frames/constants.js";
import type { ConnectionError, StreamError } from "../../../../src/transport/h2/frames/errors.js";
import type { FrameHandler } from "../../../../src/transport/h2/frames/handler.js";
import { FrameReader, type FrameReaderOptions } from "../../../../src/transport/h2/frames/reader.js";
import { settingId, settingsCount, settingValue } from "../../../../src/transport/h2/frames/settings.js";
import { h2CodeName } from "../../../../src/transport/types.js";
import { randomInt, type Random } from "../../../../src/core/random.js";

/** One frame's bytes: 9-octet header (stream id written verbatim, reserved bit included). */
export function frame(type: number, flags: number, streamId: number, payload: Buffer | number[] = []): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const header = Buffer.alloc(9);
  header.writeUIntBE(body.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([header, body]);
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export function settingsPayload(pairs: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, value], i) => {
    b.writeUInt16BE(id, i * 6);
    b.writeUInt32BE(value, i * 6 + 2);
  });
  return b;
}

/** What a client sends first: the preface magic and an empty SETTINGS frame. */
export const CLIENT_PRELUDE = Buffer.concat([CONNECTION_PREFACE, frame(FrameType.SETTINGS, 0, 0)]);
/** What a server sends first: an empty SETTINGS frame. */
export const SERVER_PRELUDE = frame(FrameType.SETTINGS, 0, 0);

export function prelude(role: "client" | "server"): Buffer {
  return role === "server" ? CLIENT_PRELUDE : SERVER_PRELUDE;
}

const hex = (b: Buffer): string => b.toString("hex");

/** Records callbacks as text lines, with payloads in hex (copied, so later input cannot alter them). */
export class Recorder implements FrameHandler {
  readonly events: string[] = [];
  readonly connectionErrors: ConnectionError[] = [];
  readonly streamErrors: StreamError[] = [];
  /** The payload views as handed out, to check zero-copy and stability. */
  readonly views: Buffer[] = [];

  onData(streamId: number, data: Buffer, endStream: boolean, flowLength: number): void {
    this.views.push(data);
    this.events.push(`DATA s=${streamId} end=${endStream} flow=${flowLength} ${hex(data)}`);
  }
  onHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    this.views.push(block);
    this.events.push(`HEADERS s=${streamId} end=${endStream} ${hex(block)}`);
  }
  onPushPromise(streamId: number, promisedStreamId: number, block: Buffer): void {
    this.events.push(`PUSH_PROMISE s=${streamId} promised=${promisedStreamId} ${hex(block)}`);
  }
  onPriority(streamId: number, dependency: number, exclusive: boolean, weight: number): void {
    this.events.push(`PRIORITY s=${streamId} dep=${dependency} excl=${exclusive} w=${weight}`);
  }
  onRstStream(streamId: number, code: number): void {
    this.events.push(`RST_STREAM s=${streamId} ${h2CodeName(code)}`);
  }
  onSettings(params: Buffer): void {
    const parts: string[] = [];
    for (let i = 0; i < settingsCount(params); i++) parts.push(`${settingId(params, i)}=${settingValue(params, i)}`);
    this.events.push(`SETTINGS ${parts.join(",")}`.trimEnd());
  }
  onSettingsAck(): void {
    this.events.push("SETTINGS_ACK");
  }
  onPing(payload: Buffer, ack: boolean): void {
    this.events.push(`PING ack=${ack} ${hex(payload)}`);
  }
  onGoaway(lastStreamId: number, code: number, debugData: Buffer): void {
    this.events.push(`GOAWAY last=${lastStreamId} ${h2CodeName(code)} ${hex(debugData)}`.trimEnd());
  }
  onWindowUpdate(streamId: number, increment: number): void {
    this.events.push(`WINDOW_UPDATE s=${streamId} +${increment}`);
  }
  onUnknownFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    this.events.push(`UNKNOWN type=${type} flags=${flags} s=${streamId} ${hex(payload)}`.trimEnd());
  }
  onStreamError(error: StreamError): void {
    this.streamErrors.push(error);
    this.events.push(`STREAM_ERROR s=${error.streamId} ${h2CodeName(error.code)} ${error.kind}`);
  }
  onConnectionError(error: ConnectionError): void {
    this.connectionErrors.push(error);
    this.events.push(`CONNECTION_ERROR ${h2CodeName(error.code)} ${error.kind}`);
  }
}

/** Feeds `bytes` to a fresh reader in chunks ending at `cuts` (sorted offsets). */
export function readCut(bytes: Buffer, cuts: number[], options: FrameReaderOptions): Recorder {
  const recorder = new Recorder();
  const reader = new FrameReader(recorder, options);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // Copy each piece, as a socket would hand out fresh memory.
    reader.push(Buffer.from(bytes.subarray(from, cut)));
    from = cut;
  }
  return recorder;
}

export function readAll(bytes: Buffer, options: FrameReaderOptions): Recorder {
  return readCut(bytes, [], options);
}

export function readBytewise(bytes: Buffer, options: FrameReaderOptions): Recorder {
  return readCut(
    bytes,
    Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1),
    options,
  );
}

export function randomCuts(length: number, random: Random, count: number): number[] {
  const cuts = new Set<number>();
  for (let i = 0; i < count && length > 1; i++) cuts.add(1 + randomInt(random, length - 1));
  return [...cuts].sort((a, b) => a - b);
}

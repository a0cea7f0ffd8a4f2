// The callbacks a FrameReader delivers frames to: one method per frame type, fields decoded
// into numbers, payloads as Buffer views. The connection (stream state machine, flow
// control, HPACK) implements it; tests implement it to record what arrived.
import type { ConnectionError, StreamError } from "./errors.js";

/**
 * Receives decoded frames. Payload views point into the socket chunk (or into a private
 * copy for straddling frames) and are never overwritten by the reader, so a caller may keep
 * one (e.g. queue DATA for a slow downstream) — keeping it pins the chunk it views.
 * Callbacks run synchronously inside push(); one may call reader.stop() to halt parsing.
 */
export interface FrameHandler {
  /**
   * DATA with padding stripped. `flowLength` is the frame's whole payload length (Pad
   * Length octet and padding included): what the frame costs in flow control (section 6.1).
   */
  onData(streamId: number, data: Buffer, endStream: boolean, flowLength: number): void;
  /**
   * A complete field block (HEADERS plus any CONTINUATION), padding and priority fields
   * removed, for the HPACK decoder. It must be decoded even for a stream the caller will
   * refuse: skipping it would desynchronise the HPACK dynamic table.
   */
  onHeaders(streamId: number, block: Buffer, endStream: boolean): void;
  /** A complete PUSH_PROMISE field block (clients only; servers get a connection error). */
  onPushPromise(streamId: number, promisedStreamId: number, block: Buffer): void;
  /** PRIORITY frame (deprecated by RFC 9113; sluice ignores it, so this is optional). */
  onPriority?(streamId: number, dependency: number, exclusive: boolean, weight: number): void;
  onRstStream(streamId: number, code: number): void;
  /** Validated parameters: read them with settings.ts (settingsCount/settingId/settingValue). */
  onSettings(params: Buffer): void;
  onSettingsAck(): void;
  /** `payload` is the 8 opaque octets to echo in the ACK. */
  onPing(payload: Buffer, ack: boolean): void;
  onGoaway(lastStreamId: number, code: number, debugData: Buffer): void;
  /** `increment` is 1..2^31-1 (0 is reported as an error instead). */
  onWindowUpdate(streamId: number, increment: number): void;
  /** Extension frame types are ignored (section 5.5); this only lets a caller observe them. */
  onUnknownFrame?(type: number, flags: number, streamId: number, payload: Buffer): void;
  /** The frame was discarded; reset the stream with `error.code`. Parsing continues. */
  onStreamError(error: StreamError): void;
  /**
   * Terminal: send GOAWAY with `error.code` and close. The reader has stopped and ignores
   * further input. This is the one callback whose exceptions push() lets through.
   */
  onConnectionError(error: ConnectionError): void;
}

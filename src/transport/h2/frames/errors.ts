// What the frame reader reports when the peer breaks RFC 9113's framing rules. Plain tagged
// objects rather than Error subclasses: a hostile peer can provoke stream errors at line
// rate, and capturing a stack trace for each would hand it CPU for free. Errors are rare on
// an honest connection, so allocating one object per error is fine.
import type { H2Code } from "../../types.js";

/** An H2Code value (RFC 9113 section 7). */
export type H2ErrorCode = (typeof H2Code)[keyof typeof H2Code];

/**
 * Which rule was broken, stable for tests, metrics and for callers that pick the GOAWAY
 * code themselves (e.g. ENHANCE_YOUR_CALM vs COMPRESSION_ERROR for header floods).
 */
export type FrameErrorKind =
  /** The client preface magic was wrong, or the first frame was not a SETTINGS frame. */
  | "preface"
  /** Length above our SETTINGS_MAX_FRAME_SIZE, or wrong/too small for the frame type. */
  | "frame-size"
  /** Stream id 0 where a stream is required, or non-0 on a connection-level frame. */
  | "stream-id"
  /** Pad Length leaves no room for the fields it pads. */
  | "padding"
  /** A field block was interrupted, or CONTINUATION arrived without one open. */
  | "continuation"
  /** The field block (HEADERS/PUSH_PROMISE + CONTINUATION) grew past maxHeaderBlockSize. */
  | "header-block-too-large"
  /** More CONTINUATION frames in one field block than maxContinuationFrames. */
  | "too-many-continuations"
  /** A SETTINGS value outside its allowed range. */
  | "settings-value"
  /** WINDOW_UPDATE with a 0 increment. */
  | "zero-window-increment"
  /** PRIORITY (frame or HEADERS flag) naming the stream itself as its dependency. */
  | "self-dependency"
  /** PUSH_PROMISE received by a server (clients cannot push, section 8.4). */
  | "push-promise"
  /** A FrameHandler callback threw; reported so the socket handler never throws. */
  | "handler-threw";

/** Section 5.4.1: the connection is unusable; send GOAWAY with `code` and close. */
export interface ConnectionError {
  readonly scope: "connection";
  readonly code: H2ErrorCode;
  readonly kind: FrameErrorKind;
  readonly message: string;
  /** Set for "handler-threw": what the callback threw. */
  readonly cause?: unknown;
}

/** Section 5.4.2: only this stream is affected; send RST_STREAM with `code`. */
export interface StreamError {
  readonly scope: "stream";
  readonly streamId: number;
  readonly code: H2ErrorCode;
  readonly kind: FrameErrorKind;
  readonly message: string;
}

export type FrameError = ConnectionError | StreamError;

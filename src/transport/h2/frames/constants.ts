// RFC 9113 wire constants: frame types, flags, SETTINGS identifiers with their defaults and
// limits, and the client connection preface. Plain numbers (not TS enums) so the reader's
// hot switch compares small integers and the values read the same as in the RFC tables.

/** Frame types (RFC 9113 section 6). Types above CONTINUATION are extensions (section 5.5). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export function frameTypeName(type: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === type) return name;
  return `UNKNOWN(0x${type.toString(16)})`;
}

/**
 * Flag bits. The same bit means different things on different frame types (0x1 is
 * END_STREAM on DATA/HEADERS and ACK on SETTINGS/PING), so each name is only meaningful
 * with its frame types; undefined bits are ignored on receipt (section 4.1).
 */
export const Flag = {
  /** DATA, HEADERS: last frame the sender sends on this stream. */
  END_STREAM: 0x1,
  /** SETTINGS, PING: this frame acknowledges the peer's. */
  ACK: 0x1,
  /** HEADERS, PUSH_PROMISE, CONTINUATION: the field block is complete. */
  END_HEADERS: 0x4,
  /** DATA, HEADERS, PUSH_PROMISE: a Pad Length octet leads, padding trails. */
  PADDED: 0x8,
  /** HEADERS: exclusive bit, stream dependency and weight (5 octets) lead the block. */
  PRIORITY: 0x20,
} as const;

/** SETTINGS parameter identifiers (section 6.5.2, plus the two registered extensions we validate). */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  /** RFC 8441 extended CONNECT; the value must be 0 or 1. */
  ENABLE_CONNECT_PROTOCOL: 0x8,
  /** RFC 9218; the value must be 0 or 1. */
  NO_RFC7540_PRIORITIES: 0x9,
} as const;

/** Initial values every endpoint assumes until the peer's SETTINGS says otherwise. */
export const SettingDefault = {
  HEADER_TABLE_SIZE: 4096,
  ENABLE_PUSH: 1,
  /** No limit until the peer sets one. */
  MAX_CONCURRENT_STREAMS: Infinity,
  INITIAL_WINDOW_SIZE: 65_535,
  MAX_FRAME_SIZE: 16_384,
  /** No limit until the peer sets one. */
  MAX_HEADER_LIST_SIZE: Infinity,
} as const;

/** Bounds a received value must respect (section 6.5.2) and other wire limits. */
export const Limit = {
  /** Largest flow-control window and SETTINGS_INITIAL_WINDOW_SIZE: 2^31-1 (section 6.9.1). */
  MAX_WINDOW_SIZE: 0x7fff_ffff,
  /** SETTINGS_MAX_FRAME_SIZE may not go below the initial 2^14... */
  MIN_MAX_FRAME_SIZE: 16_384,
  /** ...nor above 2^24-1, the largest 24-bit Length. */
  MAX_MAX_FRAME_SIZE: 0xff_ffff,
  /** Stream identifiers are 31 bits; the top bit is reserved and ignored on receipt. */
  MAX_STREAM_ID: 0x7fff_ffff,
  /** WINDOW_UPDATE increments are 31 bits and must be at least 1. */
  MAX_WINDOW_INCREMENT: 0x7fff_ffff,
} as const;

/** Every frame starts with 9 octets: Length (24), Type (8), Flags (8), R + Stream Identifier (32). */
export const FRAME_HEADER_LENGTH = 9;

/** Fixed payload sizes (section 6). */
export const PayloadLength = {
  PRIORITY: 5,
  RST_STREAM: 4,
  SETTING_ENTRY: 6,
  PING: 8,
  /** GOAWAY: last stream id + error code, optionally followed by debug data. */
  GOAWAY_MIN: 8,
  WINDOW_UPDATE: 4,
} as const;

/**
 * The client connection preface (section 3.4): these 24 octets, then a SETTINGS frame.
 * The server's preface is just its SETTINGS frame. Shared by every connection: never write into it.
 */
export const CONNECTION_PREFACE: Buffer = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

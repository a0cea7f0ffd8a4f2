// Header blocks <-> the transport's Headers records, with RFC 9113 section 8 checks on what
// arrives. Decoding and checking happen in one pass over the HPACK fields, into one record,
// so a request costs one object for its headers. Fields the peer marked never-indexed are
// listed under node:http2's `sensitiveHeaders` symbol, so they stay never-indexed when the
// record is encoded again on the other side of the proxy (RFC 7541 section 7.1.3).
import { sensitiveHeaders } from "node:http2";
import type { Headers } from "../types.js";
import type { HpackDecoder, HpackEncoder } from "./hpack/index.js";

/** What a field block is, which decides the pseudo-headers it must and may carry. */
export const BlockKind = {
  REQUEST: 0,
  RESPONSE: 1,
  TRAILERS: 2,
} as const;
export type BlockKind = (typeof BlockKind)[keyof typeof BlockKind];

/** Names listed under node:http2's symbol key for never-indexed fields, if any. */
function sensitiveNames(headers: Headers): string[] | undefined {
  const v: unknown = Reflect.get(headers, sensitiveHeaders);
  return Array.isArray(v) ? (v as string[]) : undefined;
}

function markSensitive(headers: Headers, name: string): void {
  const list = sensitiveNames(headers);
  if (list !== undefined) list.push(name);
  else Reflect.set(headers, sensitiveHeaders, [name]);
}

const COLON = 0x3a;

/** Connection-specific fields HTTP/2 forbids (section 8.2.2). */
const CONNECTION_SPECIFIC = new Set(["connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade"]);
const REQUEST_PSEUDO = new Set([":method", ":scheme", ":authority", ":path", ":protocol"]);

/** Field values may not contain NUL, CR or LF, nor start or end with whitespace (section 8.2.1). */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/** Token characters allowed in a field name, lower case only (RFC 9110 section 5.6.2). */
const NAME_CHAR = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") t[c.charCodeAt(0)] = 1;
  return t;
})();

/**
 * Decodes blocks of one connection into records. Not reentrant: one block at a time, which
 * is how a connection's blocks arrive anyway (in order, each decoded to its end).
 */
export class HeaderDecoder {
  private record: Headers = {};
  private kind: BlockKind = BlockKind.REQUEST;
  private regularSeen = false;
  private problem: string | undefined;
  private readonly onField = (name: string, value: string, neverIndexed: boolean): void => this.field(name, value, neverIndexed);

  constructor(private readonly hpack: HpackDecoder) {}

  /**
   * Decodes `block` (throws HpackError as the HPACK decoder does). Returns the record, or a
   * string saying why the block is malformed for its kind (a stream error PROTOCOL_ERROR).
   */
  decode(block: Buffer, kind: BlockKind): Headers | string {
    this.record = {};
    this.kind = kind;
    this.regularSeen = false;
    this.problem = undefined;
    this.hpack.decodeEach(block, this.onField);
    const record = this.record;
    this.record = {};
    if (this.problem !== undefined) return this.problem;
    if (kind === BlockKind.REQUEST) {
      const method = record[":method"];
      if (method === undefined) return "request without :method";
      if (method !== "CONNECT") {
        if (record[":scheme"] === undefined) return "request without :scheme";
        const path = record[":path"];
        if (path === undefined || path === "") return "request without :path";
      }
    } else if (kind === BlockKind.RESPONSE) {
      const status = record[":status"];
      if (typeof status !== "string" || !/^[1-9]\d\d$/.test(status)) return `response with bad :status ${String(status)}`;
    }
    return record;
  }

  private field(name: string, value: string, neverIndexed: boolean): void {
    if (this.problem !== undefined) return; // keep decoding for the table; the block is lost anyway
    const record = this.record;
    if (name.charCodeAt(0) === COLON) {
      if (this.regularSeen) return this.fail(`pseudo-header ${name} after regular fields`);
      if (!this.pseudoAllowed(name)) return this.fail(`pseudo-header ${name} not allowed here`);
      if (record[name] !== undefined) return this.fail(`repeated ${name}`);
      if (BAD_VALUE.test(value)) return this.fail(`bad value for ${name}`);
      record[name] = value;
      return;
    }
    this.regularSeen = true;
    if (!validName(name)) return this.fail(`bad field name ${JSON.stringify(name)}`);
    if (CONNECTION_SPECIFIC.has(name)) return this.fail(`connection-specific field ${name}`);
    if (name === "te" && value !== "trailers") return this.fail(`te: ${value} (only "trailers" is allowed)`);
    if (BAD_VALUE.test(value)) return this.fail(`bad value for ${name}`);
    const prev = record[name];
    if (prev === undefined) record[name] = value;
    else if (typeof prev === "string") record[name] = [prev, value];
    else prev.push(value);
    if (neverIndexed) markSensitive(record, name);
  }

  private pseudoAllowed(name: string): boolean {
    switch (this.kind) {
      case BlockKind.REQUEST:
        return REQUEST_PSEUDO.has(name);
      case BlockKind.RESPONSE:
        return name === ":status";
      default:
        return false;
    }
  }

  private fail(message: string): void {
    this.problem = message;
  }
}

function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || NAME_CHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Encodes a record into the encoder's reusable buffer (valid until its next block; read it
 * with copyBlock() or endBlock()): pseudo-headers first, as section 8.3 requires, undefined
 * values skipped, arrays as repeated fields, names listed under `sensitiveHeaders` never
 * indexed.
 */
export function encodeHeaders(encoder: HpackEncoder, headers: Headers): void {
  encoder.startBlock();
  const sensitive = sensitiveNames(headers);
  for (const name in headers) {
    if (name.charCodeAt(0) === COLON) addField(encoder, name, headers[name], sensitive);
  }
  for (const name in headers) {
    if (name.charCodeAt(0) !== COLON) addField(encoder, name, headers[name], sensitive);
  }
}

function addField(encoder: HpackEncoder, name: string, value: Headers[string] | number, sensitive: string[] | undefined): void {
  if (value === undefined) return;
  const never = sensitive !== undefined && sensitive.includes(name);
  if (typeof value === "string") encoder.field(name, value, never);
  else if (typeof value === "number") encoder.field(name, String(value), never);
  else for (const v of value) encoder.field(name, v, never);
}

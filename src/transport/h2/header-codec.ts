// Header blocks <-> the transport's Headers records, with RFC 9113 section 8 checks on what
// arrives. Decoding and checking happen in one pass over the HPACK fields, into one record,
// so a request costs one object for its headers. Fields the peer marked never-indexed are
// listed under node:http2's `sensitiveHeaders` symbol, so they stay never-indexed when the
// record is encoded again on the other side of the proxy (RFC 7541 section 7.1.3).
import { sensitiveHeaders } from "node:http2";
import type { Headers } from "../types.js";
import { ANY_VERSION, BlockCache, MAX_CACHED_BLOCK } from "./block-cache.js";
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

/** Token characters allowed in a field name, lower case only (RFC 9110 section 5.6.2). */
const NAME_CHAR = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") t[c.charCodeAt(0)] = 1;
  return t;
})();

// What a field name is, worked out once per distinct name: names repeat on every message.
const NameClass = {
  REGULAR: 0,
  /** Not a lower-case token: the block is malformed. */
  INVALID: 1,
  CONNECTION_SPECIFIC: 2,
  TE: 3,
  /** A pseudo-header a request may carry. */
  REQUEST_PSEUDO: 4,
  STATUS: 5,
  /** Any other name starting with a colon. */
  OTHER_PSEUDO: 6,
} as const;
type NameClass = (typeof NameClass)[keyof typeof NameClass];

/** Bounded: peers choose names. Cleared when full, like the encoder's name cache. */
const NAME_CLASS_LIMIT = 1024;
const nameClasses = new Map<string, NameClass>();

function classify(name: string): NameClass {
  let c = nameClasses.get(name);
  if (c === undefined) {
    c = computeClass(name);
    if (nameClasses.size >= NAME_CLASS_LIMIT) nameClasses.clear();
    nameClasses.set(name, c);
  }
  return c;
}

function computeClass(name: string): NameClass {
  if (name.charCodeAt(0) === COLON) {
    if (REQUEST_PSEUDO.has(name)) return NameClass.REQUEST_PSEUDO;
    return name === ":status" ? NameClass.STATUS : NameClass.OTHER_PSEUDO;
  }
  if (!validName(name)) return NameClass.INVALID;
  if (CONNECTION_SPECIFIC.has(name)) return NameClass.CONNECTION_SPECIFIC;
  return name === "te" ? NameClass.TE : NameClass.REGULAR;
}

/** Field values may not contain NUL, CR or LF, nor start or end with whitespace (section 8.2.1). */
function badValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return false;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return true;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x0d && (c === 0x00 || c === 0x0a || c === 0x0d)) return true;
  }
  return false;
}

/**
 * Decodes blocks of one connection into records. Not reentrant: one block at a time, which
 * is how a connection's blocks arrive anyway (in order, each decoded to its end).
 */
export class HeaderDecoder {
  private record: Headers = {};
  private kind: BlockKind = BlockKind.REQUEST;
  private regularSeen = false;
  private problem: string | undefined;
  /** No repeated or never-indexed fields in the block so far: its record may be cached. */
  private plain = true;
  /** Created on the first cacheable block: a connection that never decodes has none. */
  private cache: BlockCache | undefined;
  private readonly onField = (name: string, value: string, neverIndexed: boolean): void => this.field(name, value, neverIndexed);

  constructor(private readonly hpack: HpackDecoder) {}

  /**
   * Decodes `block` (throws HpackError as the HPACK decoder does). Returns the record, or a
   * string saying why the block is malformed for its kind (a stream error PROTOCOL_ERROR).
   */
  decode(block: Buffer, kind: BlockKind): Headers | string {
    const version = this.hpack.stateVersion;
    const cacheable = block.length <= MAX_CACHED_BLOCK && version >= 0;
    if (cacheable && this.cache !== undefined) {
      const hit = this.cache.find(kind, version, block);
      if (hit !== undefined) return hit;
    }
    const record: Headers = {};
    this.record = record;
    this.kind = kind;
    this.regularSeen = false;
    this.plain = true;
    this.problem = undefined;
    this.hpack.decodeEach(block, this.onField);
    if (this.problem !== undefined) return this.problem;
    const problem = checkRecord(record, kind);
    if (problem !== undefined) return problem;
    if (cacheable && this.plain && this.hpack.stateVersion === version) {
      (this.cache ??= new BlockCache()).store(kind, this.hpack.lastBlockUsedTable ? version : ANY_VERSION, block, record);
    }
    return record;
  }

  private field(name: string, value: string, neverIndexed: boolean): void {
    if (this.problem !== undefined) return; // keep decoding for the table; the block is lost anyway
    const record = this.record;
    const cls = classify(name);
    if (cls >= NameClass.REQUEST_PSEUDO) {
      if (this.regularSeen) return this.fail(`pseudo-header ${name} after regular fields`);
      const allowed = this.kind === BlockKind.REQUEST ? cls === NameClass.REQUEST_PSEUDO : this.kind === BlockKind.RESPONSE && cls === NameClass.STATUS;
      if (!allowed) return this.fail(`pseudo-header ${name} not allowed here`);
      if (record[name] !== undefined) return this.fail(`repeated ${name}`);
      if (badValue(value)) return this.fail(`bad value for ${name}`);
      record[name] = value;
      return;
    }
    this.regularSeen = true;
    if (cls === NameClass.INVALID) return this.fail(`bad field name ${JSON.stringify(name)}`);
    if (cls === NameClass.CONNECTION_SPECIFIC) return this.fail(`connection-specific field ${name}`);
    if (cls === NameClass.TE && value !== "trailers") return this.fail(`te: ${value} (only "trailers" is allowed)`);
    if (badValue(value)) return this.fail(`bad value for ${name}`);
    const prev = record[name];
    if (prev === undefined) record[name] = value;
    else {
      this.plain = false;
      if (typeof prev === "string") record[name] = [prev, value];
      else prev.push(value);
    }
    if (neverIndexed) {
      this.plain = false;
      markSensitive(record, name);
    }
  }

  private fail(message: string): void {
    this.problem = message;
  }
}

/** Pseudo-headers a complete block of its kind must carry (section 8.3). */
function checkRecord(record: Headers, kind: BlockKind): string | undefined {
  if (kind === BlockKind.REQUEST) {
    const method = record[":method"];
    if (method === undefined) return "request without :method";
    if (method !== "CONNECT") {
      if (record[":scheme"] === undefined) return "request without :scheme";
      const path = record[":path"];
      if (path === undefined || path === "") return "request without :path";
    }
    // Section 8.3.1 lets a request without authority through; nghttp2 (node:http2, so every
    // grpc-js and node server) refuses it, and a backend's refusal would count against the
    // backend. Refused here as node:http2 refuses it, before any backend sees it.
    if (record[":authority"] === undefined && record["host"] === undefined) return "request without :authority or host";
  } else if (kind === BlockKind.RESPONSE) {
    const status = record[":status"];
    if (typeof status !== "string" || !/^[1-9]\d\d$/.test(status)) return `response with bad :status ${String(status)}`;
  }
  return undefined;
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

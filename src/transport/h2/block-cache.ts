// The last few header blocks one connection decoded, for blocks that left the HPACK state as
// it was (only indexed fields and literals without indexing). Such a block decodes to the same
// record whenever the same bytes meet the same table again, and on a warm connection they do
// all the time: a backend's ":status 200, content-type" and "grpc-status 0", a client's
// request headers; blocks that use no dynamic table entry (a literal grpc-status) hit even
// while other blocks keep changing the table. A hit costs a byte comparison and a shallow copy instead of HPACK decoding
// and the section 8 checks.
//
// Only records of plain string fields are kept (no repeated fields, no never-indexed marks),
// so the shallow copy handed out shares nothing mutable with the cached one.
import type { Headers } from "../types.js";

const SLOTS = 4;
/** The version of a block that did not use the dynamic table: valid at every version. */
export const ANY_VERSION = -2;
/** Longer blocks rarely repeat byte for byte; comparing them costs more than it saves. */
export const MAX_CACHED_BLOCK = 64;

interface Slot {
  kind: number;
  version: number;
  length: number;
  readonly bytes: Uint8Array;
  record: Headers;
}

export class BlockCache {
  private readonly slots: Slot[] = [];
  private next = 0;

  /** A copy of the record `block` decoded to, if it is cached for this kind and HPACK state. */
  find(kind: number, version: number, block: Uint8Array): Headers | undefined {
    const n = block.length;
    for (const s of this.slots) {
      if ((s.version !== version && s.version !== ANY_VERSION) || s.length !== n || s.kind !== kind) continue;
      if (sameBytes(s.bytes, block, n)) return { ...s.record };
    }
    return undefined;
  }

  /**
   * Keeps a copy of `record`, decoded from `block` at `version` without changing it
   * (ANY_VERSION: without using the table).
   */
  store(kind: number, version: number, block: Uint8Array, record: Headers): void {
    const n = block.length;
    if (n > MAX_CACHED_BLOCK) return;
    let s = this.slots[this.next];
    if (s === undefined) {
      s = { kind, version, length: n, bytes: new Uint8Array(MAX_CACHED_BLOCK), record };
      this.slots.push(s);
    }
    this.next = (this.next + 1) % SLOTS;
    s.kind = kind;
    s.version = version;
    s.length = n;
    for (let i = 0; i < n; i++) s.bytes[i] = block[i]!;
    s.record = { ...record };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

// RFC 7541 header block decoding (section 6), with the limits a proxy facing hostile peers
// needs enforced while decoding rather than after: string length, header list size, table
// size updates against our SETTINGS_HEADER_TABLE_SIZE.
//
// The transport hands over one complete header block (HEADERS plus any CONTINUATION
// fragments, joined) per call. Blocks must be decoded in the order they arrived on the
// connection, since each can change the dynamic table the next one refers to.

import { DynamicTable } from "./dynamic-table.js";
import { HpackError } from "./errors.js";
import { huffmanDecode } from "./huffman.js";
import { type Cursor, decodeInteger } from "./integer.js";
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from "./static-table.js";
import { lookup, MAX_CACHED_OCTETS, store } from "./string-cache.js";

/** A decoded field; neverIndexed marks section 6.2.3 literals, to be re-encoded the same way. */
export type HeaderField = [name: string, value: string, neverIndexed: boolean];

export type FieldCallback = (name: string, value: string, neverIndexed: boolean) => void;

export interface HpackDecoderOptions {
  /**
   * Our SETTINGS_HEADER_TABLE_SIZE in force (acknowledged by the peer); the largest dynamic
   * table size update the peer may send, and the table's initial maximum. Default 4096.
   */
  maxTableSize?: number;
  /** Our SETTINGS_MAX_HEADER_LIST_SIZE: sum over a block of 32 + name + value. Default 65536. */
  maxHeaderListSize?: number;
  /** Longest name or value in octets, after Huffman decoding. Default maxHeaderListSize. */
  maxStringLength?: number;
}

/** Read-only view of a dynamic table, for tests and diagnostics. */
export interface DynamicTableView {
  readonly length: number;
  readonly size: number;
  readonly maxSize: number;
  entries(): [string, string][];
}

export class HpackDecoder {
  private readonly dynamic: DynamicTable;
  private limit: number;
  private readonly maxHeaderListSize: number;
  private readonly maxStringLength: number;
  /** Set when we lowered the limit below the table's size: the next block must start with an update. */
  private sizeUpdateRequired = false;
  /** After a connection-level error the table may be out of step with the peer's: refuse further use. */
  private failed = false;
  private readonly cursor: Cursor = { pos: 0 };
  /** The last block referred to the dynamic table (an index above the static table's). */
  private usedTable = false;

  constructor(options: HpackDecoderOptions = {}) {
    this.limit = options.maxTableSize ?? 4096;
    this.maxHeaderListSize = options.maxHeaderListSize ?? 65536;
    this.maxStringLength = options.maxStringLength ?? this.maxHeaderListSize;
    this.dynamic = new DynamicTable(this.limit);
  }

  /**
   * The dynamic table's version (see DynamicTable), or -1 while the next block must start
   * with a size update or the decoder is unusable. A block that leaves it unchanged (only
   * indexed fields and literals without indexing) decodes to the same fields whenever it
   * meets the same version again, or at any version if it did not use the table
   * (lastBlockUsedTable false).
   */
  get stateVersion(): number {
    return this.failed || this.sizeUpdateRequired ? -1 : this.dynamic.version;
  }

  /** Whether the last block decoded referred to the dynamic table. */
  get lastBlockUsedTable(): boolean {
    return this.usedTable;
  }

  get table(): DynamicTableView {
    return this.dynamic;
  }

  /**
   * A new SETTINGS_HEADER_TABLE_SIZE of ours took effect (the peer acknowledged it). Lowering
   * it below the table's current maximum obliges the peer to start its next block with a
   * size update (section 4.2); raising it only permits larger updates.
   */
  setMaxTableSizeLimit(limit: number): void {
    this.limit = limit;
    if (limit < this.dynamic.maxSize) this.sizeUpdateRequired = true;
  }

  /** Decodes block[start, end) into a list of fields. Throws HpackError. */
  decode(block: Uint8Array, start = 0, end = block.length): HeaderField[] {
    const fields: HeaderField[] = [];
    this.decodeEach(block, (name, value, neverIndexed) => fields.push([name, value, neverIndexed]), start, end);
    return fields;
  }

  /**
   * Decodes block[start, end), calling onField for each field in order. Throws HpackError;
   * fields before the error have been delivered. For header_list_too_large the block is
   * decoded to its end first (no fields delivered past the limit) so the table stays in step
   * and the error can be a stream error (`tableInSync`); any other error leaves the decoder
   * unusable.
   */
  decodeEach(block: Uint8Array, onField: FieldCallback, start = 0, end = block.length): void {
    if (this.failed) throw new HpackError("decoder_failed", "decoder unusable after an earlier error");
    const src = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    try {
      this.run(src, start, end, onField);
    } catch (err) {
      if (!(err instanceof HpackError && err.tableInSync)) this.failed = true;
      throw err;
    }
  }

  private run(src: Buffer, start: number, end: number, onField: FieldCallback): void {
    const c = this.cursor;
    c.pos = start;
    this.usedTable = false;
    if (this.sizeUpdateRequired && (start >= end || ((src[start] ?? 0) & 0xe0) !== 0x20)) {
      throw new HpackError("size_update_missing", "table size limit was lowered; block must start with a size update");
    }
    const maxList = this.maxHeaderListSize;
    let listSize = 0;
    let overLimit = false;
    let fieldSeen = false;
    let sizeUpdates = 0;
    while (c.pos < end) {
      const b = src[c.pos] ?? 0;
      let name: string;
      let value: string;
      let neverIndexed = false;
      if (b >= 0x80) {
        // 6.1 indexed field.
        const index = decodeInteger(src, c, end, 7);
        if (overLimit) {
          this.checkIndex(index);
          continue;
        }
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if (b >= 0x40) {
        // 6.2.1 literal with incremental indexing: decoded even past the list limit, since
        // the table needs it.
        const nameIndex = decodeInteger(src, c, end, 6);
        name = nameIndex === 0 ? this.readString(src, end) : this.nameAt(nameIndex);
        value = this.readString(src, end);
        this.dynamic.add(name, value);
        if (overLimit) continue;
      } else if (b >= 0x20) {
        // 6.3 dynamic table size update: only before the first field, at most two (4.2).
        if (fieldSeen) throw new HpackError("size_update_not_at_start", "table size update after a field");
        if (++sizeUpdates > 2) throw new HpackError("too_many_size_updates", "more than two table size updates");
        const size = decodeInteger(src, c, end, 5);
        if (size > this.limit) {
          throw new HpackError("size_update_too_large", `table size update to ${size} above the limit ${this.limit}`);
        }
        this.dynamic.setMaxSize(size);
        this.sizeUpdateRequired = false;
        continue;
      } else {
        // 6.2.2 without indexing (0000) and 6.2.3 never indexed (0001).
        neverIndexed = b >= 0x10;
        const nameIndex = decodeInteger(src, c, end, 4);
        if (overLimit) {
          if (nameIndex === 0) this.skipString(src, end);
          else this.checkIndex(nameIndex);
          this.skipString(src, end);
          continue;
        }
        name = nameIndex === 0 ? this.readString(src, end) : this.nameAt(nameIndex);
        value = this.readString(src, end);
      }
      fieldSeen = true;
      listSize += 32 + name.length + value.length;
      if (listSize > maxList) {
        overLimit = true;
        continue;
      }
      onField(name, value, neverIndexed);
    }
    if (overLimit) {
      throw new HpackError("header_list_too_large", `header list larger than ${maxList} octets`, true);
    }
  }

  private checkIndex(index: number): void {
    if (index === 0) throw new HpackError("index_zero", "index 0");
    if (index > STATIC_TABLE_LENGTH + this.dynamic.length) {
      throw new HpackError("index_out_of_range", `index ${index} beyond the tables`);
    }
  }

  private nameAt(index: number): string {
    this.checkIndex(index);
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index - 1]?.[0] ?? "";
    this.usedTable = true;
    return this.dynamic.name(index - STATIC_TABLE_LENGTH);
  }

  private valueAt(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index - 1]?.[1] ?? "";
    return this.dynamic.value(index - STATIC_TABLE_LENGTH);
  }

  /** 5.2 string literal at the cursor. */
  private readString(src: Buffer, end: number): string {
    const c = this.cursor;
    if (c.pos >= end) throw new HpackError("truncated", "block ends before a string");
    const huffman = ((src[c.pos] ?? 0) & 0x80) !== 0;
    const length = decodeInteger(src, c, end, 7);
    const from = c.pos;
    if (length > end - from) throw new HpackError("truncated", "string runs past the end of the block");
    const to = from + length;
    c.pos = to;
    if (length > MAX_CACHED_OCTETS) return this.decodeString(src, from, to, huffman);
    let s = lookup(src, from, to, huffman);
    if (s === undefined) {
      s = this.decodeString(src, from, to, huffman);
      store(src, from, to, huffman, s);
    } else if (s.length > this.maxStringLength) {
      throw new HpackError("string_too_long", `string of ${s.length} octets above ${this.maxStringLength}`);
    }
    return s;
  }

  private decodeString(src: Buffer, from: number, to: number, huffman: boolean): string {
    if (huffman) return huffmanDecode(src, from, to, this.maxStringLength);
    if (to - from > this.maxStringLength) {
      throw new HpackError("string_too_long", `string of ${to - from} octets above ${this.maxStringLength}`);
    }
    return (src as unknown as Latin1Slicer).latin1Slice(from, to);
  }

  /** Steps over a string whose field is dropped anyway (past the header list limit). */
  private skipString(src: Buffer, end: number): void {
    const c = this.cursor;
    if (c.pos >= end) throw new HpackError("truncated", "block ends before a string");
    const length = decodeInteger(src, c, end, 7);
    if (length > end - c.pos) throw new HpackError("truncated", "string runs past the end of the block");
    c.pos += length;
  }
}

// Node's Buffer has had latin1Slice since v0.x; it skips toString's encoding dispatch on the
// hottest call of the decoder. @types/node does not declare it.
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

// RFC 7541 section 2.3.2 / 4 dynamic table: a FIFO of (name, value) whose size is the sum
// of 32 + name octets + value octets, evicting from the oldest end. Stored as a ring over
// two parallel arrays, so adding, evicting and indexing are O(1) and allocation-free once
// the ring has grown to the table's working size (its arrays are allocated on first use).

/** Octets an entry counts against the table size (section 4.1). Strings are latin1 octets. */
export function entrySize(name: string, value: string): number {
  return 32 + name.length + value.length;
}

export type EvictionListener = (name: string, value: string, seq: number) => void;

export class DynamicTable {
  // Empty until the first entry: many connections never index anything in one direction.
  private names: string[] = [];
  private values: string[] = [];
  private mask = 0;
  /** Ring slot of the oldest entry. */
  private oldest = 0;
  private count = 0;
  private octets = 0;
  private max: number;
  /**
   * Entries ever added. Entry number `seq` (0-based, in insertion order) sits at index
   * `inserted - seq` while it is in the table; the encoder keys its lookups by seq so they
   * stay valid as newer entries push indices up.
   */
  private inserted = 0;
  /** Adds and size changes so far: equal versions mean equal contents. */
  private changes = 0;

  constructor(
    maxSize: number,
    private readonly onEvict?: EvictionListener,
  ) {
    this.max = maxSize;
  }

  /** Number of entries. */
  get length(): number {
    return this.count;
  }

  /** Current size in octets (section 4.1). */
  get size(): number {
    return this.octets;
  }

  get maxSize(): number {
    return this.max;
  }

  get insertedCount(): number {
    return this.inserted;
  }

  /** Changes with every add and size change: equal versions mean equal contents. */
  get version(): number {
    return this.changes;
  }

  /** Name at dynamic index (1 = newest); the caller checks 1 <= index <= length. */
  name(index: number): string {
    return this.names[(this.oldest + this.count - index) & this.mask] ?? "";
  }

  value(index: number): string {
    return this.values[(this.oldest + this.count - index) & this.mask] ?? "";
  }

  /** Dynamic index of entry number seq, or 0 once it has been evicted. */
  indexOfSeq(seq: number): number {
    const index = this.inserted - seq;
    return index >= 1 && index <= this.count ? index : 0;
  }

  /**
   * Section 4.4: evict until the new entry fits; an entry larger than the whole table
   * empties it and is not added (not an error).
   */
  add(name: string, value: string): void {
    this.changes++;
    const size = entrySize(name, value);
    this.evictTo(this.max - size);
    this.inserted++;
    if (size > this.max) return;
    if (this.count === this.names.length) this.grow();
    const slot = (this.oldest + this.count) & this.mask;
    this.names[slot] = name;
    this.values[slot] = value;
    this.count++;
    this.octets += size;
  }

  /** Section 4.3: a new maximum size evicts the oldest entries until the table fits. */
  setMaxSize(maxSize: number): void {
    this.changes++;
    this.max = maxSize;
    this.evictTo(maxSize);
  }

  /** (name, value) pairs, newest first (index 1 first); for tests and debugging. */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 1; i <= this.count; i++) out.push([this.name(i), this.value(i)]);
    return out;
  }

  private evictTo(target: number): void {
    while (this.octets > target && this.count > 0) {
      const slot = this.oldest;
      const name = this.names[slot] ?? "";
      const value = this.values[slot] ?? "";
      // Drop the references so evicted strings can be collected.
      this.names[slot] = "";
      this.values[slot] = "";
      this.octets -= entrySize(name, value);
      this.oldest = (slot + 1) & this.mask;
      this.count--;
      this.onEvict?.(name, value, this.inserted - this.count - 1);
    }
  }

  private grow(): void {
    const size = Math.max(16, this.names.length * 2);
    const names = new Array<string>(size).fill("");
    const values = new Array<string>(size).fill("");
    for (let i = 0; i < this.count; i++) {
      const slot = (this.oldest + i) & this.mask;
      names[i] = this.names[slot] ?? "";
      values[i] = this.values[slot] ?? "";
    }
    this.names = names;
    this.values = values;
    this.mask = size - 1;
    this.oldest = 0;
  }
}

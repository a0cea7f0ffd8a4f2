// A connection's open streams by id: open addressing on the integer id with linear probing
// and backward-shift deletion, so nothing is allocated per stream once the table has grown
// to the connection's concurrency. A Map would do the same job, but V8 shrinks (reallocates)
// a Map's backing store when it empties, which on a connection carrying one RPC at a time
// is an allocation and a rehash per RPC. The table never shrinks; an idle connection that
// never opened a stream has no arrays at all.

const FIRST_CAPACITY = 8; // a power of two
const EMPTY = 0; // stream ids are >= 1

export class StreamTable<T> {
  private ids: number[] = [];
  private values: (T | undefined)[] = [];
  private mask = -1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const ids = this.ids;
    const mask = this.mask;
    if (mask < 0) return undefined;
    for (let i = slot(id, mask); ; i = (i + 1) & mask) {
      const k = ids[i]!;
      if (k === id) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  /** Adds or replaces the entry for `id` (>= 1). */
  set(id: number, value: T): void {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const ids = this.ids;
    const mask = this.mask;
    for (let i = slot(id, mask); ; i = (i + 1) & mask) {
      const k = ids[i]!;
      if (k === id) {
        this.values[i] = value;
        return;
      }
      if (k === EMPTY) {
        ids[i] = id;
        this.values[i] = value;
        this.count++;
        return;
      }
    }
  }

  delete(id: number): boolean {
    const ids = this.ids;
    const values = this.values;
    const mask = this.mask;
    if (mask < 0) return false;
    let i = slot(id, mask);
    for (; ; i = (i + 1) & mask) {
      const k = ids[i]!;
      if (k === id) break;
      if (k === EMPTY) return false;
    }
    // Backward shift: move later entries of the probe run into the hole when their home
    // slot does not lie (cyclically) between the hole and where they sit.
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const k = ids[j]!;
      if (k === EMPTY) break;
      const home = slot(k, mask);
      const between = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (between) continue;
      ids[hole] = k;
      values[hole] = values[j];
      hole = j;
    }
    ids[hole] = EMPTY;
    values[hole] = undefined;
    this.count--;
    return true;
  }

  /**
   * The entries by ascending id (the order the streams opened in), as a copy, so the caller
   * may change the table meanwhile. For the rare paths: GOAWAY, SETTINGS, teardown.
   */
  snapshot(): T[] {
    const ids = this.ids;
    const slots: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] !== EMPTY) slots.push(i);
    slots.sort((a, b) => ids[a]! - ids[b]!);
    return slots.map((i) => this.values[i]!);
  }

  clear(): void {
    this.ids = [];
    this.values = [];
    this.mask = -1;
    this.count = 0;
  }

  private grow(): void {
    const oldIds = this.ids;
    const oldValues = this.values;
    const capacity = oldIds.length === 0 ? FIRST_CAPACITY : oldIds.length * 2;
    this.ids = new Array<number>(capacity).fill(EMPTY);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < oldIds.length; i++) {
      const k = oldIds[i]!;
      if (k !== EMPTY) this.set(k, oldValues[i]!);
    }
  }
}

/** Stream ids of one side step by 2: drop the parity bit before spreading them. */
function slot(id: number, mask: number): number {
  const h = Math.imul(id >>> 1, 0x9e3779b1);
  return (h ^ (h >>> 16)) & mask;
}

// Earliest-deadline-first scheduling for smooth weighted round robin, as Envoy does it
// (source/common/upstream/edf_scheduler.h). Entry i is due every 1/weight[i] of virtual
// time; pick() takes the earliest deadline and re-queues that entry one period later.
// Over any window the picks follow the weights, and heavy entries are interleaved with
// light ones rather than sent in bursts. O(log n) per pick, no allocation.

export class EdfScheduler {
  // A binary min-heap of entry indices ordered by (deadline, seq): seq is a FIFO
  // tie-break, so equal deadlines go in the order they were queued (Envoy's order_offset).
  private readonly heap: Uint32Array;
  private readonly deadline: Float64Array;
  private readonly seq: Float64Array;
  private readonly period: Float64Array;
  private nextSeq = 0;

  constructor(weights: readonly number[]) {
    const n = weights.length;
    this.heap = new Uint32Array(n);
    this.deadline = new Float64Array(n);
    this.seq = new Float64Array(n);
    this.period = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const w = weights[i] ?? 1;
      this.period[i] = 1 / w;
      this.deadline[i] = 1 / w;
      this.seq[i] = this.nextSeq++;
      this.heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** The index of the next entry to use. */
  pick(): number {
    const top = this.heap[0] ?? 0;
    // Virtual time advances to the deadline just served; the entry is due again one
    // period later.
    this.deadline[top] = (this.deadline[top] ?? 0) + (this.period[top] ?? 1);
    this.seq[top] = this.nextSeq++;
    this.siftDown(0);
    return top;
  }

  private less(a: number, b: number): boolean {
    const da = this.deadline[a] ?? 0;
    const db = this.deadline[b] ?? 0;
    return da < db || (da === db && (this.seq[a] ?? 0) < (this.seq[b] ?? 0));
  }

  private siftDown(from: number): void {
    const heap = this.heap;
    const n = heap.length;
    let i = from;
    const item = heap[i] ?? 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n && this.less(heap[r] ?? 0, heap[l] ?? 0)) child = r;
      const c = heap[child] ?? 0;
      if (!this.less(c, item)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = item;
  }
}

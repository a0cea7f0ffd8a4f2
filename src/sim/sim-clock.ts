// The simulator's virtual time: a Clock (src/core/clock.ts) whose timers sit in a binary
// heap ordered by due time, ties in the order they were set. run() fires them one by one,
// moving time to each; nothing waits on the wall clock, so an hour of traffic takes as long
// as its events take to compute.
import type { Clock, TimerHandle } from "../core/clock.js";

interface Timer {
  readonly at: number;
  readonly seq: number;
  fn: (() => void) | null;
}

/** Cancelled timers tolerated in the heap before a rebuild is considered. */
const COMPACT_FROM = 4096;

export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private heap: Timer[] = [];
  /** Timers fired so far (the simulation's event count). */
  fired = 0;
  /** Cancelled timers still in the heap: once they are most of it, it is rebuilt without them. */
  private cancelled = 0;

  now(): number {
    return this.time;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: Timer = { at: this.time + (delayMs > 0 ? delayMs : 0), seq: this.seq++, fn };
    this.push(timer);
    return {
      cancel: () => {
        if (timer.fn === null) return;
        timer.fn = null;
        if (++this.cancelled > COMPACT_FROM && this.cancelled * 2 > this.heap.length) this.compact();
      },
    };
  }

  /** Runs every timer due up to `until` (inclusive) in order, then sets the time to `until`. */
  run(until: number): void {
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.at <= until) {
      const t = this.pop();
      const fn = t.fn;
      if (fn === null) {
        this.cancelled--;
        continue;
      }
      t.fn = null;
      this.time = t.at;
      this.fired++;
      fn();
    }
    if (until > this.time) this.time = until;
  }

  /** Timers set and not yet fired (some cancelled ones included until they come due or the heap is rebuilt). */
  get pending(): number {
    return this.heap.length;
  }

  /** Drops the cancelled timers: a sorted array is a valid heap. */
  private compact(): void {
    this.heap = this.heap.filter((t) => t.fn !== null).sort((a, b) => (before(a, b) ? -1 : 1));
    this.cancelled = 0;
  }

  private push(t: Timer): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(t);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at < t.at || (p.at === t.at && p.seq < t.seq)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = t;
  }

  private pop(): Timer {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        if (r < n && before(heap[r]!, heap[l]!)) c = r;
        if (!before(heap[c]!, last)) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

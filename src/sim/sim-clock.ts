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

export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timers fired so far (the simulation's event count). */
  fired = 0;

  now(): number {
    return this.time;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer: Timer = { at: this.time + (delayMs > 0 ? delayMs : 0), seq: this.seq++, fn };
    this.push(timer);
    return {
      cancel: () => {
        timer.fn = null;
      },
    };
  }

  /** Runs every timer due up to `until` (inclusive) in order, then sets the time to `until`. */
  run(until: number): void {
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.at <= until) {
      const t = this.pop();
      const fn = t.fn;
      if (fn === null) continue;
      t.fn = null;
      this.time = t.at;
      this.fired++;
      fn();
    }
    if (until > this.time) this.time = until;
  }

  /** Timers set and not yet fired (cancelled ones included until they come due). */
  get pending(): number {
    return this.heap.length;
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

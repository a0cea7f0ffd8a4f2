// Time is injected so tests and the simulator run real code in virtual time.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

/** setTimeout's largest delay (~24.8 days); Node fires a longer one after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A system clock timer: one setTimeout (a chain of them past MAX_TIMER_MS), unref'd so that
 * a pending timer never holds the process open. The forwarder sets one per deadline, per
 * try and per backoff, so it is a class: one small object beside Node's Timeout, no closures.
 */
class SystemTimer implements TimerHandle {
  private timeout: NodeJS.Timeout;

  constructor(delayMs: number, fn: () => void) {
    this.timeout = this.arm(delayMs, fn);
  }

  private arm(left: number, fn: () => void): NodeJS.Timeout {
    const t = left > MAX_TIMER_MS ? setTimeout(() => (this.timeout = this.arm(left - MAX_TIMER_MS, fn)), MAX_TIMER_MS) : setTimeout(fn, left);
    t.unref();
    return t;
  }

  cancel(): void {
    clearTimeout(this.timeout);
  }
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (delayMs, fn) => new SystemTimer(delayMs, fn),
};

/** A clock that only moves when told to: for tests and the simulator. */
export class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, delayMs), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  /** Moves time forward, firing due timers in time order (ties in creation order). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at < nextAt || (t.at === nextAt && id < nextId)) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0 || nextAt > end) break;
      const t = this.timers.get(nextId);
      this.timers.delete(nextId);
      this.time = nextAt;
      t?.fn();
    }
    this.time = end;
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}

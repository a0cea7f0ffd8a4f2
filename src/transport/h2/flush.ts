// One socket write per connection per event-loop turn. Frames are appended to a
// connection's FrameWriter as events happen (a downstream read may add to many upstream
// connections); the connection asks for a flush, and every connection that asked is
// written once in the check phase that follows the poll phase, after all reads of this
// turn. Socket writes are the largest single cost of a proxy; batching them is the point.

export interface Flushable {
  /** True while queued here; maintained by this module only. */
  flushQueued: boolean;
  flush(): void;
}

const queue: Flushable[] = [];
let scheduled = false;

export function scheduleFlush(c: Flushable): void {
  if (c.flushQueued) return;
  c.flushQueued = true;
  queue.push(c);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runFlushes);
  }
}

function runFlushes(): void {
  scheduled = false;
  // A flush may queue more (a write error closing a connection); the loop picks them up.
  for (let i = 0; i < queue.length; i++) {
    const c = queue[i]!;
    c.flushQueued = false;
    c.flush();
  }
  queue.length = 0;
}

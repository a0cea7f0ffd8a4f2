// A process-wide free list of the FrameWriter's output slabs. A connection that goes idle
// gives its slab back instead of keeping it (idle connections must stay small) or dropping it
// (a connection that carries one RPC every few milliseconds would then allocate a fresh 16 KiB
// off-heap Buffer per RPC, and V8 answers that external-memory churn with a full mark-compact
// every ~100 ms: measured at 5,000 RPS over 50 connections, it was most of the p99).
//
// Only a slab the socket no longer reads from may come back: the caller checks that the socket
// has written everything it was given (writableLength 0) before releasing with `recycle`.
// The pool is bounded; past its bound a returned slab is simply left to the GC.

export class SlabPool {
  private readonly free: Buffer[] = [];

  constructor(
    /** Size of every slab this pool hands out and takes back. */
    readonly slabSize: number,
    /** Most slabs kept while unused. */
    readonly maxFree: number,
  ) {}

  /** Slabs kept for reuse right now. */
  get size(): number {
    return this.free.length;
  }

  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabSize);
  }

  /** Takes back a slab nothing refers to any more; one of another size is not kept. */
  recycle(slab: Buffer): void {
    if (slab.length === this.slabSize && this.free.length < this.maxFree) this.free.push(slab);
  }
}

/** 16 KiB slabs, at most 64 kept (1 MiB): enough for the connections active in one turn. */
export const SHARED_SLAB_POOL = new SlabPool(16 * 1024, 64);

// The FrameWriter's slab pool: an idle connection's written-out slab serves the next one
// instead of a fresh off-heap allocation per RPC; a slab the socket may still read is never
// handed out again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { FrameWriter } from "../../../../src/transport/h2/frames/writer.js";
import { SHARED_SLAB_POOL, SlabPool } from "../../../../src/transport/h2/frames/slab-pool.js";
import { h2Server, http2Client } from "../support.js";

function slabOf(out: Buffer | Buffer[]): ArrayBufferLike {
  assert.ok(Buffer.isBuffer(out));
  return out.buffer;
}

test("a released, written-out slab goes back to the pool and the next writer reuses it", () => {
  const pool = new SlabPool(1024, 2);
  const a = new FrameWriter({ pool });
  a.ping(Buffer.alloc(8), false);
  const slab = slabOf(a.take());
  a.release(true);
  assert.equal(pool.size, 1);
  const b = new FrameWriter({ pool });
  b.ping(Buffer.alloc(8, 7), true);
  assert.equal(slabOf(b.take()), slab, "the second writer writes into the recycled slab");
  assert.equal(pool.size, 0);
});

test("a slab the socket may still hold (release without recycle) is not reused", () => {
  const pool = new SlabPool(1024, 2);
  const a = new FrameWriter({ pool });
  a.ping(Buffer.alloc(8, 1), false);
  const taken = a.take();
  const copy = Buffer.from(taken as Buffer);
  a.release(false);
  assert.equal(pool.size, 0);
  const b = new FrameWriter({ pool });
  b.ping(Buffer.alloc(8, 2), false);
  assert.notEqual(slabOf(b.take()), slabOf(taken));
  assert.deepEqual(taken, copy, "the first writer's output is untouched");
});

test("release keeps a slab with pending output; the pool stays bounded and takes only its size", () => {
  const pool = new SlabPool(1024, 1);
  const w = new FrameWriter({ pool });
  w.ping(Buffer.alloc(8), false);
  w.release(true); // pending: refused
  assert.equal(pool.size, 0);
  assert.equal(w.pending, 17);
  w.take();
  w.release(true);
  assert.equal(pool.size, 1);
  const other = new FrameWriter({ pool: new SlabPool(1024, 4) });
  other.ping(Buffer.alloc(8), false);
  other.take();
  other.release(true);
  pool.recycle(Buffer.allocUnsafeSlow(1024)); // over the bound: dropped
  pool.recycle(Buffer.allocUnsafeSlow(2048)); // wrong size: dropped
  assert.equal(pool.size, 1);
});

test("a connection that goes idle after a response hands its written-out slab to the shared pool", async (t) => {
  const server = await h2Server(t);
  const client = http2Client(t, server.port);
  const before = SHARED_SLAB_POOL.size;
  const req = client.request({ ":method": "POST", ":path": "/x/y", "content-type": "application/grpc", te: "trailers" });
  req.end(Buffer.from([0, 0, 0, 0, 1, 7]));
  req.resume();
  await once(req, "close");
  // The server wrote the response and has no stream left: its slab went back to the pool
  // (no connection took one from it meanwhile in this process).
  assert.ok(SHARED_SLAB_POOL.size > before, `pool size ${SHARED_SLAB_POOL.size}, was ${before}`);
});

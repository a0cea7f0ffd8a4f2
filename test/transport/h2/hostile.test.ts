// Hostile peers against sluice's HTTP/2 server role: each attack ends with the right error
// (GOAWAY code, or RST_STREAM where only a stream is at fault), bounded memory, and a
// well-behaved connection on the same server that keeps working throughout.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { Flag, FrameType, SettingId } from "../../../src/transport/h2/frames/constants.js";
import { H2Code } from "../../../src/transport/types.js";
import { frame, u32 } from "./frames/helpers.js";
import { h2Server, nextServerClose, RawClient, startH2Server, type TestServer } from "./support.js";

/** A well-behaved client: one gRPC-shaped echo over node:http2. */
async function goodRequest(port: number, body = Buffer.from("hello")): Promise<{ status: string; echoed: Buffer; grpcStatus: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve, reject) => {
      session.on("error", reject);
      const req = session.request({ ":method": "POST", ":path": "/x/y", "content-type": "application/grpc", te: "trailers" });
      const chunks: Buffer[] = [];
      let status = "";
      let grpcStatus = "";
      req.on("response", (h) => (status = String(h[":status"])));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("trailers", (t: http2.IncomingHttpHeaders) => (grpcStatus = String(t["grpc-status"])));
      req.on("end", () => resolve({ status, echoed: Buffer.concat(chunks), grpcStatus }));
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

function goawayCode(c: RawClient): string | undefined {
  return c.goaway()?.split(" ")[2];
}

describe("hostile peers", () => {
  let server: TestServer;
  // One long-lived good connection, checked after every attack.
  let good: http2.ClientHttp2Session;
  // For the ACK floods: no timeout that could close a flooder before the flood limit does.
  let floodServer: TestServer;

  before(async () => {
    server = await startH2Server({ sendStallTimeoutMs: 300 });
    floodServer = await startH2Server({ sendStallTimeoutMs: 120_000, settingsTimeoutMs: 120_000 });
    good = http2.connect(`http://127.0.0.1:${server.port}`);
  });
  after(async () => {
    good.close();
    await server.close();
    await floodServer.close();
  });

  async function goodStillWorks(): Promise<void> {
    const r = await new Promise<{ status: string; body: string }>((resolve, reject) => {
      const req = good.request({ ":method": "POST", ":path": "/x/y", "content-type": "application/grpc" });
      let status = "";
      const chunks: Buffer[] = [];
      req.on("response", (h) => (status = String(h[":status"])));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      req.on("error", reject);
      req.end("still here");
    });
    assert.deepEqual(r, { status: "200", body: "still here" });
  }

  test("CONTINUATION flood: GOAWAY ENHANCE_YOUR_CALM before the block grows without bound", async () => {
    const c = await RawClient.connect(server.port);
    c.writer.raw(FrameType.HEADERS, 0, 1, c.headerBlock({ ":method": "POST", ":scheme": "http", ":path": "/a", ":authority": "x" }));
    const empty = frame(FrameType.CONTINUATION, 0, 1);
    const filler = frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16_000, 0x40));
    c.flush();
    for (let i = 0; i < 200 && !c.socket.destroyed; i++) c.socket.write(i % 2 === 0 ? empty : filler);
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM");
    await c.closed;
    await goodStillWorks();
  });

  test("rapid reset (CVE-2023-44487): streams opened and cancelled at once end the connection", async () => {
    const before = server.log.streams;
    const c = await RawClient.connect(server.port);
    for (let i = 0; i < 1000; i++) {
      const id = 1 + 2 * i;
      c.request(id);
      c.writer.rstStream(id, H2Code.CANCEL);
    }
    c.flush();
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM");
    await c.closed;
    // It stopped early: about PREMATURE_RESET_MIN streams reached the handler, not 1,000.
    const seen = server.log.streams - before;
    assert.ok(seen >= 100 && seen <= 110, `streams handled before the cut: ${seen}`);
    await goodStillWorks();
  });

  test("cancellations mixed into honest traffic are not mistaken for an attack", async () => {
    const c = await RawClient.connect(server.port);
    // 300 streams, one in four cancelled: well under the 50% rapid-reset share.
    for (let i = 0; i < 300; i++) {
      const id = 1 + 2 * i;
      if (i % 4 === 0) {
        c.request(id);
        c.writer.rstStream(id, H2Code.CANCEL);
      } else {
        c.request(id, true);
      }
    }
    c.flush();
    await c.until((e) => e.filter((l) => /^HEADERS s=\d+ end=true/.test(l)).length >= 225 || e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(c.goaway(), undefined);
    c.close();
  });

  /** Writes `frames` in one go; resolves with the GOAWAY's code once the server cuts the connection. */
  async function cutOffBy(frames: Buffer[], prelude?: (c: RawClient) => Promise<void>): Promise<string | undefined> {
    const c = await RawClient.connect(server.port);
    await prelude?.(c);
    c.socket.write(Buffer.concat(frames));
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    await c.closed;
    return goawayCode(c);
  }

  test("PRIORITY flood: past 100 per stream opened, GOAWAY ENHANCE_YOUR_CALM", async () => {
    const priority = frame(FrameType.PRIORITY, 0, 3, [0, 0, 0, 0, 15]);
    assert.equal(await cutOffBy(Array.from({ length: 5000 }, () => priority)), "ENHANCE_YOUR_CALM");
    await goodStillWorks();
  });

  test("frames of unknown type, flooded: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const unknown = frame(0xfa, 0, 0, Buffer.alloc(8));
    assert.equal(await cutOffBy(Array.from({ length: 5000 }, () => unknown)), "ENHANCE_YOUR_CALM");
    await goodStillWorks();
  });

  test("WINDOW_UPDATE flood with nothing sent: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const update = frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1));
    assert.equal(await cutOffBy(Array.from({ length: 5000 }, () => update)), "ENHANCE_YOUR_CALM");
    await goodStillWorks();
  });

  test("RST_STREAM again and again on a finished stream: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const rst = frame(FrameType.RST_STREAM, 0, 1, u32(H2Code.CANCEL));
    const code = await cutOffBy(
      Array.from({ length: 5000 }, () => rst),
      async (c) => {
        c.request(1, true);
        c.flush();
        await c.until((e) => e.some((l) => /^HEADERS s=1 end=true/.test(l)));
      },
    );
    assert.equal(code, "ENHANCE_YOUR_CALM");
    await goodStillWorks();
  });

  test("rapid reset padded with honest requests (a third reset, under the 50% share): cut off by the reset budget", async () => {
    const before = server.log.streams;
    const c = await RawClient.connect(server.port);
    // 3,000 streams, one in three cancelled at once: 1,000 resets, then more.
    for (let i = 0; i < 4500; i++) {
      const id = 1 + 2 * i;
      if (i % 3 === 0) {
        c.request(id);
        c.writer.rstStream(id, H2Code.CANCEL);
      } else c.request(id, true);
    }
    c.flush();
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM");
    await c.closed;
    const seen = server.log.streams - before;
    assert.ok(seen < 4500, `the connection was cut before all its streams: ${seen} handled`);
    await goodStillWorks();
  });

  /**
   * Writes `frameBytes` x 1000 per write until the server stops taking them; then reads what it
   * said. The flood server waits minutes for a SETTINGS ACK and for a stalled socket, so only
   * the ACK backlog limit can close the flooder (which never ACKs our SETTINGS either): were
   * it the SETTINGS timeout doing the work, a long one would make this wait for it. A flood
   * the server never cuts off fails at once instead of waiting on a close that will not come.
   */
  async function floodUnread(frameBytes: Buffer): Promise<{ client: RawClient; ms: number }> {
    // Earlier connections' closes must not pass for the flooder's.
    while (floodServer.log.closed < floodServer.log.connections) await nextServerClose(floodServer.log);
    const t0 = performance.now();
    let closedAfter: number | undefined;
    const serverClosed = nextServerClose(floodServer.log).then(() => void (closedAfter = performance.now() - t0));
    const c = await RawClient.connect(floodServer.port, { read: false });
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => frameBytes));
    let batches = 0;
    // The kernel's buffers absorb a few MB of ACKs first; past that the server must cut it off.
    while (closedAfter === undefined && batches < 3_000) {
      if (!c.socket.write(batch)) {
        let done: () => void = () => undefined;
        const wake = new Promise<void>((resolve) => (done = resolve));
        c.socket.on("drain", done).on("close", done);
        // The server stops reading when it closes: its close ends the wait, not a drain.
        await Promise.race([wake, serverClosed]);
        c.socket.off("drain", done).off("close", done);
      }
      batches++;
    }
    if (closedAfter === undefined) {
      c.close();
      assert.fail(`the server never closed the connection (${batches * 1000} frames sent in ${(performance.now() - t0).toFixed(0)} ms)`);
    }
    const ms = closedAfter;
    c.startReading(true);
    await c.closed;
    return { client: c, ms };
  }

  test("PING flood from a peer that reads nothing: closed (ENHANCE_YOUR_CALM) once the ACK backlog passes the limit", async (t) => {
    const { client, ms } = await floodUnread(frame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)));
    t.diagnostic(`closed after ${ms.toFixed(0)} ms of flooding`);
    // Our GOAWAY sits behind megabytes of ACKs the peer never read: it may not get through.
    assert.ok([undefined, "ENHANCE_YOUR_CALM"].includes(goawayCode(client)), client.goaway());
    assert.deepEqual(await goodRequest(floodServer.port), { status: "200", echoed: Buffer.from("hello"), grpcStatus: "0" });
  });

  test("SETTINGS flood from a peer that reads nothing: closed the same way", async (t) => {
    const settings = frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, SettingId.MAX_CONCURRENT_STREAMS, ...u32(100)]));
    const { client, ms } = await floodUnread(settings);
    t.diagnostic(`closed after ${ms.toFixed(0)} ms of flooding`);
    assert.ok([undefined, "ENHANCE_YOUR_CALM"].includes(goawayCode(client)), client.goaway());
    assert.deepEqual(await goodRequest(floodServer.port), { status: "200", echoed: Buffer.from("hello"), grpcStatus: "0" });
  });

  test("HPACK bomb: a small block that decodes past the header list limit is refused, the connection lives", async () => {
    const c = await RawClient.connect(server.port);
    // One 3,000-octet entry into the dynamic table, then 3,000 one-octet references to it:
    // ~6 KB on the wire, ~9 MB decoded.
    const big = "x".repeat(3000);
    const insert = c.hpack.encode([["x-big", big]]);
    const index = 62; // the first dynamic table entry
    const refs = Buffer.alloc(3000, 0x80 | index);
    const block = Buffer.concat([
      c.headerBlock({ ":method": "POST", ":scheme": "http", ":path": "/a", ":authority": "x", "content-type": "application/grpc" }),
      insert,
      refs,
    ]);
    c.writer.headers(1, block, true);
    c.flush();
    await c.until((e) => e.some((l) => l.startsWith("RST_STREAM s=1") || l.startsWith("GOAWAY")));
    assert.ok(c.events.includes("RST_STREAM s=1 PROTOCOL_ERROR"), c.events.join("\n"));
    // The table is still in step: a normal request on the same connection works.
    c.request(3, false);
    c.writer.data(3, Buffer.from("ok"), true);
    c.flush();
    await c.until((e) => e.some((l) => l.startsWith("HEADERS s=3 end=true")));
    assert.ok(c.events.some((l) => l === `DATA s=3 end=false flow=2 ${Buffer.from("ok").toString("hex")}`));
    c.close();
  });

  test("an oversized frame: GOAWAY FRAME_SIZE_ERROR", async () => {
    const c = await RawClient.connect(server.port);
    c.request(1);
    c.flush();
    c.socket.write(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385)));
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(goawayCode(c), "FRAME_SIZE_ERROR");
    await c.closed;
    await goodStillWorks();
  });

  for (const [name, ids, code] of [
    ["an even (server-initiated) stream id", [2], "PROTOCOL_ERROR"],
    ["a stream id lower than one already used", [5, 3], "PROTOCOL_ERROR"],
  ] as const) {
    test(`invalid stream ids: ${name} -> GOAWAY ${code}`, async () => {
      const c = await RawClient.connect(server.port);
      for (const id of ids) c.request(id, true);
      c.flush();
      await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
      assert.equal(goawayCode(c), code);
      await c.closed;
    });
  }

  test("DATA on a stream that was never opened: GOAWAY PROTOCOL_ERROR", async () => {
    const c = await RawClient.connect(server.port);
    c.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 7, Buffer.from("x")));
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(goawayCode(c), "PROTOCOL_ERROR");
    await c.closed;
  });

  test("empty DATA frames in a row: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const c = await RawClient.connect(server.port);
    c.request(1);
    c.flush();
    const empty = frame(FrameType.DATA, 0, 1);
    c.socket.write(Buffer.concat(Array.from({ length: 500 }, () => empty)));
    await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
    assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM");
    await c.closed;
  });

  test("zero-window stall: a reader that grants no window gets its stream reset, buffering stays bounded", async () => {
    // Our initial window 0: the server may send no DATA until we grant some, and we never do.
    const c = await RawClient.connect(server.port, { settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
    c.request(1);
    // 8 x 16 KB echoed back: all of it must wait in the server's stream queue.
    for (let i = 0; i < 8; i++) c.writer.data(1, Buffer.alloc(16_000, i), false);
    c.flush();
    await c.until((e) => e.some((l) => l.startsWith("RST_STREAM s=1") || l.startsWith("GOAWAY")));
    assert.ok(c.events.includes("RST_STREAM s=1 ENHANCE_YOUR_CALM"), c.events.join("\n"));
    assert.equal(c.goaway(), undefined);
    // No DATA ever left the server for stream 1.
    assert.ok(!c.events.some((l) => l.startsWith("DATA s=1")));
    c.close();
    await goodStillWorks();
  });

  test("a socket that is never read: the connection is cut after the stall timeout", async () => {
    const c = await RawClient.connect(server.port, { read: false });
    const serverClosed = nextServerClose(server.log);
    // 12 streams each send ~1 MB (their whole window) to be echoed back to a reader that
    // never reads: the kernel's buffers fill, the server's socket backs up, then it gives up.
    const chunk = Buffer.alloc(16_000, 1);
    for (let s = 0; s < 12 && !c.socket.destroyed; s++) {
      const id = 1 + 2 * s;
      c.request(id);
      for (let i = 0; i < 60; i++) c.writer.data(id, chunk, false);
      c.flush();
    }
    await serverClosed;
    c.startReading(true);
    await c.closed;
    await goodStillWorks();
  });
});

describe("frame-read timeout (slowloris)", () => {
  const TIMEOUT_MS = 200;
  let server: TestServer;
  before(async () => {
    server = await startH2Server({ frameReadTimeoutMs: TIMEOUT_MS });
  });
  after(async () => {
    await server.close();
  });

  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  /** The client's pending frames as one buffer (not sent). */
  function pending(c: RawClient): Buffer {
    const out = c.writer.take();
    return Buffer.concat(Array.isArray(out) ? out : [out]);
  }

  /** Sends `bytes` one octet per `everyMs` (the attack's own pace) until done or closed. */
  async function trickle(c: RawClient, bytes: Buffer, everyMs: number): Promise<void> {
    for (let i = 0; i < bytes.length && !c.socket.destroyed && c.goaway() === undefined; i++) {
      c.socket.write(bytes.subarray(i, i + 1));
      await pause(everyMs);
    }
  }

  function goawayDebug(c: RawClient): string {
    return Buffer.from(c.goaway()?.split(" ")[3] ?? "", "hex").toString("latin1");
  }

  test("HEADERS a byte at a time: GOAWAY ENHANCE_YOUR_CALM before the frame is through", async () => {
    const c = await RawClient.connect(server.port);
    c.writer.settingsAck();
    c.flush();
    c.request(1, true);
    const bytes = pending(c);
    await trickle(c, bytes, 20);
    assert.notEqual(c.goaway(), undefined, "the whole frame went through a byte at a time");
    c.close();
    assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM", c.events.join("\n"));
    assert.match(goawayDebug(c), /a frame took over 200 ms to arrive/);
  });

  test("a header block held open by CONTINUATIONs that each arrive whole: the block is what is timed", async () => {
    const c = await RawClient.connect(server.port);
    c.writer.settingsAck();
    c.flush();
    c.request(1, true);
    const block = pending(c).subarray(9); // the HEADERS frame's field block
    c.socket.write(frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 1)));
    // One octet of the block per CONTINUATION, every 60 ms: under the 16-frame flood cap for
    // the first ~1 s, so only the timeout can end it that soon.
    for (let i = 1; i < block.length && i < 16 && !c.socket.destroyed && c.goaway() === undefined; i++) {
      c.socket.write(frame(FrameType.CONTINUATION, 0, 1, block.subarray(i, i + 1)));
      await pause(60);
    }
    assert.notEqual(c.goaway(), undefined, "15 CONTINUATIONs over ~900 ms went through");
    c.close();
    assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM", c.events.join("\n"));
    assert.match(goawayDebug(c), /a frame took over 200 ms/);
  });

  test("a slow but steady sender is not cut off: frames straddle reads for 5x the timeout, with idle gaps between", async () => {
    const c = await RawClient.connect(server.port);
    c.writer.settingsAck();
    c.request(1);
    c.flush();
    const frames: Buffer[] = [];
    for (let i = 0; i < 12; i++) frames.push(frame(FrameType.DATA, 0, 1, Buffer.alloc(1000, i)));
    // Half a frame in flight at every moment for ~800 ms: each write ends one frame and starts the next.
    c.socket.write(frames[0]!.subarray(0, 500));
    for (let i = 0; i < 8; i++) {
      await pause(100);
      c.socket.write(Buffer.concat([frames[i]!.subarray(500), frames[i + 1]!.subarray(0, 500)]));
    }
    await pause(100);
    c.socket.write(frames[8]!.subarray(500));
    // Whole frames with idle gaps longer than the timeout: nothing half-sent, nothing timed.
    for (let i = 9; i < 12; i++) {
      await pause(300);
      c.socket.write(frames[i]!);
    }
    c.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 1));
    await c.until((e) => e.some((l) => /^HEADERS s=1 end=true/.test(l) || l.startsWith("GOAWAY")));
    assert.equal(c.goaway(), undefined);
    const echoed = c.events.filter((l) => l.startsWith("DATA s=1")).reduce((n, l) => n + Number(/flow=(\d+)/.exec(l)![1]), 0);
    assert.equal(echoed, 12_000);
    c.close();
  });
});

test("the echo helper itself answers a well-behaved client", async (t) => {
  const server = await h2Server(t);
  assert.deepEqual(await goodRequest(server.port), { status: "200", echoed: Buffer.from("hello"), grpcStatus: "0" });
});

// SETTINGS_INITIAL_WINDOW_SIZE on sluice's server role: a change moves the send window of
// every open stream (RFC 9113 6.9.2), an overflow it causes is a connection error, and a
// peer that flips it again and again over many open streams (each flip used to walk every
// stream) is cut off after a burst, while another connection keeps being served.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameType, SettingId } from "../../../src/transport/h2/frames/constants.js";
import { frame, settingsPayload, u32 } from "./frames/helpers.js";
import { h2Server, http2Client, RawClient } from "./support.js";

function dataBytes(c: RawClient, stream: number): number {
  let n = 0;
  for (const e of c.events) {
    const m = /^DATA s=(\d+) end=\w+ flow=(\d+)/.exec(e);
    if (m !== null && Number(m[1]) === stream) n += Number(m[2]);
  }
  return n;
}

function acks(c: RawClient): number {
  return c.events.filter((e) => e === "SETTINGS_ACK").length;
}

test("a change of the initial window moves the window of streams already open, both ways", async (t) => {
  const server = await h2Server(t);
  // Window 0: the echo's answer waits, whole, for the window.
  const c = await RawClient.connect(server.port, { settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
  t.after(() => c.close());
  c.request(1);
  c.writer.data(1, Buffer.alloc(1000, 1), false);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("HEADERS s=1")));
  assert.equal(dataBytes(c, 1), 0);
  // +300 for every open stream: exactly 300 octets come.
  c.socket.write(frame(FrameType.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, 300]])));
  await c.until(() => dataBytes(c, 1) >= 300);
  // Down to 100 (the stream's window is now -200), then a stream WINDOW_UPDATE of 250: 50 more.
  c.socket.write(frame(FrameType.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, 100]])));
  c.socket.write(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(250)));
  await c.until(() => dataBytes(c, 1) >= 350);
  // Back up to 1,000: the window becomes 700 more than it was, the rest of the answer.
  c.socket.write(frame(FrameType.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, 1000]])));
  await c.until(() => dataBytes(c, 1) >= 1000);
  await c.until(() => acks(c) >= 4);
  assert.equal(dataBytes(c, 1), 1000);
  assert.equal(c.goaway(), undefined);
});

test("a change that takes a stream's window past 2^31-1: GOAWAY FLOW_CONTROL_ERROR", async (t) => {
  const server = await h2Server(t);
  const c = await RawClient.connect(server.port, { settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
  t.after(() => c.close());
  c.request(1);
  c.flush();
  await c.until((e) => e.some((l) => l.startsWith("HEADERS s=1")));
  // The stream's window to the maximum, then one octet more for every stream.
  c.socket.write(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(0x7fffffff)));
  c.socket.write(frame(FrameType.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, 1]])));
  await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
  assert.match(c.goaway()!, /FLOW_CONTROL_ERROR/);
});

test("SETTINGS flips over 999 open streams, ACKs read: cut off after the burst; another connection is served meanwhile", async (t) => {
  const server = await h2Server(t);
  const good = http2Client(t, server.port);
  const attacker = await RawClient.connect(server.port);
  t.after(() => attacker.close());
  const before = server.log.streams;
  for (let i = 0; i < 999; i++) attacker.request(1 + 2 * i);
  attacker.flush();
  await attacker.until(() => server.log.streams - before === 999 || attacker.socket.destroyed);
  assert.equal(server.log.streams - before, 999, "all streams open");
  // 1,000 flips written at once, as fast as the socket takes them.
  const flips = Array.from({ length: 1000 }, (_, i) =>
    frame(FrameType.SETTINGS, 0, 0, settingsPayload([[SettingId.INITIAL_WINDOW_SIZE, i % 2 === 0 ? 0 : 1 << 20]])),
  );
  attacker.socket.write(Buffer.concat(flips));
  await attacker.until((e) => e.some((l) => l.startsWith("GOAWAY")) || acks(attacker) > 1000);
  assert.match(attacker.goaway()!, /ENHANCE_YOUR_CALM/);
  // The preface's SETTINGS and the burst were answered; the flood past it was not.
  const answered = acks(attacker);
  assert.ok(answered >= 100 && answered <= 110, `SETTINGS acknowledged before the cut: ${answered}`);
  const echoed = await new Promise<string>((resolve, reject) => {
    const req = good.request({ ":method": "POST", ":path": "/x/y", "content-type": "application/grpc" });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString()));
    req.on("error", reject);
    req.end("still here");
  });
  assert.equal(echoed, "still here");
});

// node:http2 (nghttp2) as the oracle. A node:http2 client talks to a raw net server on
// loopback that runs FrameReader over the socket bytes and answers with FrameWriter, so
// both directions are checked against an implementation we did not write. HPACK is out of
// scope here: responses use one static-table octet (0x88 = ":status: 200") and literal
// fields encoded below by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { SettingId } from "../../../../src/transport/h2/frames/constants.js";
import type { ConnectionError } from "../../../../src/transport/h2/frames/errors.js";
import { FrameReader } from "../../../../src/transport/h2/frames/reader.js";
import { FrameWriter } from "../../../../src/transport/h2/frames/writer.js";
import { H2Code } from "../../../../src/transport/types.js";
import { Recorder } from "./helpers.js";

/** One socket write per flush, as the connection will do once per event-loop turn. */
function flush(socket: net.Socket, writer: FrameWriter): void {
  const out = writer.take();
  if (!Array.isArray(out)) {
    if (out.length > 0) socket.write(out);
    return;
  }
  socket.cork();
  for (const part of out) socket.write(part);
  socket.uncork();
}

/** HPACK literal field without indexing, new name (RFC 7541 6.2.2), no Huffman. */
function literal(name: string, value: string): Buffer {
  const int7 = (n: number): number[] => {
    if (n < 127) return [n];
    const out = [127];
    n -= 127;
    while (n >= 128) {
      out.push((n % 128) + 128);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  };
  return Buffer.concat([Buffer.from([0x00, ...int7(name.length)]), Buffer.from(name), Buffer.from(int7(value.length)), Buffer.from(value)]);
}

interface RawServer {
  readonly port: number;
  /** Destroys open sockets and waits for the server to close (test teardown, also after a timeout). */
  close(): Promise<void>;
}

/** A net server whose every connection gets its own reader/writer via `attach`. */
async function rawServer(attach: (socket: net.Socket) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    attach(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const s of sockets) s.destroy();
        server.close((err) => (err === undefined ? resolve() : reject(err)));
      }),
  };
}

// A broken frame makes nghttp2 wait rather than fail: the timeout turns a hang into a failure.
const INTEROP = { timeout: 10_000 };

test("node:http2 client -> FrameReader: preface, SETTINGS, WINDOW_UPDATE, HEADERS, DATA, ACK, PING, GOAWAY", INTEROP, async (t) => {
  const recorder = new Recorder();
  const errors: ConnectionError[] = [];
  let connectionEnded!: () => void;
  const ended = new Promise<void>((resolve) => (connectionEnded = resolve));
  const server = await rawServer((socket) => {
    const writer = new FrameWriter();
    recorder.onConnectionError = (e) => errors.push(e);
    const onData = recorder.onData.bind(recorder);
    recorder.onData = (streamId, data, endStream, flowLength) => {
      onData(streamId, data, endStream, flowLength);
      // Answer only once the request is complete, so the frame order below is fixed.
      if (!endStream) return;
      writer.settings([[SettingId.MAX_CONCURRENT_STREAMS, 7]]);
      writer.headers(streamId, Buffer.from([0x88]), true);
    };
    const onPing = recorder.onPing.bind(recorder);
    recorder.onPing = (payload, ack) => {
      onPing(payload, ack);
      if (!ack) writer.ping(payload, true);
    };
    const reader = new FrameReader(recorder, { role: "server" });
    socket.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      flush(socket, writer);
    });
    socket.on("end", () => {
      socket.end();
      connectionEnded();
    });
  });

  t.after(() => server.close());
  const client = http2.connect(`http://127.0.0.1:${server.port}`, {
    settings: { enablePush: false, maxConcurrentStreams: 50, initialWindowSize: 1_000_000 },
  });
  t.after(() => client.destroy());
  client.on("connect", () => client.setLocalWindowSize(1 << 20));
  const pinged = new Promise<string>((resolve, reject) => {
    client.once("remoteSettings", () => {
      client.ping(Buffer.from("0102030405060708", "hex"), (err, _ms, payload) => (err ? reject(err) : resolve(payload.toString("hex"))));
    });
  });
  const req = client.request({ ":method": "POST", ":path": "/echo" });
  const status = new Promise<unknown>((resolve) => req.on("response", (h) => resolve(h[":status"])));
  req.end("hello");
  req.resume();
  assert.equal(await status, 200);
  assert.equal(await pinged, "0102030405060708", "our PING ACK echoed the payload");
  client.close();
  await ended;

  assert.deepEqual(errors, []);
  const events = recorder.events;
  // The preface was consumed and the first frame is the client's SETTINGS, with its values.
  assert.equal(events[0], "SETTINGS 2=0,3=50,4=1000000");
  // Connection WINDOW_UPDATE and the request may interleave; HEADERS precedes its DATA.
  const middle = events.slice(1, 4);
  assert.ok(middle.includes(`WINDOW_UPDATE s=0 +${(1 << 20) - 65_535}`), middle.join("|"));
  const headers = middle.findIndex((e) => /^HEADERS s=1 end=false [0-9a-f]+$/.test(e));
  const data = middle.indexOf("DATA s=1 end=true flow=5 68656c6c6f");
  assert.ok(headers >= 0 && data > headers, middle.join("|"));
  // Then our SETTINGS is acknowledged, the client pings, and close() sends GOAWAY NO_ERROR
  // (nghttp2 may send more than one: the graceful-shutdown notice and the final one).
  assert.deepEqual(events.slice(4, 7), ["SETTINGS_ACK", "PING ack=false 0102030405060708", "GOAWAY last=0 NO_ERROR"]);
  for (const e of events.slice(7)) assert.match(e, /^GOAWAY /);
});

test("FrameWriter -> node:http2 client: SETTINGS, SETTINGS ACK, split HEADERS/DATA, GOAWAY", INTEROP, async (t) => {
  const bigValue = "v".repeat(20_000); // HEADERS + CONTINUATION at the client's 16 KiB frames
  const body = Buffer.alloc(50_000);
  for (let i = 0; i < body.length; i++) body[i] = i & 0xff; // 4 DATA frames, referenced
  const received = new Recorder();
  const server = await rawServer((socket) => {
    const writer = new FrameWriter();
    const reader = new FrameReader(received, { role: "server" });
    const onSettings = received.onSettings.bind(received);
    received.onSettings = (params) => {
      onSettings(params);
      writer.settingsAck();
    };
    const onHeaders = received.onHeaders.bind(received);
    received.onHeaders = (streamId, block, endStream) => {
      onHeaders(streamId, block, endStream);
      writer.headers(streamId, Buffer.concat([Buffer.from([0x88]), literal("x-big", bigValue)]), false);
      writer.data(streamId, body, true);
    };
    const onSettingsAck = received.onSettingsAck.bind(received);
    received.onSettingsAck = () => {
      onSettingsAck();
      // The client has our SETTINGS: now tell it to go away.
      writer.goaway(1, H2Code.ENHANCE_YOUR_CALM, Buffer.from("bye"));
    };
    // Server preface: our SETTINGS, sent before reading anything.
    writer.settings([
      [SettingId.MAX_CONCURRENT_STREAMS, 7],
      [SettingId.INITIAL_WINDOW_SIZE, 12_345],
      [SettingId.MAX_FRAME_SIZE, 32_768],
      [SettingId.MAX_HEADER_LIST_SIZE, 99_999],
    ]);
    flush(socket, writer);
    socket.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      flush(socket, writer);
    });
    socket.on("error", () => {}); // the client may reset after GOAWAY; nothing to do
  });

  t.after(() => server.close());
  const client = http2.connect(`http://127.0.0.1:${server.port}`);
  t.after(() => client.destroy());
  client.on("error", () => {}); // a GOAWAY with an error code also surfaces as 'error'
  const remote = new Promise<http2.Settings>((resolve) => client.once("remoteSettings", resolve));
  const acked = new Promise<void>((resolve) => client.once("localSettings", () => resolve()));
  const goaway = new Promise<[number, number, string]>((resolve) =>
    client.once("goaway", (code: number, last: number, opaque?: Buffer) => resolve([code, last, opaque?.toString() ?? ""])),
  );
  const req = client.request({ ":path": "/big" }, { endStream: true });
  const response = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on("response", resolve));
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve) => req.on("end", resolve));
  req.on("error", () => {});

  const settings = await remote;
  assert.equal(settings.maxConcurrentStreams, 7);
  assert.equal(settings.initialWindowSize, 12_345);
  assert.equal(settings.maxFrameSize, 32_768);
  assert.equal(settings.maxHeaderListSize, 99_999);
  await acked; // our SETTINGS ACK made nghttp2 apply its own settings
  const headers = await response;
  assert.equal(headers[":status"], 200);
  assert.equal(headers["x-big"], bigValue, "the CONTINUATION-split block decoded intact");
  await done;
  assert.ok(Buffer.concat(chunks).equals(body), "the split, referenced DATA arrived intact");
  assert.deepEqual(await goaway, [H2Code.ENHANCE_YOUR_CALM, 1, "bye"]);
  assert.equal(received.connectionErrors.length, 0);
  assert.ok(received.events.includes("SETTINGS_ACK"), "the client acknowledged our SETTINGS");
});

// node:http2 (nghttp2's HPACK) as the oracle: its client's header blocks go through our
// decoder, and our encoder's blocks go to its server, on loopback port 0, over raw sockets
// that speak just enough HTTP/2 framing to carry HEADERS.
import { test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import { HpackDecoder, type HeaderField } from "../../../../src/transport/h2/hpack/decoder.js";
import { HpackEncoder, type FieldInput } from "../../../../src/transport/h2/hpack/encoder.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** Splits a byte stream into frames; skips the client preface when asked. */
function frameReader(skipPreface: boolean, onFrame: (type: number, flags: number, streamId: number, payload: Buffer) => void) {
  let pending = Buffer.alloc(0);
  let prefaceLeft = skipPreface ? PREFACE.length : 0;
  return (chunk: Buffer): void => {
    pending = Buffer.concat([pending, chunk]);
    if (prefaceLeft > 0) {
      const n = Math.min(prefaceLeft, pending.length);
      pending = pending.subarray(n);
      prefaceLeft -= n;
    }
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) return;
      onFrame(pending[3]!, pending[4]!, pending.readUInt32BE(5) & 0x7fffffff, pending.subarray(9, 9 + length));
      pending = pending.subarray(9 + length);
    }
  };
}

/** Reassembles header blocks (HEADERS + CONTINUATION), stripping padding and priority. */
function headerBlocks(onBlock: (streamId: number, block: Buffer) => void) {
  let parts: Buffer[] = [];
  return (type: number, flags: number, streamId: number, payload: Buffer): void => {
    if (type === HEADERS) {
      let start = 0;
      let end = payload.length;
      if ((flags & PADDED) !== 0) end -= payload[start++]!;
      if ((flags & PRIORITY) !== 0) start += 5;
      parts = [payload.subarray(start, end)];
    } else if (type === CONTINUATION) {
      parts.push(payload);
    } else return;
    if ((flags & END_HEADERS) !== 0) onBlock(streamId, Buffer.concat(parts));
  };
}

test("node:http2 client header blocks decode with our decoder, never-indexed kept", async () => {
  const decoder = new HpackDecoder();
  const decoded: HeaderField[][] = [];
  const count = 40;
  let doneDecoding = (): void => undefined;
  const allDecoded = new Promise<void>((resolve) => (doneDecoding = resolve));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined); // the client resets it at teardown
    socket.write(frame(SETTINGS, 0, 0));
    socket.on(
      "data",
      frameReader(
        true,
        headerBlocks((_id, block) => {
          if (decoded.push(decoder.decode(block)) === count) doneDecoding();
        }),
      ),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on("error", () => undefined);

  const sent: Record<string, string>[] = [];
  for (let i = 0; i < count; i++) {
    const headers: Record<string, string> = {
      ":method": "POST",
      ":path": `/pkg.Service/Method${i % 3}`,
      "content-type": "application/grpc",
      te: "trailers",
      "x-request-id": `req-${i}`,
      // 200-octet values fill the 4096-octet table and force evictions.
      "x-blob": `${i % 7}`.repeat(200),
      "x-latin1": "caf\u00e9 \u00ff",
      "x-secret": `s${i}`,
    };
    sent.push(headers);
    const req = client.request({ ...headers, [http2.sensitiveHeaders]: ["x-secret"] }, { endStream: true });
    req.on("error", () => undefined);
  }
  await allDecoded;

  sent.forEach((headers, i) => {
    const got = decoded[i]!;
    for (const [name, value] of Object.entries(headers)) {
      const field = got.find(([n]) => n === name);
      assert.deepEqual(field, [name, value, name === "x-secret"], `request ${i} ${name}`);
    }
  });
  assert.ok(decoder.table.length > 0);

  client.destroy();
  for (const s of sockets) s.destroy();
  server.close();
  await once(server, "close");
});

test("our encoder's header blocks decode in a node:http2 server, never-indexed kept", async () => {
  const received: http2.IncomingHttpHeaders[] = [];
  const count = 30;
  let doneReceiving = (): void => undefined;
  const allReceived = new Promise<void>((resolve) => (doneReceiving = resolve));
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    if (received.push(headers) === count) doneReceiving();
    stream.respond({ ":status": 200 }, { endStream: true });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;

  // A 256-octet table: a size update in the first block, then evictions on most blocks.
  const encoder = new HpackEncoder({ maxTableSize: 256 });
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.on(
    "data",
    frameReader(false, (type, flags) => {
      if (type === SETTINGS && (flags & 0x1) === 0) socket.write(frame(SETTINGS, 0x1, 0));
    }),
  );
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));

  const sent: FieldInput[][] = [];
  for (let i = 0; i < count; i++) {
    const fields: FieldInput[] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", `/pkg.Service/Method${i % 4}`],
      [":authority", "backend.local:50051"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["grpc-timeout", `${100 + i}m`],
      ["x-tag", `tag-${i % 5}-${"t".repeat(i * 3)}`],
      ["x-secret", `s${i}`, true],
      ["authorization", "Bearer token"],
    ];
    sent.push(fields);
    socket.write(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, encoder.encode(fields)));
  }
  await allReceived;

  sent.forEach((fields, i) => {
    const headers = received[i]!;
    for (const [name, value] of fields) assert.equal(headers[name], value, `request ${i} ${name}`);
    const sensitive = (headers as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders];
    assert.deepEqual([...(sensitive ?? [])].sort(), ["authorization", "x-secret"], `request ${i} sensitive`);
  });

  socket.destroy();
  server.close();
  await once(server, "close");
});

// A client connection that commits an HTTP/2 connection error is closed, on each transport,
// and its socket with it: no descriptor is left behind however many such connections come,
// nor when the client never closes its side. node:http2 needed help here: after most
// connection errors nghttp2 sends GOAWAY and stops reading, node is told nothing, and the
// socket stayed open (CLOSE-WAIT once the client had gone) until the file limit was reached
// (src/transport/node/dead-sessions.ts). And a client that sent HTTP/1.x or other bytes that
// are not the preface, got its answer and then kept its side open, held the proxy's socket
// in FIN-WAIT-2 (src/transport/close-after-fin.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { callUnary } from "../../src/demo/echo-client.js";
import { Flag, FrameType } from "../../src/transport/h2/frames/constants.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { describeSockets, heldSocketCount, heldTcpSockets, untilNoneHeld, type HeldSocket } from "../support/sockets.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { CLIENT_PRELUDE, frame, u32 } from "../transport/h2/frames/helpers.js";

const CONNECTIONS = 200;
/** How long the proxy may take to close them all: the node transport finds its dead sessions in seconds. */
const CLOSE_BOUND_MS = 30_000;
/** After the client saw the close: the h2 transport lets a peer read its GOAWAY for 2 s before it lets go. */
const RELEASE_BOUND_MS = 10_000;
/** For clients that never close: the proxy waits 5 s after its FIN (close-after-fin.ts). */
const HALF_OPEN_BOUND_MS = 20_000;

/** Connection errors that nghttp2 answers with GOAWAY alone, and one it reports to node. */
const ERRORS: readonly { readonly name: string; readonly bytes: Buffer }[] = [
  { name: "DATA on an idle stream", bytes: frame(FrameType.DATA, 0, 1, Buffer.from("x")) },
  { name: "DATA above SETTINGS_MAX_FRAME_SIZE", bytes: frame(FrameType.DATA, 0, 1, Buffer.alloc(20_000)) },
  { name: "CONTINUATION without HEADERS", bytes: frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, [0x82]) },
  { name: "SETTINGS of a length not a multiple of 6", bytes: frame(FrameType.SETTINGS, 0, 0, [0, 0, 0]) },
  { name: "WINDOW_UPDATE on an idle stream", bytes: frame(FrameType.WINDOW_UPDATE, 0, 1, u32(1)) },
];

/**
 * Connects, sends the preface and `bytes`, reads whatever comes back and half-closes, as an
 * attacker that moves on would; resolves once the proxy has closed the connection too.
 * `ports` gets the connection's local port: the proxy's socket is the one whose peer it is.
 */
async function offend(port: number, bytes: Buffer, ports: Set<number>): Promise<void> {
  const sock = net.connect(port, "127.0.0.1");
  sock.on("error", () => undefined); // a reset is one way for the proxy to close it
  const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
  ports.add(sock.localPort!);
  sock.resume();
  sock.end(Buffer.concat([CLIENT_PRELUDE, bytes]));
  await closed;
}

/** The proxy's side of the connections from `ports` to the proxy's `port`. */
function proxySide(port: number, ports: ReadonlySet<number>): (s: HeldSocket) => boolean {
  return (s) => s.localPort === port && ports.has(s.remotePort);
}

describe("client connections that commit a connection error", () => {
  for (const transport of TEST_TRANSPORTS) {
    test(`${transport}: ${CONNECTIONS} of them are all closed, and no socket is left open`, async (t) => {
      const { target, client } = await proxyWithPods(t, { transport });
      const port = Number(target.split(":")[1]);
      assert.equal((await callUnary(client, Buffer.from("before"))).code, 0);
      const before = heldSocketCount();

      let closedCount = 0;
      const ports = new Set<number>();
      const theirs = proxySide(port, ports);
      const all = Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => offend(port, ERRORS[i % ERRORS.length]!.bytes, ports).then(() => closedCount++)));
      let bound: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => (bound = setTimeout(() => resolve("timeout"), CLOSE_BOUND_MS)));
      const outcome = await Promise.race([all, timedOut]);
      clearTimeout(bound);
      assert.notEqual(
        outcome,
        "timeout",
        `${CONNECTIONS - closedCount} of ${CONNECTIONS} connections still open after ${CLOSE_BOUND_MS} ms; the proxy holds ${describeSockets(heldTcpSockets().filter(theirs))} of them`,
      );

      const held = await untilNoneHeld(theirs, RELEASE_BOUND_MS);
      assert.deepEqual(held, [], `the proxy still holds ${describeSockets(held)} of its client connections`);
      assert.ok(heldSocketCount() <= before, `sockets held: ${before} before, ${heldSocketCount()} after`);
      // And it still serves.
      assert.equal((await callUnary(client, Buffer.from("after"))).code, 0);
    });
  }
});

describe("client connections that get an error answer and never close their side", () => {
  for (const transport of TEST_TRANSPORTS) {
    test(`${transport}: the proxy lets go of them all the same`, async (t) => {
      const { target } = await proxyWithPods(t, { transport });
      const port = Number(target.split(":")[1]);
      const first = [
        Buffer.from("GET / HTTP/1.1\r\nhost: echo\r\n\r\n", "latin1"), // a 505 page, then the proxy's FIN
        Buffer.from("not the HTTP/2 preface at all", "latin1"), // GOAWAY PROTOCOL_ERROR, then the proxy's FIN
        ...ERRORS.map((e) => Buffer.concat([CLIENT_PRELUDE, e.bytes])),
      ];
      const ports = new Set<number>();
      const socks: net.Socket[] = [];
      t.after(() => {
        for (const sock of socks) sock.destroy();
      });
      for (const bytes of first) {
        const sock = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
        socks.push(sock);
        sock.on("error", () => undefined);
        await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
        ports.add(sock.localPort!);
        sock.resume(); // reads the answer and the proxy's FIN, and never ends its own side
        sock.write(bytes);
      }
      const held = await untilNoneHeld(proxySide(port, ports), HALF_OPEN_BOUND_MS);
      assert.deepEqual(held, [], `the proxy still holds ${describeSockets(held)} of ${first.length} connections`);
    });
  }
});

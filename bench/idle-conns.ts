// Idle HTTP/2 client connections, run as its own process (pinned beside the backend) so the
// proxy's memory per idle connection can be read off its RSS. Each connection sends the
// client preface and an empty SETTINGS, ACKs the server's SETTINGS and waits for the
// server's ACK of its own: once that ACK arrives, the server has read the preface and set
// up its connection state. Raw sockets rather than node:http2 sessions keep this process
// small and make it send nothing else (no WINDOW_UPDATE, no PING).
// Prints one JSON line (IdleClientReady) when every connection has finished its handshake,
// then holds them open and silent until it is killed (the kernel closes them).
// Usage: node dist/bench/idle-conns.js HOST:PORT COUNT
import net from "node:net";

export interface IdleClientReady {
  readonly ready: number;
  readonly handshakeSeconds: number;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME_HEADER = 9;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const ACK = 0x1;
/** A SETTINGS frame with no parameters, and a SETTINGS ACK. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
const SETTINGS_ACK = Buffer.from([0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0]);
/** Handshakes in flight at once: more would overflow the server's accept backlog and wait on SYN retries. */
const PARALLEL = 64;
const TIMEOUT_MS = 60_000;

const sockets: net.Socket[] = [];

/** Resolves once the server has sent its SETTINGS and ACKed ours. */
function handshake(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    sockets.push(socket);
    let buf: Buffer = Buffer.alloc(0);
    let serverSettings = false;
    let ourSettingsAcked = false;
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      reject(new Error(`connection ${sockets.length}: ${why}`));
    };
    socket.once("connect", () => socket.write(Buffer.concat([PREFACE, EMPTY_SETTINGS])));
    socket.on("data", (chunk: Buffer) => {
      if (done) return; // handshake over: the server sends nothing an idle client must answer
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= FRAME_HEADER) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < FRAME_HEADER + length) break;
        const type = buf[3];
        const flags = buf[4] ?? 0;
        buf = buf.subarray(FRAME_HEADER + length);
        if (type === GOAWAY) return fail("server sent GOAWAY during the handshake");
        if (type !== SETTINGS) continue;
        if ((flags & ACK) !== 0) ourSettingsAcked = true;
        else {
          serverSettings = true;
          socket.write(SETTINGS_ACK);
        }
      }
      if (serverSettings && ourSettingsAcked) {
        done = true;
        resolve(socket);
      }
    });
    socket.on("error", (err) => fail(err.message));
    socket.on("close", () => fail("closed by the server during the handshake"));
  });
}

async function main(): Promise<void> {
  const [target, countArg] = process.argv.slice(2);
  const m = /^(.+):(\d+)$/.exec(target ?? "");
  const count = Number(countArg);
  if (m === null || !Number.isInteger(count) || count < 1) throw new Error("usage: idle-conns.js HOST:PORT COUNT");
  const host = m[1]!;
  const port = Number(m[2]);
  const timer = setTimeout(() => {
    console.error(`idle-conns: handshakes not done after ${TIMEOUT_MS} ms`);
    process.exit(1);
  }, TIMEOUT_MS);
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await handshake(host, port);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
  clearTimeout(timer);
  const ready: IdleClientReady = { ready: count, handshakeSeconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  // The open sockets keep this process alive; the benchmark reads the proxy's RSS and open
  // fds (which show whether the proxy still holds every connection), then kills it.
  console.log(JSON.stringify(ready));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});

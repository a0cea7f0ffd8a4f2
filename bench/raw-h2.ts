// A client that writes HTTP/2 frames by hand, for bench/attacker.ts: the frames an attacker
// sends (floods, resets, malformed requests) are exactly the bytes asked for, which no
// well-behaved client library would produce. Header blocks are HPACK literals without
// indexing and without Huffman coding, so every block is independent of the ones before it.
// What the server sends back is parsed only as far as the attacker needs: frame types
// counted, its SETTINGS acknowledged, MAX_CONCURRENT_STREAMS, RST_STREAM and GOAWAY codes.
import net from "node:net";

export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
export const CANCEL = 0x8;
const CODE_NAMES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId >>> 0, 5);
  payload.copy(out, 9);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function settingsFrame(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const b = Buffer.allocUnsafe(pairs.length * 6);
  pairs.forEach(([id, value], i) => {
    b.writeUInt16BE(id, i * 6);
    b.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(T.SETTINGS, 0, 0, b);
}

export const rstFrame = (id: number, code = CANCEL): Buffer => frame(T.RST_STREAM, 0, id, u32(code));
export const windowUpdateFrame = (id: number, increment: number): Buffer => frame(T.WINDOW_UPDATE, 0, id, u32(increment));
/** PRIORITY: `id` depends on stream 0 with weight 16 (legal on any stream, idle ones included). */
export const priorityFrame = (id: number): Buffer => frame(T.PRIORITY, 0, id, Buffer.from([0, 0, 0, 0, 15]));

/** HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
function hpackInt(first: number, prefixBits: number, n: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (n < max) {
    out.push(first | n);
    return;
  }
  out.push(first | max);
  n -= max;
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

/** A header block of literals without indexing (new names, no Huffman). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of fields) {
    bytes.push(0x00);
    hpackInt(0, 7, Buffer.byteLength(name), bytes);
    bytes.push(...Buffer.from(name));
    hpackInt(0, 7, Buffer.byteLength(value), bytes);
    bytes.push(...Buffer.from(value));
  }
  return Buffer.from(bytes);
}

/** A gRPC unary request's headers, as grpc-js sends them; `drop` leaves fields out, `extra` adds some. */
export function requestFields(opts: { drop?: readonly string[]; extra?: ReadonlyArray<readonly [string, string]> } = {}): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/sluice.demo.Echo/Unary"],
    [":authority", "bench"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
  const kept = fields.filter(([k]) => !(opts.drop ?? []).includes(k));
  return [...kept, ...(opts.extra ?? []).map(([k, v]): [string, string] => [k, v])];
}

const REQUEST_BLOCK = headerBlock(requestFields());
/** A 5-byte gRPC message ("hello"), length-prefixed. */
export const GRPC_MESSAGE = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from("hello")]);

export const headersFrame = (id: number, block: Buffer = REQUEST_BLOCK, endStream = false): Buffer =>
  frame(T.HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), id, block);
export const dataFrame = (id: number, data: Buffer, endStream: boolean): Buffer => frame(T.DATA, endStream ? END_STREAM : 0, id, data);
/** A whole unary request on `id`: HEADERS, then the message with END_STREAM. */
export const fullRequest = (id: number): Buffer => Buffer.concat([headersFrame(id), dataFrame(id, GRPC_MESSAGE, true)]);

/** What the server sent on one connection. */
export interface Received {
  /** Frames by type name. */
  readonly frames: Map<string, number>;
  /** RST_STREAM codes by name. */
  readonly resets: Map<string, number>;
  goaway: string | undefined;
  settingsAcks: number;
  maxConcurrentStreams: number | undefined;
}

export class RawConnection {
  readonly socket: net.Socket;
  readonly received: Received = { frames: new Map(), resets: new Map(), goaway: undefined, settingsAcks: 0, maxConcurrentStreams: undefined };
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private serverSettingsSeen = false;
  nextStreamId = 1;

  private constructor(port: number) {
    this.socket = net.connect({ port, host: "127.0.0.1" });
    this.socket.setNoDelay(true);
    this.socket.on("error", () => undefined); // a reset by the proxy is one of the outcomes measured
    this.closed = new Promise((resolve) => this.socket.once("close", () => resolve()));
    this.socket.on("close", () => this.wake());
    this.socket.on("data", (chunk: Buffer) => this.read(chunk));
  }

  /**
   * Connects and sends the preface, `settings` and (with `bigWindow`) a connection
   * WINDOW_UPDATE to 2^31-1, so many small responses never stall on the connection window.
   * With `deadline` (a performance.now() time), the socket is destroyed then whatever it waits for.
   */
  static async open(
    port: number,
    opts: { settings?: ReadonlyArray<readonly [number, number]>; bigWindow?: boolean; deadline?: number } = {},
  ): Promise<RawConnection> {
    const c = new RawConnection(port);
    if (opts.deadline !== undefined) {
      // A proxy that stops reading must not hold the attacker past its run: the socket goes at the deadline.
      const t = setTimeout(() => c.socket.destroy(), Math.max(0, opts.deadline - performance.now()));
      t.unref();
      c.socket.once("close", () => clearTimeout(t));
    }
    await new Promise<void>((resolve, reject) => {
      c.socket.once("connect", resolve);
      c.socket.once("error", reject);
      c.socket.once("close", () => reject(new Error("closed before it connected")));
    });
    const parts = [PREFACE, settingsFrame(opts.settings ?? [])];
    if (opts.bigWindow ?? true) parts.push(windowUpdateFrame(0, 2 ** 31 - 1 - 65_535));
    c.socket.write(Buffer.concat(parts));
    return c;
  }

  get alive(): boolean {
    return !this.socket.destroyed && this.received.goaway === undefined;
  }

  /** Writes; resolves once the socket takes more (so a flood is paced by the socket, not by memory). */
  async send(bytes: Buffer): Promise<void> {
    if (this.socket.destroyed) return;
    if (this.socket.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  /** Resolves when `pred` holds (checked on each read) or the socket closed or `timeoutMs` passed; returns pred's last value. */
  async until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (!pred() && !this.socket.destroyed && performance.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, end - performance.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return pred();
  }

  /** Waits for the server's first SETTINGS (its MAX_CONCURRENT_STREAMS). */
  settingsSeen(timeoutMs = 2000): Promise<boolean> {
    return this.until(() => this.serverSettingsSeen, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  private read(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const acks: Buffer[] = [];
    let off = 0;
    while (this.buf.length - off >= 9) {
      const len = this.buf.readUIntBE(off, 3);
      if (this.buf.length - off < 9 + len) break;
      const type = this.buf[off + 3]!;
      const flags = this.buf[off + 4]!;
      const payload = this.buf.subarray(off + 9, off + 9 + len);
      off += 9 + len;
      this.count(this.received.frames, Object.entries(T).find(([, v]) => v === type)?.[0] ?? `type ${type}`);
      if (type === T.SETTINGS) {
        if ((flags & ACK) !== 0) this.received.settingsAcks++;
        else {
          for (let i = 0; i + 6 <= payload.length; i += 6) if (payload.readUInt16BE(i) === 3) this.received.maxConcurrentStreams = payload.readUInt32BE(i + 2);
          this.serverSettingsSeen = true;
          acks.push(frame(T.SETTINGS, ACK, 0));
        }
      } else if (type === T.RST_STREAM && payload.length >= 4) this.count(this.received.resets, codeName(payload.readUInt32BE(0)));
      else if (type === T.GOAWAY && payload.length >= 8) this.received.goaway ??= codeName(payload.readUInt32BE(4));
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    if (acks.length > 0 && !this.socket.destroyed) this.socket.write(Buffer.concat(acks));
    this.wake();
  }
}

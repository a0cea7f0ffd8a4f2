// Runs one client conversation against a server transport over real TCP on loopback and
// writes down what can be compared between transports: the ServerHandlers and
// StreamListener events of an echo handler, and the frames that matter from the server
// (RST_STREAM, GOAWAY, the connection closing). Each observation is tagged with the step
// that caused it: after every step the client waits for two PING round trips, by which
// time both transports have handled the step and sent what it made them send (node:http2
// answers PING ahead of queued frames, hence two).
import { createHash } from "node:crypto";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { createServerTransport } from "../../../src/transport/create.js";
import { FrameType } from "../../../src/transport/h2/frames/constants.js";
import type { ConnectionError, StreamError } from "../../../src/transport/h2/frames/errors.js";
import type { FrameHandler } from "../../../src/transport/h2/frames/handler.js";
import { FrameReader } from "../../../src/transport/h2/frames/reader.js";
import { H2Stream } from "../../../src/transport/h2/stream.js";
import { NodeServerStream } from "../../../src/transport/node/server-stream.js";
import { type Headers, type ServerHandlers, type ServerStream, type ServerTransport } from "../../../src/transport/types.js";
import { clientPreface, SERVER_STREAM_WINDOW, type Step } from "./differential-grammar.js";
import { frame } from "./frames/helpers.js";

export type TransportKind = "h2" | "node";

/** What one transport did that the comparison looks at. */
export type Observation =
  // ServerHandlers
  | { readonly k: "connection" }
  | { readonly k: "connection-closed" }
  | { readonly k: "open"; readonly id: number; readonly headers: string }
  // StreamListener (data summed per step: either transport may chunk it its own way)
  | { readonly k: "data"; readonly id: number; readonly digest: string }
  /** `nodeRstCode`: set when the node adapter reported onEnd for a stream node had closed. */
  | { readonly k: "end"; readonly id: number; readonly trailers: string | undefined; readonly nodeRstCode?: number | undefined }
  /** `afterEnd`: the request had ended and the handler had called end(trailers). */
  | { readonly k: "reset"; readonly id: number; readonly code: number; readonly lost: boolean; readonly afterEnd: boolean }
  // Frames from the server, and the connection
  | { readonly k: "rst-frame"; readonly id: number; readonly code: number }
  | { readonly k: "goaway"; readonly last: number; readonly code: number }
  | { readonly k: "server-closed" }
  /** The server sent GOAWAY for an error but neither closed nor was closing the connection. */
  | { readonly k: "kept-open" }
  /** The harness could not finish a wait: always a failure. */
  | { readonly k: "harness"; readonly what: string };

export interface Transcript {
  readonly kind: TransportKind;
  /** Per step, what it caused; one more entry at the end for the teardown after the steps. */
  readonly steps: Observation[][];
}

/** Guard for waits that should end on an event: reaching it is recorded as a failure. */
const GUARD_MS = 3000;

/** Fields of a request worth comparing: what routing and the application see. */
function meaningful(headers: Headers): string {
  const out: string[] = [];
  for (const name of Object.keys(headers).sort()) {
    if (![":method", ":path", ":authority", "content-type"].includes(name) && !name.startsWith("x-")) continue;
    const v = headers[name];
    if (v !== undefined) out.push(`${name}=${Array.isArray(v) ? v.join(", ") : v}`);
  }
  return out.join(" ");
}

function streamIdOf(stream: ServerStream): number {
  if (stream instanceof H2Stream) return stream.id;
  if (stream instanceof NodeServerStream) return stream.s.id ?? -1;
  throw new TypeError("unknown ServerStream implementation");
}

function digest(chunks: readonly Buffer[]): string {
  const all = Buffer.concat(chunks);
  return `${all.length}B#${createHash("sha1").update(all).digest("hex").slice(0, 8)}`;
}

/** The server side: a transport with an echo handler that records what it hears. */
class EchoRecorder {
  readonly observations: Array<{ step: number; o: Observation }> = [];
  step = 0;
  connectionClosed = false;
  private readonly open = new Set<number>();
  private readonly pendingData = new Map<string, Buffer[]>();
  private waiters: Array<() => void> = [];

  readonly handlers: ServerHandlers = {
    onConnection: () => this.note({ k: "connection" }),
    onConnectionClose: () => {
      this.connectionClosed = true;
      this.note({ k: "connection-closed" });
    },
    onStream: (stream) => this.onStream(stream),
  };

  note(o: Observation): void {
    this.observations.push({ step: this.step, o });
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once the connection closed and every stream it opened has ended or reset. */
  async settled(): Promise<boolean> {
    return waitFor(
      () => this.connectionClosed && this.open.size === 0,
      (w) => this.waiters.push(w),
    );
  }

  /** Data arrives in chunks of either transport's choosing: compare it summed per step. */
  flushData(): void {
    for (const [key, chunks] of this.pendingData) {
      const [step, id] = key.split(":").map(Number) as [number, number];
      this.observations.push({ step, o: { k: "data", id, digest: digest(chunks) } });
    }
    this.pendingData.clear();
  }

  private onStream(stream: ServerStream): void {
    const id = streamIdOf(stream);
    this.open.add(id);
    this.note({ k: "open", id, headers: meaningful(stream.headers) });
    let ended = false;
    const end = (trailers: string | undefined): void => {
      ended = true;
      this.open.delete(id);
      // node:http2 ends the readable side of a stream it closes (see differential-compare.ts).
      const nodeRstCode = stream instanceof NodeServerStream && stream.s.closed ? stream.s.rstCode : undefined;
      this.note({ k: "end", id, trailers, nodeRstCode });
      stream.end({ "grpc-status": "0" });
    };
    stream.attach({
      onHeaders: () => this.note({ k: "harness", what: `stream ${id}: onHeaders on a server stream` }),
      onData: (chunk) => {
        const key = `${this.step}:${id}`;
        const list = this.pendingData.get(key);
        if (list === undefined) this.pendingData.set(key, [Buffer.from(chunk)]);
        else list.push(Buffer.from(chunk));
        stream.write(chunk);
      },
      onTrailers: (trailers) => end(meaningful(trailers)),
      onEnd: () => end(undefined),
      onReset: (code, _reason, lost) => {
        this.open.delete(id);
        this.note({ k: "reset", id, code, lost, afterEnd: ended });
      },
      onDrain: () => undefined, // the echo writes whatever it gets; the client reads it all
    });
    stream.respond({ ":status": "200", "content-type": "application/grpc" }, false);
  }
}

/** The client side: reads the server's frames, answers its SETTINGS, counts PING ACKs. */
class ServerFrames implements FrameHandler {
  readonly acks = new Set<string>();
  goaway = false;
  constructor(
    private readonly note: (o: Observation) => void,
    private readonly send: (b: Buffer) => void,
  ) {}
  onData(): void {}
  onHeaders(): void {}
  onPushPromise(): void {
    this.note({ k: "harness", what: "server sent PUSH_PROMISE" });
  }
  onRstStream(streamId: number, code: number): void {
    this.note({ k: "rst-frame", id: streamId, code });
  }
  onSettings(): void {
    this.send(frame(FrameType.SETTINGS, 1, 0));
  }
  onSettingsAck(): void {}
  onPing(payload: Buffer, ack: boolean): void {
    if (ack) this.acks.add(payload.toString("latin1"));
  }
  onGoaway(lastStreamId: number, code: number): void {
    this.goaway = true;
    this.note({ k: "goaway", last: lastStreamId, code });
  }
  onWindowUpdate(): void {}
  onStreamError(error: StreamError): void {
    this.note({ k: "harness", what: `client reader: stream error ${error.kind} on ${error.streamId}` });
  }
  onConnectionError(error: ConnectionError): void {
    this.note({ k: "harness", what: `client reader: connection error ${error.kind}` });
  }
}

async function waitFor(pred: () => boolean, register: (wake: () => void) => void): Promise<boolean> {
  const deadline = Date.now() + GUARD_MS;
  while (!pred()) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      register(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return true;
}

/** Plays `steps` to a fresh server of `kind` and returns what happened, step by step. */
export async function runConversation(kind: TransportKind, steps: readonly Step[]): Promise<Transcript> {
  const rec = new EchoRecorder();
  const transport: ServerTransport = createServerTransport(kind, { initialWindowSize: SERVER_STREAM_WINDOW, maxConcurrentStreams: 100 }, rec.handlers);
  let serverSocket: net.Socket | undefined;
  const server = net.createServer((socket) => {
    serverSocket = socket;
    socket.on("error", () => undefined); // the transports report what matters
    socket.setNoDelay(true);
    socket.pause();
    transport.accept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const socket = net.connect({ port: (server.address() as AddressInfo).port, host: "127.0.0.1", noDelay: true });
  socket.on("error", () => undefined); // a server may reset the connection after GOAWAY
  let closed = false;
  let clientLeft = false;
  const wakers: Array<() => void> = [];
  const wake = (): void => {
    for (const w of wakers.splice(0)) w();
  };
  const register = (w: () => void): void => void wakers.push(w);
  const send = (b: Buffer): void => {
    if (!closed && !socket.destroyed && socket.writable) socket.write(b);
  };
  const frames = new ServerFrames((o) => rec.note(o), send);
  const reader = new FrameReader(frames, { role: "client" });
  socket.on("data", (chunk: Buffer) => {
    reader.push(chunk);
    wake();
  });
  const onGone = (): void => {
    if (!closed) {
      closed = true;
      if (!clientLeft) rec.note({ k: "server-closed" });
    }
    wake();
  };
  socket.on("end", onGone);
  socket.on("close", onGone);
  await new Promise<void>((resolve) => socket.once("connect", resolve));

  let pings = 0;
  const sync = async (): Promise<void> => {
    for (let round = 0; round < 2 && !closed; round++) {
      const payload = `sync${String(pings++).padStart(4, "0")}`;
      send(frame(FrameType.PING, 0, 0, Buffer.from(payload, "latin1")));
      // After a GOAWAY the server need not read on: the connection is ending.
      if (!(await waitFor(() => closed || frames.goaway || frames.acks.has(payload), register))) rec.note({ k: "harness", what: `no PING ACK for ${payload}` });
    }
  };

  send(clientPreface());
  await sync();
  for (let i = 0; i < steps.length && !closed && !frames.goaway; i++) {
    rec.step = i;
    send(steps[i]!.bytes);
    await sync();
  }
  let keptOpen = false;
  if (frames.goaway && !closed) {
    // RFC 9113 section 5.4.1: after a GOAWAY for an error the server closes the connection.
    // Whether it is doing so shows on its socket by the time the GOAWAY has crossed
    // loopback; if it is not, waiting for the close would only wait for the guard.
    await new Promise((resolve) => setImmediate(resolve));
    if (serverSocket !== undefined && (serverSocket.writableEnded || serverSocket.destroyed)) {
      if (!(await waitFor(() => closed, register))) rec.note({ k: "harness", what: "server ended its side but the connection stayed open" });
    } else {
      keptOpen = true;
      rec.note({ k: "kept-open" });
    }
  }
  rec.step = steps.length;
  clientLeft = true;
  socket.end();
  // A server that kept the connection open after GOAWAY has stopped reading: close it.
  if (keptOpen) transport.destroyAll();
  if (!(await rec.settled())) rec.note({ k: "harness", what: "streams or connection not settled after the client left" });
  socket.destroy();
  transport.destroyAll();
  // A transport may linger on a connection it gave up on (so the peer can read its GOAWAY)
  // and no longer track it: the listener owns the socket, so it ends it.
  serverSocket?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rec.flushData();

  const perStep: Observation[][] = Array.from({ length: steps.length + 1 }, () => []);
  for (const { step, o } of rec.observations) perStep[step]!.push(o);
  return { kind, steps: perStep };
}

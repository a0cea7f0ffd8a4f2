// node:http2 client stream behind the transport interface. Event handlers are shared
// module-level functions (the stream is `this`), so a stream costs no closures.
import type { ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import { H2Code, type Headers, type Stream, type StreamListener } from "../types.js";

const END_STREAM_FLAG = 0x1;
const WRAPPER = Symbol("sluice.clientStream");

type Tagged = ClientHttp2Stream & { [WRAPPER]: NodeClientStream };

export class NodeClientStream implements Stream {
  done = false;
  /**
   * node emits 'trailers' as soon as they arrive, possibly while earlier DATA still sits
   * in the paused readable buffer; they are delivered at 'end', after every byte of data.
   */
  trailers: Headers | undefined;

  constructor(
    private readonly s: ClientHttp2Stream,
    readonly listener: StreamListener,
    /** Its connection, which counts the streams we reset. */
    private readonly owner: { resetsSent: number },
  ) {
    (s as Tagged)[WRAPPER] = this;
    s.on("error", noop);
    s.on("response", onResponse);
    s.on("data", onData);
    s.on("trailers", onTrailers);
    s.on("end", onEnd);
    s.on("drain", onDrain);
    s.on("close", onClose);
  }

  write(chunk: Buffer): boolean {
    return this.s.write(chunk);
  }

  end(): void {
    if (!this.s.closed) this.s.end();
  }

  reset(code: number): void {
    this.done = true;
    if (this.s.closed || this.s.destroyed) return;
    this.owner.resetsSent++;
    this.s.close(code);
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }
}

function wrapper(s: ClientHttp2Stream): NodeClientStream {
  return (s as Tagged)[WRAPPER];
}

function onResponse(this: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
  const w = wrapper(this);
  const endStream = (flags & END_STREAM_FLAG) !== 0;
  if (endStream) w.done = true;
  w.listener.onHeaders(headers, endStream);
}

function onData(this: ClientHttp2Stream, chunk: Buffer): void {
  wrapper(this).listener.onData(chunk);
}

function onTrailers(this: ClientHttp2Stream, trailers: IncomingHttpHeaders): void {
  wrapper(this).trailers = trailers;
}

function onEnd(this: ClientHttp2Stream): void {
  const w = wrapper(this);
  if (w.done) return;
  w.done = true;
  if (w.trailers !== undefined) w.listener.onTrailers(w.trailers);
  else if (connectionLost(this)) w.listener.onReset(this.rstCode ?? H2Code.INTERNAL_ERROR, "upstream connection lost", true);
  else w.listener.onEnd();
}

/** node ends (or closes) a session's streams when the connection drops; tell that apart. */
function connectionLost(s: ClientHttp2Stream): boolean {
  const session = s.session;
  return session === undefined || session.destroyed;
}

function onDrain(this: ClientHttp2Stream): void {
  wrapper(this).listener.onDrain();
}

function onClose(this: ClientHttp2Stream): void {
  const w = wrapper(this);
  if (w.done) return;
  w.done = true;
  const code = this.rstCode ?? H2Code.INTERNAL_ERROR;
  if (connectionLost(this)) w.listener.onReset(code, "upstream connection lost", true);
  else w.listener.onReset(code, code === H2Code.NO_ERROR ? "upstream closed the stream" : "upstream reset", false);
}

function noop(): void {
  // Intentionally empty: stream errors are reported through 'close' and rstCode.
}

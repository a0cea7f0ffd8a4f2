// node:http2 server stream behind the transport interface. Event handlers are shared
// module-level functions (the stream is `this`), so a stream costs no closures.
import type { ServerHttp2Stream } from "node:http2";
import { H2Code, type Headers, type ServerStream, type StreamListener } from "../types.js";

const WRAPPER = Symbol("sluice.serverStream");

type Tagged = ServerHttp2Stream & { [WRAPPER]: NodeServerStream };

/** The connection's side of its streams: what it counts for keepalive and idle tracking. */
export interface StreamOwner {
  headersOrDataSent: number;
  streamClosed(): void;
}

export class NodeServerStream implements ServerStream {
  listener: StreamListener | undefined;
  trailers: Headers | undefined;
  ended = false;
  private _responded = false;

  constructor(
    readonly s: ServerHttp2Stream,
    readonly headers: Headers,
    readonly owner: StreamOwner,
  ) {
    (s as Tagged)[WRAPPER] = this;
    // Errors surface as 'close' with an rstCode; without a listener they would throw.
    s.on("error", noop);
    s.on("close", onClosed);
  }

  get responded(): boolean {
    return this._responded;
  }

  get closed(): boolean {
    return this.s.closed || this.s.destroyed;
  }

  attach(listener: StreamListener): void {
    this.listener = listener;
    const s = this.s;
    s.on("data", onData);
    s.on("end", onEnd);
    s.on("drain", onDrain);
    s.on("wantTrailers", onWantTrailers);
    s.on("close", onClose);
    if (s.closed || s.destroyed) queueMicrotask(() => listener.onReset(H2Code.CANCEL, "downstream closed", true));
  }

  respond(headers: Headers, endStream: boolean): void {
    if (this._responded || this.closed) return;
    this._responded = true;
    this.owner.headersOrDataSent++;
    if (endStream) {
      this.ended = true;
      this.s.respond(headers, END_STREAM);
    } else {
      this.s.respond(headers, WAIT_FOR_TRAILERS);
    }
  }

  respondPlain(status: number, body: string): void {
    if (this._responded || this.closed) return;
    this._responded = true;
    this.ended = true;
    this.owner.headersOrDataSent++;
    this.s.respond({ ":status": status, "content-type": "text/plain; charset=utf-8" });
    this.s.end(body);
  }

  write(chunk: Buffer): boolean {
    this.owner.headersOrDataSent++;
    return this.s.write(chunk);
  }

  end(trailers?: Headers): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.owner.headersOrDataSent++;
    this.trailers = trailers;
    this.s.end();
  }

  reset(code: number): void {
    this.ended = true;
    if (!this.closed) this.s.close(code);
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }
}

const END_STREAM = { endStream: true } as const;
const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;

function wrapper(s: ServerHttp2Stream): NodeServerStream {
  return (s as Tagged)[WRAPPER];
}

function onData(this: ServerHttp2Stream, chunk: Buffer): void {
  wrapper(this).listener!.onData(chunk);
}

function onEnd(this: ServerHttp2Stream): void {
  wrapper(this).listener!.onEnd();
}

function onDrain(this: ServerHttp2Stream): void {
  wrapper(this).listener!.onDrain();
}

function onWantTrailers(this: ServerHttp2Stream): void {
  const w = wrapper(this);
  if (w.trailers !== undefined) this.sendTrailers(w.trailers);
  else this.close(H2Code.NO_ERROR);
}

/** Registered first, so the owner's count is down before the listener hears of the close. */
function onClosed(this: ServerHttp2Stream): void {
  wrapper(this).owner.streamClosed();
}

function onClose(this: ServerHttp2Stream): void {
  const w = wrapper(this);
  // Closing after our side ended is normal; before it, the client went away
  // (RST_STREAM or connection loss).
  if (w.ended) return;
  const code = this.rstCode ?? H2Code.CANCEL;
  const lost = this.session === undefined || this.session.destroyed;
  w.listener!.onReset(code === H2Code.NO_ERROR ? H2Code.CANCEL : code, "downstream closed", lost);
}

function noop(): void {
  // Intentionally empty: stream errors are reported through 'close'.
}

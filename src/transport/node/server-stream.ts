// node:http2 server stream behind the transport interface.
import type { ServerHttp2Stream } from "node:http2";
import { H2Code, type Headers, type ServerStream, type StreamListener } from "../types.js";

export class NodeServerStream implements ServerStream {
  private listener: StreamListener | undefined;
  private trailers: Headers | undefined;
  private ended = false;
  private inputEnded = false;
  private _responded = false;

  constructor(
    private readonly s: ServerHttp2Stream,
    readonly headers: Headers,
  ) {
    // Errors surface as 'close' with an rstCode; without a listener they would throw.
    s.on("error", noop);
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
    s.on("data", (chunk: Buffer) => listener.onData(chunk));
    s.on("end", () => {
      this.inputEnded = true;
      listener.onEnd();
    });
    s.on("drain", () => listener.onDrain());
    s.on("wantTrailers", () => {
      if (this.trailers !== undefined) s.sendTrailers(this.trailers);
      else s.close(H2Code.NO_ERROR);
    });
    s.on("close", () => {
      // Closing after our side ended is normal; before it, the client went away
      // (RST_STREAM or connection loss).
      if (this.ended) return;
      const code = s.rstCode ?? H2Code.CANCEL;
      listener.onReset(code === H2Code.NO_ERROR ? H2Code.CANCEL : code, "downstream closed");
    });
    if (s.closed || s.destroyed) queueMicrotask(() => listener.onReset(H2Code.CANCEL, "downstream closed"));
  }

  respond(headers: Headers, endStream: boolean): void {
    if (this._responded || this.closed) return;
    this._responded = true;
    if (endStream) {
      this.ended = true;
      this.s.respond(headers, { endStream: true });
    } else {
      this.s.respond(headers, { waitForTrailers: true });
    }
  }

  respondPlain(status: number, body: string): void {
    if (this._responded || this.closed) return;
    this._responded = true;
    this.ended = true;
    this.s.respond({ ":status": status, "content-type": "text/plain; charset=utf-8" });
    this.s.end(body);
  }

  write(chunk: Buffer): boolean {
    return this.s.write(chunk);
  }

  end(trailers?: Headers): void {
    if (this.ended || this.closed) return;
    this.ended = true;
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

function noop(): void {
  // Intentionally empty: stream errors are reported through 'close'.
}

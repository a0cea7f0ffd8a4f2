// node:http2 client stream behind the transport interface.
import type { ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import { H2Code, type Headers, type Stream, type StreamListener } from "../types.js";

const END_STREAM_FLAG = 0x1;

export class NodeClientStream implements Stream {
  private done = false;

  constructor(
    private readonly s: ClientHttp2Stream,
    listener: StreamListener,
  ) {
    s.on("error", noop);
    s.on("response", (headers: IncomingHttpHeaders, flags: number) => {
      const endStream = (flags & END_STREAM_FLAG) !== 0;
      if (endStream) this.done = true;
      listener.onHeaders(headers, endStream);
    });
    s.on("data", (chunk: Buffer) => listener.onData(chunk));
    // node emits 'trailers' as soon as they arrive, possibly while earlier DATA still sits
    // in the paused readable buffer; deliver them at 'end', after every byte of data.
    let trailers: Headers | undefined;
    s.on("trailers", (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    s.on("end", () => {
      this.done = true;
      if (trailers !== undefined) listener.onTrailers(trailers);
      else listener.onEnd();
    });
    s.on("drain", () => listener.onDrain());
    s.on("close", () => {
      if (this.done) return;
      this.done = true;
      const code = s.rstCode ?? H2Code.INTERNAL_ERROR;
      listener.onReset(code, code === H2Code.NO_ERROR ? "upstream closed the stream" : "upstream reset");
    });
  }

  write(chunk: Buffer): boolean {
    return this.s.write(chunk);
  }

  end(): void {
    if (!this.s.closed) this.s.end();
  }

  reset(code: number): void {
    this.done = true;
    if (!this.s.closed && !this.s.destroyed) this.s.close(code);
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }
}

function noop(): void {
  // Intentionally empty: stream errors are reported through 'close' and rstCode.
}

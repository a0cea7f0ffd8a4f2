// What ClientConnection.open() returns on a connection that can take no stream: the
// listener hears REFUSED_STREAM asynchronously (safe to retry elsewhere), as it would from
// the wire. Shared by both transports.
import { H2Code, type Stream, type StreamListener } from "./types.js";

export class RefusedStream implements Stream {
  constructor(listener: StreamListener, reason: string) {
    queueMicrotask(() => listener.onReset(H2Code.REFUSED_STREAM, reason, true));
  }
  write(): boolean {
    return true;
  }
  end(): void {
    // Nothing was sent; nothing to end.
  }
  reset(): void {
    // Already refused.
  }
  pause(): void {
    // No data will come.
  }
  resume(): void {
    // No data will come.
  }
}

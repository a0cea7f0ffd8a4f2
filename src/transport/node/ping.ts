// Keepalive PINGs on a node:http2 session, with the transport's contract: one answer per
// ping, false after the timeout or when the session closes first, never synchronously.
import type http2 from "node:http2";

/** Empty SETTINGS (below): the peer must acknowledge it as it would a PING. */
const NO_SETTINGS = {};

export class SessionPings {
  private readonly pending = new Set<(ok: boolean) => void>();

  constructor(private readonly session: http2.Http2Session) {}

  ping(onAck: (ok: boolean) => void, timeoutMs: number): void {
    const session = this.session;
    if (session.destroyed) {
      queueMicrotask(() => onAck(false));
      return;
    }
    const pending = this.pending;
    const settle = (ok: boolean): void => {
      if (!pending.delete(settle)) return;
      clearTimeout(timer);
      onAck(ok);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    timer.unref();
    pending.add(settle);
    try {
      if (session.closed) {
        // node refuses PING once close() has begun (a graceful drain), although frames still
        // flow. An empty SETTINGS frame gets the same answer: RFC 9113 has the peer ACK it.
        session.settings(NO_SETTINGS, (err) => settle(err === null));
      } else if (!session.ping((err) => settle(err === null))) {
        queueMicrotask(() => settle(false)); // too many PINGs outstanding: none sent
      }
    } catch {
      queueMicrotask(() => settle(false)); // the session died in this very turn
    }
  }

  /** The session closed: every ping still waiting fails. */
  closeAll(): void {
    for (const settle of [...this.pending]) settle(false);
  }
}

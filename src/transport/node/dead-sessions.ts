// Finds the node:http2 sessions that nghttp2 has ended on its own. After most connection
// errors of the peer (DATA on an idle stream, a frame above the maximum size, a CONTINUATION
// out of place, a SETTINGS frame of bad length) nghttp2 sends GOAWAY and then neither reads
// nor writes again; node:http2 is told nothing (no 'error', no 'close') and, reading
// nothing, never sees the peer close either. The session and its socket stay open, in
// CLOSE-WAIT once the peer has gone, for as long as the process runs: one descriptor per
// attack connection, until the file limit is reached.
//
// No event marks the moment, so a sweep looks for it. A session that received bytes and then
// went quiet is probed: a PING (an empty SETTINGS once a graceful close began, when node
// refuses PING). node writes what nghttp2 has to send at the end of the same turn of the
// event loop, unless a write is still in progress (the peer is slow to read: the socket's
// write queue is not empty). A session that ended writes nothing more: a probe that by the
// next sweep has left no byte on a socket with nothing in progress proves the session dead,
// and it is destroyed with its socket. A live session writes the probe and answers it; the
// answer marks the bytes read so far as seen, so an idle connection is probed once per spell
// of activity, not once a sweep.
import type http2 from "node:http2";
import type { Socket } from "node:net";
import { tracer } from "../../core/trace.js";

const trace = tracer("transport");

/** How often sessions are looked at: a dead one is found two or three sweeps after its last read. */
export const SWEEP_MS = 1000;
/**
 * Probes of one session awaiting their answer. A slow peer gets another probe after a verdict
 * of "alive" (its output may have hidden a session that died behind it), but no more than
 * this: node allows 10 PINGs outstanding, and the keepalive PINGs need some of them.
 */
const MAX_UNANSWERED = 2;

const NO_SETTINGS = {};

/** What the sweep needs of one connection. */
export interface Swept {
  readonly session: http2.Http2Session;
  /** The socket itself (node's session.socket is a proxy that refuses destroy()). */
  readonly socket: Socket;
  /** Closes session and socket at once. */
  destroy(): void;
}

interface Watch {
  /** socket.bytesRead at the last sweep: unchanged means quiet. */
  lastRead: number;
  /** socket.bytesRead when the last probe was answered: nothing new read since means nothing to check. */
  checkedRead: number;
  /** socket.bytesWritten when the probe awaiting its verdict was submitted. */
  probeWritten: number | undefined;
  unanswered: number;
}

export class DeadSessionSweep {
  private readonly watched = new Map<Swept, Watch>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sweepMs = SWEEP_MS) {}

  add(conn: Swept): void {
    this.watched.set(conn, { lastRead: conn.socket.bytesRead, checkedRead: 0, probeWritten: undefined, unanswered: 0 });
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.sweepMs);
      this.timer.unref();
    }
  }

  remove(conn: Swept): void {
    this.watched.delete(conn);
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private sweep(): void {
    for (const [conn, w] of this.watched) {
      const { session, socket } = conn;
      if (session.destroyed) continue; // its 'close' removes it
      const read = socket.bytesRead;
      if (w.probeWritten !== undefined) {
        const written = w.probeWritten;
        w.probeWritten = undefined;
        if (socket.bytesWritten === written && writeQueueSize(socket) === 0) {
          trace("session ended by nghttp2, closing it", { peer: `${socket.remoteAddress}:${socket.remotePort}` });
          conn.destroy();
        }
        continue;
      }
      if (read !== w.lastRead) {
        w.lastRead = read; // still receiving: not quiet yet
        continue;
      }
      if (read === w.checkedRead || w.unanswered >= MAX_UNANSWERED) continue;
      this.probe(w, session, socket);
    }
  }

  private probe(w: Watch, session: http2.Http2Session, socket: Socket): void {
    w.probeWritten = socket.bytesWritten;
    w.unanswered++;
    const answered = (err: Error | null): void => {
      w.unanswered--;
      if (err !== null) return;
      w.checkedRead = socket.bytesRead;
      w.lastRead = w.checkedRead;
    };
    try {
      // A peer must answer a PING or a SETTINGS, asked for or not (RFC 9113 6.5.3, 6.7).
      if (session.closed) session.settings(NO_SETTINGS, answered);
      else if (!session.ping(answered)) {
        // Too many PINGs of ours unanswered: none sent, no callback. Look again next sweep.
        w.unanswered--;
        w.probeWritten = undefined;
      }
    } catch {
      w.unanswered--;
      w.probeWritten = undefined; // the session is going away in this very turn
    }
  }
}

/**
 * Bytes handed to the socket's handle and not yet taken by the kernel: node's own writes for
 * the session included (socket.writableLength counts only writes through the stream API).
 * `_handle.writeQueueSize` is libuv's count, which node has long exposed on stream handles but
 * never documented; without it every probe would look written-in-progress, never dead.
 */
function writeQueueSize(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle;
  return typeof handle?.writeQueueSize === "number" ? handle.writeQueueSize : 1;
}

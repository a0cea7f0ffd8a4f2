// A graceful close must end. Ending a socket sends our FIN, but the socket closes only once
// the peer closes its side too; a peer that never does keeps it in FIN-WAIT-2 for as long as
// we hold the descriptor (the kernel's tcp_fin_timeout reaps only sockets no process holds).
// node:http2 is such a peer once it has sent GOAWAY: a grpc-js backend whose session nghttp2
// ended (after ~1,000 cancelled streams) reads nothing more and closes nothing. So every
// connection the transports close gracefully gets a deadline: after our FIN, the peer has a
// few seconds to close, then the socket is destroyed.
import type { Duplex } from "node:stream";

/** How long a peer has, once our FIN is out, to close its side before we destroy the socket. */
export const FIN_LINGER_MS = 5000;

/** Sockets already given their deadline: the callers may end a socket more than once. */
const bounded = new WeakSet<Duplex>();

/**
 * Destroys `socket` `lingerMs` after our FIN went out ('finish': all our output written, then
 * the FIN), unless it closed before. Call it before or after end(); with `flushMs`, also when
 * the FIN is still not out `flushMs` later (a peer that stopped reading, so that our last
 * bytes never leave). Closing the socket cancels the timer.
 */
export function destroyAfterFin(socket: Duplex, lingerMs = FIN_LINGER_MS, flushMs?: number): void {
  if (socket.destroyed || bounded.has(socket)) return;
  bounded.add(socket);
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
  };
  const onFinish = (): void => arm(lingerMs);
  socket.once("close", () => {
    if (timer !== undefined) clearTimeout(timer);
    socket.off("finish", onFinish);
  });
  if (socket.writableFinished) return onFinish();
  socket.once("finish", onFinish);
  if (flushMs !== undefined) arm(flushMs + lingerMs);
}

// Connections the echo backend has accepted, read from its stub_status page (nginx's
// stub_status module, or the same format from bench/backend.ts) over HTTP/2 prior knowledge:
// the benchmark counts what a proxy opened upstream at the backend itself, without relying
// on the proxy's own bookkeeping.
import http2 from "node:http2";

export interface BackendCounters {
  /** Connections accepted since the backend started, this query's own included. */
  readonly accepts: number;
  readonly requests: number;
}

const TIMEOUT_MS = 5000;

export function backendCounters(port: number): Promise<BackendCounters> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const fail = (err: Error): void => {
      session.destroy();
      reject(new Error(`stub_status of 127.0.0.1:${port}: ${err.message}`));
    };
    const timer = setTimeout(() => fail(new Error(`no answer in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    session.on("error", fail);
    const req = session.request({ ":method": "GET", ":path": "/stub_status" });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("error", fail);
    req.on("end", () => {
      clearTimeout(timer);
      session.close();
      // "server accepts handled requests\n A H R"
      const m = /accepts handled requests\s+(\d+)\s+\d+\s+(\d+)/.exec(body);
      if (m === null) reject(new Error(`stub_status of 127.0.0.1:${port}: cannot read ${JSON.stringify(body.slice(0, 200))}`));
      else resolve({ accepts: Number(m[1]), requests: Number(m[2]) });
    });
  });
}

/**
 * Connections accepted between two readings, not counting the readings' own: the first
 * reading's connection is already in its count, the second's is in the second count.
 */
export function acceptedBetween(before: BackendCounters, after: BackendCounters): number {
  return after.accepts - before.accepts - 1;
}

// The endpoint pool's states, reconnect backoff, pending-request bound and connection
// retirement, over real HTTP/2 connections (sluice's transports against an echo server and
// a port with nothing listening) with the clock injected: time moves only when a test says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { ManualClock } from "../../src/core/clock.js";
import { seededRandom } from "../../src/core/random.js";
import { SluiceError } from "../../src/core/errors.js";
import { Status } from "../../src/core/status.js";
import { createClientTransport } from "../../src/transport/create.js";
import type { ClientTransport, StreamListener } from "../../src/transport/types.js";
import { ConnectFailure, EndpointPool, PoolState, type PendingBudget, type PooledConnection, type PoolSettings } from "../../src/upstream/endpoint-pool.js";
import { deadPort } from "../support/cluster.js";
import { startH2Server } from "../transport/h2/support.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

/** A transport that records each connect's timeout and lets the test await the closes. */
function recording(inner: ClientTransport): ClientTransport & { timeouts: number[] } {
  const timeouts: number[] = [];
  return {
    timeouts,
    connect(target, listener) {
      timeouts.push(target.connectTimeoutMs);
      return inner.connect(target, listener);
    },
  };
}

/** Emits "closed" for each connection the pool sees close. */
function observed(): { events: EventEmitter; observer: PoolSettings["observer"] } {
  const events = new EventEmitter();
  return { events, observer: { connectionClosed: () => events.emit("closed") } };
}

function settings(clock: ManualClock, overrides: Partial<PoolSettings> = {}, pending?: PendingBudget): PoolSettings {
  return {
    cluster: "test",
    connectTimeoutMs: 500,
    maxRequestsPerConnection: 0,
    maxConcurrentStreams: 1000,
    maxConnections: 10,
    idleTimeoutMs: 3_600_000,
    maxConnectionDurationMs: null,
    keepalive: { timeMs: null, timeoutMs: 20_000 },
    pending: pending ?? { limit: Infinity, count: 0, overflows: 0 },
    clock,
    random: seededRandom(5),
    ...overrides,
  };
}

function acquire(pool: EndpointPool): Promise<PooledConnection | SluiceError> {
  return new Promise((resolve) => pool.acquire(resolve));
}

const QUIET: StreamListener = {
  onHeaders: () => undefined,
  onData: () => undefined,
  onTrailers: () => undefined,
  onEnd: () => undefined,
  onReset: () => undefined,
  onDrain: () => undefined,
};
const REQUEST = { ":method": "POST", ":scheme": "http", ":path": "/x/y", ":authority": "a", "content-type": "application/grpc", te: "trailers" };

for (const kind of TEST_TRANSPORTS) {
  test(`${kind}: failed connects back off 1 s, x1.6 with 20% jitter; a ready connection resets it`, async () => {
    const clock = new ManualClock();
    const port = await deadPort();
    const transport = recording(createClientTransport(kind, { initialWindowSize: 1 << 20 }));
    const pool = new EndpointPool("127.0.0.1", port, settings(clock), transport);
    assert.equal(pool.state, PoolState.IDLE);
    const first = acquire(pool);
    assert.equal(pool.state, PoolState.CONNECTING);
    const err = await first;
    assert.ok(err instanceof ConnectFailure);
    assert.match(err.message, /^upstream connect error: ECONNREFUSED/);
    assert.equal(pool.state, PoolState.TRANSIENT_FAILURE);
    // While backing off, requests fail at once without a new attempt.
    const fast = await acquire(pool);
    assert.ok(fast instanceof ConnectFailure && /reconnecting with backoff/.test(fast.message));
    assert.equal(transport.timeouts.length, 1);

    // The same draws the pool's jitter makes: backoff 1600, then 2560 ms, each +-20%.
    const jitterSource = seededRandom(5);
    const waits = [1000];
    let backoff = 1000;
    for (let i = 0; i < 2; i++) {
      backoff *= 1.6;
      waits.push(backoff + (jitterSource() * 2 - 1) * 0.2 * backoff);
    }
    let attemptAt = 0; // each wait runs from its attempt's start to that attempt's deadline
    for (const [i, wait] of waits.entries()) {
      const due = attemptAt + wait;
      clock.advance(Math.ceil(due) - 1 - clock.now());
      assert.equal(pool.state, PoolState.TRANSIENT_FAILURE, `attempt ${i + 1}: still backing off`);
      clock.advance(1);
      assert.equal(pool.state, PoolState.IDLE, `attempt ${i + 1}: backoff over`);
      attemptAt = clock.now();
      const again = acquire(pool);
      assert.equal(pool.state, PoolState.CONNECTING);
      assert.ok((await again) instanceof ConnectFailure);
      // Each attempt's timeout: the backoff deadline, or the minimum connect timeout if longer.
      const next = waits[i + 1];
      if (next !== undefined) assert.ok(Math.abs(transport.timeouts[i + 1]! - Math.max(next, 500)) < 1.5, `timeout ${transport.timeouts[i + 1]} vs ${next}`);
    }

    // The endpoint sits IDLE for a minute before the next request: that attempt's deadline
    // starts with it, so its failure still backs off (by the next, longer delay).
    clock.advance(60_000);
    attemptAt = clock.now();
    const late = acquire(pool);
    assert.ok((await late) instanceof ConnectFailure);
    assert.equal(pool.state, PoolState.TRANSIENT_FAILURE);
    clock.advance(1000);
    assert.equal(pool.state, PoolState.TRANSIENT_FAILURE, "an attempt after an idle spell still backs off");

    // A server appears; after the backoff the next attempt succeeds and resets it.
    const server = await startH2Server();
    const watch = observed();
    const pool2 = new EndpointPool("127.0.0.1", server.port, settings(clock, { observer: watch.observer }), transport);
    try {
      const conn = await acquire(pool2);
      assert.ok(!(conn instanceof SluiceError));
      assert.equal(pool2.state, PoolState.READY);
      const closed = once(watch.events, "closed");
      await server.close();
      await closed;
      assert.equal(pool2.state, PoolState.IDLE, "a ready connection that closes leaves the endpoint idle, not failing");
      const refused = await acquire(pool2);
      assert.ok(refused instanceof ConnectFailure);
      clock.advance(999);
      assert.equal(pool2.state, PoolState.TRANSIENT_FAILURE);
      clock.advance(1);
      assert.equal(pool2.state, PoolState.IDLE, "back to the initial 1 s after a success");
    } finally {
      pool.close();
      pool2.close();
      assert.equal(pool.state, PoolState.SHUTDOWN);
    }
  });

  test(`${kind}: requests beyond maxConnections x streams wait, up to http1MaxPendingRequests; then UNAVAILABLE`, async () => {
    const clock = new ManualClock();
    const server = await startH2Server();
    const pending: PendingBudget = { limit: 2, count: 0, overflows: 0 };
    const pool = new EndpointPool(
      "127.0.0.1",
      server.port,
      settings(clock, { maxConnections: 1, maxConcurrentStreams: 1 }, pending),
      createClientTransport(kind, { initialWindowSize: 1 << 20 }),
    );
    try {
      const a = await acquire(pool);
      assert.ok(!(a instanceof SluiceError));
      pool.openStream(a, REQUEST, QUIET).end();
      const served: string[] = [];
      // Whoever gets a connection opens its stream at once, as the pool's contract says.
      const take =
        (name: string) =>
        (r: PooledConnection | SluiceError): void => {
          if (r instanceof SluiceError) served.push(r.message);
          else {
            pool.openStream(r, REQUEST, QUIET).end();
            served.push(name);
          }
        };
      const b = new Promise<void>((resolve) => pool.acquire((r) => resolve(take("b")(r))));
      const c = new Promise<void>((resolve) => pool.acquire((r) => resolve(take("c")(r))));
      assert.equal(pending.count, 2);
      const d = await acquire(pool);
      assert.ok(d instanceof SluiceError && !(d instanceof ConnectFailure));
      assert.equal(d.grpcStatus, Status.UNAVAILABLE);
      assert.equal(d.message, "upstream overflow: http1MaxPendingRequests limit (2) reached for test");
      assert.equal(pending.overflows, 1);
      pool.release(a); // b gets the stream slot
      await b;
      assert.deepEqual(served, ["b"]);
      assert.equal(pending.count, 1);
      pool.close();
      await c;
      assert.deepEqual(served, ["b", "upstream pool closed"]);
      assert.equal(pending.count, 0);
    } finally {
      pool.close();
      await server.close();
    }
  });

  test(`${kind}: idleTimeout and maxConnectionDuration close connections without failing a stream`, async () => {
    const clock = new ManualClock();
    const server = await startH2Server();
    const watch = observed();
    const pool = new EndpointPool(
      "127.0.0.1",
      server.port,
      settings(clock, { idleTimeoutMs: 5000, maxConnectionDurationMs: 60_000, observer: watch.observer }),
      createClientTransport(kind, { initialWindowSize: 1 << 20 }),
    );
    try {
      const a = await acquire(pool);
      assert.ok(!(a instanceof SluiceError));
      const ended = new Promise<string>((resolve) => {
        const s = pool.openStream(a, REQUEST, {
          ...QUIET,
          onTrailers: () => resolve("trailers"),
          onEnd: () => resolve("end"),
          onReset: (code) => resolve(`reset ${code}`),
        });
        s.write(Buffer.from([0, 0, 0, 0, 1, 7]));
        s.end();
      });
      clock.advance(10_000); // a stream in flight: no idle timeout
      assert.equal(pool.connectionCount, 1);
      assert.notEqual(await ended, "reset");
      pool.release(a);
      clock.advance(4999);
      assert.equal(pool.connectionCount, 1);
      const idleClosed = once(watch.events, "closed");
      clock.advance(1); // idle for 5 s: drained and closed
      await idleClosed;
      assert.equal(pool.connectionCount, 0);
      assert.equal(pool.state, PoolState.IDLE);

      // A connection kept busy still leaves after maxConnectionDuration; its stream finishes.
      const b = await acquire(pool);
      assert.ok(!(b instanceof SluiceError));
      const s = pool.openStream(b, REQUEST, QUIET);
      clock.advance(60_000);
      const c = await acquire(pool); // the old connection takes no more streams
      assert.ok(!(c instanceof SluiceError));
      assert.notEqual(c.id, b.id);
      assert.equal(pool.connectionCount, 2);
      const oldClosed = once(watch.events, "closed");
      s.end();
      pool.release(b);
      await oldClosed;
      assert.equal(pool.connectionCount, 1);
    } finally {
      pool.close();
      await server.close();
    }
  });
  test(`${kind}: a draining connection does not count against maxConnections, and no longer makes the endpoint READY`, async () => {
    const clock = new ManualClock();
    const server = await startH2Server();
    const watch = observed();
    const pool = new EndpointPool(
      "127.0.0.1",
      server.port,
      settings(clock, { maxConnections: 1, maxConnectionDurationMs: 60_000, observer: watch.observer }),
      createClientTransport(kind, { initialWindowSize: 1 << 20 }),
    );
    try {
      const a = await acquire(pool);
      assert.ok(!(a instanceof SluiceError));
      const s = pool.openStream(a, REQUEST, QUIET); // held open: the connection cannot close yet
      clock.advance(60_000); // retired by age, as by a backend's GOAWAY
      assert.deepEqual([pool.state, pool.connectionCount, pool.drainingConnectionCount], [PoolState.IDLE, 1, 1]);
      const next = acquire(pool);
      // At the limit of 1, but the one open connection is draining: a new one opens at once.
      assert.deepEqual([pool.state, pool.connectionCount, pool.drainingConnectionCount], [PoolState.CONNECTING, 2, 1]);
      const b = await next;
      assert.ok(!(b instanceof SluiceError));
      assert.notEqual(b.id, a.id);
      assert.equal(pool.state, PoolState.READY);
      const oldClosed = once(watch.events, "closed");
      s.end();
      pool.release(a);
      await oldClosed;
      assert.deepEqual([pool.state, pool.connectionCount, pool.drainingConnectionCount], [PoolState.READY, 1, 0]);
    } finally {
      pool.close();
      await server.close();
    }
  });
}

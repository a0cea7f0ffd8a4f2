import { test } from "node:test";
import assert from "node:assert/strict";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { watchState, type ChannelState, type StateChange } from "../../src/client/watch-state.js";
import { clientFor } from "../support/calls.js";
import { defer } from "../support/teardown.js";

/** Collects changes; next() waits (bounded) for the first unseen change to `to`. */
class Recorder {
  readonly changes: StateChange[] = [];
  private seen = 0;
  private wake: (() => void) | undefined;
  readonly onChange = (c: StateChange): void => {
    this.changes.push(c);
    this.wake?.();
  };

  /** Resolves with the changes up to and including the next one into `to`. */
  async next(to: ChannelState, ms = 5000): Promise<StateChange[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.changes.findIndex((c, j) => j >= this.seen && c.to === to);
      if (i >= 0) {
        const got = this.changes.slice(this.seen, i + 1);
        this.seen = i + 1;
        return got;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no change to ${to} within ${ms} ms; saw ${JSON.stringify(this.changes)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

test("watchState reports a server going away and coming back, then SHUTDOWN; unsubscribe stops it", { timeout: 30_000 }, async (t) => {
  let pod = await startEchoServer("pod-1");
  defer(t, () => pod.stop()); // the pod running at the end: the one started again
  const port = pod.port;
  const client = clientFor(t, `127.0.0.1:${port}`, { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 200 });
  const rec = new Recorder();
  const last = new Recorder();
  const unsubscribe = watchState(client, rec.onChange, { connect: true });
  assert.deepEqual(await rec.next("READY"), [
    { from: "IDLE", to: "CONNECTING" },
    { from: "CONNECTING", to: "READY" },
  ]);
  assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);

  // The server goes away: the connection drops, the channel goes IDLE; asked to
  // connect, it tries and fails (connection refused).
  pod.server.forceShutdown();
  assert.deepEqual(await rec.next("IDLE"), [{ from: "READY", to: "IDLE" }]);
  client.getChannel().getConnectivityState(true);
  assert.deepEqual(await rec.next("TRANSIENT_FAILURE"), [
    { from: "IDLE", to: "CONNECTING" },
    { from: "CONNECTING", to: "TRANSIENT_FAILURE" },
  ]);

  // It comes back on the same port: the channel's reconnect backoff finds it. (pick_first
  // keeps reporting TRANSIENT_FAILURE while it retries, gRFC A62's sticky TF, so READY
  // may come straight from it.)
  pod = await startEchoServer("pod-1", "127.0.0.1", port);
  const back = await rec.next("READY");
  assert.ok(["CONNECTING", "TRANSIENT_FAILURE"].includes(back.at(-1)!.from), JSON.stringify(back));
  assert.ok(
    back.every((c) => c.to === "CONNECTING" || c.to === "TRANSIENT_FAILURE" || c.to === "READY"),
    JSON.stringify(back),
  );
  assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);

  unsubscribe();
  watchState(client, last.onChange);
  const seen = rec.changes.length;
  client.close();
  assert.deepEqual(await last.next("SHUTDOWN"), [{ from: "READY", to: "SHUTDOWN" }]);
  assert.equal(rec.changes.length, seen, "no change after unsubscribe");
});

test("a callback that throws is logged, the watch goes on and the channel still serves", { timeout: 30_000 }, async (t) => {
  const server = await startEchoServer("pod-1");
  defer(t, () => server.stop());
  const client = clientFor(t, `127.0.0.1:${server.port}`);
  const recorder = new Recorder();
  defer(
    t,
    watchState(client, (c) => {
      recorder.onChange(c);
      if (c.to === "READY") throw new Error("a careless callback");
    }),
  );
  const r = await callUnary(client, Buffer.from("x"), undefined, { deadline: Date.now() + 5000 });
  assert.equal(r.code, 0, r.details);
  assert.ok(recorder.changes.some((c) => c.to === "READY"));
});

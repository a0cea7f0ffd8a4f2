// recommendedChannelOptions against a server that enforces A8 ping limits: grpcio (gRPC
// C-core) with a 1 s minimum ping interval and 2 strikes. Two channels, each holding one
// call open (C-core applies the minimum while a call is open): one with the recommended
// options, one pinging every 200 ms. Only the second earns GOAWAY "too_many_pings", seen
// as grpc-js's "rejected by server because of excess pings" error log, the channel leaving
// READY and its call failing. The first is watched for a fixed window (two of
// its keepalive periods): proving that something does not happen takes a bounded wait.
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { DEFAULT_SERVER_MIN_PING_INTERVAL_MS, recommendedChannelOptions } from "../../src/client/channel-options.js";
import { watchState, type StateChange } from "../../src/client/watch-state.js";
import { repoPath } from "../support/paths.js";
import { defer } from "../support/teardown.js";
import { pythonWithGrpc } from "../interop/support/tools.js";
import { within } from "../interop/support/wait.js";

const SERVER = repoPath("test/client/python/keepalive_server.py");
const MIN_PING_INTERVAL_MS = 1000;
const MAX_PING_STRIKES = 2;

let server: ChildProcessWithoutNullStreams;
let port = 0;
const logged: string[] = [];
const logWaiters = new Set<() => void>();

before(async () => {
  server = spawn(pythonWithGrpc(), ["-u", SERVER, String(MIN_PING_INTERVAL_MS), String(MAX_PING_STRIKES)], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  server.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
  const first = await within(10_000, `keepalive_server.py did not start: ${stderr}`, lines.next());
  assert.equal(first.done, false, `keepalive_server.py exited: ${stderr}`);
  port = (JSON.parse(String(first.value)) as { port: number }).port;
  // grpc-js logs the too_many_pings GOAWAY at ERROR level, its default verbosity.
  grpc.setLogger({
    error: (...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
      for (const w of logWaiters) w();
    },
  });
});

after(async () => {
  grpc.setLogger(console);
  if (server.exitCode === null) {
    const closed = once(server, "close");
    server.stdin.end();
    server.kill("SIGKILL");
    await closed;
  }
});

function excessPingsLogged(): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = (): void => {
      if (logged.some((l) => l.includes("excess pings"))) {
        logWaiters.delete(check);
        resolve();
      }
    };
    logWaiters.add(check);
    check();
  });
}

/** A channel with `options`, READY, holding one open call; what happens to it is recorded. */
async function holdingChannel(
  t: TestContext,
  options: grpc.ChannelOptions,
): Promise<{
  client: grpc.Client;
  changes: StateChange[];
  status: Promise<grpc.StatusObject>;
  call: grpc.ClientDuplexStream<Buffer, Buffer>;
}> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, ...options });
  defer(t, () => client.close());
  const changes: StateChange[] = [];
  const ready = new Promise<void>((resolve) => {
    watchState(client, (c) => {
      changes.push(c);
      if (c.to === "READY") resolve();
    });
  });
  const call = client.makeBidiStreamRequest(
    "/sluice.test.Hold/Hold",
    (b: Buffer) => b,
    (b: Buffer) => b,
  );
  call.on("data", () => undefined);
  call.on("error", () => undefined); // the status event carries the outcome
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  await within(5000, "channel READY", ready);
  return { client, changes, status, call };
}

test("the defaults assume the servers' 5 minute minimum and no pings without calls", () => {
  assert.deepEqual(recommendedChannelOptions(), {
    "grpc.keepalive_time_ms": DEFAULT_SERVER_MIN_PING_INTERVAL_MS + 30_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 0,
  });
  assert.equal(recommendedChannelOptions({ serverMinPingInterval: 1000 })["grpc.keepalive_time_ms"], 2000);
  assert.equal(recommendedChannelOptions({ serverPermitsWithoutCalls: true })["grpc.keepalive_permit_without_calls"], 1);
  assert.throws(() => recommendedChannelOptions({ serverMinPingInterval: 0 }), /serverMinPingInterval must be a whole number of milliseconds > 0, got 0/);
});

test("recommended keepalive stays connected; a 200 ms keepalive earns GOAWAY too_many_pings", { timeout: 20_000 }, async (t) => {
  const recommended = recommendedChannelOptions({ serverMinPingInterval: MIN_PING_INTERVAL_MS });
  const good = await holdingChannel(t, recommended);
  const bad = await holdingChannel(t, { "grpc.keepalive_time_ms": 200, "grpc.keepalive_timeout_ms": 5000 });
  const window = 2 * Number(recommended["grpc.keepalive_time_ms"]) + 500;
  const windowEnd = new Promise<void>((resolve) => setTimeout(resolve, window));
  await within(5000, "GOAWAY too_many_pings for the 200 ms keepalive", excessPingsLogged());
  const badStatus = await within(5000, "the aggressive channel's call ends", bad.status);
  // C-core resets the open stream with ENHANCE_YOUR_CALM, which grpc-js maps to
  // RESOURCE_EXHAUSTED "Bandwidth exhausted or memory limit exceeded": a misleading
  // status for a keepalive setting, one more reason to get it right.
  assert.equal(badStatus.code, grpc.status.RESOURCE_EXHAUSTED, badStatus.details);
  assert.ok(
    bad.changes.some((c) => c.from === "READY"),
    `aggressive channel never left READY: ${JSON.stringify(bad.changes)}`,
  );

  await windowEnd;
  assert.deepEqual(
    good.changes,
    [
      { from: "IDLE", to: "CONNECTING" },
      { from: "CONNECTING", to: "READY" },
    ],
    "the recommended channel left READY",
  );
  assert.equal(logged.filter((l) => l.includes("excess pings")).length, 1, `logged: ${logged.join("\n")}`);
  // Its call is still open: ending it now ends it OK.
  good.call.end();
  const goodStatus = await within(5000, "the recommended channel's call ends", good.status);
  assert.equal(goodStatus.code, grpc.status.OK, goodStatus.details);
});

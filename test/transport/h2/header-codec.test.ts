// HeaderDecoder's RFC 9113 section 8 checks, block by block, on one decoder (its name
// classification is cached across blocks and kinds, which these also exercise).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BlockKind, HeaderDecoder } from "../../../src/transport/h2/header-codec.js";
import { HpackDecoder, HpackEncoder } from "../../../src/transport/h2/hpack/index.js";

const REQUEST: [string, string][] = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/svc/M"],
  [":authority", "a"],
];

function setup(): (fields: [string, string][], kind: BlockKind) => ReturnType<HeaderDecoder["decode"]> {
  const encoder = new HpackEncoder();
  const decoder = new HeaderDecoder(new HpackDecoder());
  return (fields, kind) => decoder.decode(encoder.encode(fields), kind);
}

/** The reason a block was malformed (fails the test when it decoded fine). */
function problem(result: ReturnType<HeaderDecoder["decode"]>): string {
  assert.equal(typeof result, "string", `expected a malformed block, got ${JSON.stringify(result)}`);
  return result as string;
}

test("values: NUL, CR, LF anywhere and leading or trailing space or tab are malformed; inner ones are not", () => {
  const decode = setup();
  for (const bad of ["a\0b", "a\rb", "a\nb", " a", "a ", "\ta", "a\t", "\n", " "]) {
    assert.match(problem(decode([...REQUEST, ["x-v", bad]], BlockKind.REQUEST)), /bad value for x-v/, JSON.stringify(bad));
    assert.match(problem(decode([[":method", bad], ...REQUEST.slice(1)], BlockKind.REQUEST)), /bad value for :method/, JSON.stringify(bad));
  }
  for (const good of ["", "a b", "a\tb", "x", "\x7f\x80\xff"]) {
    const h = decode([...REQUEST, ["x-v", good]], BlockKind.REQUEST);
    assert.equal(typeof h === "object" ? h["x-v"] : h, good, JSON.stringify(good));
  }
});

test("names: upper case or non-token characters, connection-specific fields and te other than trailers", () => {
  const decode = setup();
  assert.match(problem(decode([...REQUEST, ["X-Up", "1"]], BlockKind.REQUEST)), /bad field name/);
  assert.match(problem(decode([...REQUEST, ["a b", "1"]], BlockKind.REQUEST)), /bad field name/);
  assert.match(problem(decode([...REQUEST, ["a\u00e9", "1"]], BlockKind.REQUEST)), /bad field name/);
  for (const name of ["connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade"]) {
    assert.match(problem(decode([...REQUEST, [name, "x"]], BlockKind.REQUEST)), /connection-specific/, name);
    assert.match(
      problem(
        decode(
          [
            ["grpc-status", "0"],
            [name, "x"],
          ],
          BlockKind.TRAILERS,
        ),
      ),
      /connection-specific/,
      name,
    );
  }
  assert.match(problem(decode([...REQUEST, ["te", "gzip"]], BlockKind.REQUEST)), /te: gzip/);
  const ok = decode([...REQUEST, ["te", "trailers"], ["x-a", "1"], ["x-a", "2"]], BlockKind.REQUEST);
  assert.deepEqual(typeof ok === "object" ? [ok["te"], ok["x-a"]] : ok, ["trailers", ["1", "2"]]);
});

test("pseudo-headers: which kind may carry which, no repeats, none after a regular field", () => {
  const decode = setup();
  assert.match(problem(decode([...REQUEST, [":status", "200"]], BlockKind.REQUEST)), /:status not allowed/);
  assert.match(
    problem(
      decode(
        [
          [":status", "200"],
          [":path", "/"],
        ],
        BlockKind.RESPONSE,
      ),
    ),
    /:path not allowed/,
  );
  assert.match(problem(decode([[":status", "200"]], BlockKind.TRAILERS)), /:status not allowed/);
  assert.match(problem(decode([...REQUEST, [":foo", "1"]], BlockKind.REQUEST)), /:foo not allowed/);
  assert.match(problem(decode([...REQUEST, [":path", "/again"]], BlockKind.REQUEST)), /repeated :path/);
  assert.match(problem(decode([["x-a", "1"], ...REQUEST], BlockKind.REQUEST)), /after regular fields/);
  assert.match(problem(decode([[":status", "2000"]], BlockKind.RESPONSE)), /bad :status/);
  assert.match(
    problem(
      decode(
        REQUEST.filter(([n]) => n !== ":path"),
        BlockKind.REQUEST,
      ),
    ),
    /without :path/,
  );
  const response = decode(
    [
      [":status", "200"],
      ["content-type", "application/grpc"],
    ],
    BlockKind.RESPONSE,
  );
  assert.deepEqual(response, { ":status": "200", "content-type": "application/grpc" });
  // The decoder stays usable after each malformed block: the table is in step.
  assert.deepEqual(decode(REQUEST, BlockKind.REQUEST), Object.fromEntries(REQUEST));
});

// Raw HPACK: a literal with incremental indexing and a new name (section 6.2.1), and the
// indexed field at dynamic index 1 (62 overall, section 6.1).
function literalIndexed(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name, "latin1"), Buffer.from([value.length]), Buffer.from(value, "latin1")]);
}
const NEWEST = Buffer.from([0xbe]);

test("a repeated block decodes from the cache to an equal record the caller may change", () => {
  const hpack = new HpackDecoder();
  const decoder = new HeaderDecoder(hpack);
  const encoder = new HpackEncoder();
  const block = Buffer.from(
    encoder.encode([
      [":status", "200"],
      ["content-type", "application/grpc"],
    ]),
  );
  const first = decoder.decode(block, BlockKind.RESPONSE) as Record<string, unknown>;
  const warm = Buffer.from(
    encoder.encode([
      [":status", "200"],
      ["content-type", "application/grpc"],
    ]),
  ); // all indexed now
  const second = decoder.decode(warm, BlockKind.RESPONSE) as Record<string, unknown>;
  second["x-added"] = "by the caller";
  const third = decoder.decode(warm, BlockKind.RESPONSE) as Record<string, unknown>;
  assert.deepEqual(first, { ":status": "200", "content-type": "application/grpc" });
  assert.deepEqual(third, first);
  assert.notEqual(third, second);
  // The same bytes as trailers are malformed (:status there): the kind is part of the key.
  assert.match(problem(decoder.decode(warm, BlockKind.TRAILERS)), /:status not allowed/);
});

test("the same indexed bytes decode anew once the dynamic table changed", () => {
  const decoder = new HeaderDecoder(new HpackDecoder());
  assert.deepEqual(decoder.decode(literalIndexed("x-a", "1"), BlockKind.TRAILERS), { "x-a": "1" });
  assert.deepEqual(decoder.decode(NEWEST, BlockKind.TRAILERS), { "x-a": "1" });
  assert.deepEqual(decoder.decode(NEWEST, BlockKind.TRAILERS), { "x-a": "1" });
  assert.deepEqual(decoder.decode(literalIndexed("x-b", "2"), BlockKind.TRAILERS), { "x-b": "2" });
  assert.deepEqual(decoder.decode(NEWEST, BlockKind.TRAILERS), { "x-b": "2" }, "index 62 is x-b now");
});

test("a lowered table size limit still demands a size update, cached block or not", () => {
  const hpack = new HpackDecoder();
  const decoder = new HeaderDecoder(hpack);
  decoder.decode(literalIndexed("x-a", "1"), BlockKind.TRAILERS);
  assert.deepEqual(decoder.decode(NEWEST, BlockKind.TRAILERS), { "x-a": "1" });
  assert.deepEqual(decoder.decode(NEWEST, BlockKind.TRAILERS), { "x-a": "1" });
  hpack.setMaxTableSizeLimit(0);
  assert.throws(() => decoder.decode(NEWEST, BlockKind.TRAILERS), /size update/);
});

test("never-indexed and repeated fields are decoded every time, their marks and arrays not shared", () => {
  const decoder = new HeaderDecoder(new HpackDecoder());
  const encoder = new HpackEncoder();
  const fields: [string, string, boolean][] = [
    ["x-secret", "s", true],
    ["x-r", "1", false],
    ["x-r", "2", false],
  ];
  const a = decoder.decode(Buffer.from(encoder.encode(fields)), BlockKind.TRAILERS) as Record<string | symbol, unknown>;
  const b = decoder.decode(Buffer.from(encoder.encode(fields)), BlockKind.TRAILERS) as Record<string | symbol, unknown>;
  assert.deepEqual(b["x-r"], ["1", "2"]);
  (a["x-r"] as string[]).push("3");
  assert.deepEqual(b["x-r"], ["1", "2"]);
  const marks = Object.getOwnPropertySymbols(b).map((k) => b[k]);
  assert.deepEqual(marks, [["x-secret"]]);
});

test("a block that uses no dynamic entry stays cached while other blocks change the table; one naming an entry does not", () => {
  const hpack = new HpackDecoder();
  const decoder = new HeaderDecoder(hpack);
  let decoded = 0;
  const decodeEach = hpack.decodeEach.bind(hpack);
  hpack.decodeEach = (...args: Parameters<HpackDecoder["decodeEach"]>) => {
    decoded++;
    decodeEach(...args);
  };
  // grpc-status: 0 as a literal without indexing and a literal name (how nginx sends it).
  const trailers = Buffer.concat([Buffer.from([0x00, 11]), Buffer.from("grpc-status"), Buffer.from([1]), Buffer.from("0")]);
  // A literal without indexing whose name is dynamic entry 62 (4-bit prefix: 15 + 47).
  const namedByEntry = Buffer.from([0x0f, 0x2f, 0x01, 0x39]);
  for (const [i, name] of ["x-a", "x-b", "x-c"].entries()) {
    decoder.decode(literalIndexed(name, String(i)), BlockKind.TRAILERS);
    assert.deepEqual(decoder.decode(trailers, BlockKind.TRAILERS), { "grpc-status": "0" });
    assert.deepEqual(decoder.decode(namedByEntry, BlockKind.TRAILERS), { [name]: "9" });
    assert.deepEqual(decoder.decode(namedByEntry, BlockKind.TRAILERS), { [name]: "9" });
  }
  // 3 table changes + the trailers once + namedByEntry once per table version.
  assert.equal(decoded, 3 + 1 + 3);
});

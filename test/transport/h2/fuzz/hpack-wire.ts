// Serialises fuzz Representations to header block octets with the codec's own integer and
// Huffman writers (they are checked elsewhere, and a fault in them would show up as a
// difference from the reference model, which decodes independently).
import { huffmanEncode, huffmanEncodedLength } from "../../../../src/transport/h2/hpack/huffman.js";
import { encodeInteger } from "../../../../src/transport/h2/hpack/integer.js";
import type { Representation } from "./hpack-arbitraries.js";

type WireString = Extract<Representation, { t: "literal" }>["name"];

function integer(value: number, prefixBits: number, flags: number): Buffer {
  const out = Buffer.alloc(8);
  return out.subarray(0, encodeInteger(out, 0, value, prefixBits, flags));
}

function stringLiteral(w: WireString): Buffer {
  let octets: Buffer;
  if (w.huffman) {
    octets = Buffer.alloc(huffmanEncodedLength(w.s));
    huffmanEncode(w.s, octets, 0);
  } else {
    octets = Buffer.from(w.s, "latin1");
  }
  if (w.tweak === "ff" || w.tweak === "00") octets = Buffer.concat([octets, Buffer.from([w.tweak === "ff" ? 0xff : 0])]);
  else if (w.tweak === "flip" && octets.length > 0) octets[octets.length - 1]! ^= 1;
  const declared = Math.max(0, octets.length + w.lengthDelta);
  return Buffer.concat([integer(declared, 7, w.huffman ? 0x80 : 0), octets]);
}

export function serialise(reps: readonly Representation[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of reps) {
    switch (r.t) {
      case "indexed":
        parts.push(integer(r.index, 7, 0x80));
        break;
      case "size":
        parts.push(integer(r.size, 5, 0x20));
        break;
      case "junk":
        parts.push(Buffer.from(r.octets));
        break;
      case "literal": {
        const [prefixBits, flags] = r.mode === "incremental" ? [6, 0x40] : r.mode === "never" ? [4, 0x10] : [4, 0x00];
        parts.push(integer(r.nameIndex, prefixBits, flags));
        if (r.nameIndex === 0) parts.push(stringLiteral(r.name));
        parts.push(stringLiteral(r.value));
        break;
      }
    }
  }
  return Buffer.concat(parts);
}

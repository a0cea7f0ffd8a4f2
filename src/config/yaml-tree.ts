// Multi-document YAML -> a small tree of maps, lists and scalars that remembers the line of
// every key and value, so each problem can name its line. Values stay `unknown` until a
// reader checks them.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import type { Diagnostics } from "./diagnostics.js";

export interface YEntry {
  readonly key: string;
  readonly keyLine: number;
  readonly value: YNode;
}

export type YNode =
  | { readonly t: "map"; readonly line: number; readonly entries: readonly YEntry[] }
  | { readonly t: "seq"; readonly line: number; readonly items: readonly YNode[] }
  | { readonly t: "scalar"; readonly line: number; readonly value: unknown };

export interface YDocument {
  /** Line of the document's first content. */
  readonly line: number;
  readonly root: YNode;
}

/** Parses every document of `text`; syntax errors become problems and drop their document. */
export function parseYamlDocuments(text: string, file: string, diag: Diagnostics): YDocument[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true });
  const list: readonly Document.Parsed[] = Array.isArray(docs) ? docs : [];
  const out: YDocument[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0].line ?? lines.linePos(e.pos[0]).line;
        // yaml's message repeats the position and adds a source excerpt: keep the first clause.
        const first = (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, "");
        diag.error(file, line, "", `invalid YAML: ${first}`);
      }
      continue;
    }
    const contents = doc.contents;
    // `---` separators with nothing between them are empty documents, not resources.
    if (contents === null || (isScalar(contents) && contents.value === null)) continue;
    const lineOf = (n: YamlNode | null | undefined): number => (n?.range ? lines.linePos(n.range[0]).line : 0);
    const convert = (n: unknown): YNode => {
      if (isAlias(n)) return convert(n.resolve(doc));
      if (isMap(n)) {
        const entries: YEntry[] = [];
        for (const pair of n.items) {
          const k = pair.key;
          const key = isScalar(k) ? String(k.value) : String(k);
          const keyNode = isScalar(k) || isMap(k) || isSeq(k) ? k : null;
          const keyLine = lineOf(keyNode);
          const v = pair.value;
          // `key:` with no value parses as a null scalar without a range: use the key's line.
          const value = v === null || v === undefined ? { t: "scalar" as const, line: keyLine, value: null } : convert(v);
          entries.push({ key, keyLine, value });
        }
        return { t: "map", line: lineOf(n), entries };
      }
      if (isSeq(n)) return { t: "seq", line: lineOf(n), items: n.items.map(convert) };
      if (isScalar(n)) return { t: "scalar", line: lineOf(n), value: n.value };
      return { t: "scalar", line: 0, value: null };
    };
    const root = convert(contents);
    out.push({ line: root.line, root });
  }
  return out;
}

/** The plain JavaScript value of a node (for "got ..." messages and opaque fields). */
export function plainValue(n: YNode): unknown {
  switch (n.t) {
    case "scalar":
      return n.value;
    case "seq":
      return n.items.map(plainValue);
    case "map":
      return Object.fromEntries(n.entries.map((e) => [e.key, plainValue(e.value)]));
  }
}

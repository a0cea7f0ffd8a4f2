// Markdown as the docs tests read it: fenced code blocks (with the HTML-comment markers right
// above them), relative links, and the anchors GitHub derives from headings.

/** `<!-- name: value -->` on the lines right above a fence: how a doc says what a block is. */
export interface Marker {
  readonly name: string;
  readonly value: string;
}

export interface FencedBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word (`sh`, `yaml`, ...); "" when the fence has none. */
  readonly lang: string;
  readonly text: string;
  readonly markers: readonly Marker[];
}

export interface Link {
  readonly line: number;
  readonly target: string;
}

const FENCE = /^(```+|~~~+)\s*([^\s`]*)/;
const MARKER = /^<!--\s*([a-z-]+)(?::\s*(.*?))?\s*-->$/;

export function fencedBlocks(file: string, markdown: string): FencedBlock[] {
  const lines = markdown.split("\n");
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.startsWith(fence)) body.push(lines[j++]!);
    const markers: Marker[] = [];
    for (let k = i - 1; k >= 0; k--) {
      const m = MARKER.exec(lines[k]!.trim());
      if (m === null) break;
      markers.unshift({ name: m[1]!, value: m[2] ?? "" });
    }
    blocks.push({ file, line: i + 1, lang: open[2] ?? "", text: body.join("\n") + "\n", markers });
    i = j;
  }
  return blocks;
}

export function marker(block: FencedBlock, name: string): string | undefined {
  return block.markers.find((m) => m.name === name)?.value;
}

/** The lines of a markdown text with those of fenced blocks blanked out (line numbers kept). */
function outsideFences(markdown: string): string[] {
  let inFence: string | null = null;
  return markdown.split("\n").map((line) => {
    if (inFence !== null) {
      if (line.startsWith(inFence)) inFence = null;
      return "";
    }
    const f = FENCE.exec(line);
    if (f !== null) inFence = f[1]!;
    return f === null ? line : "";
  });
}

/** Prose only: fenced blocks and inline code blanked out. */
function proseOnly(markdown: string): string[] {
  return outsideFences(markdown).map((line) => line.replace(/`[^`]*`/g, "``"));
}

/** Links that point inside the repository (no scheme), with their line. */
export function relativeLinks(markdown: string): Link[] {
  const out: Link[] = [];
  proseOnly(markdown).forEach((line, i) => {
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      out.push({ line: i + 1, target });
    }
  });
  return out;
}

/** The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of outsideFences(markdown)) {
    const h = /^#{1,6}\s+(.*?)\s*#*$/.exec(line.replace(/`([^`]*)`/g, "$1"));
    if (h === null) continue;
    const slug = h[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

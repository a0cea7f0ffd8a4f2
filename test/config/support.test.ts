// The support table is the single source for warnings and docs: check that the parsers read
// every field it lists, that each "warn" field warns, and that docs/configuration.md agrees with it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { loadConfigFiles } from "../../src/config/load.js";
import { SUPPORT_TABLE, type SupportRow } from "../../src/config/support.js";
import { repoPath } from "../support/paths.js";

const ALL_FIELDS = repoPath("test/fixtures/config/all-fields.yaml");

/** Every key path of a plain YAML value, lists as `[]`. */
function paths(value: unknown, prefix: string, out: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) paths(v, `${prefix}[]`, out);
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix === "" ? k : `${prefix}.${k}`;
      out.add(p);
      // Policies inside subsets and portLevelSettings are read with spec.trafficPolicy's rows.
      out.add(
        p
          .replace(/^spec\.subsets\[\]\.trafficPolicy/, "spec.trafficPolicy")
          .replace(/^spec\.trafficPolicy\.portLevelSettings\[\]\.(loadBalancer|connectionPool|outlierDetection|tls)/, "spec.trafficPolicy.$1"),
      );
      paths(v, p, out);
    }
  }
}

function fixturePaths(): Map<string, Set<string>> {
  const byKind = new Map<string, Set<string>>();
  const all = parseAllDocuments(readFileSync(ALL_FIELDS, "utf8"));
  for (const doc of Array.isArray(all) ? all : []) {
    const js = doc.toJS() as { kind: string };
    const set = byKind.get(js.kind) ?? new Set<string>();
    paths(js, "", set);
    byKind.set(js.kind, set);
  }
  return byKind;
}

/** `*` stands for a user-named key (header names). */
function rowPattern(row: SupportRow): RegExp {
  const escaped = row.path.replace(/[.[\]]/g, (c) => `\\${c}`).replace(/\*/g, "[^.]+");
  return new RegExp(`^${escaped}$`);
}

test("the all-fields fixture uses every field of the support table and loads without problems", async () => {
  const byKind = fixturePaths();
  const missing = SUPPORT_TABLE.filter((row) => {
    if (row.value !== undefined) return false;
    const re = rowPattern(row);
    return ![...(byKind.get(row.kind) ?? [])].some((p) => re.test(p));
  });
  assert.deepEqual(
    missing.map((r) => `${r.kind} ${r.path}`),
    [],
  );
  // The reader throws on a field the table lacks, so loading proves the converse too.
  const r = await loadConfigFiles([ALL_FIELDS]);
  if (!r.ok) assert.fail(r.problems.map((p) => `${p.line} ${p.path}: ${p.message}`).join("\n"));
});

test("each warn field present at the top of its subtree warns once; supported fields never warn", async () => {
  const r = await loadConfigFiles([ALL_FIELDS]);
  assert.ok(r.ok);
  const warned = r.config.warnings.map((w) => w.path.replace(/\[\d+\]/g, "[]"));
  for (const row of SUPPORT_TABLE) {
    if (row.value !== undefined || row.path.includes("*")) continue;
    // A subset's trafficPolicy uses spec.trafficPolicy rows; only check rows at their own path.
    const hits = warned.filter((p) => p === row.path).length;
    const parent = row.path.slice(0, Math.max(0, row.path.lastIndexOf("."))).replace(/\[\]$/, "");
    const parentRow = SUPPORT_TABLE.find((x) => x.kind === row.kind && x.path === parent && x.value === undefined);
    const hasValueRows = SUPPORT_TABLE.some((x) => x.kind === row.kind && x.path === row.path && x.value !== undefined);
    if (row.status === "supported" && !hasValueRows) {
      assert.equal(hits, 0, `${row.kind} ${row.path} is supported but warned`);
    } else if (parentRow?.status !== "warn" && row.kind !== "ServiceEntry" && !row.path.startsWith("metadata")) {
      // (ServiceEntry and metadata rows repeat across the fixture's documents of the same kind.)
      assert.ok(hits >= 1, `${row.kind} ${row.path} is "warn" but gave no warning`);
    }
  }
});

test("docs/configuration.md lists every row of the support table with its status, and no others", () => {
  const doc = readFileSync(repoPath("docs/configuration.md"), "utf8");
  const status = (s: SupportRow["status"]): string => (s === "supported" ? "supported" : "accepted with warning");
  const label = (r: SupportRow): string => (r.value === undefined ? `\`${r.path}\`` : `\`${r.path}\` = \`${r.value}\``);
  const expected = SUPPORT_TABLE.map((r) => `| ${r.kind} | ${label(r)} | ${status(r.status)} |`);
  const docRows = doc
    .split("\n")
    .filter((l) => /^\| (DestinationRule|ServiceEntry|VirtualService|Proxy) \| `/.test(l))
    .map((l) => l.split(" | ").slice(0, 3).join(" | ") + " |");
  for (const e of expected) assert.ok(docRows.includes(e), `docs/configuration.md lacks the row: ${e}`);
  assert.equal(docRows.length, expected.length, "docs/configuration.md lists rows that support.ts does not have");
});

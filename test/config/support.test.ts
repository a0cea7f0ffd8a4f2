// The support table is the single source for warnings and docs: check that the parsers read
// every field it lists, that each "warn" field warns, and that docs/configuration.md agrees with it.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { loadConfigFiles } from "../../src/config/load.js";
import { SUPPORT_TABLE, type SupportRow } from "../../src/config/support.js";
import type { LoadResult } from "../../src/config/types.js";
import { TestPki } from "../support/certs.js";
import { repoPath } from "../support/paths.js";
import { defer } from "../support/teardown.js";

/** The fixture, and the Proxy fields that cannot sit beside their alternatives in it. */
const FIXTURES = ["test/fixtures/config/all-fields.yaml", "test/fixtures/config/all-fields-tls-list.yaml"].map((f) => repoPath(f));
const [ALL_FIELDS, TLS_LIST] = FIXTURES as [string, string];

/**
 * The fixtures copied into a directory with the certificate files they name (relative paths,
 * read from the directory of the file), valid for a year so that no expiry warning comes.
 */
function withCertificates(t: TestContext): { allFields: string; tlsList: string } {
  const dir = mkdtempSync(join(tmpdir(), "sluice-all-fields-"));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  const pki = TestPki.create(t, "all-fields CA", 365);
  const server = pki.issue("all.example.com", { days: 365 });
  const client = pki.issue("client", { days: 365 });
  mkdirSync(join(dir, "certs"));
  mkdirSync(join(dir, "workload"));
  const files: [string, string][] = [
    [pki.ca.certPath, "certs/ca.pem"],
    [server.certPath, "certs/server.pem"],
    [server.keyPath, "certs/server.key"],
    [client.certPath, "certs/client.pem"],
    [client.keyPath, "certs/client.key"],
    [pki.crl(), "certs/crl.pem"],
    [client.certPath, "workload/cert-chain.pem"],
    [client.keyPath, "workload/key.pem"],
    [pki.ca.certPath, "workload/root-cert.pem"],
    ...FIXTURES.map((f): [string, string] => [f, basename(f)]),
  ];
  for (const [from, to] of files) copyFileSync(from, join(dir, to));
  return { allFields: join(dir, basename(ALL_FIELDS)), tlsList: join(dir, basename(TLS_LIST)) };
}

function mustBeOk(r: LoadResult, file: string): asserts r is Extract<LoadResult, { ok: true }> {
  if (!r.ok) assert.fail(`${file}:\n${r.problems.map((p) => `${p.line} ${p.path}: ${p.message}`).join("\n")}`);
}

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
  const all = FIXTURES.flatMap((f) => parseAllDocuments(readFileSync(f, "utf8")));
  for (const doc of all) {
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

test("the all-fields fixtures use every field of the support table and load without problems", async (t) => {
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
  const { allFields, tlsList } = withCertificates(t);
  for (const file of [allFields, tlsList]) mustBeOk(await loadConfigFiles([file]), file);
});

test("each warn field present at the top of its subtree warns once; supported fields never warn", async (t) => {
  const { allFields } = withCertificates(t);
  const r = await loadConfigFiles([allFields]);
  mustBeOk(r, allFields);
  const warned = r.config.warnings.map((w) => w.path.replace(/\[\d+\]/g, "[]"));
  for (const row of SUPPORT_TABLE) {
    if (row.value !== undefined || row.path.includes("*")) continue;
    // A subset's trafficPolicy uses spec.trafficPolicy rows; only check rows at their own path.
    const hits = warned.filter((p) => p === row.path).length;
    const parent = row.path.slice(0, Math.max(0, row.path.lastIndexOf("."))).replace(/\[\]$/, "");
    const parentRow = SUPPORT_TABLE.find((x) => x.kind === row.kind && x.path === parent && x.value === undefined);
    const hasValueRows = SUPPORT_TABLE.some((x) => x.kind === row.kind && x.path === row.path && x.value !== undefined);
    // Warnings name a path, not a kind: VirtualService spec.tls warns, Proxy spec.tls must not.
    const sharedWithWarn = SUPPORT_TABLE.some((x) => x.kind !== row.kind && x.path === row.path && x.status === "warn");
    if (row.status !== "warn" && !hasValueRows) {
      if (sharedWithWarn) continue;
      assert.equal(hits, 0, `${row.kind} ${row.path} is supported but warned`);
    } else if (parentRow?.status !== "warn" && row.kind !== "ServiceEntry" && !row.path.startsWith("metadata")) {
      // (ServiceEntry and metadata rows repeat across the fixture's documents of the same kind.)
      assert.ok(hits >= 1, `${row.kind} ${row.path} is "warn" but gave no warning`);
    }
  }
});

test("docs/configuration.md lists every row of the support table with its status, and no others", () => {
  const doc = readFileSync(repoPath("docs/configuration.md"), "utf8");
  const status = (s: SupportRow["status"]): string => ({ supported: "supported", warn: "accepted with warning", refused: "error" })[s];
  const label = (r: SupportRow): string => (r.value === undefined ? `\`${r.path}\`` : `\`${r.path}\` = \`${r.value}\``);
  const expected = SUPPORT_TABLE.map((r) => `| ${r.kind} | ${label(r)} | ${status(r.status)} |`);
  const docRows = doc
    .split("\n")
    .filter((l) => /^\| (DestinationRule|ServiceEntry|VirtualService|Proxy) \| `/.test(l))
    .map((l) => l.split(" | ").slice(0, 3).join(" | ") + " |");
  for (const e of expected) assert.ok(docRows.includes(e), `docs/configuration.md lacks the row: ${e}`);
  assert.equal(docRows.length, expected.length, "docs/configuration.md lists rows that support.ts does not have");
});

// One YAML document -> one resource: checks apiVersion and kind, reads metadata, and hands
// spec to the parser of that kind. Unknown kinds cannot be read further; a wrong apiVersion
// for a known kind is reported and the spec is still checked, so all problems show at once.
import { closest, describe, type Diagnostics } from "./diagnostics.js";
import { parseDestinationRule, type ParsedDestinationRule } from "./destination-rule.js";
import { parseProxyResource, type ParsedProxy } from "./proxy-resource.js";
import { MapReader } from "./reader.js";
import type { ResourceMeta } from "./resource-meta.js";
import { parseServiceEntry, type ParsedServiceEntry } from "./service-entry.js";
import type { ResourceKind } from "./support.js";
import { parseVirtualService, type ParsedVirtualService } from "./virtual-service.js";
import { plainValue, type YDocument } from "./yaml-tree.js";

export const ISTIO_API_VERSIONS = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
export const SLUICE_API_VERSIONS = ["sluice.dev/v1alpha1"];

const API_VERSIONS: Readonly<Record<ResourceKind, readonly string[]>> = {
  DestinationRule: ISTIO_API_VERSIONS,
  ServiceEntry: ISTIO_API_VERSIONS,
  VirtualService: ISTIO_API_VERSIONS,
  Proxy: SLUICE_API_VERSIONS,
};
const KINDS = Object.keys(API_VERSIONS) as ResourceKind[];

export type { ResourceMeta } from "./resource-meta.js";

export type ParsedResource = ParsedDestinationRule | ParsedServiceEntry | ParsedVirtualService | ParsedProxy;

/** `dir`: where the file is, for the relative paths it names (certificates); null keeps them as written. */
export function parseResource(doc: YDocument, file: string, diag: Diagnostics, dir: string | null = null): ParsedResource | undefined {
  const root = doc.root;
  if (root.t !== "map") {
    diag.error(file, doc.line, "", `a resource must be a map with apiVersion, kind, metadata and spec, got ${describe(plainValue(root))}`);
    return undefined;
  }
  const kindEntry = root.entries.find((e) => e.key === "kind");
  const kindValue = kindEntry === undefined ? undefined : plainValue(kindEntry.value);
  const kind = KINDS.find((k) => k === kindValue);
  if (kind === undefined) {
    const hint = typeof kindValue === "string" ? closest(kindValue, KINDS) : null;
    const dym = hint === null ? "" : ` (did you mean ${hint}?)`;
    const message =
      kindEntry === undefined ? `kind is required: one of ${KINDS.join(", ")}` : `must be one of ${KINDS.join(", ")}, got ${describe(kindValue)}${dym}`;
    diag.error(file, kindEntry?.keyLine ?? doc.line, kindEntry === undefined ? "" : "kind", message);
    return undefined;
  }

  const r = new MapReader({ file, dir, kind, diag }, root, "", "", doc.line);
  r.string("kind");
  const allowed = API_VERSIONS[kind];
  const apiVersion = r.string("apiVersion", { required: true });
  if (apiVersion !== undefined && !allowed.includes(apiVersion)) {
    r.error("apiVersion", `must be one of ${allowed.join(", ")} for kind ${kind}, got ${describe(apiVersion)}`);
  }
  const metadata = r.map("metadata");
  const name = metadata?.string("name") ?? null;
  const namespace = metadata?.string("namespace") ?? null;
  metadata?.stringMap("labels");
  metadata?.stringMap("annotations");
  metadata?.finish();
  const spec = r.map("spec");
  if (spec === undefined) r.error(null, "spec is required");
  r.finish();
  if (spec === undefined) return undefined;

  const meta: ResourceMeta = { kind, file, line: doc.line, name, namespace };
  switch (kind) {
    case "DestinationRule":
      return parseDestinationRule(spec, meta);
    case "ServiceEntry":
      return parseServiceEntry(spec, meta);
    case "VirtualService":
      return parseVirtualService(spec, meta);
    case "Proxy":
      return parseProxyResource(spec, meta);
  }
}

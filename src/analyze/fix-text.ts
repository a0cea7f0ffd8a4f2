// The YAML change a finding suggests, written out as the lines to put in the file.
import type { FieldLocation, PolicyPart } from "./locate.js";

/** `a:\n  b:\n    c: value`, indented by `indent` spaces. */
export function yamlLines(keys: readonly string[], value: string | number | boolean, indent = 2): string {
  return keys.map((k, i) => `${" ".repeat(indent + 2 * i)}${k}:${i === keys.length - 1 ? ` ${String(value)}` : ""}`).join("\n");
}

/** "set <field> in <where>:" and the YAML lines, for a cluster's policy field. */
export function policyFix(loc: FieldLocation, host: string, part: PolicyPart, field: readonly string[], value: string | number | boolean): string {
  const keys = [part, ...field];
  if (loc.holder === null) {
    return `add a DestinationRule for host ${host} with:\n${yamlLines(["spec", "trafficPolicy", ...keys], value)}`.replace(
      "  spec:\n",
      `  spec:\n    host: ${host}\n`,
    );
  }
  const where = loc.resource === null ? "the DestinationRule" : `DestinationRule ${loc.resource}`;
  return `in ${where} (${loc.file}), ${loc.set ? "change" : "set"} under ${loc.holder}:\n${yamlLines(keys, value)}`;
}

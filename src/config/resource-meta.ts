// What every parsed resource carries about itself, for messages and cross-resource checks.
import type { ResourceKind } from "./support.js";

export interface ResourceMeta {
  readonly kind: ResourceKind;
  readonly file: string;
  /** Line of the document's first key. */
  readonly line: number;
  readonly name: string | null;
  readonly namespace: string | null;
}

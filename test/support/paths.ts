// Tests run compiled from dist/test/; fixtures and examples stay in the source tree.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, whether running from dist/test/support or test/support. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export function repoPath(...parts: string[]): string {
  return resolve(repoRoot, ...parts);
}

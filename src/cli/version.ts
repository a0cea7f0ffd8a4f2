// sluice's version, as its package.json states it: read at run time from the package root
// (three levels above the compiled dist/src/cli/), so a packed and installed sluice reports
// the version it was packed as.
import { readFileSync } from "node:fs";

export function packageVersion(): string {
  const text = readFileSync(new URL("../../../package.json", import.meta.url), "utf8");
  const { version } = JSON.parse(text) as { version?: unknown };
  if (typeof version !== "string") throw new Error("package.json has no version");
  return version;
}

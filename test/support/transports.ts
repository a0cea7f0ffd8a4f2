// The HTTP/2 transports every proxy test runs on. SLUICE_TEST_TRANSPORTS=node (comma list)
// narrows it while debugging one of them.
import type { TransportKind } from "../../src/config/types.js";

const ALL: readonly TransportKind[] = ["h2", "node"];

export const TEST_TRANSPORTS: readonly TransportKind[] = (() => {
  const env = process.env.SLUICE_TEST_TRANSPORTS;
  if (env === undefined || env === "") return ALL;
  return ALL.filter((t) => env.split(",").includes(t));
})();

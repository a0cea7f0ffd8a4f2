// A cluster's admission on its own, without a proxy: the source a ClusterAdmission reads (the
// cluster's config with the connection-pool settings and retry budget given, no pending
// requests, a manual clock, no outcome observers), for the tests of admission, the retry
// policy and an RPC's attempts.
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER } from "../../src/config/limits.js";
import type { ConnectionPoolSettings, RetryBudget } from "../../src/config/types.js";
import { ManualClock } from "../../src/core/clock.js";
import type { AdmissionSource } from "../../src/upstream/admission.js";

export function admissionSource(
  http: Partial<ConnectionPoolSettings["http"]> = {},
  retryBudget: RetryBudget | null = null,
  name = "echo|50051|",
): AdmissionSource & { pending: { count: number } } {
  return {
    config: {
      name,
      host: name.split("|")[0]!,
      port: 50051,
      subset: null,
      resolution: "STATIC",
      endpoints: [],
      policy: {
        loadBalancer: DEFAULT_LOAD_BALANCER,
        connectionPool: { tcp: DEFAULT_CONNECTION_POOL.tcp, http: { ...DEFAULT_CONNECTION_POOL.http, ...http } },
        outlierDetection: null,
        retryBudget,
        tls: null,
      },
    },
    pending: { limit: Infinity, count: 0, overflows: 0 },
    clock: new ManualClock(),
    observed: false,
    attemptEnded: () => undefined,
  };
}

// The grpc-js picker an EndpointBalancer publishes while READY: it asks the shared sluice
// picker (src/balancer) which endpoint to use, then delegates to that endpoint's leaf
// (pick_first) picker for the actual subchannel. The pick result is wrapped so that the
// endpoint's live `activeRequests` counter and the policy's latency feedback see every
// call that really starts on the endpoint: grpc-js calls onCallStarted only once the
// stream exists, and onCallEnded only after onCallStarted, so the counter cannot leak.
import * as grpc from "@grpc/grpc-js";
import { AttemptEnd, type OutcomeObserver } from "../balancer/outcome.js";
import type { LbEndpoint, Picker, PickRequest } from "../balancer/types.js";

type GrpcPicker = grpc.experimental.Picker;
type PickArgs = grpc.experimental.PickArgs;
type PickResult = grpc.experimental.PickResult;
const PickResultType = grpc.experimental.PickResultType;

/**
 * A sluice PickRequest over grpc-js pick arguments, read lazily. grpc-js gives pickers the
 * call's metadata but not its method, so `path`, `authority` and `sourceIp` are empty:
 * policies keyed on them (query parameter, source IP) see no key and fall back to their
 * keyless behaviour. Repeated metadata values are joined with "," (gRFC A76's rule for the
 * ring hash header), and an empty value counts as absent (A76: random hash).
 */
export function pickRequestOf(args: PickArgs): PickRequest {
  return {
    header(name: string): string | undefined {
      const values = args.metadata.get(name);
      if (values.length === 0) return undefined;
      const text = values.filter((v): v is string => typeof v === "string").join(",");
      return text === "" ? undefined : text;
    },
    path: args.extraPickInfo["path"] ?? "",
    authority: "",
    sourceIp: "",
  };
}

/** A ready endpoint: the sluice view and the leaf picker that owns its subchannel. */
export interface ReadyEndpoint {
  readonly endpoint: LbEndpoint;
  readonly picker: GrpcPicker;
}

export class EndpointPicker implements GrpcPicker {
  private readonly leaves = new Map<string, GrpcPicker>();

  constructor(
    private readonly policyName: string,
    private readonly picker: Picker,
    ready: readonly ReadyEndpoint[],
    private readonly now: () => number,
    private readonly outcomes: OutcomeObserver | undefined,
  ) {
    for (const r of ready) this.leaves.set(r.endpoint.key, r.picker);
  }

  pick(args: PickArgs): PickResult {
    const result = this.picker.pick(pickRequestOf(args));
    switch (result.kind) {
      case "queue":
        return { pickResultType: PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null };
      case "fail":
        return {
          pickResultType: PickResultType.TRANSIENT_FAILURE,
          subchannel: null,
          status: { code: result.status, details: `${this.policyName}: ${result.message}`, metadata: new grpc.Metadata() },
          onCallStarted: null,
          onCallEnded: null,
        };
      case "endpoint":
        break;
    }
    const endpoint = result.endpoint;
    const leaf = this.leaves.get(endpoint.key);
    if (leaf === undefined) {
      // A policy returned an endpoint it was not given: a bug, reported as a status.
      return {
        pickResultType: PickResultType.TRANSIENT_FAILURE,
        subchannel: null,
        status: {
          code: grpc.status.INTERNAL,
          details: `${this.policyName}: picked ${endpoint.key}, which is not a ready endpoint`,
          metadata: new grpc.Metadata(),
        },
        onCallStarted: null,
        onCallEnded: null,
      };
    }
    const inner = leaf.pick(args);
    if (inner.pickResultType !== PickResultType.COMPLETE) return inner;
    const load = endpoint.load;
    const feedback = this.outcomes;
    const now = this.now;
    let startedAt = -1;
    return {
      ...inner,
      onCallStarted: () => {
        startedAt = now();
        load.activeRequests++;
        inner.onCallStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        if (startedAt >= 0) {
          load.activeRequests--;
          // grpc-js reports every end as a status (a cancel too, which peak EWMA reads as such).
          feedback?.attemptEnded({ endpoint, end: AttemptEnd.RESPONSE, grpcStatus: code, durationMs: now() - startedAt });
          startedAt = -1;
        }
        inner.onCallEnded?.(code, details, metadata);
      },
    };
  }
}

// DestinationRule trafficPolicy.outlierDetection (istio OutlierDetection), fully defaulted.
import { DEFAULT_OUTLIER_DETECTION, INT32_MAX } from "./limits.js";
import type { MapReader } from "./reader.js";
import type { OutlierDetectionSettings } from "./types.js";

const COUNT = { min: 0, max: INT32_MAX };

export function parseOutlierDetection(r: MapReader): OutlierDetectionSettings {
  const d = DEFAULT_OUTLIER_DETECTION;
  const legacy = r.int("consecutiveErrors", COUNT);
  if (r.has("consecutiveErrors")) {
    r.warn("consecutiveErrors", "deprecated: use consecutiveGatewayErrors (Istio treats it as gateway errors only)");
  }
  const fiveXx = r.int("consecutive5xxErrors", COUNT);
  const gateway = r.int("consecutiveGatewayErrors", COUNT);
  const localOrigin = r.int("consecutiveLocalOriginFailures", COUNT);
  const split = r.bool("splitExternalLocalOriginErrors");
  const intervalMs = r.duration("interval");
  const baseEjectionTimeMs = r.duration("baseEjectionTime");
  const maxEjectionPercent = r.percent("maxEjectionPercent", { integer: true });
  const minHealthPercent = r.percent("minHealthPercent", { integer: true });
  r.finish();
  // Istio: a set consecutiveErrors counts gateway errors and switches 5xx counting off,
  // unless the newer fields say otherwise.
  const legacySet = legacy !== undefined && legacy > 0;
  return {
    consecutive5xxErrors: fiveXx ?? (legacySet ? 0 : d.consecutive5xxErrors),
    consecutiveGatewayErrors: gateway ?? (legacySet ? legacy : d.consecutiveGatewayErrors),
    intervalMs: intervalMs ?? d.intervalMs,
    baseEjectionTimeMs: baseEjectionTimeMs ?? d.baseEjectionTimeMs,
    maxEjectionPercent: maxEjectionPercent ?? d.maxEjectionPercent,
    minHealthPercent: minHealthPercent ?? d.minHealthPercent,
    splitExternalLocalOriginErrors: split ?? d.splitExternalLocalOriginErrors,
    consecutiveLocalOriginFailures: localOrigin ?? d.consecutiveLocalOriginFailures,
  };
}

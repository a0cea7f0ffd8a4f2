// Service-time samplers on the injected random source.
import type { Random } from "../core/random.js";
import type { Distribution } from "./scenario.js";

/** z of the 99th percentile of the standard normal distribution. */
const Z99 = 2.3263478740408408;

export type Sampler = () => number;

export function sampler(d: Distribution, random: Random): Sampler {
  switch (d.kind) {
    case "constant":
      return () => d.ms;
    case "exponential":
      return () => -d.meanMs * Math.log(1 - random());
    case "lognormal": {
      const mu = Math.log(d.medianMs);
      const sigma = Math.log(d.p99Ms / d.medianMs) / Z99;
      const normal = gaussian(random);
      return () => Math.exp(mu + sigma * normal());
    }
  }
}

/** The mean of a distribution, in ms. */
export function meanOf(d: Distribution): number {
  switch (d.kind) {
    case "constant":
      return d.ms;
    case "exponential":
      return d.meanMs;
    case "lognormal": {
      const sigma = Math.log(d.p99Ms / d.medianMs) / Z99;
      return d.medianMs * Math.exp((sigma * sigma) / 2);
    }
  }
}

/** Standard normal deviates (Box-Muller, both values used). */
function gaussian(random: Random): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

// Watching for connection imbalance (pinned connections leave some endpoints busy, others
// idle): when a destination's request rate stays skewed (busiest endpoint over threshold x
// the mean) for the window, one warning naming the destination and its endpoints; another
// only after it was even again.
import type { ImbalanceWarningSettings } from "../config/types.js";
import type { DestinationSample } from "./sampler.js";

/**
 * Below this mean rate (RPCs/s per endpoint) a destination is not judged: a handful of RPCs
 * landing unevenly is chance, not a balancing problem.
 */
export const MIN_MEAN_RPS = 1;

export interface ImbalanceReport {
  readonly cluster: string;
  readonly host: string;
  readonly imbalance: number;
  readonly threshold: number;
  readonly forMs: number;
  /** Each endpoint's request rate over the last 10 s, busiest first. */
  readonly endpoints: readonly { readonly endpoint: string; readonly rps: number; readonly activeRequests: number }[];
}

interface Episode {
  /** Monotonic time the imbalance was first seen, in this episode. */
  readonly since: number;
  warned: boolean;
  /** The last sample that saw the imbalance: a gap (the cluster gone meanwhile) ends the episode. */
  last: number;
}

/** Samples come every second; a longer silence means the destination was away. */
const EPISODE_GAP_MS = 5000;

export class ImbalanceWatcher {
  private readonly episodes = new Map<string, Episode>();

  constructor(
    /** Read at every sample: a reload's new settings apply at once. */
    private readonly settings: () => ImbalanceWarningSettings,
    private readonly now: () => number,
    private readonly warn: (report: ImbalanceReport) => void,
    private readonly hostOf: (cluster: string) => string,
  ) {}

  /** One destination's new sample (Sampler.onSample). */
  observe(cluster: string, sample: DestinationSample): void {
    const { threshold, windowMs } = this.settings();
    const ratio = sample.imbalance.requestRate;
    let meanRps = 0;
    for (const e of sample.endpoints.values()) meanRps += e.rps;
    meanRps /= Math.max(1, sample.endpoints.size);
    if (ratio <= threshold || meanRps < MIN_MEAN_RPS) {
      this.episodes.delete(cluster);
      return;
    }
    const now = this.now();
    // Episodes of destinations that stopped being sampled (a reload removed them) end too.
    for (const [name, e] of this.episodes) if (now - e.last > EPISODE_GAP_MS) this.episodes.delete(name);
    let episode = this.episodes.get(cluster);
    if (episode === undefined || now - episode.last > EPISODE_GAP_MS) {
      episode = { since: now, warned: false, last: now };
      this.episodes.set(cluster, episode);
    }
    episode.last = now;
    if (episode.warned || now - episode.since < windowMs) return;
    episode.warned = true;
    const endpoints = [...sample.endpoints]
      .map(([endpoint, e]) => ({ endpoint, rps: round(e.rps), activeRequests: e.activeRequests }))
      .sort((a, b) => b.rps - a.rps);
    this.warn({ cluster, host: this.hostOf(cluster), imbalance: round(ratio), threshold, forMs: now - episode.since, endpoints });
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

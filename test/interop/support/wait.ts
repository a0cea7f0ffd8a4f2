// Bounded waits on events: a missing event fails with a message saying what never happened.
import { once } from "node:events";
import type { PodStats } from "../../../src/demo/echo-service.js";

export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once a grpc-js echo pod has no active RPC (each one ended or was cancelled). */
export async function podIdle(stats: PodStats): Promise<void> {
  while (stats.active > 0) await once(stats.events, "end");
}

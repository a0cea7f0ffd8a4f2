// Waiting for events in tests: no sleeps, no polling.
import type { EventEmitter } from "node:events";

/** Resolves with the arguments of the first `event` that satisfies `pred`, from now on. */
export function waitFor<T extends unknown[]>(emitter: EventEmitter, event: string, pred: (...args: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (...args: unknown[]): void => {
      if (!pred(...(args as T))) return;
      emitter.off(event, on);
      resolve(args as T);
    };
    emitter.on(event, on);
  });
}

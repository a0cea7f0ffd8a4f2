// One ADS client per (control plane, listener), shared by every sluice:/// channel to that
// target: ten channels to sluice:///echo hold one ADS stream, not ten. The stream opens with
// the first channel and closes with the last; a channel that joins late gets the current
// snapshot (or the last failure) at once. When the stream is back after a failure, every
// channel hears the current snapshot again, so none keeps saying the control plane is away.
import os from "node:os";
import { AdsClient } from "../xds-client/ads-client.js";
import type { XdsResources } from "../xds-client/decoded-resources.js";

export interface WatchSubscriber {
  /** A consistent snapshot (the first, or a change). */
  update(snapshot: XdsResources): void;
  /** The stream ended or could not be opened; the client retries by itself. */
  streamEnded(why: { readonly code: number; readonly details: string }): void;
  /** The stream reached the control plane again after it ended (called after any re-delivered snapshot). */
  reconnected?(): void;
}

interface Watch {
  readonly client: AdsClient;
  readonly subscribers: Set<WatchSubscriber>;
  lastFailure: { readonly code: number; readonly details: string } | null;
}

const watches = new Map<string, Watch>();

/** The node id sluice/client presents to the control plane. */
export function clientNodeId(): string {
  return `sluice-client~${os.hostname()}~${process.pid}`;
}

/** Subscribes to `listener` at control plane `server`; returns the unsubscribe function. */
export function watchListener(server: string, listener: string, sub: WatchSubscriber): () => void {
  const key = `${server}\u0000${listener}`;
  let w = watches.get(key);
  if (w === undefined) {
    const client = new AdsClient({ server, nodeId: clientNodeId(), listeners: [listener] });
    const watch: Watch = { client, subscribers: new Set(), lastFailure: null };
    // Each delivery re-checks membership: a subscriber may leave (a channel close) during another's.
    const each = (fn: (x: WatchSubscriber) => void): void => {
      for (const x of [...watch.subscribers]) if (watch.subscribers.has(x)) fn(x);
    };
    client.on("update", (s) => {
      watch.lastFailure = null;
      each((x) => x.update(s));
    });
    client.on("streamEnded", (e) => {
      const failure = { code: e.code, details: e.details };
      watch.lastFailure = failure;
      each((x) => x.streamEnded(failure));
    });
    client.on("connection", (c) => {
      if (c !== "connected" || watch.lastFailure === null) return;
      // Back after a failure: the resources may be unchanged (no update comes), so the current
      // snapshot is delivered again for channels whose last word was the failure.
      watch.lastFailure = null;
      const snapshot = client.current();
      if (snapshot !== null) each((x) => x.update(snapshot));
      each((x) => x.reconnected?.());
    });
    watches.set(key, watch);
    w = watch;
    client.start();
  } else {
    // A late joiner hears what the others already know, never synchronously (grpc-js's resolver contract).
    const watch = w;
    setImmediate(() => {
      if (!watch.subscribers.has(sub)) return;
      const snapshot = watch.client.current();
      if (snapshot !== null) sub.update(snapshot);
      else if (watch.lastFailure !== null) sub.streamEnded(watch.lastFailure);
    });
  }
  w.subscribers.add(sub);
  const watch = w;
  return () => {
    if (!watch.subscribers.delete(sub) || watch.subscribers.size > 0) return;
    watch.client.close();
    if (watches.get(key) === watch) watches.delete(key);
  };
}

// The shared ADS watch behind sluice:/// channels (one ADS client per control plane and
// listener): after the control plane comes back unchanged its subscribers hear the snapshot
// again, and a subscriber that leaves during another's delivery hears nothing more.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { watchListener } from "../../src/client/control-plane-watch.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { serveAds } from "../support/ads.js";
import { waitFor } from "../support/events.js";
import { defer } from "../support/teardown.js";

const echo = (ports: number[]): string => serviceEntryYaml("echo", ports);

test("the shared watch: after the control plane comes back unchanged, its subscribers hear the snapshot again (no stale failure)", async (t) => {
  const config = parseConfig(echo([7011]));
  const { ads, port } = await serveAds(t, config);
  const events: string[] = [];
  const seen = new EventEmitter();
  const release = watchListener(`127.0.0.1:${port}`, "echo", {
    update: () => {
      events.push("update");
      seen.emit("event", "update");
    },
    streamEnded: () => {
      events.push("streamEnded");
      seen.emit("event", "streamEnded");
    },
    reconnected: () => {
      events.push("reconnected");
      seen.emit("event", "reconnected");
    },
  });
  defer(t, release);
  if (!events.includes("update")) await waitFor(seen, "event", (e: string) => e === "update");
  const ended = waitFor(seen, "event", (e: string) => e === "streamEnded");
  await ads.stop();
  await ended;
  // The same config again: nothing changed, so the ADS client has no new update of its own.
  const back = waitFor(seen, "event", (e: string) => e === "reconnected");
  await serveAds(t, config, port);
  await back;
  const afterFailure = events.slice(events.lastIndexOf("streamEnded") + 1);
  assert.deepEqual(afterFailure.slice(0, 2), ["update", "reconnected"], events.join(","));
});

test("the shared watch: a subscriber that leaves during another's delivery hears nothing more", async (t) => {
  const { address: server } = await serveAds(t, parseConfig(echo([7031])));
  const heard: string[] = [];
  const done = new EventEmitter();
  let releaseB: () => void = () => undefined;
  // A channel closing (B) from inside another's update (A), as grpc-js may do.
  const releaseA = watchListener(server, "echo", {
    update: () => {
      heard.push("A");
      releaseB();
      setImmediate(() => done.emit("delivered"));
    },
    streamEnded: () => undefined,
  });
  defer(t, releaseA);
  releaseB = watchListener(server, "echo", { update: () => heard.push("B"), streamEnded: () => undefined });
  await waitFor(done, "delivered");
  assert.deepEqual(heard, ["A"]);
});

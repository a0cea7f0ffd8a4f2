// LRS as sluice's control plane serves it beside ADS, driven by a raw StreamLoadStats
// stream: the answer asks for every cluster at the configured interval; reports become
// weights, published as a `weights` event and pushed to EDS subscribers; reports that do not
// fit (unknown cluster or endpoint, no locality, a count that overflowed from a negative) are
// ignored and the stream stays up. Without the option there is no LRS service.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { AdsServer, type WeightsEvent } from "../../src/xds-server/ads-server.js";
import { adsClientConstructor, lrsClientConstructor, TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import { RawStream, serveAds, stubClient } from "../support/ads.js";
import { Status } from "../../src/core/status.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";

const CLUSTER = "outbound|50051||echo";
const config = parseConfig(serviceEntryYaml("echo", [7001, 7002, 7003]));

interface LrsResponse {
  clusters: string[];
  send_all_clusters: boolean;
  load_reporting_interval: { seconds: string; nanos: number };
}

function locality(port: number, ok: number, inProgress: number): Record<string, unknown> {
  return {
    locality: { sub_zone: `127.0.0.1:${port}` },
    total_issued_requests: ok,
    total_successful_requests: ok,
    total_error_requests: 0,
    total_requests_in_progress: inProgress,
  };
}

test("LRS: asks for all clusters every interval; reports become weights pushed in EDS; bad reports are ignored", async (t) => {
  const { ads, address } = await serveAds(t, new AdsServer(config, { weightsFromLoad: { intervalMs: 100 } }));
  const lrsClient = stubClient(t, lrsClientConstructor(), address);
  const adsClient = stubClient(t, adsClientConstructor(), address);
  const eds = new RawStream(adsClient);
  eds.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  const first = await eds.next();
  eds.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: first.nonce, version_info: first.version_info });

  const call = (lrsClient as unknown as { StreamLoadStats(): grpc.ClientDuplexStream<unknown, LrsResponse> }).StreamLoadStats();
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => undefined);
  const answered = once(call, "data");
  call.write({ node: { id: "raw-lrs" }, cluster_stats: [] });
  const [answer] = (await answered) as [LrsResponse];
  assert.equal(answer.send_all_clusters, true);
  assert.deepEqual(answer.load_reporting_interval, { seconds: "0", nanos: 100_000_000 });

  const interval = { seconds: 1, nanos: 0 };
  // Garbage first: none of it may count or crash anything.
  call.write({
    cluster_stats: [
      { cluster_name: "outbound|1||nowhere", load_report_interval: interval, upstream_locality_stats: [locality(7001, 100, 50)] },
      {
        cluster_name: CLUSTER,
        load_report_interval: interval,
        upstream_locality_stats: [locality(9999, 100, 50), { locality: {}, total_issued_requests: 5 }],
      },
      { cluster_name: CLUSTER, load_report_interval: interval, upstream_locality_stats: [{ ...locality(7001, 100, 1), total_requests_in_progress: "-1" }] },
      { cluster_name: CLUSTER, upstream_locality_stats: [locality(7002, 100, 90)] },
    ],
  });
  const learned = once(ads, "weights", { signal: AbortSignal.timeout(10_000) });
  // 7001 and 7002: 10 ms a call; 7003: 20 ms.
  for (let i = 0; i < 5; i++) {
    call.write({
      cluster_stats: [
        {
          cluster_name: CLUSTER,
          load_report_interval: interval,
          upstream_locality_stats: [locality(7001, 100, 1), locality(7002, 100, 1), locality(7003, 100, 2)],
        },
      ],
    });
  }
  const [event] = (await learned) as [WeightsEvent];
  assert.deepEqual(event.weights, { [CLUSTER]: { "127.0.0.1:7001": 100, "127.0.0.1:7002": 100, "127.0.0.1:7003": 50 } });

  const pushed = await eds.next();
  assert.equal(pushed.version_info, event.version);
  const cla = unpackAny(pushed.resources[0] ?? assert.fail()) as {
    endpoints: { locality: { sub_zone: string }; load_balancing_weight: { value: number } }[];
  };
  assert.deepEqual(
    cla.endpoints.map((l) => [l.locality.sub_zone, l.load_balancing_weight.value]),
    [
      ["127.0.0.1:7001", 100],
      ["127.0.0.1:7002", 100],
      ["127.0.0.1:7003", 50],
    ],
  );

  // A config reload keeps what was learned for the endpoints that remain.
  const changed = ads.update(parseConfig(serviceEntryYaml("echo", [7001, 7003, 7004])));
  assert.deepEqual(changed, [TYPE_URL.endpoint]);
  const reloaded = unpackAny((await eds.next()).resources[0] ?? assert.fail()) as typeof cla;
  assert.deepEqual(
    reloaded.endpoints.map((l) => [l.locality.sub_zone, l.load_balancing_weight.value]),
    [
      ["127.0.0.1:7001", 100],
      ["127.0.0.1:7003", 50],
      ["127.0.0.1:7004", 100],
    ],
  );
  call.end();
  assert.equal((await status).code, Status.OK);
});

test("without weightsFromLoad the server has no LRS service", async (t) => {
  const { address } = await serveAds(t, config);
  const client = stubClient(t, lrsClientConstructor(), address);
  const call = (client as unknown as { StreamLoadStats(): grpc.ClientDuplexStream<unknown, LrsResponse> }).StreamLoadStats();
  call.on("error", () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.write({ node: { id: "raw-lrs" } });
  assert.equal((await status).code, Status.UNIMPLEMENTED);
});

// The route's retry policy end to end: real grpc-js backends scripted to fail, the proxy
// retrying (or not) by retryOn, attempts, the previous-hosts rule, the buffer limit,
// perTryTimeout, and the cluster's maxRetries / retryBudget; every retry counted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient, type CallResult } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { deadPort, destinationRuleYaml, listenerYaml, md, serviceEntryYaml, startPods, startProxy, type Pod, type RunningProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

type Handler = (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => void;

/** A grpc-js backend whose unary answers the test scripts; it counts the calls it gets. */
interface ScriptedPod {
  readonly port: number;
  calls: number;
  /** Emits "call" on every call. */
  readonly events: NodeJS.EventEmitter;
  handler: Handler;
  stop(): Promise<void>;
}

async function scriptedPod(handler: Handler): Promise<ScriptedPod> {
  const server = new grpc.Server();
  const { EventEmitter } = await import("node:events");
  const pod: ScriptedPod = {
    port: 0,
    calls: 0,
    events: new EventEmitter(),
    handler,
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
  const unexpected = (_c: unknown, cb: (e: grpc.ServiceError) => void): void => cb({ code: grpc.status.UNIMPLEMENTED } as grpc.ServiceError);
  server.addService(echoService, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      pod.calls++;
      pod.events.emit("call");
      pod.handler(call, cb);
    },
    serverStream: unexpected,
    clientStream: unexpected,
    bidi: unexpected,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  return Object.assign(pod, { port });
}

/** A trailers-only error answer (no response headers first), as grpc-js sends for an early error. */
const fail =
  (code: grpc.status): Handler =>
  (_call, cb) =>
    cb({ code, details: `scripted ${grpc.status[code]}` });

async function waitCalls(pod: { calls: number; events: NodeJS.EventEmitter }, n: number): Promise<void> {
  while (pod.calls < n) await once(pod.events, "call");
}

const CLUSTER = "echo|50051|";
const ROUND_ROBIN = destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }");

function virtualService(retries: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo }
spec:
  hosts: [echo]
  http:
  - retries: ${retries}
    route: [{ destination: { host: echo } }]`;
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    let ok: Pod;
    before(async () => {
      [ok] = (await startPods(1)) as [Pod];
    });
    after(async () => {
      await ok.stop();
    });

    async function through(ports: number[], extra: string[], body: (proxy: RunningProxy, client: grpc.Client) => Promise<void>, spec = ""): Promise<void> {
      const proxy = await startProxy([listenerYaml(spec, transport), serviceEntryYaml("echo", ports), ...extra].join("\n---\n"));
      const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
      try {
        await body(proxy, client);
      } finally {
        client.close();
        await proxy.stop();
      }
    }

    const sequential = async (client: grpc.Client, n: number, metadata?: Record<string, string>, request = Buffer.from("hi")): Promise<CallResult[]> => {
      const out: CallResult[] = [];
      for (let i = 0; i < n; i++) out.push(await callUnary(client, request, metadata === undefined ? undefined : md(metadata)));
      return out;
    };

    test("Istio's default policy (no VirtualService): UNAVAILABLE from one backend is retried on the other, and counted", async () => {
      const bad = await scriptedPod(fail(grpc.status.UNAVAILABLE));
      try {
        await through([bad.port, ok.port], [ROUND_ROBIN], async (proxy, client) => {
          const before = ok.stats.rpcs;
          const results = await sequential(client, 20);
          assert.deepEqual(
            results.filter((r) => r.code !== Number(grpc.status.OK)).map((r) => r.details),
            [],
          );
          assert.equal(ok.stats.rpcs - before, 20);
          assert.ok(bad.calls >= 5, `the failing backend saw ${bad.calls} calls`);
          const stats = proxy.proxy.cluster(CLUSTER)!.retryStats;
          assert.equal(stats.retries, bad.calls, "one retry per failed attempt");
          assert.equal(stats.successes, bad.calls);
          assert.equal(proxy.proxy.cluster(CLUSTER)!.activeRetries, 0);
        });
      } finally {
        await bad.stop();
      }
    });

    test("retryOn decides: a status not in it goes back to the client after one attempt", async () => {
      const bad = await scriptedPod(fail(grpc.status.UNAVAILABLE));
      try {
        await through([bad.port], [virtualService("{ attempts: 3, retryOn: internal }")], async (proxy, client) => {
          const [r] = await sequential(client, 1);
          assert.equal(r!.code, grpc.status.UNAVAILABLE);
          assert.equal(r!.details, "scripted UNAVAILABLE");
          assert.equal(bad.calls, 1);
          bad.handler = fail(grpc.status.INTERNAL);
          const [again] = await sequential(client, 1);
          assert.equal(again!.code, grpc.status.INTERNAL);
          assert.equal(bad.calls, 1 + 4, "INTERNAL is in retryOn: the first try and 3 retries");
          const stats = proxy.proxy.cluster(CLUSTER)!.retryStats;
          assert.equal(stats.retries, 3);
          assert.equal(stats.limitExceeded, 1);
          assert.equal(stats.successes, 0);
        });
      } finally {
        await bad.stop();
      }
    });

    test("attempts: 0 turns retries off, even for connect failures", async () => {
      const dead = await deadPort();
      for (const [retries, expected] of [
        ["{ attempts: 0 }", 0],
        ["{ attempts: 2 }", 2],
      ] as const) {
        await through([dead], [virtualService(retries)], async (proxy, client) => {
          const [r] = await sequential(client, 1);
          assert.equal(r!.code, grpc.status.UNAVAILABLE);
          assert.match(r!.details, /upstream connect error/);
          assert.equal(proxy.proxy.cluster(CLUSTER)!.retryStats.retries, expected, retries);
        });
      }
    });

    test("a response that began (headers sent) is never retried; a trailers-only one is, until attempts run out", async () => {
      const pods = [ok];
      await through(
        pods.map((p) => p.port),
        [],
        async (proxy, client) => {
          let before = ok.stats.rpcs;
          const [withHeaders] = await sequential(client, 1, { "x-echo-status": "14" });
          assert.equal(withHeaders!.code, grpc.status.UNAVAILABLE);
          assert.equal(ok.stats.rpcs - before, 1, "headers were on their way to the client: no retry");
          before = ok.stats.rpcs;
          const [trailersOnly] = await sequential(client, 1, { "x-echo-status": "14", "x-echo-trailers-only": "1" });
          assert.equal(trailersOnly!.code, grpc.status.UNAVAILABLE);
          assert.equal(ok.stats.rpcs - before, 3, "the default policy: the first try and 2 retries");
          assert.equal(proxy.proxy.cluster(CLUSTER)!.retryStats.limitExceeded, 1);
        },
      );
    });

    test("only a request that fits the retry buffer is retried (64 KiB by default, retryBufferLimit raises it)", async () => {
      const big = Buffer.alloc(100_000, 1);
      const failing = { "x-echo-status": "14", "x-echo-trailers-only": "1" };
      await through([ok.port], [], async (_proxy, client) => {
        const before = ok.stats.rpcs;
        const [r] = await sequential(client, 1, failing, big);
        assert.equal(r!.code, grpc.status.UNAVAILABLE);
        assert.equal(ok.stats.rpcs - before, 1, "100,000 bytes outgrew the buffer: no retry");
      });
      await through(
        [ok.port],
        [],
        async (_proxy, client) => {
          const before = ok.stats.rpcs;
          await sequential(client, 1, failing, big);
          assert.equal(ok.stats.rpcs - before, 3);
        },
        "  retryBufferLimit: 200000\n",
      );
    });

    test("a retry goes to an endpoint not tried yet (retryIgnorePreviousHosts), even when round robin points back", async () => {
      for (const ignorePrevious of [true, false]) {
        // The failing backend holds its first call until the healthy one has taken the second
        // RPC, so round robin points at the failing backend again when the retry picks.
        const bad = await scriptedPod(() => undefined);
        let held: grpc.sendUnaryData<Buffer> | undefined;
        bad.handler = (_call, cb) => {
          if (held === undefined && bad.calls === 1) held = cb;
          else fail(grpc.status.UNAVAILABLE)(_call, cb);
        };
        try {
          await through(
            [bad.port, ok.port],
            [ROUND_ROBIN, virtualService(`{ attempts: 1, retryIgnorePreviousHosts: ${ignorePrevious} }`)],
            async (_proxy, client) => {
              // Round robin starts at a random endpoint: make sure the held call is the first one.
              let first = callUnary(client, Buffer.from("one"));
              await Promise.race([waitCalls(bad, 1), once(ok.stats.events, "begin")]);
              if (bad.calls === 0) {
                await first;
                first = callUnary(client, Buffer.from("one"));
                await waitCalls(bad, 1);
              }
              const okBefore = ok.stats.rpcs;
              const second = await callUnary(client, Buffer.from("two"));
              assert.equal(second.code, grpc.status.OK);
              held!({ code: grpc.status.UNAVAILABLE, details: "scripted UNAVAILABLE" });
              const r = await first;
              if (ignorePrevious) {
                assert.equal(r.code, grpc.status.OK, r.details);
                assert.equal(ok.stats.rpcs - okBefore, 2, "the second RPC and the retry");
                assert.equal(bad.calls, 1);
              } else {
                assert.equal(r.code, grpc.status.UNAVAILABLE);
                assert.equal(bad.calls, 2, "the retry went back to the backend that failed");
              }
            },
          );
        } finally {
          await bad.stop();
        }
      }
    });

    test("a hash policy picks the failed endpoint again on every retry pick: the retry still goes to an untried one", async () => {
      const bad = await scriptedPod(fail(grpc.status.UNAVAILABLE));
      const hash = destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { httpHeaderName: x-user } }");
      try {
        await through([bad.port, ok.port], [hash, virtualService("{ attempts: 1 }")], async (proxy, client) => {
          for (let i = 0; i < 16; i++) {
            const r = await callUnary(client, Buffer.from("x"), md({ "x-user": `user-${i}` }));
            assert.equal(r.code, grpc.status.OK, `user-${i}: ${r.details}`);
          }
          assert.ok(bad.calls > 0, "some keys hash to the failing endpoint");
          assert.equal(proxy.proxy.cluster(CLUSTER)!.retryStats.retries, bad.calls);
        });
      } finally {
        await bad.stop();
      }
    });

    test("perTryTimeout: a stuck attempt is cut and retried elsewhere when retryOn covers it; else UNAVAILABLE (Envoy's 504)", async () => {
      const stuck = await scriptedPod(() => undefined); // never answers
      try {
        await through(
          [stuck.port, ok.port],
          [ROUND_ROBIN, virtualService("{ attempts: 2, perTryTimeout: 200ms, retryOn: 'unavailable,reset' }")],
          async (proxy, client) => {
            const results = await Promise.all([callUnary(client, Buffer.from("a")), callUnary(client, Buffer.from("b"))]);
            for (const r of results) assert.equal(r.code, grpc.status.OK, r.details);
            assert.equal(stuck.calls, 1);
            assert.equal(proxy.proxy.cluster(CLUSTER)!.retryStats.retries, 1);
          },
        );
        await through([stuck.port], [virtualService("{ attempts: 2, perTryTimeout: 200ms }")], async (_proxy, client) => {
          const before = stuck.calls;
          const r = await callUnary(client, Buffer.from("a"));
          assert.equal(r.code, grpc.status.UNAVAILABLE);
          assert.match(r.details, /upstream per-try timeout \(200 ms\)/);
          assert.equal(stuck.calls - before, 1, "Istio's default retryOn does not cover a timeout");
        });
      } finally {
        await stuck.stop();
      }
    });

    for (const [name, limit] of [
      ["maxRetries", "    connectionPool: { http: { maxRetries: 1 } }"],
      ["retryBudget", "    retryBudget: { percent: 0, minRetryConcurrency: 1 }"],
    ] as const) {
      test(`${name}: one RPC may retry at a time; the others get the backend's failure at once`, async () => {
        // The first 4 calls fail; later calls (the retry) wait until the test lets them answer.
        const bad = await scriptedPod(() => undefined);
        const waiting: grpc.sendUnaryData<Buffer>[] = [];
        bad.handler = (call, cb) => {
          if (bad.calls <= 4) fail(grpc.status.UNAVAILABLE)(call, cb);
          else waiting.push((e, v) => cb(e, v ?? call.request));
        };
        try {
          await through([bad.port], [destinationRuleYaml("echo", limit)], async (proxy, client) => {
            const calls = [1, 2, 3, 4].map((i) => callUnary(client, Buffer.from(`rpc-${i}`)));
            await waitCalls(bad, 5); // 4 first tries and the one retry allowed
            // The three refused retries end without waiting for the held one.
            const refused: CallResult[] = [];
            const pending = calls.map((c) => c.then((r) => (r.code !== Number(grpc.status.OK) ? refused.push(r) : 0)));
            while (refused.length < 3) await Promise.race(pending);
            // The backend's own answer reaches the client as it was (the refusal is counted).
            for (const r of refused) assert.equal(r.details, "scripted UNAVAILABLE");
            const cluster = proxy.proxy.cluster(CLUSTER)!;
            assert.equal(cluster.retryStats.overflows, 3);
            assert.equal(cluster.activeRetries, 1);
            for (const cb of waiting.splice(0)) cb(null);
            await Promise.all(pending);
            assert.equal(refused.length, 3);
            assert.equal(cluster.retryStats.successes, 1);
            assert.equal(cluster.activeRetries, 0);
          });
        } finally {
          for (const cb of waiting) cb(null);
          await bad.stop();
        }
      });
    }
  });

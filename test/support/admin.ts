// A real proxy with its admin server (the CLI's wiring: src/admin/observability.ts) on
// loopback, and a parser for the Prometheus text it serves.
import assert from "node:assert/strict";
import { observedProxy, type Observability, type ObservabilityDeps } from "../../src/admin/observability.js";
import type { Proxy, ProxyDeps } from "../../src/proxy/proxy.js";
import { destinationRuleYaml, listenerYaml, parseConfig, serviceEntryYaml } from "./cluster.js";
import { proxyInFront, type ProxyWithPods } from "./proxy-with-pods.js";
import { scriptedPods, type ScriptedPod } from "./scripted-pods.js";
import type { Owner } from "./teardown.js";

export interface AdminProxy {
  readonly proxy: Proxy;
  readonly observability: Observability;
  /** The proxy's address for clients. */
  readonly target: string;
  /** The admin server's base URL, no trailing slash. */
  readonly admin: string;
  get(path: string): Promise<{ status: number; type: string | null; body: string }>;
  stop(): Promise<void>;
}

export async function startAdminProxy(yaml: string, deps: ObservabilityDeps = {}, proxyDeps: ProxyDeps = {}): Promise<AdminProxy> {
  const { proxy, observability } = observedProxy(parseConfig(yaml), proxyDeps, deps);
  // Never the default 127.0.0.1:15000: tests run side by side.
  assert.ok(proxy.config.listener.admin?.configured === true, "the config must set spec.admin (port 0)");
  const a = await observability.startAdmin();
  assert.ok(a !== undefined, "the config must set spec.admin");
  const admin = `http://127.0.0.1:${a.port}`;
  const addr = await proxy.start();
  return {
    proxy,
    observability,
    target: `127.0.0.1:${addr.port}`,
    admin,
    get: async (path) => {
      const r = await fetch(admin + path);
      return { status: r.status, type: r.headers.get("content-type"), body: await r.text() };
    },
    stop: async () => {
      await proxy.stop(1000);
      await observability.stop();
    },
  };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Parses Prometheus text format 0.0.4 strictly: every line a HELP, a TYPE or a sample of the
 * family announced last; throws on anything else.
 */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  let family = "";
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/.exec(line);
    if (m !== null) {
      family = m[1]!;
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m !== null) {
      assert.equal(m[1], family, `TYPE after its HELP: ${line}`);
      types.set(m[1], m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    assert.ok(m !== null, `not a Prometheus line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    assert.ok(name === family || name.startsWith(`${family}_`), `${name} outside its family ${family}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    const rest = body.replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g, (_all, k: string, v: string) => {
      labels[k] = v.replace(/\\(.)/g, (_x, c: string) => (c === "n" ? "\n" : c));
      return "";
    });
    assert.equal(rest, "", `bad labels in ${line}`);
    samples.push({ name, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The one sample of `name` whose labels include `labels` (fails when none or several match). */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} samples (${JSON.stringify(found)})`);
  return found[0]!.value;
}

/** A `start` for proxyWithPods: the proxy with its admin server (the config must set spec.admin, port 0). */
export function withAdmin(deps: ObservabilityDeps = {}): (yaml: string, proxyDeps: ProxyDeps) => Promise<AdminProxy> {
  return (yaml, proxyDeps) => startAdminProxy(yaml, deps, proxyDeps);
}

/**
 * Two echo pods of `host` behind a proxy with its admin server, balanced round robin, with
 * outlier detection that ejects an endpoint at its first 5xx (for a minute): the setup of the
 * admin tests that show an ejected endpoint. The client's authority is `host`.
 */
export async function twoPodsOneStrike(owner: Owner, host: string): Promise<ProxyWithPods<ScriptedPod, AdminProxy>> {
  const pods = await scriptedPods(owner, 2);
  const yaml = [
    serviceEntryYaml(
      host,
      pods.map((p) => p.port),
    ),
    destinationRuleYaml(
      host,
      "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}\n",
    ),
    listenerYaml("  admin: 127.0.0.1:0\n"),
  ].join("---\n");
  return proxyInFront(owner, pods, { config: () => [yaml], start: withAdmin(), client: { "grpc.default_authority": host } });
}

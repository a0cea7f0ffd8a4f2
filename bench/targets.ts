// The things under test, each started as its own process on 127.0.0.1 and pinned to a core:
// the echo backend, and the proxies in front of it (sluice, nginx, HAProxy). Configs are
// written to the run's temp directory; every server logs there, never to system paths.
// With `tls` (bench/tls.ts), each serves TLS with ALPN h2 and the proxies verify the backend's
// certificate against the run's CA, each configured the same way.
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, start, versionOf, waitFor, type Started } from "./procs.js";
import type { TlsFiles } from "./tls.js";

const here = fileURLToPath(new URL(".", import.meta.url));
/** dist/ root: bench/*.js sits in dist/bench/. */
const distRoot = join(here, "..");

export interface Target {
  readonly name: string;
  readonly port: number;
  readonly proc: Started;
  /** ws:// address of the node inspector, when started with SluiceOptions.inspect. */
  readonly inspectorUrl?: string;
}

/** Starts a proxy; `inspect` asks a node proxy for an inspector (the others ignore it). */
export type StartTarget = (opts: { inspect: boolean }) => Promise<Target>;

export interface Tool {
  readonly name: string;
  readonly version: string | undefined;
}

export function detectTools(): Record<"h2load" | "nginx" | "haproxy" | "taskset", Tool> {
  return {
    h2load: { name: "h2load", version: versionOf("h2load", ["--version"]) },
    nginx: { name: "nginx", version: versionOf("nginx", ["-v"]) },
    haproxy: { name: "haproxy", version: versionOf("haproxy", ["-v"]) },
    taskset: { name: "taskset", version: versionOf("taskset", ["-V"]) },
  };
}

export async function startNodeBackend(core: number, tls?: TlsFiles): Promise<Target> {
  const tlsArgs = tls === undefined ? [] : [tls.backendCert, tls.backendKey];
  const proc = start(process.execPath, [join(distRoot, "bench/backend.js"), "0", ...tlsArgs], { core });
  const m = await waitFor(proc, /backend listening on 127\.0\.0\.1:(\d+)/);
  return { name: tls === undefined ? "node:http2 echo" : "node:http2 echo over TLS", port: Number(m[1]), proc };
}

/**
 * sluice's config: one host "bench" with the backend as its STATIC endpoint; with
 * `maxRequestsPerConnection`, a DestinationRule that cycles upstream connections after that
 * many streams (0 written as such: Istio's "unset", unlimited).
 */
export function sluiceConfig(dir: string, backendPort: number, maxRequestsPerConnection?: number, tlsCa?: string): string {
  const name = maxRequestsPerConnection === undefined ? "sluice" : `sluice-mrpc-${maxRequestsPerConnection}`;
  const file = join(dir, `${name}${tlsCa === undefined ? "" : "-tls"}.yaml`);
  writeFileSync(file, sluiceConfigText(backendPort, maxRequestsPerConnection, tlsCa));
  return file;
}

/**
 * sluiceConfig()'s YAML: the ServiceEntry, and a DestinationRule when cycling or TLS to the
 * backend (SIMPLE, verified against `tlsCa`; SNI and SAN default to the host, "bench") is asked for.
 */
export function sluiceConfigText(backendPort: number, maxRequestsPerConnection?: number, tlsCa?: string): string {
  const policy = [
    ...(maxRequestsPerConnection === undefined ? [] : [`    connectionPool:\n      http: { maxRequestsPerConnection: ${maxRequestsPerConnection} }\n`]),
    ...(tlsCa === undefined ? [] : [`    tls: { mode: SIMPLE, caCertificates: ${JSON.stringify(tlsCa)} }\n`]),
  ];
  const rule =
    policy.length === 0
      ? ""
      : `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: bench }
spec:
  host: bench
  trafficPolicy:
${policy.join("")}`;
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bench }
spec:
  hosts: [bench]
  ports:
    - { number: 50051, name: grpc, protocol: GRPC }
  resolution: STATIC
  endpoints:
    - address: 127.0.0.1
      ports: { grpc: ${backendPort} }
${rule}`;
}

export interface SluiceOptions {
  /** Directory for a V8 CPU profile (node --cpu-prof), written when the proxy exits. */
  readonly cpuProfileDir?: string;
  /** Extra node flags for the proxy process (e.g. --max-semi-space-size=4), for experiments. */
  readonly nodeFlags?: readonly string[];
  /** sluice's HTTP/2 transport: its own (h2) or node:http2 (node). */
  readonly transport?: "h2" | "node";
  /** Listen for the node inspector on a free loopback port (the idle pass forces GCs through it). */
  readonly inspect?: boolean;
  /** DestinationRule connectionPool.http.maxRequestsPerConnection; undefined writes no DestinationRule. */
  readonly maxRequestsPerConnection?: number;
  /** TLS on both sides: --tls-cert/--tls-key to the clients, DestinationRule tls SIMPLE to the backend. */
  readonly tls?: TlsFiles;
}

export async function startSluice(dir: string, backendPort: number, core: number, opts: SluiceOptions = {}): Promise<Target> {
  const config = sluiceConfig(dir, backendPort, opts.maxRequestsPerConnection, opts.tls?.ca);
  const tlsFlags = opts.tls === undefined ? [] : ["--tls-cert", opts.tls.proxyCert, "--tls-key", opts.tls.proxyKey];
  const nodeFlags = [...(opts.nodeFlags ?? [])];
  if (opts.cpuProfileDir !== undefined) nodeFlags.push("--cpu-prof", `--cpu-prof-dir=${opts.cpuProfileDir}`);
  if (opts.inspect === true) nodeFlags.push("--inspect=127.0.0.1:0");
  const proc = start(
    process.execPath,
    // --default-host: h2load and grpc-js send :authority 127.0.0.1:PORT, which names no host.
    [
      ...nodeFlags,
      join(distRoot, "src/cli/main.js"),
      "proxy",
      "-c",
      config,
      "--listen",
      "127.0.0.1:0",
      "--default-host",
      "bench",
      "--transport",
      opts.transport ?? "h2",
      ...tlsFlags,
    ],
    { core },
  );
  const m = await waitFor(proc, /sluice proxy listening on 127\.0\.0\.1:(\d+)/);
  // node prints the inspector address at startup, before the proxy listens.
  const inspectorUrl = opts.inspect === true ? (await waitFor(proc, /Debugger listening on (ws:\/\/\S+)/))[1] : undefined;
  const name = (opts.transport === "node" ? "sluice (node:http2)" : "sluice") + (opts.tls === undefined ? "" : " over TLS");
  return { name, port: Number(m[1]), proc, inspectorUrl };
}

function nginxPrefix(dir: string, name: string): string {
  const prefix = join(dir, name);
  mkdirSync(join(prefix, "logs"), { recursive: true });
  mkdirSync(join(prefix, "tmp"), { recursive: true });
  return prefix;
}

function nginxCommon(prefix: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
`;
}

function nginxHttpCommon(prefix: string): string {
  return `  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  # nginx ends an HTTP/2 connection after keepalive_requests streams (default 1000);
  # gRPC clients hold connections for hours, so do not cycle them during the run.
  keepalive_requests 100000000;
  keepalive_timeout 300s;
`;
}

async function startNginx(prefix: string, conf: string, port: number, core: number, name: string): Promise<Target> {
  const file = join(prefix, "nginx.conf");
  writeFileSync(file, conf);
  const proc = start("nginx", ["-p", prefix, "-c", file, "-e", join(prefix, "logs/error.log")], { core });
  await waitForPort(proc, port);
  return { name, port, proc };
}

/**
 * nginx as a gRPC proxy: grpc_pass to the backend over kept-alive upstream connections; with
 * `tls`, TLS on the listener and grpcs:// to the backend, its certificate verified.
 */
export async function startNginxProxy(dir: string, backendPort: number, core: number, tls?: TlsFiles): Promise<Target> {
  const prefix = nginxPrefix(dir, tls === undefined ? "nginx-proxy" : "nginx-proxy-tls");
  const port = await freePort();
  const listen =
    tls === undefined
      ? `listen 127.0.0.1:${port} http2;`
      : `listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${tls.proxyCert};
    ssl_certificate_key ${tls.proxyKey};
    # nginx 1.22 offers TLS 1.0-1.2 only by default; the others negotiate 1.3.
    ssl_protocols TLSv1.2 TLSv1.3;`;
  const pass =
    tls === undefined
      ? "grpc_pass grpc://backend;"
      : `grpc_pass grpcs://backend;
      grpc_ssl_verify on;
      grpc_ssl_trusted_certificate ${tls.ca};
      grpc_ssl_server_name on;
      grpc_ssl_name ${tls.backendName};
      grpc_ssl_protocols TLSv1.2 TLSv1.3;`;
  const conf = `${nginxCommon(prefix)}
http {
${nginxHttpCommon(prefix)}
  upstream backend {
    server 127.0.0.1:${backendPort};
    # nginx runs one stream per upstream HTTP/2 connection; keep them open between RPCs.
    keepalive 512;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }
  server {
    ${listen}
    http2_max_concurrent_streams 1024;
    location / {
      ${pass}
    }
  }
}
`;
  return startNginx(prefix, conf, port, core, tls === undefined ? "nginx" : "nginx over TLS");
}

const ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so";

/**
 * nginx as the echo backend, when the echo module (libnginx-mod-http-echo) is installed:
 * it reads the request body and writes it back with trailers grpc-status 0, in C.
 */
export async function startNginxBackend(dir: string, core: number): Promise<Target> {
  const prefix = nginxPrefix(dir, "nginx-backend");
  const port = await freePort();
  const conf = `load_module ${ECHO_MODULE};
${nginxCommon(prefix)}
http {
${nginxHttpCommon(prefix)}
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_concurrent_streams 1024;
    client_body_buffer_size 64k;
    # Connections accepted so far (bench/backend-stats.ts): what proxies opened upstream.
    location = /stub_status {
      stub_status;
    }
    location / {
      default_type application/grpc;
      echo_read_request_body;
      echo_request_body;
      add_trailer grpc-status 0 always;
    }
  }
}
`;
  return startNginx(prefix, conf, port, core, "nginx echo module");
}

export const echoModulePath = ECHO_MODULE;

/**
 * HAProxy: HTTP mode, h2 on both sides, one thread; with `tls`, TLS on both sides (ALPN h2),
 * the backend's certificate verified against the CA and its name.
 */
export async function startHaproxy(dir: string, backendPort: number, core: number, tls?: TlsFiles): Promise<Target> {
  const port = await freePort();
  const file = join(dir, tls === undefined ? "haproxy.cfg" : "haproxy-tls.cfg");
  const bind = tls === undefined ? "proto h2" : `ssl crt ${tls.proxyPem} alpn h2`;
  const server = tls === undefined ? "proto h2" : `ssl verify required ca-file ${tls.ca} sni str(${tls.backendName}) verifyhost ${tls.backendName} alpn h2`;
  writeFileSync(
    file,
    `global
  nbthread 1
  # HAProxy raises its FD limit to ~2 x maxconn; stay under the usual soft limits.
  maxconn 4000

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend fe
  bind 127.0.0.1:${port} ${bind}
  default_backend be

backend be
  server s1 127.0.0.1:${backendPort} ${server}
`,
  );
  const proc = start("haproxy", ["-db", "-f", file], { core });
  await waitForPort(proc, port);
  return { name: tls === undefined ? "haproxy" : "haproxy over TLS", port, proc };
}

/** For servers that print nothing when ready: poll until the port accepts a connection. */
async function waitForPort(proc: Started, port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(`process ${proc.pid} exited (${proc.child.exitCode}): ${proc.stderr().slice(-2000)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} not open after ${timeoutMs}ms: ${proc.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

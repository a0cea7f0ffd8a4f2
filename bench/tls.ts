// The TLS passes' own parts: certificates made with openssl for the run (a CA, one server
// certificate for the proxies, one for the backend; ECDSA P-256, as most deployments now
// issue), and the handshake pass: many short h2load connections, each a full TLS handshake
// (h2load resumes no sessions) and one RPC, so that the proxy's CPU per connection is
// mostly the handshake.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { h2load } from "./h2load.js";
import { cpuSeconds } from "./procs.js";

export interface TlsFiles {
  /** The CA that issued both certificates: what the proxies verify the backend against. */
  readonly ca: string;
  readonly proxyCert: string;
  readonly proxyKey: string;
  /** proxyCert and proxyKey in one file, as HAProxy's `crt` takes them. */
  readonly proxyPem: string;
  readonly backendCert: string;
  readonly backendKey: string;
  /** The DNS name in the backend's certificate: the SNI and SAN every proxy asks for. */
  readonly backendName: string;
}

/** sluice's default SNI and SAN for a SIMPLE cluster is its host, so the backend carries the bench host's name. */
const BACKEND_NAME = "bench";

function openssl(dir: string, args: readonly string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.error?.message ?? r.stderr}`);
}

/** Writes the CA and the two leaf certificates (valid 90 days: sluice warns of certificates expiring within 30) into dir. */
export function makeCertificates(dir: string): TlsFiles {
  const p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(dir, [
    "req",
    "-x509",
    ...p256,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "90",
    "-subj",
    "/CN=sluice bench CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const leaf = (name: string, san: string): void => {
    writeFileSync(
      join(dir, `${name}.ext`),
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(dir, ["req", ...p256, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "90",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ]);
  };
  leaf("proxy", "DNS:localhost,IP:127.0.0.1");
  leaf("backend", `DNS:${BACKEND_NAME},IP:127.0.0.1`);
  const proxyPem = join(dir, "proxy.pem");
  writeFileSync(proxyPem, readFileSync(join(dir, "proxy.crt"), "utf8") + readFileSync(join(dir, "proxy.key"), "utf8"));
  return {
    ca: join(dir, "ca.crt"),
    proxyCert: join(dir, "proxy.crt"),
    proxyKey: join(dir, "proxy.key"),
    proxyPem,
    backendCert: join(dir, "backend.crt"),
    backendKey: join(dir, "backend.key"),
    backendName: BACKEND_NAME,
  };
}

export interface HandshakeResult {
  /** Connections that completed a handshake and their one RPC. */
  readonly connections: number;
  readonly failed: number;
  /** Sum of h2load's wall times over the batches (process start-up between them not counted). */
  readonly seconds: number;
  readonly proxyCpuS: number;
}

/** Handshakes of one batch: all opened at once, within the proxies' accept backlogs (node: 511). */
const BATCH = 200;

/**
 * `batches` runs of h2load -c BATCH -n BATCH -m 1: every connection does a full TLS handshake,
 * one RPC, and closes. An unmeasured batch first (JIT, session caches).
 */
export async function handshakePass(url: string, bodyFile: string, proxyPid: number, batches: number, core: number): Promise<HandshakeResult> {
  const run = { url, bodyFile, clients: BATCH, streams: 1, requests: BATCH, core };
  await h2load(run);
  const c0 = cpuSeconds(proxyPid);
  let connections = 0;
  let failed = 0;
  let seconds = 0;
  for (let i = 0; i < batches; i++) {
    const r = await h2load(run);
    connections += r.succeeded;
    failed += r.done - r.succeeded + (BATCH - r.done);
    seconds += r.seconds;
  }
  return { connections, failed, seconds, proxyCpuS: cpuSeconds(proxyPid) - c0 };
}

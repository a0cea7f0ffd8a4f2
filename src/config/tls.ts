// A DestinationRule's `tls` (Istio's ClientTLSSettings): TLS from the proxy to the endpoints.
// Every field is either honoured or refused: a setting sluice cannot act on is an error,
// never a warning, so a config that asks for TLS never runs in plaintext. The files named
// are checked here (tls-files.ts), at the line of the field that names them.
import { resolve } from "node:path";
import type { Diagnostics } from "./diagnostics.js";
import type { MapReader } from "./reader.js";
import { checkCaBundle, checkCrl, checkKeyPair, checkWorkloadCertificates, type FileField } from "./tls-files.js";
import type { Cluster, UpstreamTlsSettings, WorkloadCertificates } from "./types.js";

export const UPSTREAM_TLS_MODES = ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] as const;

/** Where a tls block was written: ISTIO_MUTUAL's workload certificate problems point there. */
export interface TlsOrigin {
  readonly file: string;
  readonly line: number;
  readonly path: string;
}

/** Settings are immutable and pass through the policy merge as they are, so their origin can be looked up by identity. */
const origins = new WeakMap<UpstreamTlsSettings, TlsOrigin>();

export function tlsOrigin(settings: UpstreamTlsSettings): TlsOrigin | undefined {
  return origins.get(settings);
}

/**
 * A string field naming a file: the path resolved against the config file's directory (kept
 * as written when there is none), and problems reported at the field. An empty string is
 * unset, as in Istio (proto3).
 */
export function fileAt(r: MapReader, key: string): FileField | undefined {
  const written = r.string(key);
  if (written === undefined || written === "") return undefined;
  return {
    path: r.ctx.dir === null ? written : resolve(r.ctx.dir, written),
    error: (m) => r.error(key, m),
    warn: (m) => r.warn(key, m),
  };
}

/**
 * undefined: no `tls` here (a less specific policy's applies); null: plaintext, set here
 * (mode DISABLE, or no mode, Istio's default), which replaces a less specific policy's TLS.
 */
export function parseUpstreamTls(r: MapReader | undefined): UpstreamTlsSettings | null | undefined {
  if (r === undefined) return undefined;
  const written = r.enumOf("mode", UPSTREAM_TLS_MODES);
  const clientCertificate = fileAt(r, "clientCertificate");
  const privateKey = fileAt(r, "privateKey");
  const caCertificates = fileAt(r, "caCertificates");
  const credentialName = r.string("credentialName");
  const subjectAltNames = r.stringList("subjectAltNames") ?? [];
  const sni = r.string("sni");
  const insecureSkipVerify = r.bool("insecureSkipVerify") ?? false;
  const caCrl = fileAt(r, "caCrl");
  r.finish();
  if (written === undefined && r.has("mode")) return null; // reported by enumOf

  // Proto3 semantics, as Istio reads them: an empty string or list, or false, is unset.
  const set: Readonly<Record<string, boolean>> = {
    clientCertificate: clientCertificate !== undefined,
    privateKey: privateKey !== undefined,
    caCertificates: caCertificates !== undefined,
    subjectAltNames: subjectAltNames.length > 0,
    sni: sni !== undefined && sni !== "",
    insecureSkipVerify,
    caCrl: caCrl !== undefined,
  };
  const given = (keys: readonly string[]): string[] => keys.filter((k) => set[k] === true);
  let ok = true;
  const refuse = (key: string, message: string): void => {
    r.error(key, message);
    ok = false;
  };
  if (credentialName !== undefined && credentialName !== "") {
    refuse(
      "credentialName",
      `sluice has no secret discovery to fetch ${JSON.stringify(credentialName)} from: give the files instead, with clientCertificate and privateKey (mode MUTUAL) and caCertificates`,
    );
  }
  const mode = written ?? "DISABLE";
  if (mode === "DISABLE") {
    const how = written === undefined ? "without a mode (DISABLE, Istio's default)" : "with mode DISABLE";
    for (const key of given(Object.keys(set)))
      refuse(key, `has no effect ${how}: the connection is plaintext; set mode SIMPLE, MUTUAL or ISTIO_MUTUAL for TLS`);
    return null;
  }
  if (mode === "SIMPLE") {
    for (const key of given(["clientCertificate", "privateKey"])) {
      refuse(key, "is only used with mode MUTUAL: SIMPLE presents no client certificate; set mode MUTUAL to present one");
    }
  }
  if (mode === "MUTUAL") {
    if (clientCertificate === undefined) refuse("mode", "MUTUAL needs clientCertificate: the client certificate chain (PEM) presented to the server");
    if (privateKey === undefined) refuse("mode", "MUTUAL needs privateKey: the client certificate's private key (PEM)");
  }
  if (mode === "ISTIO_MUTUAL") {
    for (const key of given(["clientCertificate", "privateKey", "caCertificates"])) {
      refuse(key, "must be empty with mode ISTIO_MUTUAL, as in Istio: the workload certificate and root in the Proxy's spec.workloadCertificates are used");
    }
  }
  if (insecureSkipVerify) {
    for (const key of given(["caCertificates", "subjectAltNames", "caCrl"])) {
      refuse(key, "cannot be honoured with insecureSkipVerify: true, which verifies nothing about the server; remove one of them");
    }
    if (ok) r.warn("insecureSkipVerify", "the server's certificate is not verified: whoever can reach the connection can pose as the server");
  }
  if (!ok) return null;

  const useFiles = mode !== "ISTIO_MUTUAL";
  if (useFiles && clientCertificate !== undefined && privateKey !== undefined) checkKeyPair(clientCertificate, privateKey);
  if (useFiles && caCertificates !== undefined) checkCaBundle(caCertificates);
  if (caCrl !== undefined) checkCrl(caCrl);
  const settings: UpstreamTlsSettings = {
    mode,
    caCertificates: useFiles ? (caCertificates?.path ?? null) : null,
    clientCertificate: useFiles ? (clientCertificate?.path ?? null) : null,
    privateKey: useFiles ? (privateKey?.path ?? null) : null,
    subjectAltNames,
    sni: set["sni"] === true ? (sni ?? null) : null,
    insecureSkipVerify,
    caCrl: caCrl?.path ?? null,
  };
  origins.set(settings, { file: r.ctx.file, line: r.lineOf("mode"), path: r.fieldPath("mode") });
  return settings;
}

/**
 * When a cluster uses ISTIO_MUTUAL, the workload certificate directory must hold Istio's
 * files. Problems point at the Proxy's spec.workloadCertificates when it is set, else at the
 * first ISTIO_MUTUAL mode (the directory is then the default).
 */
export function checkWorkloadCertificatesUse(
  clusters: Iterable<Cluster>,
  workload: WorkloadCertificates,
  configuredAt: { readonly file: string; readonly line: number } | undefined,
  diag: Diagnostics,
): void {
  let origin: TlsOrigin | undefined;
  for (const c of clusters) {
    if (c.policy.tls?.mode !== "ISTIO_MUTUAL") continue;
    origin = tlsOrigin(c.policy.tls);
    if (origin !== undefined) break;
  }
  if (origin === undefined) return;
  const at =
    configuredAt === undefined
      ? { ...origin, prefix: "ISTIO_MUTUAL uses the workload certificate in the default directory: " }
      : { ...configuredAt, path: "spec.workloadCertificates", prefix: "" };
  checkWorkloadCertificates(workload.directory, {
    error: (m) => diag.error(at.file, at.line, at.path, `${at.prefix}${m}`),
    warn: (m) => diag.warn(at.file, at.line, at.path, `${at.prefix}${m}`),
  });
}

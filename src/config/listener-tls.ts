// TLS on the listener (clients to sluice): the Proxy resource's spec.tls, with the field names
// of Istio's Gateway (ServerTLSSettings), and the --tls-cert, --tls-key and --tls-client-ca
// flags that override it. Also the workload certificate settings of spec (ISTIO_MUTUAL's
// files and trust domain). Files are checked where they are named (tls-files.ts).
import { resolve } from "node:path";
import { COMMAND_LINE, type Diagnostics } from "./diagnostics.js";
import type { MapReader } from "./reader.js";
import { fileAt } from "./tls.js";
import { checkCaBundle, checkKeyPair, type FileField } from "./tls-files.js";
import type { DownstreamTlsSettings } from "./types.js";

/** Istio's TLSProtocol names; TLS_AUTO is the default (1.2). */
const PROTOCOL_VERSIONS = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"] as const;

type Certificate = DownstreamTlsSettings["certificates"][number];

/** spec.tls; undefined when absent or when it has problems (reported). */
export function parseDownstreamTls(r: MapReader | undefined): DownstreamTlsSettings | undefined {
  if (r === undefined) return undefined;
  let ok = true;
  const pairAt = (m: MapReader, what: string): Certificate | undefined => {
    const cert = fileAt(m, "serverCertificate");
    const key = fileAt(m, "privateKey");
    if (cert !== undefined && key === undefined) m.error(null, `privateKey is required with serverCertificate: the key of ${what}`);
    if (key !== undefined && cert === undefined) m.error(null, "serverCertificate is required with privateKey: the certificate chain (PEM) the key belongs to");
    if (cert === undefined || key === undefined) return undefined;
    checkKeyPair(cert, key);
    return { certificateChain: cert.path, privateKey: key.path };
  };
  const hasPair = r.has("serverCertificate") || r.has("privateKey");
  const single = pairAt(r, "that certificate");
  if (hasPair && single === undefined) ok = false;
  const listed: Certificate[] = [];
  const items = r.mapList("tlsCertificates");
  for (const item of items) {
    const c = pairAt(item, "that certificate");
    if (!item.has("serverCertificate") && !item.has("privateKey")) item.error(null, "serverCertificate and privateKey are required");
    item.finish();
    if (c === undefined) ok = false;
    else listed.push(c);
  }
  const clientCa = fileAt(r, "caCertificates");
  const version = r.enumOf("minProtocolVersion", PROTOCOL_VERSIONS);
  r.finish();

  if (hasPair && r.has("tlsCertificates")) {
    r.error("tlsCertificates", "set serverCertificate and privateKey (one certificate) or tlsCertificates (several, chosen by SNI), not both");
    ok = false;
  } else if (r.has("tlsCertificates") && items.length === 0) {
    r.error("tlsCertificates", "must list at least one certificate ({serverCertificate, privateKey})");
    ok = false;
  } else if (!hasPair && !r.has("tlsCertificates")) {
    r.error(null, "a certificate is required: serverCertificate and privateKey, or tlsCertificates");
    ok = false;
  }
  if (version === "TLSV1_0" || version === "TLSV1_1") {
    r.error("minProtocolVersion", "sluice's minimum is TLSV1_2: TLS 1.0 and 1.1 are deprecated (RFC 8996)");
    ok = false;
  }
  if (clientCa !== undefined) checkCaBundle(clientCa);
  if (!ok || (r.has("minProtocolVersion") && version === undefined)) return undefined;
  return {
    certificates: single !== undefined ? [single] : listed,
    clientCa: clientCa?.path ?? null,
    minVersion: version === "TLSV1_3" ? "TLSv1.3" : "TLSv1.2",
  };
}

/** The --tls-* flags, as typed; relative paths are read from the working directory. */
export interface TlsFlags {
  readonly cert?: string;
  readonly key?: string;
  readonly clientCa?: string;
}

/**
 * The flags over spec.tls: --tls-cert and --tls-key (together) replace its certificates with
 * one, --tls-client-ca its client CA; minProtocolVersion stays. Problems are the flags'.
 */
export function applyTlsFlags(fromSpec: DownstreamTlsSettings | null, flags: TlsFlags, diag: Diagnostics): DownstreamTlsSettings | null {
  const field = (flag: string, text: string): FileField => ({
    path: resolve(text),
    error: (m) => diag.error(COMMAND_LINE, 0, flag, m),
    warn: (m) => diag.warn(COMMAND_LINE, 0, flag, m),
  });
  const cert = flags.cert === undefined ? undefined : field("--tls-cert", flags.cert);
  const key = flags.key === undefined ? undefined : field("--tls-key", flags.key);
  const clientCa = flags.clientCa === undefined ? undefined : field("--tls-client-ca", flags.clientCa);
  if (cert !== undefined && key === undefined) cert.error("needs --tls-key: the certificate's private key");
  if (key !== undefined && cert === undefined) key.error("needs --tls-cert: the certificate chain the key belongs to");
  if (cert !== undefined && key !== undefined) checkKeyPair(cert, key);
  const certificates = cert !== undefined && key !== undefined ? [{ certificateChain: cert.path, privateKey: key.path }] : fromSpec?.certificates;
  if (clientCa !== undefined) {
    checkCaBundle(clientCa);
    if (certificates === undefined && cert === undefined && key === undefined) {
      clientCa.error("needs a certificate to serve TLS with: --tls-cert and --tls-key, or the Proxy resource's spec.tls");
    }
  }
  if (certificates === undefined) return fromSpec;
  return { certificates, clientCa: clientCa?.path ?? fromSpec?.clientCa ?? null, minVersion: fromSpec?.minVersion ?? "TLSv1.2" };
}

/** SPIFFE's trust domain characters (lower case letters, digits, dots, dashes, underscores). */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

export function parseTrustDomain(r: MapReader): string | undefined {
  const td = r.string("trustDomain", { required: false });
  if (td === undefined) return undefined;
  if (!TRUST_DOMAIN.test(td)) {
    r.error("trustDomain", `must be a SPIFFE trust domain (lower case letters, digits, ".", "-", "_"), got ${JSON.stringify(td)}`);
    return undefined;
  }
  return td;
}

/** spec.workloadCertificates: the directory, resolved as other paths are, and its line. */
export function parseWorkloadDirectory(r: MapReader): { readonly directory: string; readonly line: number } | undefined {
  const f = fileAt(r, "workloadCertificates");
  return f === undefined ? undefined : { directory: f.path, line: r.lineOf("workloadCertificates") };
}

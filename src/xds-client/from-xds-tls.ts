// A Cluster's transport_socket -> the cluster's TLS (UpstreamTlsSettings): the reverse of
// xds-server/to-xds-tls.ts. TLS asked for is honoured exactly or the cluster is refused: the
// ADS client NACKs a Cluster whose transport_socket sluice cannot honour (SDS secrets,
// certificate providers, inline keys, TLS parameters, SAN matchers other than exact ones,
// checks it does not make), so the cluster keeps its last accepted version or, new, does not
// exist; nothing falls back to plaintext.
//
// The result is MUTUAL when a client certificate is given, else SIMPLE; ISTIO_MUTUAL served
// by `sluice control-plane` arrives as MUTUAL with the workload certificate files, Istio's
// SNI and the SPIFFE identities as subjectAltNames (a list per cluster, as Envoy checks it).
// A single SAN equal to the SNI is the control plane's "check the SNI name": subjectAltNames
// is then empty, as written in the DestinationRule.
import type { UpstreamTlsSettings } from "../config/types.js";
import { TYPE_URL, unpackAny } from "../xds-proto/protos.js";
import { anyType, fields, list, records, text, type Fields } from "./from-xds-fields.js";

const RAW_BUFFER = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

export type TlsFromXds =
  { readonly ok: true; readonly tls: UpstreamTlsSettings | null; readonly warnings: readonly string[] } | { readonly ok: false; readonly reason: string };

const PLAINTEXT: TlsFromXds = { ok: true, tls: null, warnings: [] };

/** `host`: the cluster's host (an SNI equal to it is sluice's default, null). */
export function tlsFromXds(cluster: Fields, host: string): TlsFromXds {
  const refusals: string[] = [];
  if (list(cluster["transport_socket_matches"]).length > 0) refusals.push("transport_socket_matches: not supported (one transport_socket per cluster)");
  const socket = fields(cluster["transport_socket"]);
  if (socket === undefined) return refusals.length === 0 ? PLAINTEXT : refused(refusals);
  const type = anyType(socket["typed_config"]);
  if (type === RAW_BUFFER) return refusals.length === 0 ? PLAINTEXT : refused(refusals);
  if (type !== TYPE_URL.upstreamTlsContext) {
    refusals.push(`transport_socket ${text(socket["name"]) ?? ""}: typed_config ${type ?? "(none)"} is not supported (an UpstreamTlsContext or RawBuffer is)`);
    return refused(refusals);
  }
  let context: Fields;
  try {
    const value = fields(socket["typed_config"])?.["value"];
    if (!(value instanceof Uint8Array)) throw new Error("no value");
    context = unpackAny({ type_url: type, value });
  } catch (err: unknown) {
    return refused([...refusals, `transport_socket: the UpstreamTlsContext cannot be decoded (${err instanceof Error ? err.message : String(err)})`]);
  }
  const reader = new TlsReader(host);
  const tls = reader.upstream(context);
  refusals.push(...reader.refusals);
  return refusals.length > 0 || tls === null ? refused(refusals) : { ok: true, tls, warnings: reader.warnings };
}

function refused(refusals: readonly string[]): TlsFromXds {
  return { ok: false, reason: `TLS cannot be honoured, so the cluster is refused rather than used in plaintext: ${refusals.join("; ")}` };
}

/** What a checked field may hold: unset, or what sluice does anyway. */
const UPSTREAM_KNOWN = new Set(["common_tls_context", "sni", "allow_renegotiation", "max_session_keys"]);
const COMMON_KNOWN = new Set(["tls_certificates", "validation_context", "alpn_protocols", "tls_params"]);
const VALIDATION_KNOWN = new Set([
  "trusted_ca",
  "system_root_certs",
  "match_typed_subject_alt_names",
  "match_subject_alt_names",
  "crl",
  "trust_chain_verification",
  "watched_directory",
]);

/** Why each field sluice cannot act on is refused, by field name. */
const WHY: Readonly<Record<string, string>> = {
  tls_certificate_sds_secret_configs: "SDS secrets are not supported; give tls_certificates with file names",
  validation_context_sds_secret_config: "SDS secrets are not supported; give validation_context.trusted_ca with a file name",
  tls_certificate_provider_instance: "certificate provider instances are not supported; give tls_certificates with file names",
  tls_certificate_certificate_provider: "certificate providers are not supported; give tls_certificates with file names",
  tls_certificate_certificate_provider_instance: "certificate providers are not supported; give tls_certificates with file names",
  validation_context_certificate_provider: "certificate providers are not supported; give validation_context.trusted_ca",
  validation_context_certificate_provider_instance: "certificate providers are not supported; give validation_context.trusted_ca",
  ca_certificate_provider_instance: "certificate provider instances are not supported; give trusted_ca with a file name",
  combined_validation_context: "not supported; give validation_context",
  custom_handshaker: "not supported",
  key_log: "not supported",
  verify_certificate_spki: "certificate pinning is not supported",
  verify_certificate_hash: "certificate pinning is not supported",
  require_signed_certificate_timestamp: "certificate transparency checks are not supported",
  allow_expired_certificate: "not supported: sluice refuses expired certificates",
  custom_validator_config: "custom validators (SPIFFE bundles) are not supported",
  only_verify_leaf_cert_crl: "not supported: sluice checks the CRL as OpenSSL does",
  max_verify_depth: "not supported",
  enforce_rsa_key_usage: "not supported",
};

/** google.protobuf.BoolValue fields: only `true` asks for something. */
const BOOL_WRAPPERS = new Set(["enforce_rsa_key_usage", "require_signed_certificate_timestamp"]);

/** tls_params sluice's TLS (node's defaults: TLS 1.2 to 1.3, its ciphers) already meets. */
const MIN_VERSIONS_MET = new Set(["TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2"]);
const MAX_VERSIONS_MET = new Set(["TLS_AUTO", "TLSv1_3"]);

class TlsReader {
  readonly refusals: string[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly host: string) {}

  upstream(u: Fields): UpstreamTlsSettings | null {
    this.unknown("UpstreamTlsContext", u, UPSTREAM_KNOWN);
    const common = fields(u["common_tls_context"]) ?? {};
    this.unknown("common_tls_context", common, COMMON_KNOWN);
    this.tlsParams(fields(common["tls_params"]));
    const alpn = list(common["alpn_protocols"]);
    if (alpn.length > 0 && !alpn.includes("h2"))
      this.refusals.push(`common_tls_context.alpn_protocols ${JSON.stringify(alpn)}: sluice speaks HTTP/2 only and offers "h2"`);
    const certs = records(common["tls_certificates"]);
    if (certs.length > 1) this.refusals.push("common_tls_context.tls_certificates: one client certificate at most");
    const cert = certs[0];
    let clientCertificate: string | null = null;
    let privateKey: string | null = null;
    if (cert !== undefined) {
      this.unknown("tls_certificates[0]", cert, new Set(["certificate_chain", "private_key"]));
      clientCertificate = this.filename("tls_certificates[0].certificate_chain", cert["certificate_chain"]);
      privateKey = this.filename("tls_certificates[0].private_key", cert["private_key"]);
    }
    const sniText = text(u["sni"]);
    const sni = sniText === undefined || sniText === "" ? null : sniText;
    const v = this.validation(fields(common["validation_context"]), sni ?? this.host);
    if (v === null) return null;
    return {
      mode: clientCertificate !== null ? "MUTUAL" : "SIMPLE",
      caCertificates: v.ca,
      clientCertificate,
      privateKey,
      subjectAltNames: v.subjectAltNames,
      sni: sni === this.host ? null : sni,
      insecureSkipVerify: v.insecure,
      caCrl: v.crl,
    };
  }

  private validation(
    v: Fields | undefined,
    servername: string,
  ): { ca: string | null; subjectAltNames: string[]; insecure: boolean; crl: string | null } | null {
    if (v === undefined || Object.keys(v).length === 0) {
      // Envoy's meaning of no validation context: the server certificate is not verified.
      this.warnings.push("no validation_context: the server certificate is not verified (insecureSkipVerify)");
      return { ca: null, subjectAltNames: [], insecure: true, crl: null };
    }
    this.unknown("validation_context", v, VALIDATION_KNOWN);
    const ca = v["trusted_ca"] === undefined ? null : this.filename("validation_context.trusted_ca", v["trusted_ca"]);
    const crl = v["crl"] === undefined ? null : this.filename("validation_context.crl", v["crl"]);
    const typed = records(v["match_typed_subject_alt_names"]).map((m) => this.typedSan(m));
    const untyped = records(v["match_subject_alt_names"]).map((m) => this.exact("match_subject_alt_names", m));
    const names = [...typed, ...untyped].filter((n): n is string => n !== undefined);
    const verification = text(v["trust_chain_verification"]) ?? "VERIFY_TRUST_CHAIN";
    if (verification === "ACCEPT_UNTRUSTED") {
      // sluice either verifies everything or nothing (Istio's insecureSkipVerify).
      for (const f of ["trusted_ca", "system_root_certs", "crl", "match_typed_subject_alt_names", "match_subject_alt_names"]) {
        if (v[f] !== undefined && !(Array.isArray(v[f]) && list(v[f]).length === 0))
          this.refusals.push(`validation_context.${f}: cannot be honoured with trust_chain_verification ACCEPT_UNTRUSTED, which verifies nothing`);
      }
      this.warnings.push("trust_chain_verification ACCEPT_UNTRUSTED: the server certificate is not verified (insecureSkipVerify)");
      return { ca: null, subjectAltNames: [], insecure: true, crl: null };
    }
    if (verification !== "VERIFY_TRUST_CHAIN") this.refusals.push(`validation_context.trust_chain_verification ${verification}: not supported`);
    if (ca === null && v["system_root_certs"] === undefined) {
      this.refusals.push("validation_context: neither trusted_ca nor system_root_certs says which CAs to trust");
    }
    const only = names[0];
    const subjectAltNames = names.length === 1 && only === servername ? [] : names;
    return { ca, subjectAltNames, insecure: false, crl };
  }

  private typedSan(m: Fields): string | undefined {
    const type = text(m["san_type"]) ?? "SAN_TYPE_UNSPECIFIED";
    if (type !== "DNS" && type !== "URI" && type !== "IP_ADDRESS") {
      this.refusals.push(`match_typed_subject_alt_names: san_type ${type} is not supported (DNS, URI and IP_ADDRESS are)`);
      return undefined;
    }
    return this.exact("match_typed_subject_alt_names", fields(m["matcher"]) ?? {});
  }

  /** An exact StringMatcher's value; anything else is refused (sluice compares names exactly). */
  private exact(where: string, m: Fields): string | undefined {
    const value = text(m["exact"]);
    const kinds = Object.keys(m).filter((k) => k !== "ignore_case");
    if (value !== undefined && value !== "" && kinds.length === 1) return value;
    const how = kinds.map((k) => `${k} ${JSON.stringify(m[k])}`).join(", ") || "(empty)";
    // sluice's control plane sends a SPIFFE prefix for ISTIO_MUTUAL endpoints without an identity.
    const hint =
      text(m["prefix"])?.startsWith("spiffe://") === true ? " (give the ServiceEntry endpoints a serviceAccount, or the DestinationRule subjectAltNames)" : "";
    this.refusals.push(`${where}: matcher ${how} is not supported: sluice matches exact names only${hint}`);
    return undefined;
  }

  /** A DataSource naming a file; inline certificates and keys are refused (sluice reads files). */
  private filename(where: string, source: unknown): string | null {
    const s = fields(source) ?? {};
    const name = text(s["filename"]);
    if (name !== undefined && name !== "" && Object.keys(s).length === 1) return name;
    const kinds = Object.keys(s).join(", ") || "nothing";
    this.refusals.push(`${where}: ${kinds} is not supported; sluice reads certificates from files (filename)`);
    return null;
  }

  private tlsParams(p: Fields | undefined): void {
    if (p === undefined) return;
    const min = text(p["tls_minimum_protocol_version"]) ?? "TLS_AUTO";
    const max = text(p["tls_maximum_protocol_version"]) ?? "TLS_AUTO";
    if (!MIN_VERSIONS_MET.has(min)) this.refusals.push(`tls_params.tls_minimum_protocol_version ${min}: not supported (sluice allows TLS 1.2 and 1.3)`);
    if (!MAX_VERSIONS_MET.has(max)) this.refusals.push(`tls_params.tls_maximum_protocol_version ${max}: not supported (sluice allows TLS 1.2 and 1.3)`);
    for (const f of ["cipher_suites", "ecdh_curves", "signature_algorithms"]) {
      if (list(p[f]).length > 0) this.refusals.push(`tls_params.${f}: not supported (sluice uses node's defaults)`);
    }
    this.unknown(
      "tls_params",
      p,
      new Set(["tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites", "ecdh_curves", "signature_algorithms"]),
    );
  }

  /** Each field set but not in `known`: refused, with why when it is one sluice knows it lacks. */
  private unknown(where: string, msg: Fields, known: ReadonlySet<string>): void {
    for (const key of Object.keys(msg)) {
      if (known.has(key)) continue;
      const value = msg[key];
      // proto3 defaults and BoolValue false: nothing asked for.
      if (value === false || (Array.isArray(value) && value.length === 0)) continue;
      if (BOOL_WRAPPERS.has(key) && fields(value)?.["value"] !== true) continue;
      this.refusals.push(`${where}.${key}: ${WHY[key] ?? "not supported"}`);
    }
  }
}

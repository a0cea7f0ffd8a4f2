// TLS from the proxy to a backend, for both transports: the socket under the HTTP/2
// connection is a TLS one, made here with the cluster's secure context (CA, client
// certificate, CRL), ALPN h2 only, and Istio's checks of the server's identity: one of
// `subjectAltNames` when given (exact match, DNS names without regard to case), else the
// SNI name as a host name. A handshake that fails, or succeeds without h2, ends the
// connection with an UpstreamTlsError whose message names the reason.
import { isIP } from "node:net";
import tls from "node:tls";
import { UpstreamTlsError } from "../errors.js";

export interface UpstreamTlsContext {
  /** The trusted CAs, the client certificate and key (mutual TLS), the CRL. */
  readonly secureContext: tls.SecureContext;
  /** SNI sent (none when it is an IP address); the name checked when `subjectAltNames` is empty. */
  readonly servername: string;
  /** The server certificate must carry one of these (DNS names, URIs, IP addresses). */
  readonly subjectAltNames: readonly string[];
  /** No verification of the server at all (Istio's insecureSkipVerify). */
  readonly insecureSkipVerify: boolean;
  /**
   * Istio's mutual TLS: without `subjectAltNames`, the server must have a SPIFFE identity in
   * this trust domain (a URI SAN spiffe://TRUST_DOMAIN/...) rather than the SNI name.
   */
  readonly trustDomain?: string;
}

/** Why a TLS socket failed before it was secured, by socket: read by the connection when it closes. */
const failures = new WeakMap<tls.TLSSocket, UpstreamTlsError>();

/** A TLS connection to host:port; its failures before or at the handshake are kept for upstreamTlsFailure(). */
export function connectTls(host: string, port: number, ctx: UpstreamTlsContext): tls.TLSSocket {
  const socket = tls.connect({
    host,
    port,
    servername: isIP(ctx.servername) === 0 ? ctx.servername : undefined,
    secureContext: ctx.secureContext,
    ALPNProtocols: ["h2"],
    rejectUnauthorized: !ctx.insecureSkipVerify,
    checkServerIdentity: (_host, cert) => checkServerIdentity(ctx, cert),
  });
  socket.setNoDelay(true);
  let connected = false;
  let secured = false;
  socket.once("connect", () => (connected = true));
  socket.once("secureConnect", () => {
    secured = true;
    if (socket.alpnProtocol !== "h2") fail(socket, new UpstreamTlsError("the backend did not agree to ALPN h2"));
  });
  // First listener: it sees a handshake error before the connection's own listener closes it.
  socket.once("error", (err: NodeJS.ErrnoException) => {
    // A TCP failure (refused, unreachable) is not TLS's: only errors after the TCP connect are.
    // TLS 1.3 completes the client's side of the handshake before the server checks a client
    // certificate: its refusal comes as an alert (ERR_SSL_...) just after.
    const tlsAlert = err.code?.startsWith("ERR_SSL_") === true;
    if (connected && (!secured || tlsAlert) && !failures.has(socket)) failures.set(socket, new UpstreamTlsError(describe(err)));
  });
  return socket;
}

/** The reason a TLS socket failed at its handshake, if it did. */
export function upstreamTlsFailure(socket: unknown): UpstreamTlsError | undefined {
  return socket instanceof tls.TLSSocket ? failures.get(socket) : undefined;
}

function fail(socket: tls.TLSSocket, error: UpstreamTlsError): void {
  failures.set(socket, error);
  socket.destroy(error);
}

/** Istio's identity check: any wanted SAN present, else the SNI name as a host name (also for the health checks' channels). */
export function checkServerIdentity(ctx: UpstreamTlsContext, cert: tls.PeerCertificate): Error | undefined {
  const sans = subjectAltNames(cert);
  if (ctx.subjectAltNames.length === 0 && ctx.trustDomain !== undefined) {
    const prefix = `spiffe://${ctx.trustDomain}/`;
    return sans.some((san) => san.startsWith(prefix)) ? undefined : sanMismatch([`${prefix}...`], sans);
  }
  if (ctx.subjectAltNames.length === 0) {
    const err = tls.checkServerIdentity(ctx.servername, cert);
    return err === undefined ? undefined : sanMismatch([ctx.servername], sans);
  }
  const have = new Set(sans.map(canonical));
  return ctx.subjectAltNames.some((want) => have.has(canonical(want))) ? undefined : sanMismatch(ctx.subjectAltNames, sans);
}

function sanMismatch(wanted: readonly string[], got: readonly string[]): Error {
  return new Error(`certificate SAN mismatch: wanted ${wanted.join(" or ")}, got ${got.length === 0 ? "none" : got.join(", ")}`);
}

/** The certificate's SAN values (`DNS:a, URI:spiffe://..., IP Address:1.2.3.4` as node gives them), without their kind. */
function subjectAltNames(cert: tls.PeerCertificate): string[] {
  const raw = cert.subjectaltname;
  if (raw === undefined || raw === "") return [];
  return raw.split(", ").map((entry) => entry.slice(entry.indexOf(":") + 1));
}

/** DNS names match without regard to case; URIs (SPIFFE identities) as written. */
function canonical(name: string): string {
  return name.includes("://") ? name : name.toLowerCase();
}

/** OpenSSL's verification codes and node's TLS errors, in words. */
function describe(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "CERT_HAS_EXPIRED":
      return "certificate has expired";
    case "CERT_NOT_YET_VALID":
      return "certificate is not yet valid";
    case "CERT_REVOKED":
      return "certificate revoked (caCrl)";
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return `certificate signed by an unknown CA (${err.code})`;
    case "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL":
      return "the backend did not agree to ALPN h2";
    case "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED":
    case "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE":
      return `the backend refused the handshake (${err.code}): does it want a client certificate (MUTUAL)?`;
    default:
      return err.message;
  }
}

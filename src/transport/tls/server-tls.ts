// TLS on the listener: the proxy's certificates (several picked by the client's SNI: the
// one whose SAN or CN matches it, else the first, as Envoy picks), ALPN h2 only (a client
// that offers ALPN without h2 gets the no_application_protocol alert; one that offers no
// ALPN at all is taken as HTTP/2 with prior knowledge, and its first bytes decide as on a
// plaintext port), an optional client CA that makes client certificates required, and a
// minimum version. The listener accepts TCP (its connection limit counts sockets before any
// handshake) and hands each socket to a node tls.Server, whose secured sockets go on to the
// HTTP/2 preface check. New certificates apply to new handshakes; open connections stay.
import { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import tls from "node:tls";
import { tracer } from "../../core/trace.js";

const trace = tracer("tls");

export interface ServerTlsMaterial {
  /** PEM certificate chains and their keys; the first is the default. */
  readonly certificates: readonly { readonly chain: Buffer; readonly key: Buffer }[];
  /** PEM CA bundle client certificates must chain to; null = none asked for. */
  readonly clientCa: Buffer | null;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
}

/** Envoy's listener ssl.* counters. */
export interface ServerTlsStats {
  /** Handshakes completed. */
  handshake: number;
  /** Handshakes that failed (whatever the cause: the counters below say more for client certificates). */
  connectionError: number;
  /** Connections that completed without a client certificate (client certificates not asked for). */
  noCertificate: number;
  /** A client certificate was required and none came. */
  failVerifyNoCert: number;
  /** A client certificate came and failed verification (unknown CA, expired...). */
  failVerifyError: number;
}

interface Candidate {
  readonly x509: X509Certificate;
  readonly context: tls.SecureContext;
}

/** The secure contexts of one version of the material; a rotation builds new ones. */
class Contexts {
  readonly candidates: readonly Candidate[];
  /** What tls.Server.setSecureContext takes: the default certificate, for clients without SNI. */
  readonly defaultOptions: tls.SecureContextOptions;

  constructor(m: ServerTlsMaterial) {
    const options = (c: ServerTlsMaterial["certificates"][number]): tls.SecureContextOptions => ({
      cert: c.chain,
      key: c.key,
      minVersion: m.minVersion,
      ...(m.clientCa === null ? {} : { ca: m.clientCa }),
    });
    if (m.certificates.length === 0) throw new Error("TLS on the listener needs a certificate");
    this.candidates = m.certificates.map((c) => ({ x509: new X509Certificate(c.chain), context: tls.createSecureContext(options(c)) }));
    this.defaultOptions = options(m.certificates[0]!);
  }

  select(servername: string): tls.SecureContext {
    const match = this.candidates.find((c) => c.x509.checkHost(servername) !== undefined);
    return (match ?? this.candidates[0]!).context;
  }
}

export class ServerTls {
  readonly stats: ServerTlsStats = { handshake: 0, connectionError: 0, noCertificate: 0, failVerifyNoCert: 0, failVerifyError: 0 };
  private contexts: Contexts;
  private readonly server: tls.Server;
  /** Whether clients must present a certificate: fixed for the listener's life. */
  readonly requireClientCertificate: boolean;

  constructor(material: ServerTlsMaterial, handshakeTimeoutMs: number, onSecure: (socket: tls.TLSSocket) => void) {
    this.contexts = new Contexts(material);
    this.requireClientCertificate = material.clientCa !== null;
    this.server = tls.createServer({
      ...this.contexts.defaultOptions,
      SNICallback: (servername, cb) => cb(null, this.contexts.select(servername)),
      ALPNProtocols: ["h2"],
      requestCert: this.requireClientCertificate,
      rejectUnauthorized: this.requireClientCertificate,
      handshakeTimeout: handshakeTimeoutMs,
    });
    const stats = this.stats;
    this.server.on("secureConnection", (socket: tls.TLSSocket) => {
      stats.handshake++;
      if (!this.requireClientCertificate) stats.noCertificate++;
      onSecure(socket);
    });
    this.server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      stats.connectionError++;
      // node destroys a socket whose certificate failed verification, having noted why.
      if (err.code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") stats.failVerifyNoCert++;
      else if (socket.authorizationError !== undefined && socket.authorizationError !== null) stats.failVerifyError++;
      trace("handshake failed", { peer: socket.remoteAddress, err: err.code ?? err.message, verify: String(socket.authorizationError ?? "") });
    });
  }

  /** A TCP connection the listener accepted: the handshake starts. */
  accept(socket: Socket): void {
    this.server.emit("connection", socket);
  }

  /**
   * New certificates (a rotation): new handshakes use them, open connections keep theirs.
   * Throws, keeping the old ones, when the new material is unusable (a key that does not
   * match, say): the caller reports it.
   */
  update(material: ServerTlsMaterial): void {
    if ((material.clientCa !== null) !== this.requireClientCertificate) {
      throw new Error("turning client certificates on or off takes a restart");
    }
    const next = new Contexts(material);
    this.server.setSecureContext(next.defaultOptions);
    this.contexts = next;
  }
}

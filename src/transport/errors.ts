// Why a transport connection ended, as the error its listener's onClose receives. Both
// transports (sluice's h2 and node:http2) raise the same classes, so the pool above them
// reads one set of causes whichever runs.
import { ErrorCode, SluiceError } from "../core/errors.js";

/** The TCP connect plus the peer's first SETTINGS took longer than the endpoint's connect timeout. */
export class ConnectTimeoutError extends SluiceError {
  override readonly name = "ConnectTimeoutError";
  readonly code = ErrorCode.CONNECT_TIMEOUT;
}

/** This side closed the connection with a GOAWAY carrying an HTTP/2 error code (RFC 9113 section 5.4.1). */
export class Http2ConnectionError extends SluiceError {
  override readonly name = "Http2ConnectionError";
  readonly code = ErrorCode.H2_CONNECTION;

  constructor(
    message: string,
    /** The HTTP/2 error code sent in the GOAWAY. */
    readonly h2Code: number,
  ) {
    super(message);
  }
}

/**
 * The TLS handshake with a backend failed, or its outcome is refused: unknown CA, a SAN that
 * is not the one wanted, an expired or revoked certificate, no ALPN h2. The message says
 * which, as the RPC's status and /clusters show it.
 */
export class UpstreamTlsError extends SluiceError {
  override readonly name = "UpstreamTlsError";
  readonly code = ErrorCode.UPSTREAM_TLS;

  constructor(reason: string) {
    super(`upstream TLS error: ${reason}`);
  }
}

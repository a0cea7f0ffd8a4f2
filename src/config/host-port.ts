// "host:port" addresses for the listener and admin server.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Accepts `127.0.0.1:15001`, `localhost:0`, `[::1]:15001`; port 0 = any free port. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2];
  return host === undefined ? undefined : { host, port };
}

export const HOST_PORT_HELP = 'host:port such as "127.0.0.1:15001" or "[::1]:15001"';

/** Where the admin server listens when nothing says otherwise: loopback only, Istio's admin port. */
export const DEFAULT_ADMIN: HostPort = { host: "127.0.0.1", port: 15000 };

/**
 * The admin server's address: `host:port`, a bare port (loopback: `15000` is
 * 127.0.0.1:15000), or "none" to turn it off (null). undefined when it is none of these.
 */
export function parseAdminAddress(value: string | number): HostPort | null | undefined {
  const text = String(value).trim();
  if (text === "none") return null;
  if (/^\d{1,5}$/.test(text)) {
    const port = Number(text);
    return port > 65535 ? undefined : { host: DEFAULT_ADMIN.host, port };
  }
  return parseHostPort(text);
}

export const ADMIN_ADDRESS_HELP = `${HOST_PORT_HELP}, a port (on 127.0.0.1), or "none"`;

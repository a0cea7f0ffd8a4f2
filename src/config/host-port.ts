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

// `host:port` parsing and formatting for addresses that balancers see (passthrough reads
// them from `:authority`). Only IP literals are addresses here: resolving names is I/O,
// which belongs to discovery/, not to a picker.
import { isIPv4, isIPv6 } from "node:net";

export type ParsedAuthority = { readonly ok: true; readonly address: string; readonly port: number } | { readonly ok: false; readonly reason: string };

/** `1.2.3.4:80` or `[::1]:80`; anything else says what is wrong with it. */
export function parseIpAuthority(authority: string): ParsedAuthority {
  let host: string;
  let portText: string;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) return { ok: false, reason: "has an unclosed '['" };
    host = authority.slice(1, close);
    if (close + 1 === authority.length) return { ok: false, reason: "has no port" };
    if (authority.charCodeAt(close + 1) !== 0x3a) return { ok: false, reason: "has text after ']' that is not ':port'" };
    portText = authority.slice(close + 2);
    if (!isIPv6(host)) return { ok: false, reason: "is not an IPv6 address in brackets" };
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon < 0) return { ok: false, reason: "has no port" };
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
    if (host.includes(":")) return { ok: false, reason: "is an IPv6 address without brackets ([v6]:port)" };
    if (!isIPv4(host)) return { ok: false, reason: "is not an IP address" };
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return { ok: false, reason: "has no valid port" };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { ok: false, reason: "has a port outside 1-65535" };
  return { ok: true, address: host, port };
}

/** `address:port`, with brackets around IPv6 addresses. */
export function formatHostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

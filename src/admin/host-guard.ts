// The admin server answers only requests whose Host names it: a web page on another site can
// make a browser resolve its own name to 127.0.0.1 (DNS rebinding) and then read what the
// admin server says (the running config, the endpoints) as if it were that site. Such a
// request carries the page's host name; a scraper, curl or the dashboard carry the address or
// a loopback name. Requests without Host (HTTP/1.0) come from no browser and are let in.
import { isIP } from "node:net";
import { hostname } from "node:os";

/** The host part of a Host header: "[::1]:15000" -> "::1", "example.com:80" -> "example.com", lower case. */
export function hostOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") < 0 ? undefined : h.indexOf("]"));
  const colon = h.lastIndexOf(":");
  return colon < 0 ? h : h.slice(0, colon);
}

function isLoopbackName(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

/** This machine's name, read once (a system call otherwise, on every request). */
let machineName: string | undefined;

/**
 * Whether a request with this Host may be answered by an admin server bound to `boundHost`:
 * the bound address itself; a loopback name when bound to loopback; when bound to every
 * address, any IP address, a loopback name or this machine's name.
 */
export function hostAllowed(header: string | undefined, boundHost: string): boolean {
  if (header === undefined || header === "") return true;
  const host = hostOf(header);
  const bound = boundHost.toLowerCase();
  if (host === bound) return true;
  if (WILDCARDS.has(bound)) return isIP(host) !== 0 || isLoopbackName(host) || host === (machineName ??= hostname().toLowerCase());
  return isLoopbackName(bound) && isLoopbackName(host);
}

// The request hash for consistent hashing (Istio consistentHash: httpHeaderName,
// httpCookie, useSourceIp, httpQueryParameterName). Keys are hashed where they lie in the
// header or path, so extracting a key allocates nothing.
import type { HashKeySource } from "../config/types.js";
import { hash32 } from "./hash.js";
import type { PickRequest } from "./types.js";

/** Returns the request's 32-bit hash, or undefined when the request carries no key. */
export type RequestHasher = (request: PickRequest) => number | undefined;

export function requestHasher(source: HashKeySource): RequestHasher {
  switch (source.kind) {
    case "header": {
      const name = source.name.toLowerCase();
      return (request) => {
        const value = request.header(name);
        return value === undefined ? undefined : hash32(value);
      };
    }
    case "cookie": {
      const name = source.name;
      return (request) => {
        const cookies = request.header("cookie");
        return cookies === undefined ? undefined : hashCookie(cookies, name);
      };
    }
    case "sourceIp":
      return (request) => (request.sourceIp === "" ? undefined : hash32(request.sourceIp));
    case "queryParameter": {
      const name = source.name;
      return (request) => hashQueryParameter(request.path, name);
    }
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Hash of the value of cookie `name` in a `cookie` header (`a=1; b="2"`), or undefined.
 * Surrounding double quotes are not part of the value (RFC 6265 cookie-value).
 */
export function hashCookie(header: string, name: string): number | undefined {
  let pos = 0;
  const len = header.length;
  while (pos < len) {
    let semi = header.indexOf(";", pos);
    if (semi < 0) semi = len;
    let start = pos;
    while (start < semi && isSpace(header.charCodeAt(start))) start++;
    const eq = header.indexOf("=", start);
    if (eq >= 0 && eq < semi) {
      let nameEnd = eq;
      while (nameEnd > start && isSpace(header.charCodeAt(nameEnd - 1))) nameEnd--;
      if (nameEnd - start === name.length && header.startsWith(name, start)) {
        let vStart = eq + 1;
        let vEnd = semi;
        while (vStart < vEnd && isSpace(header.charCodeAt(vStart))) vStart++;
        while (vEnd > vStart && isSpace(header.charCodeAt(vEnd - 1))) vEnd--;
        if (vEnd - vStart >= 2 && header.charCodeAt(vStart) === 0x22 && header.charCodeAt(vEnd - 1) === 0x22) {
          vStart++;
          vEnd--;
        }
        return hash32(header, 0, vStart, vEnd);
      }
    }
    pos = semi + 1;
  }
  return undefined;
}

/**
 * Hash of the first value of query parameter `name` in `path` (`/svc/M?a=1&b=2`), or
 * undefined. Names and values are compared and hashed as sent, not percent-decoded: the
 * same client sends the same bytes, which is all a hash key needs. `?a` counts as a = "".
 */
export function hashQueryParameter(path: string, name: string): number | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  let end = path.indexOf("#", q);
  if (end < 0) end = path.length;
  let pos = q + 1;
  while (pos < end) {
    let amp = path.indexOf("&", pos);
    if (amp < 0 || amp > end) amp = end;
    let eq = path.indexOf("=", pos);
    if (eq < 0 || eq > amp) eq = amp;
    if (eq - pos === name.length && path.startsWith(name, pos)) {
      return hash32(path, 0, eq === amp ? amp : eq + 1, amp);
    }
    pos = amp + 1;
  }
  return undefined;
}

/** A uniformly random 32-bit hash, used when a request has no key. */
export function randomHash(random: () => number): number {
  return Math.floor(random() * 4294967296) >>> 0;
}

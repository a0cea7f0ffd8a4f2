// RFC 7541 Appendix A. Index 1 is the first entry; index 0 is never valid.

export const STATIC_TABLE: readonly (readonly [name: string, value: string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

export const STATIC_TABLE_LENGTH = STATIC_TABLE.length; // 61

/** Encoder lookups: the first index carrying a name, and exact name+value matches. */
export interface StaticNameEntry {
  readonly nameIndex: number;
  readonly values: ReadonlyMap<string, number>;
}

export const STATIC_BY_NAME: ReadonlyMap<string, StaticNameEntry> = (() => {
  const byName = new Map<string, { nameIndex: number; values: Map<string, number> }>();
  STATIC_TABLE.forEach(([name, value], i) => {
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = { nameIndex: i + 1, values: new Map() };
      byName.set(name, entry);
    }
    // Entries with an empty value exist to lend their name; matching "" exactly is still valid.
    if (!entry.values.has(value)) entry.values.set(value, i + 1);
  });
  return byName;
})();

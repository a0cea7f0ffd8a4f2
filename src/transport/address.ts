// Peer addresses as sluice reports them: IPv4-mapped IPv6 ("::ffff:1.2.3.4") as plain IPv4.
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

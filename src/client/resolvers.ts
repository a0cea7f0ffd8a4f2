// Registers sluice's resolvers with @grpc/grpc-js: `dns` (replacing grpc-js's own, so
// every `dns:///name:port` target, and every target without a scheme, which grpc-js
// maps to dns, gets periodic re-resolution), `static`, and `sluice` (endpoints and policy
// from sluice's control plane). Explicit and idempotent: never
// a side effect of importing a file.
import { experimental } from "@grpc/grpc-js";
import { dnsResolverClass } from "./dns-resolver.js";
import { StaticResolver } from "./static-resolver.js";
import { SluiceResolver } from "./sluice-resolver.js";

let registered = false;

export function registerSluiceResolvers(): void {
  if (registered) return;
  registered = true;
  experimental.registerResolver("dns", dnsResolverClass());
  experimental.registerResolver("static", StaticResolver);
  experimental.registerResolver("sluice", SluiceResolver);
}

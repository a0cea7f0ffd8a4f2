// Where examples/seed.yaml (the DestinationRule commonly recommended for gRPC, around three pods) is, from
// the built file's place in dist/src/cli.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const SEED_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), "../../../examples/seed.yaml");

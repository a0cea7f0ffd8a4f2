// The layering of src/, checked by dependency-cruiser in `npm run lint` (and so in `npm test`).
// docs/architecture.md draws it and says why each folder sits where it does; change both together.
//
// LAYERS is the whole rule: for each first-level folder of src/, the folders it may import (besides
// itself). An import of any other folder of src/ is an error, type-only imports included
// (`import type` ties the folders together as much as a value import does: the types move with
// the code). Every rule below is built from this table, so adding a folder or an edge is one line here.
const LAYERS = {
  core: {
    may: [],
    why: "it is the base every folder stands on (clock, random, status tables, errors, trace, gRPC's own rules), so it imports nothing of src",
  },
  transport: {
    may: ["core"],
    why: "HTTP/2 connections to backends know bytes, streams and gRPC status, not clusters, balancing or config",
  },
  config: {
    may: ["core", "transport"],
    why: "config parses and validates YAML into snapshots; it names the transport kinds (types only) and builds nothing",
  },
  balancer: {
    may: ["core", "config"],
    why: "balancing policies are pure (injected clock and random) so the proxy, the client library and the simulator share them",
  },
  discovery: {
    may: ["core", "config"],
    why: "endpoint sources (static, DNS, manual) feed the proxy, the client library and the simulator alike",
  },
  "xds-proto": {
    may: ["core"],
    why: "the Envoy protos are the only thing the xDS server and the xDS client share",
  },
  upstream: {
    may: ["core", "config", "balancer", "discovery", "transport"],
    why: "clusters and endpoint pools sit below resilience: outlier detection and health checking attach to a cluster from outside",
  },
  resilience: {
    may: ["core", "config", "balancer", "discovery", "upstream", "transport"],
    why: "retry policy, outlier detection and health checking watch attempt outcomes of upstream clusters; nothing below them knows they exist",
  },
  proxy: {
    may: ["core", "config", "balancer", "discovery", "transport", "upstream", "resilience"],
    why: "the data path (listener, router, forwarder) uses the layers below it and never the admin server that watches it",
  },
  "xds-client": {
    may: ["core", "config", "balancer", "discovery", "xds-proto"],
    why: "the ADS client maps xDS resources onto sluice's config and policies; it serves the client library and the runtime, and knows no server",
  },
  "xds-server": {
    may: ["core", "config", "balancer", "discovery", "xds-proto"],
    why: "the control plane serves config over xDS; it shares only the protos with the xDS client",
  },
  client: {
    may: ["core", "config", "balancer", "discovery", "resilience", "xds-client"],
    why: "the grpc-js library reuses the proxy's policies without its data path",
  },
  admin: {
    may: ["core", "config", "balancer", "discovery", "upstream", "resilience", "proxy"],
    why: "the admin server reads the proxy's state; the proxy never reaches back into it",
  },
  sim: {
    may: ["core", "config", "balancer", "discovery", "upstream", "resilience"],
    why: "the simulator runs the real balancing, admission and resilience code in virtual time, without sockets or the proxy's data path",
  },
  analyze: {
    may: ["core", "config", "balancer", "discovery", "resilience", "client", "sim"],
    why: "the analyzer reads config and reuses the rules of the layers it judges, never a running proxy",
  },
  runtime: {
    may: ["core", "config", "balancer", "discovery", "transport", "upstream", "resilience", "proxy", "admin", "xds-client"],
    why: "the runtime (config sources, supervisor) wires and reloads a proxy; the CLI above it only parses arguments",
  },
  demo: {
    may: [
      "core",
      "config",
      "balancer",
      "discovery",
      "transport",
      "upstream",
      "resilience",
      "proxy",
      "xds-proto",
      "xds-client",
      "xds-server",
      "client",
      "admin",
      "sim",
      "analyze",
    ],
    why: "the demo's pods and clients may use any library layer, but not the runtime or the CLI that start them",
  },
  cli: {
    may: [
      "core",
      "transport",
      "config",
      "balancer",
      "discovery",
      "xds-proto",
      "upstream",
      "resilience",
      "proxy",
      "xds-client",
      "xds-server",
      "client",
      "admin",
      "sim",
      "analyze",
      "runtime",
      "demo",
    ],
    why: "the CLI parses arguments and wires the layers below it; it may import any listed folder",
  },
};

const FOLDERS = Object.keys(LAYERS);
const anyOf = (folders) => `^src/(${folders.join("|")})/`;

// The table must be a layering: every named folder is in it and no chain of allowed imports leads
// back to where it started. Checked here, when the config loads, so that an edit that would allow
// a folder cycle fails lint at once (the folder-level cycle rule below only sees cycles that exist).
function assertLayered(layers) {
  for (const [folder, { may }] of Object.entries(layers)) {
    for (const other of may) {
      if (!(other in layers)) throw new Error(`.dependency-cruiser.mjs: ${folder} may import "${other}", which is not a folder in LAYERS`);
      if (other === folder) throw new Error(`.dependency-cruiser.mjs: ${folder} lists itself`);
    }
  }
  const state = new Map(); // folder -> "visiting" | "done"
  const visit = (folder, path) => {
    if (state.get(folder) === "done") return;
    if (state.get(folder) === "visiting") throw new Error(`.dependency-cruiser.mjs: LAYERS allows a folder cycle: ${[...path, folder].join(" -> ")}`);
    state.set(folder, "visiting");
    for (const other of layers[folder].may) visit(other, [...path, folder]);
    state.set(folder, "done");
  };
  for (const folder of Object.keys(layers)) visit(folder, []);
}
assertLayered(LAYERS);

const layerRules = FOLDERS.map((folder) => ({
  name: `layer-${folder}`,
  severity: "error",
  comment: `src/${folder}/ may import ${LAYERS[folder].may.length ? `only ${LAYERS[folder].may.join(", ")}` : "nothing of src"}: ${LAYERS[folder].why}.`,
  from: { path: `^src/${folder}/` },
  to: { path: "^src/", pathNot: anyOf([folder, ...LAYERS[folder].may]) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
const config = {
  forbidden: [
    ...layerRules,
    {
      name: "layer-unlisted-folder",
      severity: "error",
      comment:
        "This folder of src/ has no row in LAYERS (.dependency-cruiser.mjs): add one, with the folders it may import, and its paragraph in docs/architecture.md.",
      from: { path: "^src/([^/]+)/", pathNot: anyOf(FOLDERS) },
      to: { path: "^src/", pathNot: "^src/$1/" },
    },
    {
      name: "config-transport-types-only",
      severity: "error",
      comment: "config may name the transport's types (TransportKind) but not load its code: a config snapshot must be buildable without a socket layer.",
      from: { path: "^src/config/" },
      to: { path: "^src/transport/", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "data-path-not-to-admin",
      severity: "error",
      comment:
        "The data path (proxy, upstream, transport) must not import admin: the admin server observes the data path through its read-only stats and outcome events, never the other way round.",
      from: { path: "^src/(proxy|upstream|transport)/" },
      to: { path: "^src/admin/" },
    },
    {
      name: "library-not-to-cli-or-runtime",
      severity: "error",
      comment:
        "Library folders must not import cli or runtime: those wire the libraries together, and a library that reaches up into them cannot be used without them.",
      from: { path: "^src/", pathNot: "^src/(cli|runtime)/" },
      to: { path: "^src/(cli|runtime)/" },
    },
    {
      name: "no-folder-cycle",
      severity: "error",
      comment:
        "Folders of src/ must not import each other in a circle: a folder cycle makes two layers one, so neither can be read, tested or moved alone (madge and the file-cycle rule only see file cycles).",
      scope: "folder",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-file-cycle",
      severity: "error",
      comment:
        "Files must not import each other in a circle: ESM then hands one of them a half-initialised module, and the pair can only be understood together.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      comment: "An import dependency-cruiser cannot resolve escapes every rule above: fix the path, or teach the resolver (options below) about it.",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count: `import type` ties folders together as much as a value import.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
};

// depcruise fails only on errors; a rule at "warn" would be a warning lint lets through.
for (const rule of config.forbidden) {
  if (rule.severity !== "error") throw new Error(`.dependency-cruiser.mjs: rule ${rule.name} must have severity "error" (lint allows no warnings)`);
}

export default config;

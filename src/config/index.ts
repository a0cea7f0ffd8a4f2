// The config package's public surface.
export { loadConfigFiles, loadConfigFilesReport, loadConfigSources, loadConfigText } from "./load.js";
export type { ConfigOverrides, ConfigSource, LoadReport, ResourceSummary } from "./load.js";
export { formatProblem } from "./diagnostics.js";
export { clusterName } from "./model.js";
export { SUPPORT_TABLE, supportOf } from "./support.js";
export type { ResourceKind, SupportRow, SupportStatus } from "./support.js";
export type * from "./types.js";

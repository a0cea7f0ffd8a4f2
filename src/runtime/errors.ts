// Why the runtime refused to apply a config source's snapshot.
import { ErrorCode, SluiceError } from "../core/errors.js";

/** A config source read config with problems (each printed as `sluice validate` prints it); the running config stays. */
export class ConfigInvalidError extends SluiceError {
  override readonly name = "ConfigInvalidError";
  readonly code = ErrorCode.CONFIG_INVALID;
}

/** The control plane's resources cannot be mapped to a config (it would be empty); the running config stays. */
export class XdsUnmappableError extends SluiceError {
  override readonly name = "XdsUnmappableError";
  readonly code = ErrorCode.XDS_UNMAPPABLE;
}

/** A reload's config was valid but cannot replace the running one as given (with --xds, files may hold only the Proxy resource). */
export class ReloadRejectedError extends SluiceError {
  override readonly name = "ReloadRejectedError";
  readonly code = ErrorCode.RELOAD_REJECTED;
}

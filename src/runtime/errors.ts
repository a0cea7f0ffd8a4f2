// Why the runtime refused to apply a config source's snapshot.
import { ErrorCode, SluiceError } from "../core/errors.js";

/** A reload's config was valid but cannot replace the running one as given (with --xds, files may hold only the Proxy resource). */
export class ReloadRejectedError extends SluiceError {
  override readonly name = "ReloadRejectedError";
  readonly code = ErrorCode.RELOAD_REJECTED;
}

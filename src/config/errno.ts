// How a file that cannot be read is described in a problem: the config files themselves and
// the certificate files they name.

/** A reason in words for a Node errno code (`ENOENT` -> "no such file"). */
export function errnoText(code: string): string {
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    default:
      return code;
  }
}

/** The reason of a failed read, from whatever fs threw. */
export function readFailure(e: unknown): string {
  return e instanceof Error && "code" in e && typeof e.code === "string" ? errnoText(e.code) : String(e);
}

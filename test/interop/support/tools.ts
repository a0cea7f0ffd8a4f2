// The third-party programs the interop tests run. A missing one fails the test that needs
// it (never skips it), naming the Debian package to install; .ci/run installs them all.
import { spawnSync } from "node:child_process";

function runs(command: string, args: readonly string[]): boolean {
  const r = spawnSync(command, args, { stdio: "ignore", timeout: 10_000 });
  return r.error === undefined && r.status === 0;
}

function missing(what: string, pkg: string): Error {
  return new Error(`${what} not found: install the Debian package ${pkg} (sudo apt-get install -y ${pkg}); .ci/run does this`);
}

let python: string | undefined;

/**
 * A Python 3 that can `import grpc`. SLUICE_PYTHON first, then `python3` on PATH, then the
 * system /usr/bin/python3 (where python3-grpcio installs when PATH leads to pyenv or a venv).
 */
export function pythonWithGrpc(): string {
  if (python !== undefined) return python;
  const candidates = [process.env.SLUICE_PYTHON, "python3", "/usr/bin/python3"].filter((c): c is string => c !== undefined && c !== "");
  const found = candidates.find((c) => runs(c, ["-c", "import grpc"]));
  if (found === undefined) throw missing(`python3 with the grpc module (tried ${candidates.join(", ")})`, "python3-grpcio");
  python = found;
  return found;
}

/** `command` from the nghttp2-client package (nghttp, h2load), checked with --version. */
export function nghttp2Tool(command: "nghttp" | "h2load"): string {
  if (!runs(command, ["--version"])) throw missing(`${command} (HTTP/2 client from nghttp2)`, "nghttp2-client");
  return command;
}

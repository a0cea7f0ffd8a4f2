// The third-party programs the interop tests run. A missing one fails the test that needs
// it (never skips it), naming the Debian package to install; .ci/run installs them all.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoPath } from "../../support/paths.js";

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

/** The Debian packages h2spec's build needs: Go and the Go libraries it imports. */
const H2SPEC_BUILD_PACKAGES = "golang-go golang-golang-x-net-dev golang-github-spf13-cobra-dev golang-github-fatih-color-dev";

/**
 * h2spec (test/tools/h2spec), built from its vendored source on first use into
 * dist/tools/h2spec with Debian's Go and libraries, offline (GOPATH mode, no module download).
 */
export function h2specBinary(): string {
  const bin = repoPath("dist/tools/h2spec/h2spec");
  if (existsSync(bin)) return bin;
  if (!runs("go", ["version"])) throw missing("go (to build h2spec from test/tools/h2spec)", H2SPEC_BUILD_PACKAGES);
  const gopath = mkdtempSync(join(tmpdir(), "sluice-h2spec-"));
  try {
    const src = join(gopath, "src/github.com/summerwind/h2spec");
    mkdirSync(src, { recursive: true });
    const untar = spawnSync("tar", ["-xzf", repoPath("test/tools/h2spec/src.tar.gz"), "-C", src], { encoding: "utf8" });
    if (untar.status !== 0) throw new Error(`h2spec: cannot unpack its source: ${untar.stderr}`);
    const env = { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: join(gopath, "cache") };
    const build = spawnSync("go", ["build", "-o", bin, "./cmd/h2spec"], { cwd: src, env, encoding: "utf8", timeout: 300_000 });
    if (build.status !== 0) throw new Error(`h2spec did not build (are ${H2SPEC_BUILD_PACKAGES} installed?):\n${build.stderr}`);
  } finally {
    rmSync(gopath, { recursive: true, force: true });
  }
  return bin;
}

let rubyGrpc: string | undefined;

/**
 * The directory of Debian's ruby-grpc gem, which ships gRPC's official Ruby interop client and
 * server (src/ruby/pb/test/client.rb, server.rb) and their test CA and server certificate
 * (src/ruby/spec/testdata: ca.pem, server1.pem, server1.key).
 */
export function rubyGrpcGemDir(): string {
  if (rubyGrpc !== undefined) return rubyGrpc;
  const r = spawnSync("ruby", ["-e", "puts Gem::Specification.find_by_name('grpc').gem_dir"], { encoding: "utf8", timeout: 10_000 });
  const dir = r.status === 0 ? r.stdout.trim() : "";
  if (dir === "" || !existsSync(join(dir, "src/ruby/pb/test/client.rb"))) throw missing("ruby with the grpc gem and its interop client", "ruby-grpc");
  rubyGrpc = dir;
  return dir;
}

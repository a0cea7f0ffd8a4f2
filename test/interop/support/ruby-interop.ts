// gRPC's official interop client and server, in the Ruby build Debian's ruby-grpc ships
// (gRPC C-core underneath), run as the interop matrix runs them: one client process per test
// case, flags --use_tls, --use_test_ca, --server_host_override; the server with --use_tls.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { rubyGrpcGemDir } from "./tools.js";

/** The interop test CA and the server certificate it issued (for *.test.google.fr, among others). */
export function interopTestCerts(): { readonly ca: string; readonly cert: string; readonly key: string } {
  const dir = join(rubyGrpcGemDir(), "src/ruby/spec/testdata");
  return { ca: join(dir, "ca.pem"), cert: join(dir, "server1.pem"), key: join(dir, "server1.key") };
}

/** The name the interop clients check in the test server certificate (--server_host_override). */
export const INTEROP_HOST_OVERRIDE = "foo.test.google.fr";

/** The interop cases that need no cloud credentials and that the Ruby client implements. */
export const INTEROP_CASES = [
  "empty_unary",
  "large_unary",
  "client_streaming",
  "server_streaming",
  "ping_pong",
  "empty_stream",
  "custom_metadata",
  "status_code_and_message",
  "unimplemented_method",
  "unimplemented_service",
  "timeout_on_sleeping_server",
  "cancel_after_begin",
  "cancel_after_first_response",
] as const;

export interface InteropClientOptions {
  readonly port: number;
  readonly testCase: (typeof INTEROP_CASES)[number];
  /** --use_tls=true --use_test_ca=true --server_host_override=INTEROP_HOST_OVERRIDE; else plaintext. */
  readonly tls: boolean;
}

/** A hang guard, not a speed limit: a run takes under a second on an idle machine. */
const CLIENT_LIMIT_MS = 60_000;

/** Runs one interop test case; resolves with the exit code and everything the client printed. */
export async function runInteropClient(o: InteropClientOptions): Promise<{ code: number | null; output: string }> {
  const args = [join(rubyGrpcGemDir(), "src/ruby/pb/test/client.rb"), "--server_host=127.0.0.1", `--server_port=${o.port}`, `--test_case=${o.testCase}`];
  if (o.tls) args.push("--use_tls=true", "--use_test_ca=true", `--server_host_override=${INTEROP_HOST_OVERRIDE}`);
  else args.push("--use_tls=false");
  const child = spawn("ruby", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const limit = setTimeout(() => child.kill("SIGKILL"), CLIENT_LIMIT_MS);
  try {
    const [code] = (await once(child, "close")) as [number | null];
    return { code, output };
  } finally {
    clearTimeout(limit);
  }
}

export interface InteropServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts the Ruby interop server on `port` (it takes no port 0), with the test certificate when `tls`. */
export function startInteropServer(port: number, tls: boolean): InteropServer {
  const child: ChildProcess = spawn("ruby", [join(rubyGrpcGemDir(), "src/ruby/pb/test/server.rb"), `--port=${port}`, `--use_tls=${tls}`], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = once(child, "close");
      child.kill("SIGKILL");
      await closed;
    },
  };
}

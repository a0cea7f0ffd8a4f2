// Clients and RPC patterns tests share: a client closed with its test, a fixed number of
// unary RPCs spread over clients, and a bidi stream held open to send one message at a time.
import * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { defer, type Owner } from "./teardown.js";

/** An echo client with a channel of its own to `target`, closed when `owner` ends. */
export function clientFor(owner: Owner, target: string, options: grpc.ChannelOptions = {}): grpc.Client {
  const c = echoClient(target, options);
  defer(owner, () => c.close());
  return c;
}

/** `total` unary RPCs, `perClientInFlight` at a time on each client; how many failed. */
export async function drive(clients: readonly grpc.Client[], total: number, perClientInFlight: number): Promise<number> {
  let sent = 0;
  let failed = 0;
  const loop = async (c: grpc.Client): Promise<void> => {
    while (sent < total) {
      sent++;
      const r = await callUnary(c, Buffer.from("x"));
      if (r.code !== 0) failed++;
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: perClientInFlight }, () => loop(c))));
  return failed;
}

const identity = (b: Buffer): Buffer => b;

export interface OpenBidi {
  /** Writes one message and resolves with its echo. */
  echo(text: string): Promise<string>;
  /** Half-closes and resolves with the status. */
  end(): Promise<grpc.StatusObject>;
  readonly status: Promise<grpc.StatusObject>;
}

/** A bidi call to the echo service, held open until end(). */
export function bidi(client: grpc.Client): OpenBidi {
  const call = client.makeBidiStreamRequest(echoService.bidi.path, identity, identity, new grpc.Metadata());
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => undefined); // the status carries the outcome
  return {
    status,
    echo: (text) => {
      const echoed = new Promise<string>((resolve) => call.once("data", (b: Buffer) => resolve(b.toString())));
      call.write(Buffer.from(text));
      return echoed;
    },
    end: () => {
      call.end();
      return status;
    },
  };
}

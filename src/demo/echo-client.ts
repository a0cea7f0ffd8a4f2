// Client helpers for the echo service: promise-returning calls that report everything a
// gRPC client sees (status, message, headers, trailers), for the demo, tests and benchmarks.
import * as grpc from "@grpc/grpc-js";
import { echoService } from "./echo-service.js";

export interface CallResult {
  readonly code: number;
  readonly details: string;
  readonly response: Buffer | undefined;
  readonly headers: grpc.Metadata | undefined;
  readonly trailers: grpc.Metadata | undefined;
}

/** A channel of its own (no subchannel sharing with other clients in this process). */
export function echoClient(target: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    ...options,
  });
}

const identity = (b: Buffer): Buffer => b;

export function callUnary(client: grpc.Client, request: Buffer, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<CallResult> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let response: Buffer | undefined;
    let error: grpc.ServiceError | null = null;
    let settled = false;
    const call = client.makeUnaryRequest(echoService.unary.path, identity, identity, request, metadata, options, (err, res) => {
      error = err;
      response = res;
    });
    call.on("metadata", (md) => {
      headers = md;
    });
    call.on("status", (status: grpc.StatusObject) => {
      if (settled) return;
      settled = true;
      // The callback runs before 'status'; take the response from it.
      setImmediate(() => {
        resolve({
          code: status.code,
          details: status.details,
          response: error === null ? response : undefined,
          headers,
          trailers: status.metadata,
        });
      });
    });
  });
}

/** Server streaming: collects every message until the status. */
export function callServerStream(
  client: grpc.Client,
  request: Buffer,
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
  onMessage?: (m: Buffer, call: grpc.ClientReadableStream<Buffer>) => void,
): Promise<CallResult & { readonly messages: Buffer[] }> {
  return new Promise((resolve) => {
    const messages: Buffer[] = [];
    let headers: grpc.Metadata | undefined;
    const call = client.makeServerStreamRequest(echoService.serverStream.path, identity, identity, request, metadata, options);
    call.on("metadata", (md) => {
      headers = md;
    });
    call.on("data", (m: Buffer) => {
      if (onMessage !== undefined) onMessage(m, call);
      else messages.push(m);
    });
    // grpc-js emits "status" as the trailers arrive, possibly before the messages a paused
    // reader has not taken yet: done once the status is in and the stream has ended too
    // ("end" after the last message; "error" instead of it for a non-OK status).
    let status: grpc.StatusObject | undefined;
    let drained = false;
    const done = (): void => {
      if (status !== undefined && drained)
        resolve({ code: status.code, details: status.details, response: undefined, headers, trailers: status.metadata, messages });
    };
    call.on("end", () => ((drained = true), done()));
    call.on("error", () => ((drained = true), done()));
    call.on("status", (s: grpc.StatusObject) => ((status = s), done()));
  });
}

/** Client streaming: sends every request, returns the server's concatenation. */
export function callClientStream(client: grpc.Client, requests: Buffer[], metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<CallResult> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let response: Buffer | undefined;
    const call = client.makeClientStreamRequest(echoService.clientStream.path, identity, identity, metadata, options, (err, res) => {
      if (err === null) response = res;
    });
    call.on("metadata", (md) => {
      headers = md;
    });
    call.on("status", (status: grpc.StatusObject) => {
      setImmediate(() => resolve({ code: status.code, details: status.details, response, headers, trailers: status.metadata }));
    });
    for (const r of requests) call.write(r);
    call.end();
  });
}

/** Bidi: writes each request after the previous echo came back. */
export function callBidi(
  client: grpc.Client,
  requests: Buffer[],
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<CallResult & { readonly messages: Buffer[] }> {
  return new Promise((resolve) => {
    const messages: Buffer[] = [];
    let headers: grpc.Metadata | undefined;
    const call = client.makeBidiStreamRequest(echoService.bidi.path, identity, identity, metadata, options);
    let next = 0;
    const sendNext = (): void => {
      if (next < requests.length) call.write(requests[next++]!);
      else call.end();
    };
    call.on("metadata", (md) => {
      headers = md;
    });
    call.on("data", (m: Buffer) => {
      messages.push(m);
      sendNext();
    });
    call.on("error", () => {
      // The status event carries the outcome.
    });
    call.on("status", (status: grpc.StatusObject) => {
      resolve({ code: status.code, details: status.details, response: undefined, headers, trailers: status.metadata, messages });
    });
    sendNext();
  });
}

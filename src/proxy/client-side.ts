// The client's side of an RPC: the listener of its stream, routing the events to the
// forwarder (a class, not closures: one object per RPC); the request as the balancer sees
// it (headers, source IP); and the request as sent so far, kept while a retry could still
// replay it.
import type { PickRequest } from "../balancer/types.js";
import type { ServerStream, Stream, StreamListener } from "../transport/types.js";

export interface ClientEvents {
  /** Whether `bytes` more of the request may be kept for a replay (the RPC's limit and its cluster's budget). */
  keepForReplay(bytes: number): boolean;
  /** The request is no longer kept: what was kept leaves the cluster's budget. */
  replayDropped(): void;
  onClientData(chunk: Buffer): void;
  onClientEnd(): void;
  onClientReset(code: number): void;
  onClientDrain(): void;
}

export class ClientSide implements StreamListener, PickRequest {
  /** Message bytes from the client (gRPC framing included, HTTP/2 framing not). */
  bytes = 0;
  /** The client has finished sending. */
  ended = false;
  /** A retry is still possible: no response passed to the client, and the request so far is kept whole. */
  replayable = true;
  /** The request so far, while replayable (created with the first chunk). */
  private chunks: Buffer[] | undefined;

  constructor(
    private readonly f: ClientEvents,
    private readonly ds: ServerStream,
    readonly sourceIp: string,
  ) {}

  // PickRequest, read lazily by hash policies.
  header(name: string): string | undefined {
    const v = this.ds.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }
  get path(): string {
    return (this.ds.headers[":path"] as string | undefined) ?? "/";
  }
  get authority(): string {
    return (this.ds.headers[":authority"] as string | undefined) ?? "";
  }

  /** A chunk of the request: counted, and kept for a retry while the retry buffer's limits allow. */
  record(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (!this.replayable) return;
    if (this.f.keepForReplay(chunk.length)) (this.chunks ??= []).push(chunk);
    else this.noReplay(); // too much to keep: no retry from now on
  }

  /** No retry from now on (the response begins, or the request is no longer kept). */
  noReplay(): void {
    if (!this.replayable) return;
    this.replayable = false;
    this.chunks = undefined;
    this.f.replayDropped();
  }

  /** A retry's new stream gets what the client sent so far, and its end if it came. */
  replayTo(stream: Stream): void {
    if (this.chunks !== undefined) for (const chunk of this.chunks) stream.write(chunk);
    if (this.ended) stream.end();
  }

  onHeaders(): void {
    // Request headers arrive before the forwarder exists; a server stream never gets these.
  }
  onData(chunk: Buffer): void {
    this.f.onClientData(chunk);
  }
  onTrailers(): void {
    // gRPC requests carry no trailers; node:http2 reports any as end of stream.
    this.f.onClientEnd();
  }
  onEnd(): void {
    this.f.onClientEnd();
  }
  onReset(code: number): void {
    this.f.onClientReset(code);
  }
  onDrain(): void {
    this.f.onClientDrain();
  }
}

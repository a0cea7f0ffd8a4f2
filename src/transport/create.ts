// Picks the HTTP/2 implementation for both sides of the proxy.
import type { TransportKind } from "../config/types.js";
import { NodeClientTransport } from "./node/client.js";
import { NodeH2Server } from "./node/server.js";
import type { ClientTransport, ServerHandlers, ServerTransport, ServerTransportOptions } from "./types.js";

export function createServerTransport(kind: TransportKind, options: ServerTransportOptions, handlers: ServerHandlers): ServerTransport {
  switch (kind) {
    case "node":
      return new NodeH2Server(options, handlers);
    case "h2":
      throw new Error("transport h2 is not available yet");
  }
}

export function createClientTransport(kind: TransportKind, options: { initialWindowSize: number }): ClientTransport {
  switch (kind) {
    case "node":
      return new NodeClientTransport(options);
    case "h2":
      throw new Error("transport h2 is not available yet");
  }
}

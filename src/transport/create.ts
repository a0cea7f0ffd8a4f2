// Picks the HTTP/2 implementation for both sides of the proxy.
import { H2ClientTransport } from "./h2/client.js";
import { H2Server } from "./h2/server.js";
import { NodeClientTransport } from "./node/client.js";
import { NodeH2Server } from "./node/server.js";
import type { ClientTransport, ServerHandlers, ServerTransport, ServerTransportOptions, TransportKind } from "./types.js";

export function createServerTransport(kind: TransportKind, options: ServerTransportOptions, handlers: ServerHandlers): ServerTransport {
  switch (kind) {
    case "node":
      return new NodeH2Server(options, handlers);
    case "h2":
      return new H2Server(options, handlers);
  }
}

export function createClientTransport(kind: TransportKind, options: { initialWindowSize: number }): ClientTransport {
  switch (kind) {
    case "node":
      return new NodeClientTransport(options);
    case "h2":
      return new H2ClientTransport(options);
  }
}

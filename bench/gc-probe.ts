// Forces a full garbage collection in a node process started with --inspect, through the
// inspector protocol (HeapProfiler.collectGarbage), and reports its used JS heap after it.
// The idle-connection pass uses it so a node proxy's RSS can be read without the garbage
// its handshakes left behind, which a real idle proxy would collect sooner or later.
// Run as its own process: node 20 has WebSocket only with --experimental-websocket.
// Usage: node [--experimental-websocket] dist/bench/gc-probe.js ws://127.0.0.1:PORT/ID
// Prints one JSON line (GcProbeResult).

export interface GcProbeResult {
  readonly usedHeapBytes: number;
}

/** The slice of the WHATWG WebSocket this probe uses (@types/node 20 does not declare it). */
interface MinimalWebSocket {
  onopen: (() => void) | null;
  onerror: ((e: unknown) => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}
type WebSocketCtor = new (url: string) => MinimalWebSocket;

async function main(): Promise<void> {
  const url = process.argv[2];
  if (url === undefined || !url.startsWith("ws://")) throw new Error("usage: gc-probe.js ws://HOST:PORT/ID");
  const Ctor = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (Ctor === undefined) throw new Error("no global WebSocket: run with --experimental-websocket");
  const ws = new Ctor(url);
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  let nextId = 0;
  let failed: (err: Error) => void = () => undefined;
  const broken = new Promise<never>((_, reject) => (failed = reject));
  ws.onerror = () => failed(new Error(`inspector connection to ${url} failed`));
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown>; error?: { message?: string } };
    if (m.id === undefined) return; // an event, not an answer
    if (m.error !== undefined) failed(new Error(`inspector: ${m.error.message ?? "error"}`));
    else pending.get(m.id)?.(m.result ?? {});
  };
  const call = (method: string): Promise<Record<string, unknown>> =>
    Promise.race([
      broken,
      new Promise<Record<string, unknown>>((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method }));
      }),
    ]);
  await Promise.race([broken, new Promise<void>((resolve) => (ws.onopen = resolve))]);
  await call("HeapProfiler.collectGarbage");
  const usage = await call("Runtime.getHeapUsage");
  ws.close();
  const result: GcProbeResult = { usedHeapBytes: Number(usage["usedSize"]) };
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);

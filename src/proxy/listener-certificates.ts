// The listener's certificate files, read and watched. cert-manager and Kubernetes secret
// volumes replace them by writing new files and renaming them into place (a secret volume
// swaps a `..data` symlink), never in place: so the directories holding them are watched,
// not the files, and any change there leads to a re-read shortly after (the chain and the
// key arrive as two renames). A pair that reads whole and matches replaces the old one for
// new handshakes; a half-written or mismatched pair is reported and the old one stays.
import { watch, readFileSync, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import type { DownstreamTlsSettings } from "../config/types.js";
import type { ServerTls, ServerTlsMaterial } from "../transport/tls/server-tls.js";

/** Changes closer together than this are read as one (a chain and its key renamed in turn). */
export const CERTIFICATE_SETTLE_MS = 100;

export type CertificateEvent = { readonly ok: true; readonly files: readonly string[] } | { readonly ok: false; readonly error: string };

/** The files' contents as the listener's TLS takes them; throws naming the file that cannot be read. */
export function readCertificates(settings: DownstreamTlsSettings): ServerTlsMaterial {
  return {
    certificates: settings.certificates.map((c) => ({ chain: readFile(c.certificateChain), key: readFile(c.privateKey) })),
    clientCa: settings.clientCa === null ? null : readFile(settings.clientCa),
    minVersion: settings.minVersion,
  };
}

function readFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function sameMaterial(a: ServerTlsMaterial, b: ServerTlsMaterial): boolean {
  if (a.certificates.length !== b.certificates.length) return false;
  if ((a.clientCa === null) !== (b.clientCa === null) || (a.clientCa !== null && !a.clientCa.equals(b.clientCa!))) return false;
  return a.certificates.every((c, i) => c.chain.equals(b.certificates[i]!.chain) && c.key.equals(b.certificates[i]!.key));
}

export class CertificateWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private current: ServerTlsMaterial;

  constructor(
    private readonly settings: DownstreamTlsSettings,
    /** The material the listener started with. */
    initial: ServerTlsMaterial,
    private readonly tls: ServerTls,
    private readonly onEvent: (event: CertificateEvent) => void,
  ) {
    this.current = initial;
    const files = [...settings.certificates.flatMap((c) => [c.certificateChain, c.privateKey]), ...(settings.clientCa === null ? [] : [settings.clientCa])];
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      const w = watch(dir, { persistent: false }, () => this.changed());
      w.on("error", (err) => this.onEvent({ ok: false, error: `watching ${dir}: ${err.message}` }));
      this.watchers.push(w);
    }
  }

  private changed(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, CERTIFICATE_SETTLE_MS);
    this.timer.unref();
  }

  /** Reads the files again and, when they changed and are usable, hands them to the listener. */
  reload(): void {
    let next: ServerTlsMaterial;
    try {
      next = readCertificates(this.settings);
      if (sameMaterial(next, this.current)) return;
      this.tls.update(next);
    } catch (err) {
      this.onEvent({ ok: false, error: `listener certificates not reloaded, the old ones stay: ${(err as Error).message}` });
      return;
    }
    this.current = next;
    this.onEvent({ ok: true, files: this.settings.certificates.map((c) => c.certificateChain) });
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}

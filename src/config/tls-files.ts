// Checks of the certificate, key, CA and CRL files a config names, made when the config is
// loaded so that `sluice validate` and `sluice proxy` refuse the same bad files, each problem
// at the line of the field that names the file: a file that cannot be read, PEM that does
// not parse, a key that is not the certificate's, a "CA" that is not one, a certificate
// expired or not yet valid (errors: every handshake with it would fail), one that expires
// within 30 days (a warning naming the date). The files are read again when the listener or
// cluster is built; these checks only make a bad file a config problem instead of a failed
// handshake hours later.
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { readFailure } from "./errno.js";

/** A field that names a file, and where its problems go (the field's file:line, or a flag). */
export interface FileField {
  /** As it will be read: absolute when the config file's directory is known. */
  readonly path: string;
  error(message: string): void;
  warn(message: string): void;
}

/** A certificate expiring sooner than this is warned about. */
export const EXPIRY_WARNING_MS = 30 * 86_400_000;

/** Istio's names of the workload certificate files (what istio-agent writes into /etc/certs). */
export const WORKLOAD_FILES = { certificateChain: "cert-chain.pem", privateKey: "key.pem", root: "root-cert.pem" } as const;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function pemBlocks(text: string): { label: string; text: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1] ?? "", text: m[0] }));
}

function read(field: FileField): string | undefined {
  try {
    return readFileSync(field.path, "utf8");
  } catch (e: unknown) {
    field.error(`cannot read ${field.path}: ${readFailure(e)}`);
    return undefined;
  }
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `"CN=api, O=acme"`: how a certificate is named in messages. */
function nameOf(cert: X509Certificate): string {
  return JSON.stringify(cert.subject.split("\n").join(", "));
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Every certificate of a PEM file, parsed; undefined (with the problem reported) when any does not parse or there is none. */
function certificates(field: FileField, text: string): X509Certificate[] | undefined {
  const blocks = pemBlocks(text).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) {
    field.error(`${field.path}: no PEM certificate in it (expected "-----BEGIN CERTIFICATE-----")`);
    return undefined;
  }
  const out: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    try {
      out.push(new X509Certificate(b.text));
    } catch (e: unknown) {
      field.error(`${field.path}: certificate ${i + 1} does not parse (${reason(e)})`);
      return undefined;
    }
  }
  return out;
}

/** Expired or not yet valid: an error (no handshake can succeed); expiring within 30 days: a warning. */
function checkValidity(field: FileField, certs: readonly X509Certificate[], now: number): void {
  for (const cert of certs) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (to <= now) field.error(`${field.path}: certificate ${nameOf(cert)} expired on ${day(to)}`);
    else if (from > now) field.error(`${field.path}: certificate ${nameOf(cert)} is not valid until ${day(from)}`);
    else if (to - now < EXPIRY_WARNING_MS) {
      const days = Math.ceil((to - now) / 86_400_000);
      field.warn(`${field.path}: certificate ${nameOf(cert)} expires on ${day(to)}, in ${days} day${days === 1 ? "" : "s"}`);
    }
  }
}

/** A certificate chain (leaf first): returns the leaf when the file is usable. */
export function checkCertificateChain(field: FileField, now = Date.now()): X509Certificate | undefined {
  const text = read(field);
  if (text === undefined) return undefined;
  const certs = certificates(field, text);
  if (certs === undefined) return undefined;
  checkValidity(field, certs, now);
  return certs[0];
}

/** A private key in PEM (PKCS#8, PKCS#1 or SEC1), not encrypted. */
export function checkPrivateKey(field: FileField): KeyObject | undefined {
  const text = read(field);
  if (text === undefined) return undefined;
  const block = pemBlocks(text).find((b) => b.label.endsWith("PRIVATE KEY"));
  if (block === undefined) {
    field.error(`${field.path}: no PEM private key in it (expected "-----BEGIN PRIVATE KEY-----")`);
    return undefined;
  }
  if (block.label === "ENCRYPTED PRIVATE KEY" || /Proc-Type: 4,ENCRYPTED/.test(block.text)) {
    field.error(`${field.path}: the private key is encrypted and sluice takes no passphrase: give it decrypted (openssl pkey -in KEY -out PLAIN)`);
    return undefined;
  }
  try {
    return createPrivateKey(block.text);
  } catch (e: unknown) {
    field.error(`${field.path}: the private key does not parse (${reason(e)})`);
    return undefined;
  }
}

/** A certificate chain and its key: each file on its own, then the key against the chain's leaf. */
export function checkKeyPair(cert: FileField, key: FileField, now = Date.now()): void {
  const leaf = checkCertificateChain(cert, now);
  const keyObject = checkPrivateKey(key);
  if (leaf === undefined || keyObject === undefined) return;
  if (!leaf.checkPrivateKey(keyObject)) key.error(`${key.path}: this private key is not the key of the certificate ${nameOf(leaf)} in ${cert.path}`);
}

/** A CA bundle: certificates that are all CAs (basicConstraints CA:TRUE). */
export function checkCaBundle(field: FileField, now = Date.now()): void {
  const text = read(field);
  if (text === undefined) return;
  const certs = certificates(field, text);
  if (certs === undefined) return;
  certs.forEach((cert, i) => {
    if (!cert.ca) {
      field.error(
        `${field.path}: certificate ${i + 1} (${nameOf(cert)}) is not a CA certificate (no basicConstraints CA:TRUE): give the certificates of the CAs that issue the peer's certificate`,
      );
    }
  });
  checkValidity(field, certs, now);
}

/** A certificate revocation list in PEM ("X509 CRL"), parsed by OpenSSL as the handshake will. */
export function checkCrl(field: FileField): void {
  const text = read(field);
  if (text === undefined) return;
  const blocks = pemBlocks(text).filter((b) => b.label === "X509 CRL");
  if (blocks.length === 0) {
    field.error(`${field.path}: no PEM CRL in it (expected "-----BEGIN X509 CRL-----")`);
    return;
  }
  try {
    createSecureContext({ crl: blocks.map((b) => b.text) });
  } catch (e: unknown) {
    field.error(`${field.path}: the CRL does not parse (${reason(e)})`);
  }
}

/**
 * The workload certificate directory ISTIO_MUTUAL clusters use: Istio's three files, each
 * checked as its kind. `report` places the problems (the Proxy's spec.workloadCertificates,
 * or the DestinationRule that asks for ISTIO_MUTUAL when the directory is the default).
 */
export function checkWorkloadCertificates(directory: string, report: Omit<FileField, "path">, now = Date.now()): void {
  const field = (name: string): FileField => ({ path: join(directory, name), error: report.error, warn: report.warn });
  const names = Object.values(WORKLOAD_FILES);
  const missing = names.filter((n) => !readable(join(directory, n)));
  if (missing.length > 0) {
    report.error(
      `${directory}: cannot read ${missing.join(", ")} (ISTIO_MUTUAL uses Istio's workload certificate files there: ${names.join(", ")}; set the Proxy's spec.workloadCertificates to the directory that holds them)`,
    );
    return;
  }
  checkKeyPair(field(WORKLOAD_FILES.certificateChain), field(WORKLOAD_FILES.privateKey), now);
  checkCaBundle(field(WORKLOAD_FILES.root), now);
}

function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

// A test PKI made with Debian's openssl at test time: a CA, and certificates it issues with
// DNS and URI (SPIFFE) SANs for servers and clients, expired ones, and revoked ones listed in
// a CRL (`openssl ca` keeps the database that revocation and CRLs need). Everything lives in a
// temporary directory removed when the owner ends. Keys are P-256: quick to make and to use.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { UpstreamTlsSettings } from "../../src/config/types.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defer, type Owner } from "./teardown.js";

const CA_CONFIG = `[ca]
default_ca = test_ca
[test_ca]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
default_crl_days = 30
copy_extensions = none
[any]
commonName = supplied
`;

/** A certificate and its key, as files and as the PEM text in them. */
export interface Issued {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface IssueOptions {
  /** DNS names, IP addresses (`IP:127.0.0.1`) and URIs (`URI:spiffe://...`) in the SAN; a bare name is a DNS name. */
  readonly sans?: readonly string[];
  /** Valid from two years ago to one year ago. */
  readonly expired?: boolean;
  /** Days from now the certificate is valid for (default 30: config checks warn about it); ignored when expired. */
  readonly days?: number;
}

export class TestPki {
  readonly ca: Issued;
  private serial = 0;

  private constructor(
    readonly dir: string,
    name: string,
    days: number,
  ) {
    writeFileSync(join(dir, "ca.cnf"), CA_CONFIG);
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(join(dir, "serial"), "1000\n");
    this.openssl(
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", "ca.key", "-out", "ca.pem", "-subj", `/CN=${name}`, "-days", String(days),
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ); // prettier-ignore
    this.ca = this.read("ca");
  }

  /** A new CA in a temporary directory, removed when `owner` ends; valid for `days` (a year; under 30 days config checks warn). */
  static create(owner: Owner, name = "sluice test CA", days = 365): TestPki {
    const dir = mkdtempSync(join(tmpdir(), "sluice-pki-"));
    defer(owner, () => rmSync(dir, { recursive: true, force: true }));
    return new TestPki(dir, name, days);
  }

  /** A certificate for `cn` the CA signs (good for TLS servers and clients), files `<file>.pem` and `<file>.key`. */
  issue(cn: string, options: IssueOptions = {}, file = `cert-${++this.serial}`): Issued {
    const sans = (options.sans ?? [cn]).map((s) => (/^(DNS|IP|URI|email):/.test(s) ? s : `DNS:${s}`));
    const ext = [`subjectAltName=${sans.join(",")}`, "basicConstraints=CA:FALSE", "keyUsage=digitalSignature", "extendedKeyUsage=serverAuth,clientAuth"];
    writeFileSync(join(this.dir, `${file}.ext`), `${ext.join("\n")}\n`);
    this.openssl(
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${file}.key`,
      "-out",
      `${file}.csr`,
      "-subj",
      `/CN=${cn}`,
    );
    const now = Date.now();
    const day = 86_400_000;
    const [from, to] = options.expired === true ? [now - 730 * day, now - 365 * day] : [now - day, now + (options.days ?? 365) * day];
    this.openssl(
      "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-notext",
      "-in", `${file}.csr`, "-out", `${file}.pem`, "-extfile", `${file}.ext`,
      "-startdate", asn1Time(from), "-enddate", asn1Time(to),
    ); // prettier-ignore
    return this.read(file);
  }

  /** Marks `issued` revoked and writes the CA's CRL anew; returns the CRL's path. */
  revoke(issued: Issued): string {
    this.openssl("ca", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-revoke", issued.certPath);
    return this.crl();
  }

  /** The CA's current CRL (PEM), written to crl.pem. */
  crl(): string {
    this.openssl("ca", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-gencrl", "-out", "crl.pem");
    return join(this.dir, "crl.pem");
  }

  private read(file: string): Issued {
    const certPath = join(this.dir, `${file}.pem`);
    const keyPath = join(this.dir, `${file}.key`);
    return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
  }

  private openssl(...args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
  }
}

/** openssl ca's -startdate/-enddate form: YYYYMMDDHHMMSSZ. */
function asn1Time(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

/** A DestinationRule's tls `mode: SIMPLE` with every other field at its default; `overrides` set some. */
export function simpleTls(overrides: Partial<UpstreamTlsSettings> = {}): UpstreamTlsSettings {
  return {
    mode: "SIMPLE",
    caCertificates: null,
    clientCertificate: null,
    privateKey: null,
    subjectAltNames: [],
    sni: null,
    insecureSkipVerify: false,
    caCrl: null,
    ...overrides,
  };
}

/** A workload certificate directory as Istio lays it out (ISTIO_MUTUAL): `issued` as cert-chain.pem and key.pem, the CA as root-cert.pem. */
export function workloadDirectory(pki: TestPki, issued: Issued): string {
  const dir = mkdtempSync(join(pki.dir, "workload-"));
  writeFileSync(join(dir, "cert-chain.pem"), issued.cert);
  writeFileSync(join(dir, "key.pem"), issued.key);
  writeFileSync(join(dir, "root-cert.pem"), pki.ca.cert);
  return dir;
}

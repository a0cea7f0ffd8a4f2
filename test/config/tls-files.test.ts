// The certificate, key, CA and CRL files a config names are checked when it loads, each
// problem at the line of the field that names the file: unreadable, not PEM, PEM that does
// not parse, a key that is not the certificate's, a CA bundle holding a leaf, an expired
// certificate (errors), one expiring within 30 days (a warning naming the date).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatProblem } from "../../src/config/diagnostics.js";
import { TestPki } from "../support/certs.js";
import { tempDir } from "../support/cli.js";
import { Teardown } from "../support/teardown.js";
import { destinationRule, docs, load, problems, SERVICE_ENTRY, warnings } from "./helpers.js";

const td = new Teardown();
after(() => td.run());
const pki = TestPki.create(td, "files test CA", 365);
const ca = pki.ca.certPath;
const client = pki.issue("client", { days: 365 });
const other = pki.issue("other", { days: 365 });
const expired = pki.issue("old", { expired: true });
const expiring = pki.issue("soon", { days: 10 });
const dir = tempDir(td, "sluice-tls-files-");

function file(name: string, text: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const garbage = file("garbage.pem", "not a certificate\n");
const badBase64 = file("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
const badCrl = file("bad-crl.pem", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
const bundleWithLeaf = file("bundle.pem", Buffer.concat([pki.ca.cert, client.cert]));
const encryptedKey = file(
  "encrypted.key",
  generateKeyPairSync("ec", {
    namedCurve: "P-256",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" },
  }).privateKey,
);
const revokedCrl = pki.revoke(other);

/** mode MUTUAL with these files: clientCertificate at line 21, privateKey 22, caCertificates 23, caCrl 24. */
function mutual(f: { cert?: string; key?: string; ca?: string; crl?: string }): string {
  const lines = [
    "mode: MUTUAL",
    `clientCertificate: ${f.cert ?? client.certPath}`,
    `privateKey: ${f.key ?? client.keyPath}`,
    `caCertificates: ${f.ca ?? ca}`,
    ...(f.crl === undefined ? [] : [`caCrl: ${f.crl}`]),
  ];
  return docs(SERVICE_ENTRY, destinationRule(`  host: grpc-service\n  trafficPolicy:\n    tls:\n${lines.map((l) => `      ${l}\n`).join("")}`));
}

const P = "test.yaml:2";
const F = "spec.trafficPolicy.tls";

describe("bad files are errors at the line of their field", () => {
  const cases: { name: string; files: Parameters<typeof mutual>[0]; want: string }[] = [
    {
      name: "a file that does not exist",
      files: { ca: join(dir, "nope.pem") },
      want: `${P}3 ${F}.caCertificates: cannot read ${join(dir, "nope.pem")}: no such file`,
    },
    { name: "a directory", files: { cert: dir }, want: `${P}1 ${F}.clientCertificate: cannot read ${dir}: is a directory` },
    {
      name: "no PEM certificate",
      files: { ca: garbage },
      want: `${P}3 ${F}.caCertificates: ${garbage}: no PEM certificate in it (expected "-----BEGIN CERTIFICATE-----")`,
    },
    { name: "PEM that does not parse", files: { cert: badBase64 }, want: `${P}1 ${F}.clientCertificate: ${badBase64}: certificate 1 does not parse (` },
    {
      name: "a key file without a key",
      files: { key: client.certPath },
      want: `${P}2 ${F}.privateKey: ${client.certPath}: no PEM private key in it (expected "-----BEGIN PRIVATE KEY-----")`,
    },
    {
      name: "an encrypted key",
      files: { key: encryptedKey },
      want: `${P}2 ${F}.privateKey: ${encryptedKey}: the private key is encrypted and sluice takes no passphrase: give it decrypted (openssl pkey -in KEY -out PLAIN)`,
    },
    {
      name: "a key that is not the certificate's",
      files: { key: other.keyPath },
      want: `${P}2 ${F}.privateKey: ${other.keyPath}: this private key is not the key of the certificate "CN=client" in ${client.certPath}`,
    },
    {
      name: "a CA bundle holding a leaf certificate",
      files: { ca: bundleWithLeaf },
      want: `${P}3 ${F}.caCertificates: ${bundleWithLeaf}: certificate 2 ("CN=client") is not a CA certificate (no basicConstraints CA:TRUE): give the certificates of the CAs that issue the peer's certificate`,
    },
    {
      name: "an expired certificate",
      files: { cert: expired.certPath, key: expired.keyPath },
      want: `${P}1 ${F}.clientCertificate: ${expired.certPath}: certificate "CN=old" expired on `,
    },
    {
      name: "a CRL file without a CRL",
      files: { crl: ca },
      want: `${P}4 ${F}.caCrl: ${ca}: no PEM CRL in it (expected "-----BEGIN X509 CRL-----")`,
    },
    { name: "a CRL that does not parse", files: { crl: badCrl }, want: `${P}4 ${F}.caCrl: ${badCrl}: the CRL does not parse (` },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = problems(mutual(c.files));
      assert.equal(got.length, 1, got.join("\n"));
      assert.ok(got[0]!.startsWith(c.want), `${got[0]}\ndoes not start with\n${c.want}`);
    });
  }

  test("the expiry date is named", () => {
    const [p] = problems(mutual({ cert: expired.certPath, key: expired.keyPath }));
    const notAfter = new Date(Date.now() - 365 * 86_400_000).toISOString().slice(0, 10);
    assert.match(p!, new RegExp(`expired on ${notAfter}$`));
  });
});

test("good files load: a chain and its key, a CA, a CRL listing a revoked certificate", () => {
  const r = load(mutual({ crl: revokedCrl }));
  assert.ok(r.ok, r.ok ? "" : r.problems.map(formatProblem).join("\n"));
  assert.deepEqual(warnings(r), []);
  assert.match(readFileSync(revokedCrl, "utf8"), /BEGIN X509 CRL/);
});

test("a certificate expiring within 30 days is a warning naming the date", () => {
  const r = load(mutual({ cert: expiring.certPath, key: expiring.keyPath }));
  assert.ok(r.ok, r.ok ? "" : r.problems.map(formatProblem).join("\n"));
  const date = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
  assert.deepEqual(warnings(r).map(formatProblem), [
    `${P}1 ${F}.clientCertificate: ${expiring.certPath}: certificate "CN=soon" expires on ${date}, in 10 days`,
  ]);
});

#!/bin/sh
# Makes the certificates examples/mtls/sluice.yaml names, in examples/mtls/certs/, with openssl:
# a CA, and from it: sluice's server certificate (for the clients), a client certificate
# (for examples/call.mjs), sluice's client certificate (for the backends) and the backends'
# server certificate. For trying things only: real certificates come from your own CA,
# cert-manager or Istio. Run it again to make new ones.
set -eu
cd "$(dirname "$0")"
mkdir -p certs
cd certs
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

openssl req -x509 $ec -keyout ca.key -out ca.pem -days 365 -subj "/CN=sluice example CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

# issue NAME CN SUBJECT_ALT_NAMES: NAME.pem and NAME.key, signed by the CA.
issue() {
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$1.ext"
  openssl req -new $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 365 -extfile "$1.ext" 2>/dev/null
  rm "$1.csr" "$1.ext"
}
issue sluice "sluice" "DNS:payments.internal,DNS:localhost,IP:127.0.0.1"
issue client "example client" "DNS:client.example"
issue sluice-client "sluice" "URI:spiffe://example/sluice"
issue backend "payments backend" "DNS:payments.internal"
echo "certificates in $(pwd)"

#!/usr/bin/env bash
#
# gen_fixtures.sh - (re)generate the test PKI in tests/fixtures/.
#
# Needs only the `openssl` CLI (3.0 or later; written for Debian 12's 3.0 and
# Debian 13's 3.5) plus `node`, which is used for the single thing the openssl
# CLI cannot do: encrypting a key under a password that contains a NUL byte.
# Nothing touches the network.
#
# Everything is built in a private temporary directory first (CA databases,
# serial files, CSRs and config snippets never leave it) and only the finished
# fixtures are moved into tests/fixtures/, so a failed run leaves the old
# fixtures untouched and a successful run leaves no scratch files behind.
# Running it again wipes the previously generated files and makes new ones
# (fresh keys every time: tests must not depend on specific key bytes).
# SECSOCK_FIXTURES_OUT=DIR writes to DIR instead of tests/fixtures/.
# The setup shared with the other generators is in scripts/fixtures/common.sh;
# scripts/gen_all_fixtures.sh (`deno task fixtures`) runs them all.
#
# The script ends by checking its own output (chains verify, the expired
# certificate is rejected, every encrypted key decrypts to the server key...)
# and exits non-zero if anything is off.

set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=fixtures/common.sh
source "$SCRIPT_DIR/fixtures/common.sh"

fixtures_setup fixtures "" openssl node

# The extensions of each kind of certificate (the CAs' root_ca and
# ca_pathlen0 come with write_config).
write_config <<'CONF'
# RSA server leaf: keyEncipherment is allowed for RSA (TLS 1.2 RSA kx).
[ v3_server_rsa ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# EC / Ed25519 server leaf: RFC 5480 / RFC 8410 forbid keyEncipherment for
# these key types, so only digitalSignature (strict verifiers may check).
[ v3_server_sig ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_wronghost ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# Self-signed *leaf*: explicitly not a CA, so verifiers must reject it unless
# it is pinned / trusted directly.
[ v3_selfsigned ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = none
CONF

# ---------------------------------------------------------------- helpers --

# genkey NAME rsa|ec|ed25519  ->  $STAGE/NAME.key, unencrypted PKCS#8 PEM
genkey() {
  new_key "$STAGE/$1.key" "$2"
}

# sign NAME SUBJECT EXT_SECTION ISSUER|self [NOT_AFTER [NOT_BEFORE]]
#   ->  $STAGE/NAME.pem for $STAGE/NAME.key, signed by $STAGE/ISSUER.key
#   (all issuers are RSA) or self-signed.
sign() {
  local issuer="$4"
  [ "$issuer" = self ] || issuer="$STAGE/$issuer"
  issue_cert "$STAGE/$1.key" "$STAGE/$1.pem" "$2" "$3" "${6:-$NOT_BEFORE}" "${5:-$LEAF_NOT_AFTER}" "$issuer"
}

# chain NAME  ->  $STAGE/NAME-chain.pem = leaf followed by the intermediate
chain() {
  cat "$STAGE/$1.pem" "$STAGE/intermediate.pem" >"$STAGE/$1-chain.pem"
}

# -------------------------------------------------------------------- CAs --

genkey ca rsa
sign ca "/O=secsock/CN=secsock Test Root CA" root_ca self "$CA_NOT_AFTER"

genkey intermediate rsa
sign intermediate "/O=secsock/CN=secsock Test Intermediate CA" \
  ca_pathlen0 ca "$CA_NOT_AFTER"

# A second, unrelated root: a client cert from it must be rejected by a
# server that trusts only ca.pem.
genkey other-ca rsa
sign other-ca "/O=Other/CN=Other Test Root CA" root_ca self "$CA_NOT_AFTER"

# ----------------------------------------------------------------- leaves --

genkey server rsa
sign server "/O=secsock/CN=localhost" v3_server_rsa intermediate
chain server

genkey server-ec ec
sign server-ec "/O=secsock/CN=localhost" v3_server_sig intermediate
chain server-ec

genkey server-ed25519 ed25519
sign server-ed25519 "/O=secsock/CN=localhost" v3_server_sig intermediate
chain server-ed25519

genkey client rsa
sign client "/O=secsock/CN=secsock client" v3_client intermediate
chain client

genkey client-ec ec
sign client-ec "/O=secsock/CN=secsock client ec" v3_client intermediate
chain client-ec

# Issued directly by other-ca (no intermediate, so no -chain file).
genkey other-client rsa
sign other-client "/O=Other/CN=other client" v3_client other-ca

genkey wronghost rsa
sign wronghost "/O=secsock/CN=wrong.example" v3_wronghost intermediate
chain wronghost

# Validity entirely in the past.
genkey expired rsa
sign expired "/O=secsock/CN=localhost" v3_server_rsa intermediate \
  20210101000000Z 20200101000000Z
chain expired

# Validity entirely in the future (GeneralizedTime, > 2049).
genkey not-yet-valid rsa
sign not-yet-valid "/O=secsock/CN=localhost" v3_server_rsa intermediate \
  21000101000000Z 20900101000000Z
chain not-yet-valid

genkey selfsigned rsa
sign selfsigned "/O=secsock/CN=localhost" v3_selfsigned self

# ------------------------------------------ server.key in other encodings --
# All of these hold the same key material as server.key.

S="$STAGE/server.key"

# Encrypted PKCS#8, PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC (spelled out,
# not left to version-dependent defaults).
openssl pkcs8 -topk8 -in "$S" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -passout "pass:$PASS" -out "$STAGE/server-key-pkcs8-aes256.pem"

# Same, DER.
openssl pkcs8 -topk8 -in "$S" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -passout "pass:$PASS" -outform DER -out "$STAGE/server-key-pkcs8-aes256.der"

# The client key, encrypted the same way: a client certificate with an
# encrypted key (HTTPS client tests, the README's fetch example).
openssl pkcs8 -topk8 -in "$STAGE/client.key" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -passout "pass:$PASS" -out "$STAGE/client-key-pkcs8-aes256.pem"

# Encrypted PKCS#8, PBES2 with scrypt KDF (N=16384 r=8 p=1), AES-256-CBC.
openssl pkcs8 -topk8 -in "$S" -scrypt -scrypt_N 16384 -scrypt_r 8 -scrypt_p 1 \
  -v2 aes-256-cbc -passout "pass:$PASS" -out "$STAGE/server-key-pkcs8-scrypt.pem"

# Legacy "traditional" OpenSSL PEM encryption (Proc-Type/DEK-Info headers,
# EVP_BytesToKey MD5 KDF). -traditional forces "BEGIN RSA PRIVATE KEY".
q openssl rsa -in "$S" -traditional -des3 -passout "pass:$PASS" \
  -out "$STAGE/server-key-legacy-des3.pem"
q openssl rsa -in "$S" -traditional -aes256 -passout "pass:$PASS" \
  -out "$STAGE/server-key-legacy-aes256.pem"

# Unencrypted PKCS#8 DER and unencrypted PKCS#1 ("BEGIN RSA PRIVATE KEY").
openssl pkcs8 -topk8 -in "$S" -nocrypt -outform DER -out "$STAGE/server-key.der"
q openssl rsa -in "$S" -traditional -out "$STAGE/server-key-rsa-traditional.pem"

# EC key as legacy encrypted SEC1 "BEGIN EC PRIVATE KEY" (openssl ec writes
# the type-specific SEC1 structure by default).
q openssl ec -in "$STAGE/server-ec.key" -aes256 -passout "pass:$PASS" \
  -out "$STAGE/server-ec-key-legacy-aes256.pem"

# Non-ASCII password "pässwörd-🔐" as UTF-8 bytes. Written with printf escapes
# so the bytes do not depend on this file's or the terminal's encoding, and
# with no trailing newline (openssl's file: reader would strip one anyway).
UTF8_PASS_FILE="$TMP/utf8-pass"
printf 'p\xc3\xa4ssw\xc3\xb6rd-\xf0\x9f\x94\x90' >"$UTF8_PASS_FILE"
openssl pkcs8 -topk8 -in "$S" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -passout "file:$UTF8_PASS_FILE" -out "$STAGE/server-key-utf8-pass.pem"

# Empty password (zero-length, not "no encryption").
openssl pkcs8 -topk8 -in "$S" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -passout "pass:" -out "$STAGE/server-key-empty-pass.pem"

# Password "ab\0cd" (5 bytes, NUL in the middle). The openssl CLI reads
# passwords as C strings and cannot express this, so use node's crypto
# (Node's bundled OpenSSL, PBES2 with AES-256-CBC) and check it round-trips.
KEY_IN="$S" KEY_OUT="$STAGE/server-key-nul-pass.pem" node -e '
  const crypto = require("crypto");
  const fs = require("fs");
  const pass = Buffer.from([0x61, 0x62, 0x00, 0x63, 0x64]);
  const key = crypto.createPrivateKey(fs.readFileSync(process.env.KEY_IN));
  const enc = key.export({ type: "pkcs8", format: "pem",
                           cipher: "aes-256-cbc", passphrase: pass });
  fs.writeFileSync(process.env.KEY_OUT, enc);
  // Must decrypt with the 5-byte buffer...
  const back = crypto.createPrivateKey({ key: enc, passphrase: pass });
  const der = (k) => k.export({ type: "pkcs8", format: "der" });
  if (!der(back).equals(der(key))) throw new Error("nul-pass round trip differs");
  // ...and not with the C-string truncation "ab".
  let truncatedWorks = true;
  try { crypto.createPrivateKey({ key: enc, passphrase: "ab" }); }
  catch { truncatedWorks = false; }
  if (truncatedWorks) throw new Error("nul-pass key also opens with \"ab\"");
'

# ---------------------------------------------------------------- PKCS#12 --

# Current defaults (OpenSSL 3.x: PBES2/AES-256-CBC, SHA-256 MAC).
openssl pkcs12 -export -in "$STAGE/client.pem" -inkey "$STAGE/client.key" \
  -certfile "$STAGE/intermediate.pem" -name "secsock client" \
  -passout "pass:$PASS" -out "$STAGE/client.p12"

# Legacy algorithms (what pre-3.0 OpenSSL / old Windows / Java produce):
# `-legacy` = RC2-40 for the cert bag, 3DES for the key, SHA-1 MAC; it needs
# the legacy provider. Without that provider, fall back to 3DES for both
# bags, which the default provider still implements.
P12_LEGACY_MODE="-legacy (RC2-40-CBC certs, 3DES key, SHA-1 MAC)"
if ! openssl pkcs12 -export -legacy -in "$STAGE/client.pem" \
    -inkey "$STAGE/client.key" -certfile "$STAGE/intermediate.pem" \
    -name "secsock client" -passout "pass:$PASS" \
    -out "$STAGE/client-legacy.p12" 2>"$TMP/p12.err"; then
  echo "note: pkcs12 -legacy failed, using PBE-SHA1-3DES fallback:" >&2
  sed 's/^/  /' "$TMP/p12.err" >&2
  P12_LEGACY_MODE="PBE-SHA1-3DES for certs and key, SHA-1 MAC (fallback)"
  openssl pkcs12 -export -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES \
    -macalg sha1 -in "$STAGE/client.pem" -inkey "$STAGE/client.key" \
    -certfile "$STAGE/intermediate.pem" -name "secsock client" \
    -passout "pass:$PASS" -out "$STAGE/client-legacy.p12"
fi

# ----------------------------------------------------------------- README --

cat >"$STAGE/README.md" <<EOF
# Test fixtures

Generated by \`scripts/gen_fixtures.sh\` (openssl CLI + node); do not edit by
hand, re-run the script instead (it replaces every generated file with fresh
keys). PEM unless noted. Unencrypted keys are PKCS#8 (\`BEGIN PRIVATE KEY\`).
Validity: CAs 2000-01-01 .. 2126-01-01, leaves 2000-01-01 .. 2125-01-01,
except \`expired\` and \`not-yet-valid\`.
Default password for encrypted files: \`$PASS\`.

## PKI

| File | Purpose |
| --- | --- |
| \`ca.pem\`, \`ca.key\` | Root CA \`/O=secsock/CN=secsock Test Root CA\`, RSA 2048. Trust anchor for everything below. |
| \`intermediate.pem\`, \`intermediate.key\` | Intermediate CA (pathlen:0) signed by the root; issues all secsock leaves. |
| \`server.pem\`, \`server.key\`, \`server-chain.pem\` | Server leaf CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth, RSA 2048. \`-chain\` = leaf + intermediate. |
| \`server-ec.pem\`, \`server-ec.key\`, \`server-ec-chain.pem\` | Same, ECDSA P-256. |
| \`server-ed25519.pem\`, \`server-ed25519.key\`, \`server-ed25519-chain.pem\` | Same, Ed25519. |
| \`client.pem\`, \`client.key\`, \`client-chain.pem\` | Client leaf \`CN=secsock client\`, clientAuth, RSA 2048. |
| \`client-ec.pem\`, \`client-ec.key\`, \`client-ec-chain.pem\` | Client leaf \`CN=secsock client ec\`, clientAuth, P-256. |
| \`other-ca.pem\`, \`other-ca.key\` | Unrelated root \`/O=Other/CN=Other Test Root CA\`. |
| \`other-client.pem\`, \`other-client.key\` | Client leaf \`CN=other client\` issued directly by other-ca: must be rejected by a server trusting \`ca.pem\`. |
| \`expired.pem\`, \`expired.key\`, \`expired-chain.pem\` | Like server, valid 2020-01-01 .. 2021-01-01 only (expired). |
| \`not-yet-valid.pem\`, \`not-yet-valid.key\`, \`not-yet-valid-chain.pem\` | Like server, valid 2090-01-01 .. 2100-01-01 only. |
| \`wronghost.pem\`, \`wronghost.key\`, \`wronghost-chain.pem\` | Valid chain but CN/SAN \`wrong.example\` only: hostname mismatch for localhost. |
| \`selfsigned.pem\`, \`selfsigned.key\` | Self-signed leaf (CA:FALSE), CN=localhost, SAN DNS:localhost, IP:127.0.0.1: untrusted unless pinned. |

keyUsage: the RSA server-style leaves (server, wronghost, expired,
not-yet-valid, selfsigned) have digitalSignature,keyEncipherment; client, EC
and Ed25519 leaves have digitalSignature only (RFC 5480 / RFC 8410 forbid
keyEncipherment for EC and Ed25519 keys). All leaves are CA:FALSE with
SKID/AKID; the CAs have critical CA:TRUE and keyCertSign,cRLSign.

## Other encodings of \`server.key\` (same key material)

| File | Format | Password |
| --- | --- | --- |
| \`server-key-pkcs8-aes256.pem\` | Encrypted PKCS#8, PBES2 PBKDF2-HMAC-SHA256 + AES-256-CBC | \`$PASS\` |
| \`server-key-pkcs8-aes256.der\` | Same, DER | \`$PASS\` |
| \`server-key-pkcs8-scrypt.pem\` | Encrypted PKCS#8, PBES2 scrypt (N=16384,r=8,p=1) + AES-256-CBC | \`$PASS\` |
| \`server-key-legacy-des3.pem\` | Traditional \`BEGIN RSA PRIVATE KEY\`, \`Proc-Type: 4,ENCRYPTED\`, DES-EDE3-CBC | \`$PASS\` |
| \`server-key-legacy-aes256.pem\` | Traditional \`BEGIN RSA PRIVATE KEY\`, \`Proc-Type: 4,ENCRYPTED\`, AES-256-CBC | \`$PASS\` |
| \`server-key.der\` | Unencrypted PKCS#8, DER | none |
| \`server-key-rsa-traditional.pem\` | Unencrypted PKCS#1 \`BEGIN RSA PRIVATE KEY\` | none |
| \`server-key-utf8-pass.pem\` | Encrypted PKCS#8, AES-256-CBC | \`pässwörd-🔐\` (UTF-8 bytes \`70 c3 a4 73 73 77 c3 b6 72 64 2d f0 9f 94 90\`) |
| \`server-key-nul-pass.pem\` | Encrypted PKCS#8, AES-256-CBC (written by node) | 5 bytes \`61 62 00 63 64\` (\`ab\\0cd\`); \`ab\` alone must fail |
| \`server-key-empty-pass.pem\` | Encrypted PKCS#8, AES-256-CBC | empty string |

\`client-key-pkcs8-aes256.pem\`: \`client.key\` as encrypted PKCS#8 (PBKDF2-HMAC-SHA256 + AES-256-CBC), password \`$PASS\`.

\`server-ec-key-legacy-aes256.pem\`: \`server-ec.key\` as traditional
\`BEGIN EC PRIVATE KEY\`, \`Proc-Type: 4,ENCRYPTED\`, AES-256-CBC, password \`$PASS\`.

## PKCS#12 (password \`$PASS\`, friendly name "secsock client")

| File | Contents |
| --- | --- |
| \`client.p12\` | client cert + key + intermediate, OpenSSL 3 defaults (PBES2 AES-256-CBC, SHA-256 MAC). |
| \`client-legacy.p12\` | Same contents, $P12_LEGACY_MODE. |
| \`server-ocsp.der\` | A "good" OCSP response (DER) for \`server.pem\`, signed by the intermediate; made by \`scripts/gen_ocsp_fixture.sh\`. |

Re-running the script deletes every \`*.pem\`, \`*.key\`, \`*.der\`, \`*.p12\`
and this README here before writing the new set: keep hand-made fixtures
elsewhere (or with another extension).
EOF

# ------------------------------------------------------------ self-checks --
# Checked in the staging directory, before anything replaces the old files.

cd "$STAGE"

pub() { openssl pkey -pubout "$@" 2>/dev/null; }

# Each leaf verifies against its root (+ intermediate), for its purpose and
# name; each certificate matches its key.
verify_ok() { # CERT ROOT UNTRUSTED-OR-"" EXTRA-ARGS...
  local cert="$1" root="$2" untrusted="$3"; shift 3
  local u=(); [ -n "$untrusted" ] && u=(-untrusted "$untrusted")
  openssl verify -x509_strict -CAfile "$root" "${u[@]}" "$@" "$cert" >/dev/null 2>&1 \
    || fail "verify $cert $*"
}
verify_fails_with() { # CERT MESSAGE ROOT UNTRUSTED EXTRA-ARGS...
  local cert="$1" msg="$2" root="$3" untrusted="$4"; shift 4
  local out
  if out=$(openssl verify -CAfile "$root" -untrusted "$untrusted" "$@" "$cert" 2>&1); then
    fail "verify $cert unexpectedly succeeded"
  fi
  grep -q "$msg" <<<"$out" || fail "verify $cert: expected '$msg', got: $out"
}

verify_ok intermediate.pem ca.pem ""
for s in server server-ec server-ed25519; do
  verify_ok "$s.pem" ca.pem intermediate.pem -purpose sslserver -verify_hostname localhost
  verify_ok "$s.pem" ca.pem intermediate.pem -purpose sslserver -verify_ip 127.0.0.1
  verify_ok "$s.pem" ca.pem intermediate.pem -purpose sslserver -verify_ip ::1
done
for c in client client-ec; do
  verify_ok "$c.pem" ca.pem intermediate.pem -purpose sslclient
done
verify_ok other-client.pem other-ca.pem "" -purpose sslclient
verify_ok wronghost.pem ca.pem intermediate.pem -purpose sslserver -verify_hostname wrong.example
verify_fails_with wronghost.pem "hostname mismatch" ca.pem intermediate.pem -verify_hostname localhost
verify_fails_with expired.pem "certificate has expired" ca.pem intermediate.pem
verify_fails_with not-yet-valid.pem "certificate is not yet valid" ca.pem intermediate.pem
verify_fails_with other-client.pem "unable to get local issuer certificate" ca.pem intermediate.pem
verify_fails_with selfsigned.pem "self-signed certificate\|self signed certificate" ca.pem intermediate.pem
# Chain files are exactly leaf + intermediate.
for c in server server-ec server-ed25519 client client-ec wronghost expired not-yet-valid; do
  [ "$(grep -c 'BEGIN CERTIFICATE' "$c-chain.pem")" = 2 ] || fail "$c-chain.pem"
  openssl verify -CAfile ca.pem -untrusted "$c-chain.pem" -no_check_time "$c.pem" >/dev/null \
    || fail "$c-chain.pem does not complete the chain"
done

for n in ca intermediate other-ca server server-ec server-ed25519 client client-ec \
         other-client wronghost expired not-yet-valid selfsigned; do
  cert_matches_key "$n.pem" "$n.key" || fail "$n.pem/$n.key mismatch"
  head -1 "$n.key" | grep -qx -- '-----BEGIN PRIVATE KEY-----' || fail "$n.key not PKCS#8"
done

# Every alternative encoding of server.key holds the same key.
SERVER_PUB="$(pub -in server.key)"
same_key() { # FILE PASSIN [EXTRA-ARGS...]
  local f="$1" passin="$2"; shift 2
  [ "$(pub -in "$f" -passin "$passin" "$@")" = "$SERVER_PUB" ] || fail "$f does not decrypt to server.key"
}
same_key server-key-pkcs8-aes256.pem "pass:$PASS"
same_key server-key-pkcs8-aes256.der "pass:$PASS" -inform DER
same_key server-key-pkcs8-scrypt.pem "pass:$PASS"
same_key server-key-legacy-des3.pem "pass:$PASS"
same_key server-key-legacy-aes256.pem "pass:$PASS"
same_key server-key.der "pass:" -inform DER
[ "$(pub -in client-key-pkcs8-aes256.pem -passin "pass:$PASS")" = "$(pub -in client.key)" ] || fail "client-key-pkcs8-aes256.pem does not decrypt to client.key"
same_key server-key-rsa-traditional.pem "pass:"
same_key server-key-utf8-pass.pem "file:$UTF8_PASS_FILE"
same_key server-key-empty-pass.pem "pass:"
# Wrong passwords must fail (guards against accidentally unencrypted output).
for f in server-key-pkcs8-aes256.pem server-key-pkcs8-scrypt.pem server-key-legacy-des3.pem \
         server-key-legacy-aes256.pem server-key-utf8-pass.pem server-key-empty-pass.pem \
         server-key-nul-pass.pem; do
  if pub -in "$f" -passin pass:wrong >/dev/null; then fail "$f opens with a wrong password"; fi
done
[ "$(pub -in server-ec-key-legacy-aes256.pem -passin "pass:$PASS")" = "$(pub -in server-ec.key)" ] \
  || fail "server-ec-key-legacy-aes256.pem"

# Headers / algorithms are what the file names promise.
grep -q -- '-----BEGIN ENCRYPTED PRIVATE KEY-----' server-key-pkcs8-aes256.pem || fail "aes256 header"
# (asn1parse output is captured first: `cmd | grep -q` can die of SIGPIPE
# under pipefail.) The scrypt OID prints as "scrypt" or "id-scrypt".
asn1() { openssl asn1parse -inform "${2:-PEM}" -in "$1"; }
grep -q aes-256-cbc <<<"$(asn1 server-key-pkcs8-aes256.pem)" || fail "aes256 cipher"
grep -q hmacWithSHA256 <<<"$(asn1 server-key-pkcs8-aes256.pem)" || fail "aes256 prf"
grep -q aes-256-cbc <<<"$(asn1 server-key-pkcs8-aes256.der DER)" || fail "aes256 der cipher"
grep -q scrypt <<<"$(asn1 server-key-pkcs8-scrypt.pem)" || fail "scrypt kdf"
for f in server-key-utf8-pass.pem server-key-empty-pass.pem server-key-nul-pass.pem; do
  grep -q aes-256-cbc <<<"$(asn1 "$f")" || fail "$f cipher"
done
for f in server-key-legacy-des3.pem server-key-legacy-aes256.pem; do
  head -1 "$f" | grep -q 'BEGIN RSA PRIVATE KEY' || fail "$f header"
  grep -q '^Proc-Type: 4,ENCRYPTED' "$f" || fail "$f Proc-Type"
done
grep -q '^DEK-Info: DES-EDE3-CBC,' server-key-legacy-des3.pem || fail "des3 DEK-Info"
grep -q '^DEK-Info: AES-256-CBC,' server-key-legacy-aes256.pem || fail "aes256 DEK-Info"
head -1 server-ec-key-legacy-aes256.pem | grep -q 'BEGIN EC PRIVATE KEY' || fail "ec legacy header"
grep -q '^DEK-Info: AES-256-CBC,' server-ec-key-legacy-aes256.pem || fail "ec legacy DEK-Info"
head -1 server-key-rsa-traditional.pem | grep -q 'BEGIN RSA PRIVATE KEY' || fail "traditional header"
! grep -q 'Proc-Type' server-key-rsa-traditional.pem || fail "traditional is encrypted"

# PKCS#12 files open with the password and carry key + 2 certs. Reading the
# RC2-40 legacy file needs -legacy on OpenSSL 3.x; try both ways.
for p in client.p12 client-legacy.p12; do
  out=$(openssl pkcs12 -in "$p" -passin "pass:$PASS" -nodes 2>/dev/null \
        || openssl pkcs12 -legacy -in "$p" -passin "pass:$PASS" -nodes 2>/dev/null) \
    || fail "$p does not open"
  [ "$(grep -c 'BEGIN CERTIFICATE' <<<"$out")" = 2 ] || fail "$p cert count"
  [ "$(pub -in <(printf '%s\n' "$out"))" = "$(pub -in client.key)" ] || fail "$p key"
done

cd /

# ------------------------------------------------------------------ install --
# Replace the previously generated files (everything with a fixture
# extension, plus README.md) with the new set; other files are left alone.

mkdir -p "$OUT_DIR"
find "$OUT_DIR" -maxdepth 1 -type f \
  \( -name '*.pem' -o -name '*.key' -o -name '*.der' -o -name '*.p12' -o -name 'README.md' \) \
  -delete
# Test fixtures, not secrets: make keys readable too (openssl creates them
# 0600), so tests running under another uid can load them.
chmod 644 "$STAGE"/*
cp "$STAGE"/* "$OUT_DIR"/

echo "Generated $(find "$STAGE" -type f | wc -l) files in $OUT_DIR (self-checks passed)."

# The OCSP response fixture depends on server.pem and the intermediate: remake
# it too (by absolute path: this script has changed directory since).
bash "$SCRIPT_DIR/gen_ocsp_fixture.sh"

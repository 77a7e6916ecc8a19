#!/usr/bin/env bash
#
# gen_name_fixtures.sh - (re)generate tests/fixtures/hostnames/: server
# certificates whose names exercise host-name verification (wildcards, the
# subject CN, IP addresses), all issued by one root of their own.
#
# The set is independent of the main test PKI (scripts/gen_fixtures.sh), so
# regenerating either leaves the other valid. Needs only the `openssl` CLI
# (3.0 or later). Work happens in a temporary directory; only the finished
# files are copied out. Fresh keys every run: tests must not depend on them.
#
# What each certificate is for (tests/security/hostname_*_test.ts):
#   names.pem            DNS:*.a.test, DNS:exact.example.test, IP:127.0.0.1, IP:::1
#                        (full-label wildcard, exact name, IPv4, IPv6)
#   partial-wildcard.pem DNS:f*.example.test   (partial wildcard: must not match)
#   cn-only.pem          no SAN, CN=cn-only.example.test (CN fallback: must not match)
#   ip-in-cn.pem         no SAN, CN=127.0.0.1  (an IP only in the CN: must not match)
#   wildcard-tld.pem     DNS:*.test            (wildcard over a single label)
#   double-wildcard.pem  DNS:*.*.a.test        (two wildcards)
#   idna-wildcard.pem    DNS:xn--*.a.test      (wildcard inside an A-label)
#   ipv4-mapped.pem      IP:::ffff:127.0.0.1   (IPv4-mapped IPv6 address)
# All leaves share leaf.key. ca.pem is the root that issued them.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT_DIR="$(cd "$SCRIPT_DIR/.." && pwd)/tests/fixtures/hostnames"

# notBefore far in the past, notAfter far in the future: the tests never rot,
# and a machine whose clock lags the generating one still accepts them.
NOT_BEFORE=20000101000000Z
CA_NOT_AFTER=21260101000000Z
LEAF_NOT_AFTER=21250101000000Z

command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/secsock-names.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/out"
mkdir -p "$OUT" "$WORK/db/newcerts"
: >"$WORK/db/index.txt"

# Our own configuration only: the system openssl.cnf brings extension
# sections and a DN policy of its own.
CNF="$WORK/openssl.cnf"
cat >"$CNF" <<EOF
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]

[ ca ]
default_ca = names_ca
[ names_ca ]
dir             = $WORK/db
database        = \$dir/index.txt
new_certs_dir   = \$dir/newcerts
serial          = \$dir/serial
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
[ policy_any ]
commonName       = optional
organizationName = optional

[ root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = none

# Every leaf is a plain TLS server certificate; only the names differ.
[ names ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:*.a.test, DNS:exact.example.test, IP:127.0.0.1, IP:::1
[ partial_wildcard ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:f*.example.test
[ no_san ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
[ wildcard_tld ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:*.test
[ double_wildcard ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:*.*.a.test
[ idna_wildcard ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:xn--*.a.test
[ ipv4_mapped ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:::ffff:127.0.0.1
EOF

quiet() { "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 1; }; }

# A random positive serial (`openssl ca` reads it from a file).
new_serial() { openssl rand -hex 16 | sed 's/^./4/' >"$WORK/db/serial"; }

# issue NAME SUBJECT EXTENSIONS-SECTION [self]
issue() {
  local name="$1" subj="$2" section="$3" mode="${4:-}"
  local key="$WORK/leaf.key" not_after="$LEAF_NOT_AFTER" signer=(-cert "$OUT/ca.pem" -keyfile "$WORK/ca.key")
  if [[ "$mode" == self ]]; then
    key="$WORK/ca.key"
    not_after="$CA_NOT_AFTER"
    signer=(-selfsign -keyfile "$WORK/ca.key")
  fi
  quiet openssl req -new -config "$CNF" -key "$key" -subj "$subj" -out "$WORK/$name.csr"
  new_serial
  quiet openssl ca -batch -config "$CNF" -notext -preserveDN -subj "$subj" "${signer[@]}" \
    -startdate "$NOT_BEFORE" -enddate "$not_after" -extfile "$CNF" -extensions "$section" \
    -in "$WORK/$name.csr" -out "$OUT/$name.pem"
}

quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/ca.key"
quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/leaf.key"
cp "$WORK/leaf.key" "$OUT/leaf.key"

issue ca "/O=secsock/CN=secsock Host Name Test Root" root self
issue names "/O=secsock/CN=exact.example.test" names
issue partial-wildcard "/O=secsock/CN=partial wildcard" partial_wildcard
issue cn-only "/O=secsock/CN=cn-only.example.test" no_san
issue ip-in-cn "/O=secsock/CN=127.0.0.1" no_san
issue wildcard-tld "/O=secsock/CN=wildcard over a TLD" wildcard_tld
issue double-wildcard "/O=secsock/CN=two wildcards" double_wildcard
issue idna-wildcard "/O=secsock/CN=wildcard in an A-label" idna_wildcard
issue ipv4-mapped "/O=secsock/CN=IPv4-mapped IPv6" ipv4_mapped

# ---------------------------------------------------------------- self-check
fail() { echo "FAIL: $*" >&2; exit 1; }
for cert in "$OUT"/*.pem; do
  [[ "$(basename "$cert")" == ca.pem ]] && continue
  openssl verify -CAfile "$OUT/ca.pem" -purpose sslserver "$cert" >/dev/null 2>&1 || fail "$cert does not verify"
done
# The attacks need what OpenSSL accepts with its default host flags (0):
# `openssl verify` exits 0 only when the chain and the name both pass.
name_ok() { openssl verify -CAfile "$OUT/ca.pem" "$2" "$3" "$OUT/$1.pem" >/dev/null 2>&1; }
name_ok partial-wildcard -verify_hostname foo.example.test || fail "partial wildcard not matched by default"
name_ok cn-only -verify_hostname cn-only.example.test || fail "CN fallback not used by default"
name_ok names -verify_hostname x.a.test || fail "*.a.test does not match x.a.test"
name_ok names -verify_ip ::1 || fail "IP:::1 does not match ::1"
# Checked as an IP address, a CN is never used; checked as a host name, the
# CN fallback would match "127.0.0.1" (what NEVER_CHECK_SUBJECT also closes).
! name_ok ip-in-cn -verify_ip 127.0.0.1 || fail "an IP in the CN matched as an IP address"
name_ok ip-in-cn -verify_hostname 127.0.0.1 || fail "an IP in the CN not matched as a host name by default"

rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
cp "$OUT"/*.pem "$OUT"/*.key "$OUT_DIR/"
echo "wrote $(ls "$OUT_DIR" | wc -l) files to $OUT_DIR"

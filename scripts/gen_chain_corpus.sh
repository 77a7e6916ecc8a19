#!/usr/bin/env bash
#
# gen_chain_corpus.sh - (re)generate the certificate-chain corpus in
# tests/fixtures/chains/: one directory per case (the leaf, its key, the
# intermediates a peer sends), a shared trust anchor (root.pem) and
# manifest.json, which names each case's files, the host name or IP to check,
# the purpose, a verification depth limit where one applies, and the verdict
# the case is built to draw from `openssl verify` ("intent").
#
# tests/verify_differential_test.ts handshakes with every case and requires the
# same verdict from secsock (with and without verify callbacks), from the
# offline X509Store API and from `openssl verify` run at test time; the
# verdict recorded here at generation time is for reading only.
#
# Needs only the `openssl` CLI (3.0 or later). Everything is built in a
# private temporary directory, with a configuration file of its own (never
# the system openssl.cnf); only finished files are installed, and only after
# the self-checks at the end passed. Keys are ECDSA P-256 (fast to make);
# validity periods are explicit and far from "now" except where a case is
# about validity, so the corpus does not rot. SECSOCK_FIXTURES_OUT=DIR writes
# DIR/chains instead; the setup shared with the other generators is in
# scripts/fixtures/common.sh.

set -euo pipefail
# shellcheck source=fixtures/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/fixtures/common.sh"

fixtures_setup chains chains openssl
PKI="$TMP/pki" # issuing certificates and keys (CA keys never leave $TMP)
mkdir -p "$PKI"

# SAN values come from the environment ($ENV::SAN), so one leaf section
# serves every host name (the default below only keeps the file loadable).
write_config <<'EOF'
SAN = DNS:unused.invalid

[ intermediate ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# Name constraints (RFC 5280 4.2.1.10), one kind per intermediate.
[ nc_dns_permitted ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, permitted;DNS:.allowed.test
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ nc_dns_excluded ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, excluded;DNS:forbidden.test
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ nc_ip_permitted ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, permitted;IP:10.0.0.0/255.0.0.0
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ nc_ip_excluded ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, excluded;IP:127.0.0.0/255.0.0.0
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ nc_email_permitted ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, permitted;email:allowed.test
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ nc_email_excluded ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
nameConstraints        = critical, excluded;email:forbidden.test
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# A CA certificate whose key may not sign certificates.
[ no_keycertsign ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, digitalSignature, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# Requires an explicit policy from here down, and asserts policy .2.1.
[ policy_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
certificatePolicies    = 1.3.6.1.4.1.55555.2.1
policyConstraints      = critical, requireExplicitPolicy:0
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = $ENV::SAN
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectAltName         = $ENV::SAN
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# keyUsage without digitalSignature (and without the key-exchange bits a
# TLS server key may have instead).
[ server_nonrepudiation ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, nonRepudiation
extendedKeyUsage       = serverAuth
subjectAltName         = $ENV::SAN
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# An unknown extension marked critical (an ASN.1 NULL under a private OID).
[ server_unknown_critical ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = $ENV::SAN
1.3.6.1.4.1.55555.1.1  = critical, DER:05:00
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# A policy other than the one its issuer asserts.
[ server_other_policy ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = $ENV::SAN
certificatePolicies    = 1.3.6.1.4.1.55555.2.2
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# No subjectAltName at all: a name can only be found in the subject.
[ server_no_san ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF

# issue KEY_OUT CERT_OUT SUBJECT EXT_SECTION ISSUER|self [NOT_BEFORE [NOT_AFTER]]
#   ISSUER names $PKI/ISSUER.{pem,key}. SAN comes from the environment; a
#   new key is made unless KEY_FROM names one to reuse.
issue() {
  local key="$1" issuer="$5"
  if [ -n "${KEY_FROM:-}" ]; then
    cp "$KEY_FROM" "$key" # the same key under another certificate
  else
    new_key "$key" ec
  fi
  [ "$issuer" = self ] || issuer="$PKI/$issuer"
  issue_cert "$key" "$2" "$3" "$4" "${6:-$NOT_BEFORE}" "${7:-$LEAF_NOT_AFTER}" "$issuer"
}

# ca NAME SUBJECT_CN EXT ISSUER [NOT_BEFORE [NOT_AFTER]]  ->  $PKI/NAME.{pem,key}
ca() {
  issue "$PKI/$1.key" "$PKI/$1.pem" "/O=secsock corpus/CN=$2" "$3" "$4" "${5:-$NOT_BEFORE}" "${6:-$CA_NOT_AFTER}"
}

# leaf CASE SUBJECT EXT ISSUER SAN  ->  $STAGE/CASE/leaf.{pem,key}
leaf() {
  mkdir -p "$STAGE/$1"
  SAN="$5" issue "$STAGE/$1/leaf.key" "$STAGE/$1/leaf.pem" "$2" "$3" "$4"
}

# sends CASE NAME...  ->  $STAGE/CASE/intermediates.pem, the CA certificates
# the peer sends after its leaf, in this order (duplicates kept).
sends() {
  local case="$1"; shift
  : >"$STAGE/$case/intermediates.pem"
  for n in "$@"; do cat "$PKI/$n.pem" >>"$STAGE/$case/intermediates.pem"; done
}

CASES=()
declare -A ROLE PURPOSE INTENT HOST IP DEPTH DESCRIPTION CN_ONLY POLICY_CHECK
# describe CASE ROLE INTENT HOST IP DEPTH DESCRIPTION
#   ROLE server: a TLS server presents the chain (purpose sslserver, the
#   client checks HOST or IP); client: a TLS client presents it (sslclient).
#   Empty HOST/IP/DEPTH: not checked / no limit.
describe() {
  CASES+=("$1")
  ROLE[$1]="$2"
  PURPOSE[$1]="$([ "$2" = server ] && echo sslserver || echo sslclient)"
  INTENT[$1]="$3"
  HOST[$1]="$4"
  IP[$1]="$5"
  DEPTH[$1]="$6"
  DESCRIPTION[$1]="$7"
  CN_ONLY[$1]=false
  POLICY_CHECK[$1]=false
}

# ------------------------------------------------------------------ issuers --

ca root "Corpus Root CA" root_ca self
ca int "Corpus Intermediate CA" intermediate root
ca nc-dns-permitted "NC permitted DNS .allowed.test" nc_dns_permitted root
ca nc-dns-excluded "NC excluded DNS forbidden.test" nc_dns_excluded root
ca nc-ip-permitted "NC permitted IP 10.0.0.0 mask 8" nc_ip_permitted root
ca nc-ip-excluded "NC excluded IP 127.0.0.0 mask 8" nc_ip_excluded root
ca nc-email-permitted "NC permitted email allowed.test" nc_email_permitted root
ca nc-email-excluded "NC excluded email forbidden.test" nc_email_excluded root
# May issue end entities only: a CA below it exceeds the path length.
ca pathlen0 "Pathlen 0 CA" ca_pathlen0 root
ca below-pathlen0 "CA below a pathlen 0 CA" intermediate pathlen0
ca no-keycertsign "CA without keyCertSign" no_keycertsign root
ca policy "Explicit policy CA" policy_ca root
ca expired-int "Expired Intermediate CA" intermediate root 20000101000000Z 20200101000000Z
ca future-int "Not Yet Valid Intermediate CA" intermediate root 20900101000000Z 21000101000000Z
ca deep1 "Deep CA 1" intermediate root
ca deep2 "Deep CA 2" intermediate deep1
ca deep3 "Deep CA 3" intermediate deep2
# Two CAs certifying each other, neither under the root: X by Y and Y by X
# (self-signed X0 and Y0 hold the keys for signing; they are never sent).
ca loop-x0 "Loop CA X" intermediate self
ca loop-y0 "Loop CA Y" intermediate self
KEY_FROM="$PKI/loop-x0.key" ca loop-x "Loop CA X" intermediate loop-y0
KEY_FROM="$PKI/loop-y0.key" ca loop-y "Loop CA Y" intermediate loop-x0
# A leaf (CA:FALSE) whose key is then used to issue another leaf.
SAN="DNS:issuer-leaf.test" issue "$PKI/leaf-ca.key" "$PKI/leaf-ca.pem" \
  "/O=secsock corpus/CN=Leaf used as a CA" server int

# -------------------------------------------------------------------- cases --
# Leaves have a CN that is not a host name (it has spaces), so no verifier
# can mistake it for one, except in the cases about the subject CN.

leaf good "/CN=corpus good" server int "DNS:good.test, IP:127.0.0.1"
sends good int
describe good server accept good.test "" "" "A valid chain for good.test"

leaf good-ip "/CN=corpus good ip" server int "DNS:good.test, IP:127.0.0.1"
sends good-ip int
describe good-ip server accept "" 127.0.0.1 "" "A valid chain for IP 127.0.0.1"

leaf good-client "/CN=corpus good client" client int "email:alice@good.test"
sends good-client int
describe good-client client accept "" "" "" "A valid client certificate chain"

leaf nc-dns-permitted "/CN=corpus nc dns permitted" server nc-dns-permitted "DNS:victim.test"
sends nc-dns-permitted nc-dns-permitted
describe nc-dns-permitted server reject victim.test "" "" \
  "Leaf victim.test outside its issuer's permitted;DNS:.allowed.test"

leaf nc-dns-permitted-ok "/CN=corpus nc dns permitted ok" server nc-dns-permitted "DNS:www.allowed.test"
sends nc-dns-permitted-ok nc-dns-permitted
describe nc-dns-permitted-ok server accept www.allowed.test "" "" \
  "Leaf www.allowed.test inside its issuer's permitted;DNS:.allowed.test"

leaf nc-dns-excluded "/CN=corpus nc dns excluded" server nc-dns-excluded "DNS:www.forbidden.test"
sends nc-dns-excluded nc-dns-excluded
describe nc-dns-excluded server reject www.forbidden.test "" "" \
  "Leaf www.forbidden.test inside its issuer's excluded;DNS:forbidden.test"

leaf nc-ip-permitted "/CN=corpus nc ip permitted" server nc-ip-permitted "IP:127.0.0.1"
sends nc-ip-permitted nc-ip-permitted
describe nc-ip-permitted server reject "" 127.0.0.1 "" \
  "Leaf IP 127.0.0.1 outside its issuer's permitted;IP:10.0.0.0/8"

leaf nc-ip-excluded "/CN=corpus nc ip excluded" server nc-ip-excluded "IP:127.0.0.1"
sends nc-ip-excluded nc-ip-excluded
describe nc-ip-excluded server reject "" 127.0.0.1 "" \
  "Leaf IP 127.0.0.1 inside its issuer's excluded;IP:127.0.0.0/8"

leaf nc-email-permitted "/CN=corpus nc email permitted" client nc-email-permitted "email:mallory@victim.test"
sends nc-email-permitted nc-email-permitted
describe nc-email-permitted client reject "" "" "" \
  "Client leaf email:mallory@victim.test outside its issuer's permitted;email:allowed.test"

leaf nc-email-excluded "/CN=corpus nc email excluded" client nc-email-excluded "email:mallory@forbidden.test"
sends nc-email-excluded nc-email-excluded
describe nc-email-excluded client reject "" "" "" \
  "Client leaf email:mallory@forbidden.test inside its issuer's excluded;email:forbidden.test"

leaf pathlen-exceeded "/CN=corpus pathlen exceeded" server below-pathlen0 "DNS:good.test"
sends pathlen-exceeded below-pathlen0 pathlen0
describe pathlen-exceeded server reject good.test "" "" \
  "A CA below a pathlen:0 CA issued the leaf"

leaf eku-server-as-client "/CN=corpus eku server as client" server int "DNS:good.test"
sends eku-server-as-client int
describe eku-server-as-client client reject "" "" "" \
  "A serverAuth-only leaf presented as a client certificate"

leaf eku-client-as-server "/CN=corpus eku client as server" client int "DNS:good.test"
sends eku-client-as-server int
describe eku-client-as-server server reject good.test "" "" \
  "A clientAuth-only leaf presented as a server certificate"

leaf ku-ca-no-keycertsign "/CN=corpus ku ca no keycertsign" server no-keycertsign "DNS:good.test"
sends ku-ca-no-keycertsign no-keycertsign
describe ku-ca-no-keycertsign server reject good.test "" "" \
  "The issuing CA's keyUsage lacks keyCertSign"

leaf ku-leaf-no-digitalsignature "/CN=corpus ku leaf nonrepudiation" server_nonrepudiation int "DNS:good.test"
sends ku-leaf-no-digitalsignature int
describe ku-leaf-no-digitalsignature server reject good.test "" "" \
  "A server leaf whose keyUsage is nonRepudiation only (no digitalSignature)"

leaf leaf-as-ca "/CN=corpus issued by a leaf" server leaf-ca "DNS:good.test"
sends leaf-as-ca leaf-ca int
describe leaf-as-ca server reject good.test "" "" \
  "The leaf was issued by a CA:FALSE certificate"

leaf expired-intermediate "/CN=corpus expired intermediate" server expired-int "DNS:good.test"
sends expired-intermediate expired-int
describe expired-intermediate server reject good.test "" "" \
  "The intermediate expired in 2020 (the leaf is valid)"

leaf future-intermediate "/CN=corpus future intermediate" server future-int "DNS:good.test"
sends future-intermediate future-int
describe future-intermediate server reject good.test "" "" \
  "The intermediate is valid from 2090 only (the leaf is valid)"

leaf unknown-critical-extension "/CN=corpus unknown critical" server_unknown_critical int "DNS:good.test"
sends unknown-critical-extension int
describe unknown-critical-extension server reject good.test "" "" \
  "The leaf carries an unknown extension marked critical"

leaf policy-mismatch "/CN=corpus policy mismatch" server_other_policy policy "DNS:good.test"
sends policy-mismatch policy
describe policy-mismatch server accept good.test "" "" \
  "The intermediate requires an explicit policy (requireExplicitPolicy:0, asserts .2.1) and the leaf asserts .2.2; OpenSSL evaluates policies only when asked (-policy_check), and TLS does not ask"

# The same chain with policy checking on: only openssl verify and the offline
# API can be asked for it (TLS handshakes never check policies).
cp -r "$STAGE/policy-mismatch" "$STAGE/policy-mismatch-checked"
describe policy-mismatch-checked server reject good.test "" "" \
  "As policy-mismatch, with policy checking (-policy_check): no acceptable explicit policy"
POLICY_CHECK[policy-mismatch-checked]=true

leaf missing-intermediate "/CN=corpus missing intermediate" server int "DNS:good.test"
sends missing-intermediate
describe missing-intermediate server reject good.test "" "" \
  "The peer sends its leaf without the intermediate"

leaf intermediate-twice "/CN=corpus intermediate twice" server int "DNS:good.test"
sends intermediate-twice int int
describe intermediate-twice server accept good.test "" "" \
  "The peer sends the intermediate twice"

leaf chain-loop "/CN=corpus chain loop" server loop-x0 "DNS:good.test"
sends chain-loop loop-x loop-y
describe chain-loop server reject good.test "" "" \
  "The peer sends two CAs that certify each other (a loop), neither issued by the root"

leaf depth-exceeded "/CN=corpus depth exceeded" server deep3 "DNS:good.test"
sends depth-exceeded deep3 deep2 deep1
describe depth-exceeded server reject good.test "" 1 \
  "Three intermediates with a verification depth limit of 1"

leaf depth-within "/CN=corpus depth within" server deep3 "DNS:good.test"
sends depth-within deep3 deep2 deep1
describe depth-within server accept good.test "" 3 \
  "Three intermediates with a verification depth limit of 3"

leaf wrong-host "/CN=corpus wrong host" server int "DNS:good.test"
sends wrong-host int
describe wrong-host server reject other.test "" "" \
  "A valid chain for good.test checked as other.test"

leaf ip-in-cn "/CN=127.0.0.1" server_no_san int ""
sends ip-in-cn int
describe ip-in-cn server reject "" 127.0.0.1 "" \
  "The IP address appears only as the subject CN (no SAN)"

leaf no-san "/CN=nosan.test" server_no_san int ""
sends no-san int
describe no-san server accept nosan.test "" "" \
  "No subjectAltName; the host name is only the subject CN (openssl verify falls back to it, secsock does not)"
CN_ONLY[no-san]=true

cp "$PKI/root.pem" "$STAGE/root.pem"

# ------------------------------------------------------------- self-checks --
# Each case must draw its intended verdict from `openssl verify`, checked with
# the same inputs the differential test uses; the first reported error is
# recorded in the manifest (for reading; the test recomputes it).

NOW="$(date +%s)"
VERSION="$(openssl version | awk '{print $1" "$2}')"
cd "$STAGE"

json_or_null() { if [ -n "$1" ]; then printf '"%s"' "$1"; else printf 'null'; fi; }
number_or_null() { if [ -n "$1" ]; then printf '%s' "$1"; else printf 'null'; fi; }

{
  printf '{\n  "generator": "scripts/gen_chain_corpus.sh",\n  "trust": "root.pem",\n  "cases": [\n'
  first=1
  for c in "${CASES[@]}"; do
    args=(-CAfile root.pem -no-CApath -no-CAstore -purpose "${PURPOSE[$c]}" -attime "$NOW")
    intermediates=null
    if [ -s "$c/intermediates.pem" ]; then
      args+=(-untrusted "$c/intermediates.pem")
      intermediates="\"$c/intermediates.pem\""
    else
      rm -f "$c/intermediates.pem"
    fi
    [ -n "${HOST[$c]}" ] && args+=(-verify_hostname "${HOST[$c]}")
    [ -n "${IP[$c]}" ] && args+=(-verify_ip "${IP[$c]}")
    [ -n "${DEPTH[$c]}" ] && args+=(-verify_depth "${DEPTH[$c]}")
    [ "${POLICY_CHECK[$c]}" = true ] && args+=(-policy_check)
    if out=$(openssl verify "${args[@]}" "$c/leaf.pem" 2>&1); then verdict=accept; else verdict=reject; fi
    [ "$verdict" = "${INTENT[$c]}" ] || fail "$c: openssl verify gave $verdict, the case is built to $c ${INTENT[$c]}:
$out"
    error=0 depth=null
    if [ "$verdict" = reject ]; then
      first_error=$(grep -m1 -oE 'error [0-9]+ at [0-9]+ depth' <<<"$out" || true)
      [ -n "$first_error" ] || fail "$c: no error code in: $out"
      error=$(awk '{print $2}' <<<"$first_error")
      depth=$(awk '{print $4}' <<<"$first_error")
    fi
    [ $first = 1 ] || printf ',\n'
    first=0
    printf '    {\n'
    printf '      "name": "%s",\n' "$c"
    printf '      "description": "%s",\n' "${DESCRIPTION[$c]}"
    printf '      "role": "%s",\n' "${ROLE[$c]}"
    printf '      "purpose": "%s",\n' "${PURPOSE[$c]}"
    printf '      "leaf": "%s/leaf.pem",\n' "$c"
    printf '      "key": "%s/leaf.key",\n' "$c"
    printf '      "intermediates": %s,\n' "$intermediates"
    printf '      "host": %s,\n' "$(json_or_null "${HOST[$c]}")"
    printf '      "ip": %s,\n' "$(json_or_null "${IP[$c]}")"
    printf '      "depth": %s,\n' "$(number_or_null "${DEPTH[$c]}")"
    printf '      "hostOnlyInSubjectCN": %s,\n' "${CN_ONLY[$c]}"
    printf '      "policyCheck": %s,\n' "${POLICY_CHECK[$c]}"
    printf '      "intent": "%s",\n' "${INTENT[$c]}"
    printf '      "recorded": { "openssl": "%s", "ok": %s, "error": %s, "depth": %s }\n' \
      "$VERSION" "$([ "$verdict" = accept ] && echo true || echo false)" "$error" "$depth"
    printf '    }'
  done
  printf '\n  ]\n}\n'
} >"$TMP/manifest.json"
mv "$TMP/manifest.json" "$STAGE/manifest.json"

# Sanity of the layout: every leaf matches its key.
for c in "${CASES[@]}"; do
  cert_matches_key "$c/leaf.pem" "$c/leaf.key" || fail "$c: leaf and key do not match"
done

cd /

# ------------------------------------------------------------------ install --
install_stage
echo "Generated ${#CASES[@]} chain cases in $OUT_DIR (self-checks passed)."

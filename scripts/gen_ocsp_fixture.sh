#!/usr/bin/env bash
#
# gen_ocsp_fixture.sh - writes tests/fixtures/server-ocsp.der: a "good" OCSP
# response (DER) for tests/fixtures/server.pem, signed by the intermediate CA
# that issued it, valid for 36500 days (so tests never rot).
#
# It is made with `openssl ocsp` acting as a one-shot responder over a
# temporary CA index file; nothing touches the network and no scratch file is
# left behind. The response is bound to server.pem's serial number and to the
# intermediate's key: re-run this script after scripts/gen_fixtures.sh (which
# deletes every *.der in tests/fixtures/ and makes new keys).
#
# SECSOCK_FIXTURES_OUT=DIR reads and writes DIR instead of tests/fixtures/
# (see scripts/fixtures/common.sh).
#
# The script ends by checking its output with `openssl ocsp -respin`
# (signature, issuer and status "good") and exits non-zero if anything is off.

set -euo pipefail
# shellcheck source=fixtures/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/fixtures/common.sh"

fixtures_setup ocsp "" openssl
FIX="$OUT_DIR"
OUT="$FIX/server-ocsp.der"
for f in server.pem intermediate.pem intermediate.key ca.pem; do
  [[ -f "$FIX/$f" ]] || { echo "missing $FIX/$f: run scripts/gen_fixtures.sh first" >&2; exit 1; }
done

# The index file `openssl ca` keeps, one valid ("V") entry for server.pem:
# status, expiry (GeneralizedTime), revocation date (empty), serial (hex),
# file name ("unknown"), subject. Fields are separated by tabs.
SERIAL="$(openssl x509 -in "$FIX/server.pem" -noout -serial | sed 's/^serial=//')"
SUBJECT="$(openssl x509 -in "$FIX/server.pem" -noout -subject -nameopt compat | sed 's/^subject=//')"
EXPIRY="$(date -u -d "$(openssl x509 -in "$FIX/server.pem" -noout -enddate | sed 's/^notAfter=//')" +%Y%m%d%H%M%SZ)"
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$EXPIRY" "$SERIAL" "$SUBJECT" >"$WORK/index.txt"

# The request a client would send (no nonce: the response is reused forever).
openssl ocsp -issuer "$FIX/intermediate.pem" -cert "$FIX/server.pem" -no_nonce \
  -reqout "$WORK/request.der" >/dev/null

# Answer it as the intermediate's responder (the CA signs its own responses).
openssl ocsp -index "$WORK/index.txt" -CA "$FIX/intermediate.pem" \
  -rsigner "$FIX/intermediate.pem" -rkey "$FIX/intermediate.key" \
  -reqin "$WORK/request.der" -ndays 36500 -respout "$WORK/server-ocsp.der" >/dev/null

# Check: the signature verifies up to the root, and server.pem is "good".
cat "$FIX/intermediate.pem" "$FIX/ca.pem" >"$WORK/trust.pem"
CHECK="$(openssl ocsp -respin "$WORK/server-ocsp.der" -CAfile "$WORK/trust.pem" \
  -issuer "$FIX/intermediate.pem" -cert "$FIX/server.pem" 2>&1)"
grep -q "Response verify OK" <<<"$CHECK" || { echo "response does not verify:" >&2; echo "$CHECK" >&2; exit 1; }
grep -q "server.pem: good" <<<"$CHECK" || { echo "status is not good:" >&2; echo "$CHECK" >&2; exit 1; }

mv "$WORK/server-ocsp.der" "$OUT"
echo "wrote $OUT ($(wc -c <"$OUT") bytes)"

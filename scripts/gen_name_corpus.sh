#!/usr/bin/env bash
#
# gen_name_corpus.sh - (re)generate tests/fixtures/names/: certificates whose
# names, serials and times are what a hostile or careless issuer would write.
# Every GeneralName type of RFC 5280 appears in a subjectAltName; subjects
# hold escapes, every string type, control characters and an embedded NUL;
# serials are negative, zero and 40 bytes long; times reach from year 1 to
# 9999. The certificate parsing tests and the certificate fuzzer read them.
#
# Needs only the `openssl` CLI (3.0 or later) and coreutils. Where the CLI has
# no syntax for a name (x400Address, ediPartyName, bytes a config file cannot
# hold), the extension is written whole as `DER:<hex>`, its DER built with
# `openssl asn1parse -genconf`. Where not even that reaches (a NUL inside the
# subject, invalid UTF-8), the DER of a certificate is patched byte for byte
# and signed again with `openssl x509 -CA ... -preserve_dates`.
#
# Everything is built in a private temporary directory and moved into place
# only at the end; the system openssl.cnf is never read. Running it again
# replaces every file with fresh keys: tests must not depend on key bytes.
# SECSOCK_FIXTURES_OUT=DIR writes DIR/names instead; the setup shared with
# the other generators is in scripts/fixtures/common.sh.
# It ends by checking its own output and exits non-zero if anything is off.

set -euo pipefail
# shellcheck source=fixtures/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/fixtures/common.sh"

fixtures_setup names names openssl
# Leaves take their extensions from a file of their own (see leaf).
write_config </dev/null

# ---------------------------------------------------------------- helpers --

# ca_string_mask MASK: the string types `openssl ca` encodes subject values
# in (utf8only, or "default": T61String / BMPString / UTF8String by range).
ca_string_mask() {
  sed -i "/^\[ tmp_ca \]/,/^\[/ s/^string_mask .*/string_mask     = $1/" "$CNF"
}

# hexof FILE: the bytes of FILE as lower-case hex, no separators.
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }

# san_leaf NAME SUBJECT CONF: a leaf whose subjectAltName extension is the
# DER that `asn1parse -genconf` builds from CONF (a GeneralNames SEQUENCE).
# Strings with bytes a config value cannot hold are written as an OCTET
# STRING of hex under the wanted tag: IMPLICIT:2 for a dNSName,
# IMPLICIT:12U for a UTF8String (genconf takes hex only for OCTET STRINGs).
san_leaf() {
  q openssl asn1parse -genconf "$3" -noout -out "$TMP/gen.der"
  leaf "$1" "$2" "subjectAltName = DER:$(hexof "$TMP/gen.der")"
}

# leaf NAME SUBJECT EXT_BODY [STARTDATE ENDDATE [CA_FLAGS...]]
#   -> $STAGE/NAME.pem, issued by names-ca with leaf.key (self-signed by
#   leaf.key when SELF_SIGN=1). EXT_BODY is the body of the extension section
#   (one extension per line).
leaf() {
  local name="$1" subj="$2" ext="$3" start="${4:-$NOT_BEFORE}" end="${5:-$LEAF_NOT_AFTER}"
  shift $(($# < 5 ? $# : 5))
  local extfile="$TMP/$name.ext" issuer="$STAGE/names-ca"
  printf '[ ext ]\nbasicConstraints = critical, CA:FALSE\n%s\n' "$ext" >"$extfile"
  [ "${SELF_SIGN:-}" != 1 ] || issuer=self
  EXTFILE="$extfile" issue_cert "$STAGE/leaf.key" "$STAGE/$name.pem" "$subj" ext "$start" "$end" "$issuer" "$@"
}

# resign NAME [X509_FLAGS...]: sign $STAGE/NAME.pem again with names-ca,
# keeping its dates, subject and extensions (e.g. with a new -set_serial).
# `x509 -CA` signs only a certificate that verifies as self-signed, so NAME
# must be made with SELF_SIGN=1; it is signed by itself first (`x509 -key`
# checks nothing), which also mends a signature broken by `patch`.
resign() {
  local name="$1"
  shift
  selfsign "$name"
  q openssl x509 -in "$STAGE/$name.pem" -CA "$STAGE/names-ca.pem" -CAkey "$STAGE/names-ca.key" \
    -preserve_dates -sha256 "$@" -out "$TMP/resigned.pem"
  mv "$TMP/resigned.pem" "$STAGE/$name.pem"
}

# selfsign NAME: sign $STAGE/NAME.pem again by leaf.key, keeping everything
# but the issuer; mends a signature broken by `patch`.
selfsign() {
  q openssl x509 -in "$STAGE/$1.pem" -key "$STAGE/leaf.key" -preserve_dates -sha256 -out "$TMP/self.pem"
  mv "$TMP/self.pem" "$STAGE/$1.pem"
}

# patch NAME FROM_HEX TO_HEX: replace every occurrence (at least one) of the
# bytes FROM with TO (same length) in the DER of $STAGE/NAME.pem, whose
# signature no longer matches; `resign` afterwards if OpenSSL can parse it.
patch() {
  local name="$1" from="$2" to="$3"
  local spaced from_s to_s count
  [ "${#from}" -eq "${#to}" ] || { echo "patch: lengths differ" >&2; return 1; }
  q openssl x509 -in "$STAGE/$name.pem" -outform DER -out "$TMP/patch.der"
  # Space-separated bytes, so that a match can only start on a byte boundary.
  spaced=" $(od -An -tx1 -v "$TMP/patch.der" | tr -s ' \n' ' ' | sed 's/^ //')"
  from_s=" $(sed 's/../& /g' <<<"$from")"
  to_s=" $(sed 's/../& /g' <<<"$to")"
  count=$(grep -o -- "$from_s" <<<"$spaced" | wc -l)
  [ "$count" -ge 1 ] || { echo "patch $name: $from does not occur" >&2; return 1; }
  spaced="${spaced//"$from_s"/"$to_s"}"
  printf '%b' "$(tr -d ' ' <<<"$spaced" | sed 's/../\\x&/g')" >"$TMP/patched.der"
  q openssl base64 -in "$TMP/patched.der" -out "$TMP/patched.b64"
  { echo "-----BEGIN CERTIFICATE-----"; cat "$TMP/patched.b64"; echo "-----END CERTIFICATE-----"; } >"$STAGE/$name.pem"
}

# text_hex STRING: hex of the bytes of STRING.
text_hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }

# -------------------------------------------------------------------- keys --

new_key "$STAGE/names-ca.key" ec
new_key "$STAGE/leaf.key" ec
CA_SERIAL=01 issue_cert "$STAGE/names-ca.key" "$STAGE/names-ca.pem" "/O=secsock/CN=secsock Names Test CA" \
  root_ca "$NOT_BEFORE" "$CA_NOT_AFTER" self

# ------------------------------------------------- every GeneralName type --

# Raw DER, so every type appears, in a known order, including the two the
# config syntax cannot write (x400Address, ediPartyName). DNS:localhost and
# IP:127.0.0.1 come first so that the certificate also serves TLS.
cat >"$TMP/all.asn1" <<'EOF'
asn1 = SEQUENCE:names
[ names ]
dns   = IMPLICIT:2,IA5STRING:localhost
ip4   = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:7f000001
ip6   = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:20010db8000000000000000000000001
email = IMPLICIT:1,IA5STRING:admin@example.test
uri   = IMPLICIT:6,IA5STRING:https://example.test/path?q=1
upn   = IMPLICIT:0,SEQUENCE:upn
xmpp  = IMPLICIT:0,SEQUENCE:xmpp
rid   = IMPLICIT:8,OID:1.3.6.1.4.1.55555.1
dir   = EXPLICIT:4,SEQUENCE:dirname
x400  = IMPLICIT:3,SEQUENCE:oraddress
edi   = IMPLICIT:5,SEQUENCE:edi
[ upn ]
type  = OID:1.3.6.1.4.1.311.20.2.3
value = EXPLICIT:0,UTF8:user@example.test
[ xmpp ]
type  = OID:1.3.6.1.5.5.7.8.5
value = EXPLICIT:0,UTF8:romeo@montague.test
[ dirname ]
rdn1 = SET:dir_o
rdn2 = SET:dir_cn
[ dir_o ]
atv = SEQUENCE:dir_o_atv
[ dir_o_atv ]
type  = OID:organizationName
value = UTF8:Example
[ dir_cn ]
atv = SEQUENCE:dir_cn_atv
[ dir_cn_atv ]
type  = OID:commonName
value = UTF8:Directory Name
[ oraddress ]
builtin = SEQUENCE:builtin
[ builtin ]
country = EXPLICIT:1A,PRINTABLESTRING:US
admd    = EXPLICIT:2A,PRINTABLESTRING:ADMD
[ edi ]
assigner = EXPLICIT:0,UTF8:Assigner
party    = EXPLICIT:1,UTF8:Party Name
EOF
san_leaf san-all-types "/O=secsock names/CN=localhost" "$TMP/all.asn1"

# The same kinds written in the config syntax most issuers use.
leaf san-cli-forms "/O=secsock names/CN=cli forms" "$(
  cat <<'EOF'
subjectAltName = @alt
[ alt ]
DNS.1       = localhost
email.1     = user@example.test
URI.1       = urn:example:a,b
IP.1        = 192.0.2.1
otherName.1 = 1.3.6.1.4.1.311.20.2.3;UTF8:upn@example.test
otherName.2 = 1.2.3.4;INTEGER:42
RID.1       = 1.2.3.4.5
dirName.1   = dir_sect
[ dir_sect ]
O  = a=b
CN = c,d
EOF
)"

# otherName values of every string type, of non-string types, and a
# UTF8String whose bytes are not UTF-8.
cat >"$TMP/other.asn1" <<EOF
asn1 = SEQUENCE:names
[ names ]
utf8   = IMPLICIT:0,SEQUENCE:o_utf8
ia5    = IMPLICIT:0,SEQUENCE:o_ia5
print  = IMPLICIT:0,SEQUENCE:o_print
visib  = IMPLICIT:0,SEQUENCE:o_visible
numer  = IMPLICIT:0,SEQUENCE:o_numeric
bmp    = IMPLICIT:0,SEQUENCE:o_bmp
univ   = IMPLICIT:0,SEQUENCE:o_univ
bad    = IMPLICIT:0,SEQUENCE:o_badutf8
octets = IMPLICIT:0,SEQUENCE:o_octets
int    = IMPLICIT:0,SEQUENCE:o_int
seq    = IMPLICIT:0,SEQUENCE:o_seq
null   = IMPLICIT:0,SEQUENCE:o_null
[ o_utf8 ]
type  = OID:1.3.6.1.5.5.7.8.5
value = EXPLICIT:0,IMPLICIT:12U,FORMAT:HEX,OCTETSTRING:6ac3bc$(text_hex "rgen@example.test")
[ o_ia5 ]
type  = OID:1.3.6.1.5.5.7.8.9
value = EXPLICIT:0,IA5STRING:smtp@example.test
[ o_print ]
type  = OID:1.2.3.1
value = EXPLICIT:0,PRINTABLESTRING:Printable
[ o_visible ]
type  = OID:1.2.3.2
value = EXPLICIT:0,VISIBLESTRING:Visible
[ o_numeric ]
type  = OID:1.2.3.3
value = EXPLICIT:0,NUMERICSTRING:0123 456
[ o_bmp ]
type  = OID:1.2.3.4
value = EXPLICIT:0,IMPLICIT:30U,FORMAT:HEX,OCTETSTRING:0042004d005020ac
[ o_univ ]
type  = OID:1.2.3.5
value = EXPLICIT:0,IMPLICIT:28U,FORMAT:HEX,OCTETSTRING:000000550001f600
[ o_badutf8 ]
type  = OID:1.2.3.6
value = EXPLICIT:0,IMPLICIT:12U,FORMAT:HEX,OCTETSTRING:61ff62
[ o_octets ]
type  = OID:1.2.3.7
value = EXPLICIT:0,FORMAT:HEX,OCTETSTRING:00ff10
[ o_int ]
type  = OID:1.2.3.8
value = EXPLICIT:0,INTEGER:-5
[ o_seq ]
type  = OID:1.3.6.1.5.5.7.8.3
value = EXPLICIT:0,SEQUENCE:perm_id
[ perm_id ]
id       = UTF8:identifier-1
assigner = OID:1.2.3.9
[ o_null ]
type  = OID:1.2.3.10
value = EXPLICIT:0,NULL
EOF
san_leaf san-othername-values "/O=secsock names/CN=othername values" "$TMP/other.asn1"

# Strings that must not be confusable: an embedded NUL (the classic
# "good.test\0.evil.test"), a separator inside a name, quotes, a backslash,
# control characters, bytes above 0x7F (0x80..0x9F included: not windows-1252),
# a leading '#', spaces, and an empty name.
cat >"$TMP/hostile.asn1" <<EOF
asn1 = SEQUENCE:names
[ names ]
nul      = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:$(text_hex "www.example.test")00$(text_hex ".evil.test")
comma    = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:$(text_hex "a.test, DNS:b.test")
quote    = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:$(text_hex 'q"uote')27$(text_hex 'x.test')
slash    = IMPLICIT:6,FORMAT:HEX,OCTETSTRING:$(text_hex 'urn:a')5c$(text_hex '"b')
newline  = IMPLICIT:1,FORMAT:HEX,OCTETSTRING:$(text_hex 'a@b.test')0a$(text_hex 'DNS:c.test')
highbit  = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:e980ff$(text_hex '.test')
hash     = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:$(text_hex "#hash.test")
space    = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:$(text_hex " spaced .test")
empty    = IMPLICIT:2,IA5STRING:
del      = IMPLICIT:2,FORMAT:HEX,OCTETSTRING:7f1b$(text_hex '[31m.test')
plain    = IMPLICIT:2,IA5STRING:plain.test
EOF
san_leaf san-hostile-strings "/O=secsock names/CN=hostile strings" "$TMP/hostile.asn1"

# iPAddress of every length a parser might mishandle, and RFC 5952 cases.
cat >"$TMP/ip.asn1" <<'EOF'
asn1 = SEQUENCE:names
[ names ]
zero   = IMPLICIT:7,OCTETSTRING:
five   = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:0102030405
mask4  = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:c0000200ffffff00
mask6  = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:20010db8000000000000000000000000ffffffffffffffff0000000000000000
any6   = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:00000000000000000000000000000000
runs   = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:20010db8000000000001000000000001
single = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:20010db8000000010001000100010001
mapped = IMPLICIT:7,FORMAT:HEX,OCTETSTRING:00000000000000000000ffffc0000201
EOF
san_leaf san-ip-lengths "/O=secsock names/CN=ip lengths" "$TMP/ip.asn1"

# An empty GeneralNames, a certificate with the extension twice (the second
# written by OID), and one whose extension does not decode as GeneralNames.
leaf san-empty "/O=secsock names/CN=empty san" "subjectAltName = DER:3000"
# (`openssl ca` replaces an extension given twice, so the second one starts
# as an issuerAltName of the same size whose OID 2.5.29.18 is patched to 17;
# OpenSSL then calls the certificate invalid and will not sign it as a CA,
# so it stays self-signed.)
SELF_SIGN=1 leaf san-duplicate "/O=secsock names/CN=duplicate san" "$(printf '%s\n' \
  "subjectAltName = DNS:first.test" "issuerAltName = DNS:secnd.test")"
patch san-duplicate 0603551d12 0603551d11
selfsign san-duplicate
leaf san-malformed "/O=secsock names/CN=malformed san" "subjectAltName = DER:30058204612e74"
leaf san-unknown-tag "/O=secsock names/CN=unknown tag" "subjectAltName = DER:30058903616263"

# Many names, one of them long.
{
  echo "asn1 = SEQUENCE:names"
  echo "[ names ]"
  for i in $(seq 1 300); do echo "n$i = IMPLICIT:2,IA5STRING:host$i.example.test"; done
  printf 'long = IMPLICIT:2,IA5STRING:%s.test\n' "$(head -c 20000 /dev/zero | tr '\0' 'a')"
} >"$TMP/huge.asn1"
san_leaf san-huge "/O=secsock names/CN=huge san" "$TMP/huge.asn1"

# ------------------------------------------------------------------ names --

# RFC 2253 specials inside values, a multi-valued RDN, leading '#' and
# spaces, a trailing space.
leaf name-escapes \
  '/C=US/O=Comma\, Inc./OU=a=b+CN=plus\+sign/OU=quote"semi;less<more>back\\slash/L=#hash/ST= lead/street=trail ' \
  "" "$NOT_BEFORE" "$LEAF_NOT_AFTER" -multivalue-rdn -utf8

# Non-ASCII characters under OpenSSL's "default" string mask, which picks
# T61String for code points < 256, BMPString below 65536 and UTF8String
# beyond. (Subjects cannot be UniversalStrings through the CLI: OpenSSL
# masks attribute values to DirectoryString; otherName values have one.)
ca_string_mask default
leaf name-strings "/CN=caf$(printf '\xc3\xa9')/O=$(printf '\xe2\x82\xac') euro/OU=smile $(printf '\xf0\x9f\x98\x80')/L=plain" \
  "" "$NOT_BEFORE" "$LEAF_NOT_AFTER" -utf8
ca_string_mask utf8only
leaf name-utf8 "/CN=$(printf '\xe2\x80\xae')evil$(printf '\xe2\x80\xac') $(printf '\xf0\x9f\x98\x80') caf$(printf '\xc3\xa9')" \
  "" "$NOT_BEFORE" "$LEAF_NOT_AFTER" -utf8

# Control characters (\x01, ESC, DEL) in a subject.
leaf name-control "/CN=ctl$(printf '\x01')one$(printf '\x1b')esc$(printf '\x7f')del" "" "$NOT_BEFORE" "$LEAF_NOT_AFTER" -utf8

# A NUL inside the CN: written as 'X', patched to 00, signed again.
SELF_SIGN=1 leaf name-nul "/CN=www.example.testX.evil.test" "subjectAltName = DNS:www.example.test"
patch name-nul "$(text_hex "testX.evil")" "$(text_hex "test")00$(text_hex ".evil")"
resign name-nul

# A UTF8String CN whose bytes are not UTF-8 (0xFF), and a BMPString CN with
# a lone surrogate: OpenSSL itself decides whether they parse; the library
# must answer with its typed error or a lossless string, never garbage.
leaf name-bad-utf8 "/CN=badXutf8" ""
patch name-bad-utf8 "$(text_hex "badXutf8")" "$(text_hex "bad")ff$(text_hex "utf8")"
ca_string_mask default
leaf name-bmp-surrogate "/CN=$(printf '\xe2\x82\xac')sur" "" "$NOT_BEFORE" "$LEAF_NOT_AFTER" -utf8
ca_string_mask utf8only
patch name-bmp-surrogate "20ac007300750072" "20acd80000750072"

# Empty subject; a huge attribute value (an OID with no length limit).
leaf name-empty "/" "subjectAltName = DNS:empty-subject.test"
leaf name-huge "/description=$(head -c 20000 /dev/zero | tr '\0' 'h')/CN=huge" ""

# ---------------------------------------------------------------- serials --

SELF_SIGN=1 leaf serial-negative "/CN=negative serial" ""
resign serial-negative -set_serial -0x0102
SELF_SIGN=1 leaf serial-zero "/CN=zero serial" ""
resign serial-zero -set_serial 0
SELF_SIGN=1 leaf serial-40-bytes "/CN=forty byte serial" ""
resign serial-40-bytes -set_serial "0x7f$(printf '%.0s5a' $(seq 1 39))"
SELF_SIGN=1 leaf serial-high-bit "/CN=high bit serial" ""
resign serial-high-bit -set_serial 0x80

# ------------------------------------------------------------------ times --

# `openssl ca` writes UTCTime for 1950..2049 and GeneralizedTime otherwise.
leaf time-utc-bounds "/CN=utc bounds" "" 500101000000Z 491231235959Z
leaf time-generalized-2050 "/CN=generalized 2050" "" 20491231235959Z 20500101000000Z
leaf time-before-1950 "/CN=before 1950" "" 19491231235959Z 99991231235959Z
leaf time-year-0001 "/CN=year 1" "" 00010101000000Z 00991231235959Z

# ------------------------------------------------------ missing fields --

# Version 1: no extensions at all.
make_csr "$STAGE/leaf.key" "$TMP/v1.csr" "/CN=v1"
q openssl x509 -req -in "$TMP/v1.csr" -CA "$STAGE/names-ca.pem" -CAkey "$STAGE/names-ca.key" \
  -set_serial 7 -days 36500 -sha256 -out "$STAGE/v1-no-extensions.pem"

# --------------------------------------------------- encrypted PEM header --

# A certificate PEM with a `Proc-Type: 4,ENCRYPTED` header, encrypted the
# way PEM_write_bio does it (EVP_BytesToKey with MD5, one round, the first
# 8 bytes of the IV as salt), password secsock-pass. No CLI writes one; a
# reader that falls back to OpenSSL's default callback prompts for it.
q openssl x509 -in "$STAGE/san-all-types.pem" -outform DER -out "$TMP/enc-in.der"
IV="$(openssl rand -hex 16 | tr 'a-f' 'A-F')"
KEY="$(openssl enc -aes-256-cbc -md md5 -S "${IV:0:16}" -pass "pass:$PASS" -P 2>/dev/null | sed -n 's/^key=//p')"
q openssl enc -aes-256-cbc -K "$KEY" -iv "$IV" -in "$TMP/enc-in.der" -out "$TMP/enc.bin"
{
  echo "-----BEGIN CERTIFICATE-----"
  echo "Proc-Type: 4,ENCRYPTED"
  echo "DEK-Info: AES-256-CBC,$IV"
  echo
  openssl base64 -in "$TMP/enc.bin"
  echo "-----END CERTIFICATE-----"
} >"$STAGE/encrypted-header.pem"
q openssl enc -d -aes-256-cbc -K "$KEY" -iv "$IV" -in "$TMP/enc.bin" -out "$TMP/enc-back.der"
cmp -s "$TMP/enc-in.der" "$TMP/enc-back.der" || { echo "encrypted-header does not decrypt" >&2; exit 1; }

# ----------------------------------------------------------------- checks --

for f in "$STAGE"/*.pem; do
  case "$(basename "$f")" in
    encrypted-header.pem | name-bad-utf8.pem | name-bmp-surrogate.pem) continue ;;
  esac
  openssl x509 -in "$f" -noout 2>/dev/null || fail "$(basename "$f") does not parse"
done
openssl verify -CAfile "$STAGE/names-ca.pem" "$STAGE/san-all-types.pem" >/dev/null 2>&1 ||
  fail "san-all-types does not verify"
openssl verify -CAfile "$STAGE/names-ca.pem" "$STAGE/name-nul.pem" >/dev/null 2>&1 ||
  fail "name-nul does not verify after re-signing"
openssl x509 -in "$STAGE/san-all-types.pem" -noout -ext subjectAltName | grep -q EdiPartyName ||
  fail "san-all-types has no ediPartyName"
[ "$(openssl x509 -in "$STAGE/serial-negative.pem" -noout -serial)" = "serial=-0102" ] || fail "negative serial"
openssl x509 -in "$STAGE/name-nul.pem" -outform DER | od -An -tx1 -v | tr -d ' \n' |
  grep -q "$(text_hex "test")00$(text_hex ".evil")" || fail "name-nul has no NUL"

# ----------------------------------------------------------------- README --

cat >"$STAGE/README.md" <<'EOF'
# Name, serial and time corpus

Generated by `scripts/gen_name_corpus.sh` (openssl CLI and coreutils only);
do not edit by hand, run the script again (fresh keys every time). Every
certificate is issued by `names-ca.pem` for `leaf.key` (both ECDSA P-256),
valid 2000-01-01 .. 2125-01-01 unless noted. Read by
`tests/security/certificate_*_test.ts` (the names, fields, PEM prompt and fuzz tests).

| File | What it holds |
| --- | --- |
| `san-all-types.pem` | One subjectAltName of every GeneralName type: DNS:localhost, IP 127.0.0.1, IP 2001:db8::1, email, URI, otherName UPN (1.3.6.1.4.1.311.20.2.3) and XMPP (1.3.6.1.5.5.7.8.5), registeredID, directoryName, x400Address, ediPartyName. Serves TLS for localhost. |
| `san-cli-forms.pem` | The same kinds in the openssl config syntax (`otherName:`, `RID:`, `dirName:`), a comma in a URI, an INTEGER otherName. |
| `san-othername-values.pem` | otherName values: UTF8String, IA5String, PrintableString, VisibleString, NumericString, BMPString, UniversalString (U+1F600), UTF8String with byte 0xFF, OCTET STRING, INTEGER, SEQUENCE, NULL. |
| `san-hostile-strings.pem` | dNSName with an embedded NUL, with ", DNS:" inside, quotes, bytes E9 80 FF, a leading '#', spaces, empty, DEL and ESC; URI with a backslash; email with a newline. |
| `san-ip-lengths.pem` | iPAddress of 0, 5, 8 and 32 bytes; `::`, first-longest-run and single-zero-group IPv6; an IPv4-mapped address. |
| `san-empty.pem`, `san-duplicate.pem`, `san-malformed.pem`, `san-unknown-tag.pem` | An empty GeneralNames; two subjectAltName extensions (DNS:first.test, DNS:secnd.test; self-signed by leaf.key); one whose inner length overruns; one with context tag [9]. |
| `san-huge.pem` | 301 dNSNames, one of 20005 bytes. |
| `name-escapes.pem` | Subject with `,` `+` `"` `;` `<` `>` `\` `=` inside values, a multi-valued RDN, a leading '#', a leading and a trailing space. |
| `name-strings.pem` | Subject with a T61String (café), a BMPString (€), a UTF8String (emoji) and a PrintableString. |
| `name-utf8.pem` | UTF8String CN with U+202E (right-to-left override), an emoji and an accent. |
| `name-control.pem` | CN with \x01, ESC and DEL. |
| `name-nul.pem` | CN `www.example.test\0.evil.test` (patched, then signed again). |
| `name-bad-utf8.pem` | UTF8String CN holding byte 0xFF (patched; signature no longer valid). |
| `name-bmp-surrogate.pem` | BMPString CN holding a lone surrogate D800 (patched; signature no longer valid). |
| `name-empty.pem`, `name-huge.pem` | Empty subject; a description attribute of 20000 bytes. |
| `serial-negative.pem`, `serial-zero.pem`, `serial-40-bytes.pem`, `serial-high-bit.pem` | Serials -0x0102, 0, 40 bytes, 0x80 (encoded 00 80). |
| `time-utc-bounds.pem` | UTCTime 1950-01-01 .. 2049-12-31 23:59:59. |
| `time-generalized-2050.pem` | notAfter 2050-01-01, GeneralizedTime. |
| `time-before-1950.pem` | GeneralizedTime 1949-12-31 23:59:59 .. 9999-12-31 23:59:59. |
| `time-year-0001.pem` | GeneralizedTime 0001-01-01 .. 0099-12-31 23:59:59. |
| `v1-no-extensions.pem` | Version 1, no extensions (valid 100 years from generation). |
| `encrypted-header.pem` | `san-all-types.pem` as an encrypted PEM (`Proc-Type: 4,ENCRYPTED`, AES-256-CBC, password `secsock-pass`): must be refused, never prompted for. |
EOF

install_stage
echo "wrote $(find "$OUT_DIR" -type f | wc -l) files to $OUT_DIR"

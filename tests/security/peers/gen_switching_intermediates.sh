#!/usr/bin/env bash
# gen_switching_intermediates.sh DIR T - for verify_async_replay_other_chain_test.ts:
# a root; two intermediates with the same name and key, Ia valid until T and
# Ib valid from T (T = YYYYMMDDHHMMSSZ); a leaf for localhost issued under that
# name. Before T OpenSSL builds [leaf, Ia, root], after T [leaf, Ib, root].
set -euo pipefail
D=$1
T=$2
mkdir -p "$D/db"
cd "$D"
: >db/index
echo 1000 >db/serial
cat >ca.cnf <<CNF
[ ca ]
default_ca = switching
[ switching ]
database = db/index
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
organizationName = optional
[ intermediate ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ leaf ]
basicConstraints = CA:false
subjectAltName = DNS:localhost
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
key() { echo -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1"; }
openssl req -x509 $(key root.key) -subj "/O=secsock/CN=Switching Root" -days 30 \
  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -out root.pem 2>/dev/null
openssl req -new $(key int.key) -subj "/O=secsock/CN=Switching Intermediate" -out int.csr 2>/dev/null
sign() { openssl ca -batch -config ca.cnf "$@" 2>/dev/null; }
sign -cert root.pem -keyfile root.key -extensions intermediate -startdate 20200101000000Z -enddate "$T" -in int.csr -out ia.pem
sign -cert root.pem -keyfile root.key -extensions intermediate -startdate "$T" -enddate 20991231000000Z -in int.csr -out ib.pem
openssl req -new $(key leaf.key) -subj "/O=secsock/CN=localhost" -out leaf.csr 2>/dev/null
sign -cert ia.pem -keyfile int.key -extensions leaf -startdate 20200101000000Z -enddate 20991231000000Z -in leaf.csr -out leaf.pem
cat ia.pem ib.pem >both.pem

#!/usr/bin/env bash
#
# gen_all_fixtures.sh - (re)generate every test fixture: the main test PKI
# with its OCSP response (gen_fixtures.sh, which runs gen_ocsp_fixture.sh),
# the certificate-chain corpus (gen_chain_corpus.sh), the name, serial and
# time corpus (gen_name_corpus.sh) and the host-name certificates
# (gen_name_fixtures.sh). `deno task fixtures` runs it.
#
# Each generator stays runnable on its own and replaces only its own files;
# SECSOCK_FIXTURES_OUT=DIR sends all of them to DIR instead of tests/fixtures/.
# Stops at the first generator that fails (its self-checks did not pass; it
# installed nothing).

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for generator in gen_fixtures gen_chain_corpus gen_name_corpus gen_name_fixtures; do
  bash "$SCRIPT_DIR/$generator.sh"
done

#!/usr/bin/env bash
#
# debian_root.sh - run a command on the other Debian release's OpenSSL:
# OpenSSL 3.5 (Debian 13, trixie) from a Debian 12 machine, or OpenSSL 3.0
# (Debian 12, bookworm) from a Debian 13 machine.
#
#   scripts/debian_root.sh [--suite trixie|bookworm] [--root DIR] [--keep] [COMMAND...]
#
# Builds a root of that release with mmdebstrap (default suite: the release
# this machine is not; an existing root in DIR is reused), copies the Deno binary found on PATH and this checkout into it,
# mounts /proc, /dev and /dev/pts, and runs COMMAND inside it with chroot, in
# the checkout's copy (default: the README's test command). The mounts are
# undone on exit, whatever happens; --keep keeps the root for the next run.
#
# Only the main suite of the archive named in the machine's apt sources is
# used: the security and updates suites' Release files may be stale here.
set -euo pipefail

ROOT=""
KEEP=0
SUITE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) ROOT="$2"; shift 2 ;;
    --suite) SUITE="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || set -- deno task test

if [[ -z "$SUITE" ]]; then
  case "$(cut -d. -f1 /etc/debian_version)" in
    12) SUITE=trixie ;;
    *) SUITE=bookworm ;;
  esac
fi
case "$SUITE" in
  trixie) SSL_PACKAGE=libssl3t64 ;;
  bookworm) SSL_PACKAGE=libssl3 ;;
  *) echo "debian_root.sh: unknown suite $SUITE (trixie or bookworm)" >&2; exit 2 ;;
esac

CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "$ROOT" ]]; then
  ROOT="$(mktemp -d "${TMPDIR:-/tmp}/secsock-$SUITE.XXXXXX")"
  [[ $KEEP -eq 1 ]] || CLEAN_ROOT=1
fi
[[ $(id -u) -eq 0 ]] || { echo "debian_root.sh: needs root (mmdebstrap, mount, chroot)" >&2; exit 1; }

# Mounts are made in a private mount namespace of this run: they vanish with
# it, and two runs sharing one root (--root … --keep) never unmount each
# other's /proc or /dev. Each run also gets its own copy of the checkout.
if [[ -z "${SECSOCK_DEBIAN_ROOT_NS:-}" ]] && command -v unshare >/dev/null; then
  export SECSOCK_DEBIAN_ROOT_NS=1
  args=(--suite "$SUITE" --root "$ROOT")
  [[ $KEEP -eq 1 ]] && args+=(--keep)
  # The root made above (mktemp) is removed by the inner run unless --keep.
  [[ "${CLEAN_ROOT:-0}" -eq 1 ]] && export SECSOCK_DEBIAN_ROOT_CLEAN=1
  exec unshare --mount --propagation private "$0" "${args[@]}" -- "$@"
fi
[[ "${SECSOCK_DEBIAN_ROOT_CLEAN:-0}" -eq 1 ]] && CLEAN_ROOT=1
RUN_DIR="/work/secsock.$$"

DENO_BIN="$(command -v deno)" || { echo "debian_root.sh: no deno on PATH" >&2; exit 1; }
DENO_BIN="$(readlink -f "$DENO_BIN")"
# The npm package's launcher is a script; the binary sits next to it in the platform package.
if ! head -c 4 "$DENO_BIN" | grep -q ELF; then
  DENO_BIN="$(deno eval 'console.log(Deno.execPath())')"
fi

cleanup() {
  for m in dev/pts dev proc; do
    mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" || true
  done
  rm -rf --one-file-system "${ROOT:?}$RUN_DIR"
  if [[ "${CLEAN_ROOT:-0}" -eq 1 ]]; then rm -rf --one-file-system "$ROOT"; fi
}
trap cleanup EXIT

if [[ ! -x "$ROOT/usr/bin/openssl" ]]; then
  command -v mmdebstrap >/dev/null || apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
  ARCHIVE="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  ARCHIVE="${ARCHIVE:-http://deb.debian.org/debian}"
  echo "== building a Debian $SUITE root in $ROOT from $ARCHIVE"
  rm -rf "$ROOT" && mkdir -p "$ROOT"
  mmdebstrap --quiet --variant=apt \
    --include=openssl,ca-certificates,$SSL_PACKAGE,nodejs,gnutls-bin,curl,nginx,socat,postgresql,bsdutils,procps \
    "$SUITE" "$ROOT" "$ARCHIVE"
fi

mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"

install -m 0755 "$DENO_BIN" "$ROOT/usr/local/bin/deno"
# Deno and Node inside the root reach the npm registry with the host's CA bundle.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/host-ca.crt"
# Name resolution as on the host ("localhost" in the tests; the registry for npm: imports).
cp /etc/hosts /etc/resolv.conf "$ROOT/etc/"
rm -rf "$ROOT$RUN_DIR" && mkdir -p "$ROOT$RUN_DIR"
tar -C "$CHECKOUT" --exclude=./.tools --exclude=./npm --exclude=./node_modules --exclude=./.git -cf - . |
  tar -C "$ROOT$RUN_DIR" -xf -

echo "== Debian $(cat "$ROOT/etc/debian_version"), $(chroot "$ROOT" openssl version)"
chroot "$ROOT" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM="${TERM:-dumb}" \
  DENO_CERT=/etc/host-ca.crt NODE_EXTRA_CA_CERTS=/etc/host-ca.crt \
  SECSOCK_REQUIRE_PEERS="${SECSOCK_REQUIRE_PEERS:-}" CI="${CI:-}" \
  /bin/bash -c 'cd "$0" && "$@"' "$RUN_DIR" "$@"

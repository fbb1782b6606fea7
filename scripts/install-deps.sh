#!/bin/sh
# Installs what cuttle's demo, tests and benchmarks execute on Debian 12,
# from the one list scripts/programs.txt, then checks that every
# program on it is there and names any that is not. Installs nothing when
# it is all there already. Needs root to install.
set -eu
cd "$(dirname "$0")/.."
list=scripts/programs.txt
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || [ -x "/usr/lib/openssh/$1" ]; }
missing() {
  grep -v '^[[:space:]]*#' "$list" | while read -r prog pkg _; do
    [ -n "$prog" ] || continue
    have "$prog" || echo "$prog $pkg"
  done
}
need=$(missing | awk '{print $2}' | sort -u | tr '\n' ' ')
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install: $need" >&2
    exit 1
  fi
  echo "install-deps: installing $need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
left=$(missing)
if [ -n "$left" ]; then
  echo "install-deps: still missing after install (program package):" >&2
  echo "$left" | sed 's/^/  /' >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "install-deps: add /usr/local/go/bin to PATH" >&2
fi

#!/bin/sh
# Installs what cuttle's demo, tests and benchmarks execute on Debian 12,
# from the one list scripts/programs.txt, then checks that every
# program on it is there and names any that is not. Installs nothing when
# it is all there already. Needs root to install.
set -eu
cd "$(dirname "$0")/.."
list=scripts/programs.txt
# PostgreSQL's programs live in /usr/lib/postgresql/<version>/bin.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || [ -x "/usr/lib/openssh/$1" ] ||
  ls /usr/lib/postgresql/*/bin/"$1" >/dev/null 2>&1; }
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
# arm64 on this amd64 machine: qemu-aarch64 registered with binfmt_misc
# (flag F, so it works inside containers too), and Debian's
# busybox-static for arm64, from which the harness builds a linux/arm64
# test image (testenv/arm64.go reads it from $arm64deb).
if [ "$(id -u)" = 0 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
  arm64deb=/var/cache/cuttle-test/busybox-static_arm64.deb
  if [ ! -s "$arm64deb" ]; then
    echo "install-deps: fetching busybox-static:arm64 (the arm64 test image)"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq
    mkdir -p "${arm64deb%/*}"
    # apt downloads as the _apt user, who can write /tmp.
    (cd /tmp && apt-get download -qq busybox-static:arm64 && mv busybox-static_*_arm64.deb "$arm64deb")
  fi
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  echo "install-deps: qemu-aarch64 is not registered with binfmt_misc (run as root: update-binfmts --enable qemu-aarch64)" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "install-deps: add /usr/local/go/bin to PATH" >&2
fi

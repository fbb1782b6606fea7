#!/bin/sh
# Installs what cuttle's demo, tests and benchmarks need on Debian 12, and
# nothing when it is all there already. Needs root.
set -eu
need=""
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have sshd            || need="$need openssh-server"
have ssh             || need="$need openssh-client"
have dockerd         || need="$need docker.io"
have busybox         || need="$need busybox-static"
have git             || need="$need git"
have ip              || need="$need iproute2"
have docker-registry || need="$need docker-registry"
have htpasswd        || need="$need apache2-utils"
have flock           || need="$need util-linux"
have openssl         || need="$need openssl"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install:$need" >&2
    exit 1
  fi
  echo "install-deps: installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  echo "install-deps: add /usr/local/go/bin to PATH" >&2
fi

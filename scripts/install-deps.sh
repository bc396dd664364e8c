#!/usr/bin/env bash
# Installs the Debian packages Swiftlet builds and tests with (idempotent; needs root).
#   scripts/install-deps.sh [--bench] [--vm] [--images]
set -euo pipefail
pkgs=(libseccomp-dev libcap-dev libsqlite3-dev libarchive-dev libzstd-dev liblz4-dev libacl1-dev liblzma-dev libbz2-dev zlib1g-dev nettle-dev libxml2-dev busybox-static python3 etcd-server time procps nftables iptables iproute2 util-linux containernetworking-plugins curl tmux openssl)
for a in "$@"; do
  case "$a" in
    --bench) pkgs+=(crun runc hyperfine containernetworking-plugins) ;;
    --images) pkgs+=(docker-registry skopeo umoci apache2-utils openssl zstd python3 mmdebstrap curl) ;;
    --vm) pkgs+=(qemu-system-x86 linux-image-cloud-amd64 cpio) ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

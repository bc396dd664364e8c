#!/usr/bin/env bash
# Quick start: installs dependencies, builds Swiftlet, and runs a sample container (a busybox
# rootfs with Swiftlet's default security profile) through `swiftlet oci run`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
scripts/install-deps.sh
scripts/build.sh
dir=${QUICKSTART_DIR:-/tmp/swiftlet-quickstart}
rm -rf "$dir" && mkdir -p "$dir"
scripts/make-rootfs.sh "$dir/rootfs"
(cd "$dir" && "$OLDPWD/bin/swiftlet" oci spec)
/usr/bin/python3 - "$dir/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sh", "-c", "echo hello from $(hostname): pid $$, uid $(id -u); grep -E 'CapEff|Seccomp:|NoNewPrivs' /proc/self/status; ls /"]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
echo "--- swiftlet oci run -b $dir quickstart"
bin/swiftlet oci run -b "$dir" quickstart

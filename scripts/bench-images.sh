#!/usr/bin/env bash
# Pull + unpack of a generated ~48 MiB (uncompressed), 5-layer image from a local registry:
# swiftlet (download, verify, unpack into overlay-ready layers) vs skopeo copy (to an OCI layout)
# + umoci unpack (to a bundle rootfs), interleaved in the same run, medians and the ratio.
#   scripts/bench-images.sh [RUNS] [BIN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RUNS=${1:-5}
BIN=$(cd "${2:-$here/../bin}" && pwd)
[ "$(id -u)" = 0 ] || { echo "bench-images: needs root" >&2; exit 1; }
T=$(mktemp -d /tmp/swiftlet-bench-img.XXXXXX)
REG=
cleanup() { [ -n "$REG" ] && kill "$REG" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
python3 "$here/make-images.py" "$T/imgs" --bench-mib 48 >/dev/null
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/reg.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/regdata}}
http: {addr: 127.0.0.1:$P}
EOF
docker-registry serve "$T/reg.yml" >"$T/reg.log" 2>&1 &
REG=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$P/v2/" && break; sleep 0.05; done
skopeo copy --quiet --dest-tls-verify=false "oci:$T/imgs/bench:test" "docker://127.0.0.1:$P/bench/big:1" >/dev/null
REF=127.0.0.1:$P/bench/big:1
compressed=$(du -sb "$T/regdata" | cut -f1)

now() { date +%s%N; }
declare -a SW PEER
for i in $(seq "$RUNS"); do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now)
  "$BIN/swiftlet" images pull -q --store "$T/sw$i" "$REF" >/dev/null
  t1=$(now)
  SW+=($(( (t1 - t0) / 1000000 )))
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  t0=$(now)
  skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$T/layout$i:big" >/dev/null
  umoci unpack --image "$T/layout$i:big" "$T/bundle$i" >/dev/null 2>&1
  t1=$(now)
  PEER+=($(( (t1 - t0) / 1000000 )))
  # both results hold the same files
  a=$(find "$T/sw$i/layers" -path '*/fs/*' -type f | wc -l); b=$(find "$T/bundle$i/rootfs" -type f | wc -l)
  [ "$a" = "$b" ] || { echo "bench-images: file counts differ ($a vs $b)" >&2; exit 1; }
  rm -rf "$T/sw$i" "$T/layout$i" "$T/bundle$i"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
ms=$(median "${SW[@]}"); mp=$(median "${PEER[@]}")
echo "image: 5 layers, 48 MiB uncompressed, $((compressed / 1048576)) MiB in the registry; $RUNS runs each, cold page cache"
echo "swiftlet images pull (download+verify+unpack): median ${ms} ms   [${SW[*]}]"
echo "skopeo copy + umoci unpack:                    median ${mp} ms   [${PEER[*]}]"
awk -v a="$ms" -v b="$mp" 'BEGIN { printf "ratio swiftlet/peer: %.2fx\n", a / b }'

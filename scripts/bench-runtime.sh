#!/usr/bin/env bash
# Container start-up benchmark: N sequential /bin/true containers with `swiftlet oci run`,
# `crun run` and `runc run` on the same bundle, interleaved (A B C A B C ...), in one run.
# Prints per-container medians, ratios to crun and runc, and peak RSS of each runtime and of
# swiftlet's per-container monitor.
#
# crun 1.8 refuses this host's hybrid cgroup tree ("cgroups in hybrid mode not supported") unless
# it sees an empty /sys/fs/cgroup/unified/cgroup.controllers, so the whole benchmark runs in a
# private mount namespace with an empty file bound over it (the host is not touched).
#   scripts/bench-runtime.sh [N]          (default 50)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-50}
BIN=${BIN:-$here/../bin}
[ "$(id -u)" = 0 ] || { echo "bench-runtime: needs root" >&2; exit 1; }
for t in crun runc /usr/bin/time; do command -v $t >/dev/null || { echo "bench-runtime: $t missing (apt-get install crun runc time)" >&2; exit 1; }; done

if [ "${1:-}" != "--inner" ] && [ -z "${BENCH_INNER:-}" ]; then
  T=$(mktemp -d /tmp/swiftlet-bench.XXXXXX)
  trap 'rm -rf "$T"' EXIT
  : > "$T/empty"
  BENCH_INNER=1 T=$T N=$N BIN=$BIN unshare -m --propagation private bash -c \
    'mount --bind "$T/empty" /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true; exec bash "$0"' "$0"
  exit $?
fi

. "$here/lib.sh"
"$here/make-rootfs.sh" "$T/rootfs"
mkdir -p "$T/b-plain" "$T/b-default"
# bundle 1: the shape `crun spec` / `runc spec` produce
(cd "$T/b-plain" && crun spec)
setcfg "$T/b-plain/config.json" "
c['process']['terminal'] = False
c['process']['args'] = ['/bin/true']
c['root'] = {'path': '$T/rootfs', 'readonly': True}
c['linux']['cgroupsPath'] = '/swiftlet-bench/ctr'"
# bundle 2: swiftlet's default profile (containerd caps, RuntimeDefault seccomp, masked paths)
(cd "$T/b-default" && "$BIN/swiftlet" oci spec)
setcfg "$T/b-default/config.json" "
c['process']['args'] = ['/bin/true']
c['root'] = {'path': '$T/rootfs', 'readonly': True}
c['linux']['cgroupsPath'] = '/swiftlet-bench/ctr'"

S="$BIN/swiftlet oci --root $T/s-state"
declare -A CMD=(
  [swiftlet]="$S run b"
  [crun]="crun --root $T/c-state run b"
  [runc]="runc --root $T/r-state run b"
)
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

bench_bundle() {
  local bundle=$1
  cd "$T/$bundle"
  for k in swiftlet crun runc; do : > "$T/$k.times"; for _ in 1 2 3; do ${CMD[$k]} >/dev/null; done; done  # warm-up
  for _ in $(seq "$N"); do
    for k in swiftlet crun runc; do
      local t0=$EPOCHREALTIME
      ${CMD[$k]} >/dev/null
      local t1=$EPOCHREALTIME
      echo "${t0/./} ${t1/./}" | awk '{printf "%.3f\n", ($2-$1)/1000}' >> "$T/$k.times"
    done
  done
  local s c r
  s=$(median < "$T/swiftlet.times"); c=$(median < "$T/crun.times"); r=$(median < "$T/runc.times")
  local total_s total_c total_r
  total_s=$(awk '{s+=$1} END {printf "%.0f", s}' "$T/swiftlet.times")
  total_c=$(awk '{s+=$1} END {printf "%.0f", s}' "$T/crun.times")
  total_r=$(awk '{s+=$1} END {printf "%.0f", s}' "$T/runc.times")
  printf '| %-8s | %-24s | %8s ms | %8s ms | %10s ms |\n' "$bundle" "swiftlet oci run" "$s" "$total_s" "-"
  printf '| %-8s | %-24s | %8s ms | %8s ms | %10s    |\n' "$bundle" "crun run" "$c" "$total_c" "$(awk -v a="$s" -v b="$c" 'BEGIN {printf "%.2fx", a/b}')"
  printf '| %-8s | %-24s | %8s ms | %8s ms | %10s    |\n' "$bundle" "runc run" "$r" "$total_r" "$(awk -v a="$s" -v b="$r" 'BEGIN {printf "%.2fx", a/b}')"
}

echo "$N sequential /bin/true containers per runtime, interleaved; $(crun --version | head -1), $(runc --version | head -1)"
echo
echo "| bundle   | runtime                  | median/ctr  | total       | swiftlet/x    |"
echo "|----------|--------------------------|-------------|-------------|---------------|"
bench_bundle b-default
bench_bundle b-plain
echo
echo "(b-plain: the \`crun spec\` shape, no seccomp; b-default: \`swiftlet oci spec\` — 14 caps, RuntimeDefault seccomp, masked paths; ratio column = swiftlet median / that runtime's median)"

# peak RSS (GNU time: max RSS of the largest process waited for)
cd "$T/b-plain"
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
echo
echo "peak RSS, KiB: swiftlet CLI $(rss $S run b) | crun $(rss crun --root "$T/c-state" run b) | runc $(rss runc --root "$T/r-state" run b)"
setcfg "$T/b-plain/config.json" "c['process']['args'] = ['sleep', '2']"
$S create --detach-stdio m >/dev/null
$S start m
mpid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["monitorPid"])' "$T/s-state/m/state.json")
echo "swiftlet-monitor per container: VmRSS $(awk '/VmRSS/ {print $2}' /proc/"$mpid"/status) KiB, VmHWM $(awk '/VmHWM/ {print $2}' /proc/"$mpid"/status) KiB"
$S delete -f m
# crun and runc remove only the leaf: drop the (empty) parent group the bench's cgroupsPath made
for g in /sys/fs/cgroup/*/swiftlet-bench; do [ -d "$g" ] && rmdir "$g" 2>/dev/null; done
true

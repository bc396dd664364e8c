#!/usr/bin/env bash
# cgroup v2 enforcement suite. Runs INSIDE a pure-cgroup-v2 guest:
#   scripts/vm-run --tmpfs /var/lib/swiftlet -- scripts/test-cgroup-v2.sh [BIN_DIR] [UNIT_TEST_EXECUTABLE]
# Real limits on real containers: memory.max -> OOMKilled, cpu.max throttling, pids.max,
# cpu.weight, the kubelet QoS tree (Swift tests run against the live hierarchy), cleanup.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the cgroup v2 suite"
if [ "$(awk '$9 == "cgroup2" {print $5}' /proc/self/mountinfo)" != /sys/fs/cgroup ] || grep -q ' - cgroup ' /proc/self/mountinfo; then
  echo "test-cgroup-v2: needs a pure cgroup v2 host; run it through scripts/vm-run" >&2
  exit 1
fi
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
T=$(mktemp -d /tmp/swiftlet-cg.XXXXXX)
ROOT="$T/state"
OCI="$S oci --root $ROOT"
CG=/sys/fs/cgroup
cleanup() {
  for id in $($OCI list -q 2>/dev/null); do $OCI delete -f "$id" >/dev/null 2>&1; done
  unmount_under "$T"
  rm -rf "$T"
}
trap cleanup EXIT

echo "# host: $(uname -r), controllers: $(cat $CG/cgroup.controllers)"
"$S" check >/dev/null
check_eq "swiftlet check passes on a pure cgroup v2 host" "0" "$?"

set -e
"$here/make-rootfs.sh" "$T/rootfs"
mkdir -p "$T/b" && ln -s "$T/rootfs" "$T/b/rootfs"
(cd "$T/b" && "$S" oci spec)
cp "$T/b/config.json" "$T/default.json"
set +e
reset_cfg() { cp "$T/default.json" "$T/b/config.json"; }

echo "# memory.max"
reset_cfg
setcfg "$T/b/config.json" "
c['process']['args'] = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']
c['linux']['resources'] = {'memory': {'limit': 33554432, 'swap': 33554432}}"
$OCI create -b "$T/b" --detach-stdio oom </dev/null
check_eq "memory.max holds the limit" "33554432" "$(cat $CG/swiftlet/oom/memory.max)"
check_eq "no swap beyond the limit" "0" "$(cat $CG/swiftlet/oom/memory.swap.max 2>/dev/null || echo 0)"
$OCI start oom
for _ in $(seq 200); do [ -f "$ROOT/oom/exit.json" ] && break; sleep 0.05; done
exit_json=$(cat "$ROOT/oom/exit.json" 2>/dev/null)
check_match "a 64 MiB allocation under 32 MiB is OOM-killed: exit 137" '"exitCode":137' "$exit_json"
check_match "termination reason OOMKilled" '"reason":"OOMKilled","oomKilled":true' "$exit_json"
check_match "memory.events counted the kill" "oom_kill [1-9]" "$(cat $CG/swiftlet/oom/memory.events)"
$OCI delete oom
check_eq "the container's group is removed on delete" "no" "$([ -d $CG/swiftlet/oom ] && echo yes || echo no)"

reset_cfg
setcfg "$T/b/config.json" "
c['process']['args'] = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=8M', 'count=1']
c['linux']['resources'] = {'memory': {'limit': 33554432}}"
OUT=$($OCI run -b "$T/b" fits 2>&1); RC=$?
check_eq "an allocation within the limit succeeds" "0" "$RC"

echo "# cpu.max"
reset_cfg
setcfg "$T/b/config.json" "
c['process']['args'] = ['sh', '-c', 'while :; do :; done']
c['linux']['resources'] = {'cpu': {'quota': 20000, 'period': 100000, 'shares': 1024}}"
$OCI create -b "$T/b" --detach-stdio cpu </dev/null
check_eq "cpu.max holds 200m" "20000 100000" "$(cat $CG/swiftlet/cpu/cpu.max)"
check_eq "cpu.weight from shares 1024" "100" "$(cat $CG/swiftlet/cpu/cpu.weight)"
$OCI start cpu
u0=$(awk '/usage_usec/ {print $2}' $CG/swiftlet/cpu/cpu.stat); t0=$EPOCHREALTIME
sleep 3
u1=$(awk '/usage_usec/ {print $2}' $CG/swiftlet/cpu/cpu.stat); t1=$EPOCHREALTIME
used=$(awk -v a="$u0" -v b="$u1" -v s="${t0/./}" -v e="${t1/./}" 'BEGIN {printf "%.3f", (b-a)/(e-s)}')
if awk -v u="$used" 'BEGIN {exit !(u >= 0.15 && u <= 0.25)}'; then ok "a busy loop limited to 200m uses $used CPU (0.2 ± 0.05)"
else not_ok "busy loop under cpu.max 200m" "used $used CPU"; fi
check_match "it was throttled" "nr_throttled [1-9]" "$(cat $CG/swiftlet/cpu/cpu.stat)"
$OCI delete -f cpu

echo "# pids.max"
reset_cfg
setcfg "$T/b/config.json" "
c['process']['args'] = ['sh', '-c', 'sh -c \"i=0; while [ \\\$i -lt 60 ]; do sleep 30 & i=\\\$((i+1)); done\" 2>/dev/null; sleep 30']
c['linux']['resources'] = {'pids': {'limit': 20}}"
$OCI create -b "$T/b" --detach-stdio pids </dev/null
$OCI start pids
sleep 1.5
pc=$(cat $CG/swiftlet/pids/pids.current)
if [ "$pc" -le 20 ] && [ "$pc" -ge 15 ]; then ok "a fork loop under pids.max 20 stays at $pc tasks"; else not_ok "pids.max 20" "pids.current=$pc"; fi
check_match "forks beyond the limit were refused" "max [1-9]" "$(cat $CG/swiftlet/pids/pids.events)"
OUT=$($OCI exec pids -- true 2>&1); RC=$?
check_match "the container is saturated but still managed (exec refused, not hung)" "." "$RC$OUT"
$OCI delete -f pids
check_eq "host still forks" "ok" "$(sh -c 'echo ok')"
check_eq "no groups left under swiftlet/" "" "$(ls -d $CG/swiftlet/*/ 2>/dev/null)"

echo "# unified map and oom.group"
reset_cfg
setcfg "$T/b/config.json" "
c['process']['args'] = ['true']
c['linux']['resources'] = {'unified': {'memory.oom.group': '1', 'memory.high': '50000000'}}"
$OCI create -b "$T/b" --detach-stdio uni </dev/null
check_eq "unified memory.oom.group" "1" "$(cat $CG/swiftlet/uni/memory.oom.group)"
check_eq "unified memory.high" "49999872" "$(cat $CG/swiftlet/uni/memory.high)"
$OCI delete -f uni

echo "# kubelet QoS tree (Swift tests against the live hierarchy)"
# the unit-test executable of scripts/build.sh --with-tests (its path: the second argument)
XCTEST=${2:-${XCTEST:-$("$here/build.sh" --print-test-bundle)}}
if [ -x "$XCTEST" ]; then
  out=$(SWIFTLET_CGROUP_V2_GUEST=1 "$XCTEST" --testing-library swift-testing --filter "LiveCgroupTests" 2>&1)
  printf '%s\n' "$out" | grep -E "✔|✘" | grep -v "started" | sed 's/^/  /'
  if printf '%s\n' "$out" | grep -qE "Test run with [0-9]+ tests? .*passed"; then ok "QoS tree tests on the live hierarchy"
  else not_ok "QoS tree tests on the live hierarchy" "$(printf '%s\n' "$out" | grep -E '✘|error' | head -5)"; fi
else
  not_ok "QoS tree tests" "$XCTEST not built (scripts/build.sh --with-tests)"
fi

summary

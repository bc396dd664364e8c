#!/usr/bin/env bash
# The test command: installs what is needed, builds once, runs the unit tests and every
# integration suite, and ends with a table of where the time went. Run as root; in CI (CI=true) a
# missing root is a failure, not a skip.
#
#   scripts/test.sh [--only SUITE,SUITE...] [--no-build] [--serial] [--list]
#     --only      run just these suites (names: --list); the build still runs unless --no-build
#     --no-build  use bin/ and the unit-test build as they are (fails if bin/ is missing)
#     --serial    one suite at a time (the default runs independent suites side by side)
#     --list      print the suites and exit
#
# Suites share no state (each has its own temp dir, node namespace, bridge, subnet, cgroup root,
# state root and ports), so they run in lanes side by side; a lane runs its suites one after
# another. Each suite's output goes to its own log, printed whole when the suite ends.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
here=$PWD/scripts

# name | lane | command (run from the repository root; BIN is the binaries' directory)
SUITES=(
  "unit|unit|scripts/build.sh --unit-tests"
  "master|unit|scripts/test-master.sh \$BIN"
  "auth|unit|scripts/test-auth.sh \$BIN"
  "cluster|unit|scripts/test-cluster.sh \$BIN"
  "up|unit|scripts/test-up.sh \$BIN"
  "multinode|unit|scripts/test-multinode.sh \$BIN"
  "runtime|host1|scripts/test-runtime.sh \$BIN"
  "agent|host1|scripts/test-agent.sh \$BIN"
  "podspec|host1|scripts/test-podspec.sh \$BIN"
  "network|host1|scripts/test-network.sh \$BIN"
  "images|host2|scripts/test-images.sh \$BIN"
  "hostile|host2|scripts/test-hostile.sh \$BIN"
  "real-images|host2|scripts/test-real-images.sh \$BIN"
  "vm-cgroup|vm|scripts/vm-run --timing --timeout 1200 -- \$PWD/scripts/test-cgroup-v2.sh \$BIN \$(scripts/build.sh --print-test-bundle)"
  "vm-runtime|vm|scripts/vm-run --timing --timeout 1200 -- \$PWD/scripts/test-runtime.sh \$BIN --cgroup-sections"
)

ONLY=""
BUILD=1
SERIAL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --no-build) BUILD=0; shift ;;
    --serial) SERIAL=1; shift ;;
    --list) for s in "${SUITES[@]}"; do IFS='|' read -r n l c <<<"$s"; printf '%-12s lane %-6s %s\n' "$n" "$l" "$c"; done; exit 0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

selected() {  # selected NAME: in --only (or no --only)
  [ -z "$ONLY" ] && return 0
  [[ ",$ONLY," == *",$1,"* ]]
}
if [ -n "$ONLY" ]; then
  for n in ${ONLY//,/ }; do
    found=0
    for s in "${SUITES[@]}"; do [ "${s%%|*}" = "$n" ] && found=1; done
    [ $found = 1 ] || { echo "test.sh: no suite named $n (see --list)" >&2; exit 2; }
  done
fi

LOGS=$(mktemp -d /tmp/swiftlet-test-logs.XXXXXX)
BIN=$PWD/bin
export BIN
ROWS=()       # "phase|seconds|passed|failed|status"
START=$(date +%s)

# counts LOG: "passed failed" from a suite's summary line or swift test's run line
counts() {
  local line total fails
  line=$(grep -E "^[0-9]+ passed, [0-9]+ failed" "$1" | tail -1)
  if [ -n "$line" ]; then
    sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line"
    return
  fi
  line=$(grep -aE "Test run with [0-9]+ tests?" "$1" | tail -1)
  if [ -n "$line" ]; then
    total=$(sed -E 's/.*Test run with ([0-9]+) tests?.*/\1/' <<<"$line")
    # one "✘ Test NAME failed after" line per failed test (issues are listed apart)
    fails=$(grep -aE "^✘ Test " "$1" | grep -avE "^✘ Test run " | grep -acE "failed after")
    echo "$((total - fails)) $fails"
    return
  fi
  echo "- -"
}

table() {
  local total=$(( $(date +%s) - START )) r p s pa fa st
  echo
  echo "=== where the time went ==="
  printf '%-14s %8s %8s %8s  %s\n' phase seconds passed failed status
  for r in "${ROWS[@]}"; do
    IFS='|' read -r p s pa fa st <<<"$r"
    printf '%-14s %8s %8s %8s  %s\n' "$p" "$s" "$pa" "$fa" "$st"
  done
  printf '%-14s %8s\n' total "$total"
  echo "(logs: $LOGS)"
}

status=0
interrupted() { echo "test.sh: interrupted" >&2; table; exit 130; }
trap interrupted INT TERM

phase() {  # phase NAME COMMAND...: runs a setup phase in the foreground, records its row
  local name=$1 t0 rc; shift
  echo "=== $name ==="
  t0=$(date +%s)
  "$@"; rc=$?
  ROWS+=("$name|$(( $(date +%s) - t0 ))|-|-|$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")
  [ $rc = 0 ] || status=1
  return $rc
}

phase packages scripts/install-deps.sh --bench --vm --images || { table; exit 1; }
if [ $BUILD = 1 ]; then
  phase build scripts/build.sh --with-tests || { table; exit 1; }
else
  [ -x bin/swiftlet ] && [ -x bin/swiftlet-monitor ] || { echo "test.sh: --no-build but bin/ has no binaries (run scripts/build.sh)" >&2; exit 1; }
fi

# One lane: its suites in order; each writes LOGS/NAME.log and LOGS/NAME.row.
run_lane() {
  local lane=$1 s n l c t0 rc
  for s in "${SUITES[@]}"; do
    IFS='|' read -r n l c <<<"$s"
    [ "$l" = "$lane" ] && selected "$n" || continue
    t0=$(date +%s)
    eval "$c" >"$LOGS/$n.log" 2>&1 </dev/null; rc=$?
    read -r pa fa < <(counts "$LOGS/$n.log")
    echo "$n|$(( $(date +%s) - t0 ))|$pa|$fa|$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")" >"$LOGS/$n.row"
    # the whole log at once, never interleaved with another suite's
    {
      flock 9
      echo "=== $n ($([ $rc = 0 ] && echo passed || echo FAILED), $(( $(date +%s) - t0 )) s) ==="
      cat "$LOGS/$n.log"
    } 9>"$LOGS/.print.lock"
  done
}

lanes=()
for s in "${SUITES[@]}"; do
  IFS='|' read -r n l c <<<"$s"
  selected "$n" || continue
  [[ " ${lanes[*]} " == *" $l "* ]] || lanes+=("$l")
done
echo "=== suites: lanes ${lanes[*]} $([ $SERIAL = 1 ] && echo '(serial)' || echo '(side by side)') ==="
if [ $SERIAL = 1 ]; then
  for l in "${lanes[@]}"; do run_lane "$l"; done
else
  pids=()
  for l in "${lanes[@]}"; do run_lane "$l" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
fi

for s in "${SUITES[@]}"; do
  n=${s%%|*}
  selected "$n" || continue
  if [ -f "$LOGS/$n.row" ]; then
    row=$(cat "$LOGS/$n.row"); ROWS+=("$row")
    [[ "$row" == *"|ok" ]] || status=1
  else
    ROWS+=("$n|-|-|-|did not run"); status=1
  fi
done
# The runtime's shared parent of OCI containers' cgroups (swiftlet/<id>), made by the suites that
# run OCI containers side by side: removed once every lane is done (rmdir: only when empty).
cg2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[ -n "$cg2" ] && [ -d "$cg2/swiftlet" ] && rmdir "$cg2/swiftlet" 2>/dev/null
table
exit $status

#!/usr/bin/env bash
# Builds the binaries into ./bin — one optimized compile of everything, also what the unit tests run on:
#   bin/swiftlet          fully static Swift executable (no dynamic loading: ~0.8 ms to start
#                         instead of ~3.4 ms, which matters on the container hot path)
#   bin/swiftlet-monitor  static C executable (one per container, ~0.9 MiB RSS), built with cc
#                         from the same sources as the SwiftPM target of that name
#
#   scripts/build.sh [--with-tests]   also build the unit tests (same configuration, same objects)
#   scripts/build.sh --unit-tests     run the unit tests of the last --with-tests build
#   scripts/build.sh --print-test-bundle   the path of that build's unit-test executable
#
# How: `swift build -c release -Xswiftc -enable-testing` compiles every module once; the unit tests
# link against those objects, and bin/swiftlet is the same objects linked again with
# `-static-executable` against the toolchain's static stdlib and Foundation (the link SwiftPM planned
# for the product, read from its build manifest, plus the static flags). A static SwiftPM build
# would compile everything a second time (its resource directory differs, and Swift Testing has no
# static module, so the tests cannot be built that way).
#
# The build directory is a cache outside the clone when run as root, keyed by Package.swift and the
# toolchain (/var/cache/swiftlet/build-KEY; SWIFTLET_BUILD_DIR overrides): a new clone on the same
# machine rebuilds only its own modules. A machine without the cache builds from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH

WITH_TESTS=0
case "${1:-}" in
  --with-tests) WITH_TESTS=1 ;;
  --unit-tests|--print-test-bundle) ;;
  "") ;;
  *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
esac

if [ -n "${SWIFTLET_BUILD_DIR:-}" ]; then
  SCRATCH=$SWIFTLET_BUILD_DIR
elif [ "$(id -u)" = 0 ]; then
  key=$( { cat Package.swift; swift --version 2>&1; } | sha256sum | cut -c1-16)
  SCRATCH=/var/cache/swiftlet/build-$key
else
  SCRATCH=$PWD/.build-release
fi
if [ "${1:-}" = --print-test-bundle ]; then echo "$SCRATCH/release/swiftletPackageTests.xctest"; exit 0; fi
mkdir -p "$SCRATCH"
FLAGS=(-c release -Xswiftc -enable-testing --scratch-path "$SCRATCH")

# one build at a time per build directory (two clones may share it)
exec 9>"$SCRATCH.lock"
flock 9

if [ "${1:-}" = --unit-tests ]; then
  log=$(mktemp /tmp/swiftlet-unit.XXXXXX.log)
  rc=0; swift test "${FLAGS[@]}" --skip-build >"$log" 2>&1 || rc=$?
  # the outcome of each test and the totals (the full log stays in $log)
  grep -aE "^(✔|✘|◇ Test run|✔ Test run|✘ Test run)|error:" "$log" | grep -avE "^◇ Test .* started" || true
  echo "(unit test log: $log)"
  if [ $rc != 0 ] || ! grep -qaE "Test run with [0-9]+ tests? .*passed" "$log"; then echo "unit tests FAILED"; exit 1; fi
  exit 0
fi

t0=$(date +%s)
build=(swift build "${FLAGS[@]}")
[ $WITH_TESTS = 1 ] && build+=(--build-tests)
"${build[@]}" 2> >(grep -v "use of \`mktemp' is dangerous" >&2)
echo "compiled in $(( $(date +%s) - t0 )) s ($SCRATCH)"

# The product's link, as SwiftPM planned it, made static.
mapfile -d '' -t args < <(python3 - "$SCRATCH" <<'PY'
import json, re, sys
scratch = sys.argv[1]
text = open(f"{scratch}/release.yaml").read()
for m in re.finditer(r'\n  "[^"\n]+":\n    tool: [^\n]+\n((?:    [^\n]*\n)+)', text):
    block = m.group(1)
    d = re.search(r'description: "Linking ([^"]*)"', block)
    if d and d.group(1).endswith("/swiftlet"):
        args = json.loads(re.search(r'args: (\[.*\])', block).group(1))
        print("\0".join(args), end="")
        break
else:
    sys.exit("build.sh: no link step for the swiftlet product in " + scratch + "/release.yaml")
PY
)
[ ${#args[@]} -gt 0 ] || { echo "build.sh: could not read the product's link step" >&2; exit 1; }
out=()
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[i]}
  if [ "$a" = -o ]; then out+=(-o bin/swiftlet.tmp); i=$((i + 1)); continue; fi
  # no rpath in a static executable
  if [ "$a" = -Xlinker ] && [ "${args[i+1]:-}" = '-rpath=$ORIGIN' ]; then i=$((i + 1)); continue; fi
  out+=("$a")
done
# libarchive's static archive needs its compression libraries named after it; static Foundation's
# archives need each other (a group: their order does not matter).
for l in zstd lz4 lzma bz2 z nettle acl xml2; do out+=(-Xlinker "-l$l"); done
out+=(-Xlinker --start-group)
for l in Foundation FoundationEssentials FoundationInternationalization _FoundationCollections _FoundationCShims \
         _FoundationICU CoreFoundation swiftDispatch dispatch BlocksRuntime swiftSynchronization stdc++ m; do
  out+=(-Xlinker "-l$l")
done
out+=(-Xlinker --end-group -static-executable)
mkdir -p bin
"${out[@]}" 2> >(grep -v "statically linked applications requires at runtime\|use of \`mktemp' is dangerous" >&2)
# what users run is stripped; the symbols and debug info stay beside it (gdb finds them by the link)
objcopy --only-keep-debug bin/swiftlet.tmp bin/swiftlet.debug
objcopy --strip-all --add-gnu-debuglink=bin/swiftlet.debug bin/swiftlet.tmp
mv bin/swiftlet.tmp bin/swiftlet
cc -O2 -Wall -static -o bin/swiftlet-monitor.tmp CShims/monitor/main.c CShims/src/plan.c CShims/src/child.c \
  CShims/src/helpers.c CShims/src/netlink.c CShims/src/devfilter.c -ICShims/include -lcap -lseccomp
mv bin/swiftlet-monitor.tmp bin/swiftlet-monitor
echo "built: $(pwd)/bin/swiftlet $(pwd)/bin/swiftlet-monitor ($(( $(date +%s) - t0 )) s)"

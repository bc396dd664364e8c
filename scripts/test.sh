#!/usr/bin/env bash
# The test command: installs what is needed, builds, runs the unit tests (`swift test`) and the
# root integration suites. Run as root; in CI (CI=true) a missing root is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
scripts/install-deps.sh --bench --vm --images
status=0

echo "=== unit tests (swift test) ==="
swift test 2>&1 | tee /tmp/swiftlet-unit.log | grep -E "^(✔|✘|◇ Test run|✔ Test run|✘ Test run)|error:" | grep -vE "^◇ Test .* started" || true
grep -qE "Test run with [0-9]+ tests? .*passed" /tmp/swiftlet-unit.log || { echo "unit tests FAILED"; status=1; }

echo "=== build release binaries ==="
scripts/build.sh

# The master suite shares nothing with the root suites (127.0.0.1:6443 and its own temp dir):
# it runs beside them and its output is printed when it ends.
scripts/test-master.sh bin >/tmp/swiftlet-master-test.log 2>&1 &
master_suite=$!

echo "=== root integration: runtime (this host: hybrid cgroups) ==="
scripts/test-runtime.sh bin || status=1

echo "=== root integration: images (local docker-registry: plain, basic auth, token auth) ==="
scripts/test-images.sh bin || status=1

echo "=== root integration: node agent, static pods (in a test node network namespace) ==="
scripts/test-agent.sh bin || status=1

echo "=== root integration: pod spec parity (init containers, volumes, env, securityContext) ==="
scripts/test-podspec.sh bin || status=1

echo "=== root integration: pod networking (in test network namespaces) ==="
scripts/test-network.sh bin || status=1

echo "=== root integration: hostile containers and bad moments (escapes, fds, kill -9, SIGTERM, bombs) ==="
scripts/test-hostile.sh bin || status=1

echo "=== root integration: real Debian-built images (nginx, PostgreSQL) as pods ==="
scripts/test-real-images.sh bin || status=1

echo "=== master: swiftlet master driven by kubectl 1.32, kubectl 1.20 and the Python client ==="
wait "$master_suite" || status=1
cat /tmp/swiftlet-master-test.log

# Real cgroup v2 limits need a pure v2 host: a throwaway QEMU guest (scripts/vm-run). It never
# skips: a guest that cannot boot fails the run with the console tail.
echo "=== VM guest (pure cgroup v2): cgroup limits and QoS tree ==="
scripts/vm-run --timing --timeout 1200 -- "$PWD/scripts/test-cgroup-v2.sh" "$PWD/bin" || status=1
echo "=== VM guest (pure cgroup v2): runtime suite ==="
scripts/vm-run --timing --timeout 1800 -- "$PWD/scripts/test-runtime.sh" "$PWD/bin" || status=1

exit $status

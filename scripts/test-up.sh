#!/usr/bin/env bash
# Root suite: the README's first command as written — scripts/quickstart.sh (here with the binaries
# already built): `swiftlet up` with its defaults but the data dir, kubectl apply of
# examples/web.yaml, the pod Running on the node with its IP, its page fetched from that IP; then
# that the quick start left nothing behind.
#   scripts/test-up.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the quick-start suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
T=$(mktemp -d /tmp/swiftlet-up-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
before=$(ls -d /var/lib/swiftlet /run/swiftlet/agent /run/swiftlet/agent.sock /var/log/pods /etc/swiftlet 2>/dev/null | xargs)
out=$(QUICKSTART_BIN="$BIN" QUICKSTART_DIR="$T/qs" "$here/quickstart.sh" 2>&1); rc=$?
echo "$out" | sed 's/^/  | /'
check_eq "quickstart.sh exits 0" "0" "$rc"
check_match "kubectl get nodes: the node Ready, swiftlet runtime" " Ready +<none> .*swiftlet://" "$out"
check_match "kubectl apply -f examples/web.yaml" "pod/web created" "$out"
check_match "kubectl get pods -o wide: Running, a pod IP, bound to the node by up" "web +1/1 +Running +0 +[0-9]+s +10\.88\.0\.[0-9]+ " "$out"
check_match "the page answers on the pod's IP" "<h1>hello from swiftlet</h1>" "$out"
check_eq "kubectl exec reaches the container through the master and the node's kubelet API" "web app" \
  "$(echo "$out" | grep -A2 -- "--- kubectl exec web" | tail -2 | xargs)"
check_eq "nothing left: the default directories as before" "$before" "$(ls -d /var/lib/swiftlet /run/swiftlet/agent /run/swiftlet/agent.sock /var/log/pods /etc/swiftlet 2>/dev/null | xargs)"
check_eq "nothing left: the data dir, the netns, processes" "0 0 0" \
  "$(ls -d "$T/qs" 2>/dev/null | wc -l) $(ip netns list | grep -c '^swiftlet-demo') $(pgrep -fc "swiftlet up --data-dir $T/qs")"
summary

#!/usr/bin/env bash
# Quick start: installs dependencies, builds Swiftlet, starts a one-machine cluster with
# `swiftlet up` (the master and a node agent joined to it, every setting at its default but the
# data dir), applies examples/web.yaml with kubectl, shows `kubectl get pods -o wide`, fetches
# the page from the pod's IP and runs a command in the pod with `kubectl exec`. The sample's image
# is built from Debian's busybox-static and imported into the node's image store
# (/var/lib/swiftlet/images), so no registry is needed.
#
# The "machine" is a network namespace (swiftlet-demo), so the demo never touches this machine's own
# interfaces or firewall. At the end it deletes the pod, stops `up` and removes what it created
# (the data dir, and the agent's default directories if they did not exist before);
# QUICKSTART_KEEP=1 leaves the cluster running. QUICKSTART_BIN=DIR uses binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
. scripts/lib.sh
if [ -n "${QUICKSTART_BIN:-}" ]; then
  BIN=$(cd "$QUICKSTART_BIN" && pwd)
else
  scripts/install-deps.sh
  scripts/build.sh
  BIN=$PWD/bin
fi
S=$BIN/swiftlet
dir=${QUICKSTART_DIR:-/tmp/swiftlet-quickstart}
NS=swiftlet-demo
created=()   # default directories this run created (removed again by stop)
run_parent=false; [ -e /run/swiftlet ] || run_parent=true
for d in /var/lib/swiftlet /run/swiftlet/agent /run/swiftlet/agent.sock /var/log/pods /etc/swiftlet; do [ -e "$d" ] || created+=("$d"); done
k() { nsenter --net=/run/netns/$NS kubectl --kubeconfig "$dir/admin.kubeconfig" "$@"; }
stop() {
  k delete -f examples/web.yaml --ignore-not-found --timeout=60s >/dev/null 2>&1 || true
  [ -f "$dir.pid" ] && kill "$(cat "$dir.pid")" 2>/dev/null && sleep 0.3
  rm -f "$dir.pid"
  ip netns del "$NS" 2>/dev/null || true
  remove_cgroups swiftlet/kubepods
  cg2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
  [ -n "$cg2" ] && { rmdir "$cg2/swiftlet" 2>/dev/null || true; }   # the agent's base, when empty
  for d in "${created[@]}"; do unmount_under "$d"; rm -rf "$d"; done
  $run_parent && { rmdir /run/swiftlet 2>/dev/null || true; }   # only when empty: other runs may cache there
  rm -rf "$dir"
}
[ -f "$dir.pid" ] && stop
rm -rf "$dir"
python3 scripts/make-images.py "$dir.imgs" >/dev/null
"$S" images import --name swiftlet.local/httpd:demo "$dir.imgs/httpd"
rm -rf "$dir.imgs"
args=(up --data-dir "$dir")
# requests/limits need cgroup v2 cpu/memory/pids; run unenforced where they are missing
"$S" check >/dev/null 2>&1 || args+=(--allow-unenforced-resources)
ip netns add "$NS" && ip -n "$NS" link set lo up
mkdir -p "$dir"
rm -f "$dir.log"   # a previous run's "joined" must not be found
nsenter --net=/run/netns/$NS "$S" "${args[@]}" >"$dir.log" 2>&1 &
echo $! > "$dir.pid"
[ "${QUICKSTART_KEEP:-}" = 1 ] || trap stop EXIT
echo "--- swiftlet ${args[*]} (log: $dir.log)"
for _ in $(seq 100); do grep -q "joined" "$dir.log" && break; sleep 0.1; done
for _ in $(seq 100); do k get nodes 2>/dev/null | grep -q " Ready " && break; sleep 0.1; done
echo "--- kubectl get nodes"
k get nodes -o wide
echo "--- kubectl apply -f examples/web.yaml"
k apply -f examples/web.yaml
k wait --for=condition=Ready pod/web --timeout=60s >/dev/null
echo "--- kubectl get pods -o wide"
k get pods -o wide
ip=$(k get pod web -o jsonpath='{.status.podIP}')
echo "--- curl http://$ip:8080/ (from the node)"
for _ in $(seq 20); do nsenter --net=/run/netns/$NS curl -s --max-time 2 "http://$ip:8080/" && break; sleep 0.2; done
echo "--- kubectl exec web -- sh -c 'echo \$POD_NAME; id -un'"
k exec web -- sh -c 'echo $POD_NAME; id -un'
if [ "${QUICKSTART_KEEP:-}" = 1 ]; then
  echo "--- left running (pid $(cat "$dir.pid")): nsenter --net=/run/netns/$NS kubectl --kubeconfig $dir/admin.kubeconfig get pods"
else
  echo "--- deleting the pod, stopping the cluster"
fi

#!/usr/bin/env bash
# Pods through the API on one node, against the same pods as static manifests on the same node kind,
# in one run. A master and an agent joined to it (node certificate) in a throwaway node network
# namespace; the official Python client creates PODS pods bound to the node (busybox, warm image)
# and watches them:
#   create request → Running seen by a watch, per pod: p50, p99; time until all run;
#   the agent's RSS and CPU with PODS pods; API writes per second of the idle node (60 s window,
#   from the master's request log) — then the static-pod path: the same pods as manifest files,
#   file write → Running seen on the agent's socket: p50, p99. Ratios API / static.
#   scripts/bench-cluster.sh [PODS] [BIN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
N=${1:-100}
BIN=$(cd "${2:-$here/../bin}" && pwd)
S=$BIN/swiftlet
[ "$(id -u)" = 0 ] || { echo "bench-cluster: needs root" >&2; exit 1; }
NODE=swl-benchc-$$
T=$(mktemp -d /tmp/swiftlet-bench-cluster.XXXXXX)
M=$T/manifests; mkdir -p "$M"
SOCK=$T/run/agent.sock
AGENT= MASTER=
kube_clients "$T/clients" >/dev/null || exit 1
cleanup() {
  rm -f "$M"/*
  [ -n "$MASTER" ] && nsenter --net=/run/netns/$NODE kubectl --kubeconfig "$T/master/admin.kubeconfig" delete pods --all --wait=true --timeout=120s >/dev/null 2>&1 || true
  if [ -n "$AGENT" ]; then
    for _ in $(seq 600); do [ "$(ls "$T/root/pods" 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.1; done
    kill "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true
  fi
  [ -n "$MASTER" ] && { kill "$MASTER" 2>/dev/null || true; wait "$MASTER" 2>/dev/null || true; }
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  ip netns del "$NODE" 2>/dev/null || true
  remove_cgroups "swiftlet-benchc-$$"
  rm -rf "$T"
}
trap cleanup EXIT
python3 "$here/make-images.py" "$T/imgs" >/dev/null
"$S" images import --store "$T/root/images" --name busybox:bench "$T/imgs/busybox" >/dev/null
ip netns add "$NODE"; ip -n "$NODE" link set lo up
nsenter --net=/run/netns/$NODE "$S" master --data-dir "$T/master" --secure-port 6743 --verbose >"$T/master.log" 2>&1 &
MASTER=$!
for _ in $(seq 300); do grep -q "master ready" "$T/master.log" && break; sleep 0.1; done
"$S" master kubeconfig --pki-dir "$T/master/pki" --user system:node:bench --group system:nodes --server https://127.0.0.1:6743 --output "$T/node.kc"
nsenter --net=/run/netns/$NODE "$S" agent --node-name bench --manifests "$M" --root-dir "$T/root" --run-dir "$T/run" \
  --pod-logs-dir "$T/logs" --healthz-port 0 --allow-unenforced-resources --pod-subnet 10.92.0.0/23 --bridge swl-benchc0 \
  --log-level warning --cgroup-root "swiftlet-benchc-$$" --kubeconfig "$T/node.kc" >"$T/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 300); do [ -S "$SOCK" ] && break; sleep 0.05; done
sleep 1

# --- through the API: create → Running seen by a watch ---------------------------------------------------
cat >"$T/api.py" <<'PY'
import sys, threading, time
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
n = int(sys.argv[2])
v1 = client.CoreV1Api()
sent, running = {}, {}
ready = threading.Event()
done = threading.Event()
def watcher():
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, "default", timeout_seconds=300, _request_timeout=310):
        if not ready.is_set():
            ready.set()
        p = ev["object"]
        if p.status and p.status.phase == "Running" and p.metadata.name not in running:
            running[p.metadata.name] = time.monotonic()
            if len(running) == n:
                done.set(); w.stop(); return
t = threading.Thread(target=watcher, daemon=True); t.start()
# the watch is open once it delivered its first event (the bookmark-free start: a dummy pod)
time.sleep(1)
start = time.monotonic()
for i in range(n):
    name = f"api-{i}"
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "bench", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox:bench", "command": ["sleep", "3600"]}]}}
    sent[name] = time.monotonic()
    v1.create_namespaced_pod("default", body)
done.wait(300)
lat = sorted(running[k] - sent[k] for k in running)
def pct(p): return lat[min(len(lat) - 1, int(round(p / 100 * len(lat) + 0.5)) - 1)]
print(f"{len(lat)} {pct(50)*1000:.0f} {pct(99)*1000:.0f} {(max(running.values()) - start):.2f}")
PY
read -r got p50 p99 all < <(nsenter --net=/run/netns/$NODE /opt/swiftlet-py/bin/python "$T/api.py" "$T/master/admin.kubeconfig" "$N")
echo "api: $got pods, p50 $p50 ms, p99 $p99 ms, all after $all s" >&2
sleep 5
rss_kib=$(awk '/^VmRSS:/ {print $2}' /proc/$AGENT/status)
cpu0=$(awk '{print $14 + $15}' /proc/$AGENT/stat); sleep 10; cpu1=$(awk '{print $14 + $15}' /proc/$AGENT/stat)
cpu_pct=$(python3 -c "print(f'{($cpu1 - $cpu0) / $(getconf CLK_TCK) / 10 * 100:.1f}')")
w0=$(grep -cE '(POST|PUT|PATCH|DELETE) /' "$T/master.log" || true)
sleep 60
w1=$(grep -cE '(POST|PUT|PATCH|DELETE) /' "$T/master.log" || true)
writes=$((w1 - w0))
nsenter --net=/run/netns/$NODE kubectl --kubeconfig "$T/master/admin.kubeconfig" delete pods --all --wait=true --timeout=180s >/dev/null
for _ in $(seq 600); do [ "$(ls "$T/root/pods" 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.1; done

# --- the peer: the same pods as static manifests on this agent ----------------------------------------
declare -A wrote
for i in $(seq 0 $((N - 1))); do
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: st-%d}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: c, image: "busybox:bench", command: [sleep, "3600"]}]\n' "$i" >"$T/st-$i.yaml"
done
t0=$(date +%s%N)
for i in $(seq 0 $((N - 1))); do mv "$T/st-$i.yaml" "$M/"; wrote[$i]=$(date +%s%N); done
declare -A seen=()
count=0
for _ in $(seq 3000); do
  now=$(date +%s%N)
  while read -r name; do
    i=${name#st-}; i=${i%-bench}
    if [ -z "${seen[$i]:-}" ]; then seen[$i]=$now; count=$((count + 1)); fi
  done < <("$S" ps --socket "$SOCK" 2>/dev/null | awk '$4 == "Running" && $2 ~ /^st-/ {print $2}')
  [ "$count" -ge "$N" ] && break
  sleep 0.05
done
st=$(for i in "${!seen[@]}"; do echo $(( (seen[$i] - wrote[$i]) / 1000000 )); done | sort -n)
sp50=$(echo "$st" | awk -v n="$count" 'NR == int(n * 0.5 + 0.5) {print}')
sp99=$(echo "$st" | awk -v n="$count" 'NR == int(n * 0.99 + 0.5) {print}')
rm -f "$M"/*

echo "bench-cluster: $N pods on one node (busybox, warm image), master + agent in a node namespace"
printf '%-34s %-22s %-22s %s\n' "" "through the API" "static manifests" "API / static"
printf '%-34s %-22s %-22s %s\n' "create → Running p50" "${p50} ms" "${sp50} ms" "$(python3 -c "print(f'{$p50 / max($sp50, 1):.2f}')")"
printf '%-34s %-22s %-22s %s\n' "create → Running p99" "${p99} ms" "${sp99} ms" "$(python3 -c "print(f'{$p99 / max($sp99, 1):.2f}')")"
echo "pods Running (API): $got of $N; all Running after ${all} s"
echo "agent with $N pods: RSS $((rss_kib / 1024)) MiB, CPU ${cpu_pct} % (10 s at steady state)"
echo "API writes by the idle node in 60 s: $writes ($(python3 -c "print(f'{$writes / 6:.1f}')") per 10 s)"
echo "(static: the manifest file written → Running on the agent's socket, polled every 50 ms)"

#!/usr/bin/env bash
# Quick start: installs dependencies, builds Swiftlet, and runs the node agent with a sample
# static-pod manifests directory: an httpd pod (image built from Debian's busybox-static and
# imported into the agent's image store), reachable from the node at its pod IP.
#
# By default the agent's "node" is a network namespace (swiftlet-demo), so the demo never touches
# this machine's own interfaces or firewall; `--host` runs it on the host network as a real node
# would (it then creates the swiftlet0 bridge and an nftables table). The demo prints what it
# sees and stops everything again; QUICKSTART_KEEP=1 leaves the agent running.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
. scripts/lib.sh
scripts/install-deps.sh
scripts/build.sh
S=$PWD/bin/swiftlet
dir=${QUICKSTART_DIR:-/tmp/swiftlet-quickstart}
host=false; [ "${1:-}" = "--host" ] && host=true
NS=swiftlet-demo
stop() {
  rm -f "$dir/manifests/"*.yaml
  for _ in $(seq 100); do [ -z "$(ls "$dir/root/pods" 2>/dev/null)" ] && break; sleep 0.1; done
  [ -f "$dir/agent.pid" ] && kill "$(cat "$dir/agent.pid")" 2>/dev/null || true
  sleep 0.2
  $host || ip netns del "$NS" 2>/dev/null || true
  remove_cgroups swiftlet-quickstart
}
[ -f "$dir/agent.pid" ] && stop
rm -rf "$dir" && mkdir -p "$dir/manifests"
python3 scripts/make-images.py "$dir/imgs" >/dev/null
"$S" images import --store "$dir/root/images" --name swiftlet.local/httpd:demo "$dir/imgs/httpd"
cat > "$dir/manifests/web.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: httpd
    image: swiftlet.local/httpd:demo      # ENTRYPOINT httpd -f -p 8080 -h /www, USER app
    ports:
    - containerPort: 8080
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
EOF
args=(agent --node-name demo --manifests "$dir/manifests" --root-dir "$dir/root" --run-dir "$dir/run"
      --pod-logs-dir "$dir/logs" --healthz-port 0 --socket "$dir/agent.sock" --cgroup-root swiftlet-quickstart)
# requests/limits need cgroup v2 cpu/memory/pids; run unenforced where they are missing
"$S" check >/dev/null 2>&1 || args+=(--allow-unenforced-resources)
if $host; then
  "$S" "${args[@]}" >"$dir/agent.log" 2>&1 &
else
  ip netns add "$NS" && ip -n "$NS" link set lo up
  nsenter --net=/run/netns/$NS "$S" "${args[@]}" >"$dir/agent.log" 2>&1 &
fi
echo $! > "$dir/agent.pid"
[ "${QUICKSTART_KEEP:-}" = 1 ] || trap stop EXIT
echo "--- agent started (log: $dir/agent.log); waiting for the pod"
for _ in $(seq 100); do
  ip=$("$S" inspect --socket "$dir/agent.sock" web-demo 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["status"]; print(s.get("podIP","") if all("running" in c["state"] for c in s["containerStatuses"]) else "")' 2>/dev/null || true)
  [ -n "$ip" ] && break
  sleep 0.1
done
"$S" ps -a --socket "$dir/agent.sock"
on_node() { if $host; then "$@"; else nsenter --net=/run/netns/$NS "$@"; fi; }
echo "--- curl http://$ip:8080/ from the node"
for _ in $(seq 20); do on_node curl -s --max-time 2 "http://$ip:8080/" && break; sleep 0.2; done
echo "--- try: $S ps --socket $dir/agent.sock; $S exec --socket $dir/agent.sock web-demo -- id"
"$S" exec --socket "$dir/agent.sock" web-demo -- sh -c 'echo "inside: $(id), cwd $(pwd), hostname $(hostname)"'
if [ "${QUICKSTART_KEEP:-}" = 1 ]; then
  echo "--- agent left running (pid $(cat "$dir/agent.pid")); edit $dir/manifests to change pods"
else
  echo "--- stopping the pod and the agent"
fi

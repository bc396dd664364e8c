#!/usr/bin/env bash
# Root suite: one master and three agents, as four machines on a LAN. A "lan" network namespace
# holds a bridge and the master (10.77.0.1); each node is its own namespace with a veth on that
# bridge (10.77.0.11-13). The nodes join with a bootstrap token only (TLS bootstrap: their client
# certificates and kubelet serving certificates come from the master), and everything else is
# the defaults. kubectl (1.32 and 1.20) sees three Ready nodes; a pod bound to each runs there
# and nowhere else; logs and exec reach each node's kubelet API across the LAN; a node's agent
# killed and back keeps its pods; the master away for two minutes changes nothing on the nodes;
# `swiftlet scheduler` places pods with no node where they fit (or says why nowhere).
#   scripts/test-multinode.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the multi-node suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
TOP=$(mktemp -d /tmp/swiftlet-multinode.XXXXXX)
LAN=swl-lan-$$
PORT=6743
MASTER_PID=
SCHED_PID=
declare -A PIDS
node_ns() { echo "swl-mn$1-$$"; }
cleanup() {
  local i
  for i in 1 2 3; do
    T=$TOP/n$i NODE=$(node_ns $i) M=$TOP/n$i/manifests AGENT_PID=${PIDS[$i]:-}
    [ -d "$T" ] && agent_teardown "swiftlet-mn$i-$$" "$T"/run/agent/containers
  done
  [ -n "$SCHED_PID" ] && kill "$SCHED_PID" 2>/dev/null
  [ -n "$MASTER_PID" ] && kill "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null
  ip netns del "$LAN" 2>/dev/null
  rm -rf "$TOP"
}
trap cleanup EXIT
kube_clients "$TOP" || exit 1

# the LAN: a bridge in its own namespace, the master on it
ip netns add "$LAN"
ip -n "$LAN" link set lo up
ip -n "$LAN" link add br0 type bridge
ip -n "$LAN" addr add 10.77.0.1/24 dev br0
ip -n "$LAN" link set br0 up
python3 "$here/make-images.py" "$TOP/imgs" >/dev/null || { echo "image build failed" >&2; exit 1; }
for i in 1 2 3; do
  ns=$(node_ns $i)
  ip netns add "$ns" && ip -n "$ns" link set lo up
  ip link add "swlmn$i-$$" netns "$LAN" type veth peer name eth0 netns "$ns"
  ip -n "$LAN" link set "swlmn$i-$$" master br0 up
  ip -n "$ns" addr add 10.77.0.1$i/24 dev eth0
  ip -n "$ns" link set eth0 up
  mkdir -p "$TOP/n$i/manifests"
  "$S" images import --store "$TOP/n$i/root/images" --name busybox:test "$TOP/imgs/busybox" >/dev/null
done
in_lan() { nsenter --net=/run/netns/$LAN "$@"; }
k() { in_lan kubectl --kubeconfig "$TOP/master/admin.kubeconfig" "$@"; }
k120() { in_lan "$K120" --kubeconfig "$TOP/master/admin.kubeconfig" "$@"; }
nsenter --net=/run/netns/$LAN "$S" master --data-dir "$TOP/master" --bind-address 10.77.0.1 --secure-port $PORT >"$TOP/master.log" 2>&1 &   # not in_lan: $! must be the master
MASTER_PID=$!
wait_for 30 grep -q "master ready" "$TOP/master.log" || { not_ok "master starts" "$(tail -5 "$TOP/master.log")"; summary; exit 1; }
in_lan "$S" master bootstrap-token --kubeconfig "$TOP/master/admin.kubeconfig" --output "$TOP/bootstrap.kc" 2>/dev/null
check_match "a bootstrap kubeconfig for the nodes, naming the master on the LAN" "server: https://10.77.0.1:$PORT" "$(cat "$TOP/bootstrap.kc")"

start_node() {  # start_node I: node I's agent with the defaults, joining with the bootstrap token
  local i=$1 d=$TOP/n$1
  nsenter --net=/run/netns/$(node_ns $i) "$S" agent --node-name node$i --manifests "$d/manifests" --root-dir "$d/root" \
    --run-dir "$d/run" --pod-logs-dir "$d/logs" --healthz-port 0 --allow-unenforced-resources --cgroup-root "swiftlet-mn$i-$$" \
    --pod-subnet 10.93.$i.0/24 --bootstrap-kubeconfig "$TOP/bootstrap.kc" --kubeconfig "$d/kubelet.kubeconfig" >>"$d/agent.log" 2>&1 &
  PIDS[$i]=$!
}
for i in 1 2 3; do start_node $i; done
ready_count() { k get nodes --no-headers 2>/dev/null | grep -c " Ready "; }
wait_for 60 sh -c "[ \"\$(nsenter --net=/run/netns/$LAN kubectl --kubeconfig $TOP/master/admin.kubeconfig get nodes --no-headers 2>/dev/null | grep -c ' Ready ')\" = 3 ]"
check_eq "three nodes joined by bootstrap token, Ready, at their LAN addresses" "node1 10.77.0.11 True node2 10.77.0.12 True node3 10.77.0.13 True" \
  "$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address} {.status.conditions[?(@.type=="Ready")].status} {end}' 2>&1 | xargs)"
check_match "kubectl 1.20 sees the three" "^node1 +Ready.*node2 +Ready.*node3 +Ready" "$(k120 get nodes --no-headers 2>&1 | tr '\n' ' ')"
check_eq "each node's own kubeconfig written (0600) by its bootstrap" "600 600 600" "$(stat -c %a "$TOP"/n{1,2,3}/kubelet.kubeconfig 2>&1 | xargs)"
check_eq "six certificate requests, all approved and issued (3 client, 3 serving)" "3 3 6" \
  "$(k get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.status.conditions[0].type} {.status.certificate}{"\n"}{end}' 2>/dev/null \
     | awk '$1 ~ /client-kubelet/ && $2 == "Approved" && $3 != "" {c++} $1 ~ /kubelet-serving/ && $2 == "Approved" && $3 != "" {s++} END {print c+0, s+0, NR}')"

# a pod bound to each node
for i in 1 2 3; do
  printf '%s\n' 'apiVersion: v1' 'kind: Pod' "metadata: {name: p$i}" 'spec:' "  nodeName: node$i" '  terminationGracePeriodSeconds: 1' \
    "  containers: [{name: c, image: busybox:test, command: [sh, -c, 'echo hello from \$(hostname) on node$i; exec sleep 3600']}]"
  echo ---
done >"$TOP/pods.yaml"
k apply -f "$TOP/pods.yaml" >/dev/null
k wait --for=condition=Ready pod/p1 pod/p2 pod/p3 --timeout=60s >/dev/null 2>&1
check_eq "a pod bound to each node runs there: Running, its node, the node's IP as hostIP, a pod IP from the node's subnet" \
  "p1 Running node1 10.77.0.11 10.93.1 p2 Running node2 10.77.0.12 10.93.2 p3 Running node3 10.77.0.13 10.93.3" \
  "$(k get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.spec.nodeName} {.status.hostIP} {.status.podIP} {end}' 2>&1 | sed -E 's/(10\.93\.[0-9])\.[0-9]+/\1/g' | xargs)"
check_eq "… and only there (each agent runs one pod)" "1 1 1" \
  "$(for i in 1 2 3; do "$S" ps --socket "$TOP/n$i/run/agent.sock" 2>/dev/null | grep -c '^default '; done | xargs)"
check_eq "kubectl logs reaches each node's kubelet API across the LAN" "hello from p1 on node1|hello from p2 on node2|hello from p3 on node3" \
  "$(for i in 1 2 3; do k logs p$i 2>&1; done | paste -sd'|')"
check_eq "kubectl exec on each node (WebSocket)" "node1:p1 node2:p2 node3:p3" \
  "$(for i in 1 2 3; do k exec p$i -- sh -c "echo node$i:\$(hostname)" 2>&1; done | xargs)"
check_eq "kubectl 1.20 exec on each node (SPDY)" "p1 p2 p3" "$(for i in 1 2 3; do k120 exec p$i -- hostname 2>&1; done | xargs)"

# --- the scheduler, as its own process against the master: pods with no node placed where they fit
in_lan "$S" master kubeconfig --pki-dir "$TOP/master/pki" --user system:kube-scheduler --server https://10.77.0.1:$PORT --output "$TOP/scheduler.kc"
nsenter --net=/run/netns/$LAN "$S" scheduler --kubeconfig "$TOP/scheduler.kc" >"$TOP/scheduler.log" 2>&1 &
SCHED_PID=$!
for i in 1 2 3 4 5 6; do
  printf '%s\n' 'apiVersion: v1' 'kind: Pod' "metadata: {name: s$i, labels: {app: spread}}" 'spec:' '  terminationGracePeriodSeconds: 1' \
    "  containers: [{name: c, image: busybox:test, command: [sleep, '3601'], resources: {requests: {cpu: 100m, memory: 16Mi}}}]"
  echo ---
done >"$TOP/spread.yaml"
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: pinned}' 'spec:' '  nodeSelector: {kubernetes.io/hostname: node3}' \
  '  terminationGracePeriodSeconds: 1' "  containers: [{name: c, image: busybox:test, command: [sleep, '3602']}]" '---' \
  'apiVersion: v1' 'kind: Pod' 'metadata: {name: huge}' 'spec:' "  containers: [{name: c, image: busybox:test, resources: {requests: {cpu: '1000'}}}]" >>"$TOP/spread.yaml"
k apply -f "$TOP/spread.yaml" >/dev/null
k wait --for=condition=Ready pod -l app=spread --timeout=60s >/dev/null 2>&1
check_eq "six pods with no node: bound by the scheduler, two per node (least allocated), Running" "node1=2 node2=2 node3=2" \
  "$(k get pods -l app=spread -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.phase}{"\n"}{end}' | awk '$2 == "Running" {c[$1]++} END {for (n in c) printf "%s=%d ", n, c[n]}' | xargs -n1 | sort | xargs)"
k wait --for=condition=Ready pod/pinned --timeout=60s >/dev/null 2>&1
check_eq "nodeSelector kubernetes.io/hostname=node3: on node3" "node3 Running" "$(k get pod pinned -o jsonpath='{.spec.nodeName} {.status.phase}' 2>&1)"
wait_for 20 sh -c "nsenter --net=/run/netns/$LAN kubectl --kubeconfig $TOP/master/admin.kubeconfig get pod huge -o jsonpath='{.status.conditions[0].reason}' | grep -q Unschedulable"
check_eq "a pod that fits nowhere: Pending, PodScheduled=False with kube-scheduler's message" \
  "Pending False Unschedulable 0/3 nodes are available: 3 Insufficient cpu." \
  "$(k get pod huge -o jsonpath='{.status.phase} {.status.conditions[0].status} {.status.conditions[0].reason} {.status.conditions[0].message}' 2>&1)"
check_match "… and a FailedScheduling event from default-scheduler" "^Warning FailedScheduling default-scheduler" \
  "$(k get events --field-selector involvedObject.name=huge,reason=FailedScheduling -o jsonpath='{.items[0].type} {.items[0].reason} {.items[0].source.component}' 2>&1)"
check_match "kubectl describe pod shows the scheduler's Scheduled event" "Normal +Scheduled .*default-scheduler +Successfully assigned default/s1 to node[123]" \
  "$(k describe pod s1 2>&1 | tr '\n' ' ')"
k delete -f "$TOP/spread.yaml" --grace-period=1 --wait=false >/dev/null 2>&1
kill "$SCHED_PID"; wait "$SCHED_PID" 2>/dev/null

# --- the master away for two minutes: pods keep running, a crashing container is still restarted,
# and when the master is back every node is Ready and the status it shows catches up
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: crasher}' 'spec:' '  nodeName: node1' '  terminationGracePeriodSeconds: 1' \
  "  containers: [{name: c, image: busybox:test, command: [sh, -c, 'echo crash; exit 1']}]" >"$TOP/crasher.yaml"
k apply -f "$TOP/crasher.yaml" >/dev/null
restarts() { "$S" ps --socket "$TOP/n1/run/agent.sock" 2>/dev/null | awk '$2 == "crasher" {print $5}'; }
wait_for 30 sh -c "[ \"\$(\"$S\" ps --socket $TOP/n1/run/agent.sock 2>/dev/null | awk '\$2 == \"crasher\" {print \$5}')\" -ge 1 ] 2>/dev/null"
before=$(for i in 1 2 3; do T=$TOP/n$i own_pids 'sleep 3600' | head -1; done | xargs)
r0=$(restarts)
kill "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null; MASTER_PID=
: >"$TOP/master.log"   # emptied now: the restart's wait must not find the first start's "master ready"
sleep 120
check_eq "the master away 2 minutes: every node's pod still running, the same processes" "$before" \
  "$(for i in 1 2 3; do T=$TOP/n$i own_pids 'sleep 3600' | head -1; done | xargs)"
r1=$(restarts)
check_match "… the crashing container restarted meanwhile, by the node alone ($r0 → $r1)" "^[0-9]+ [0-9]+$" "$( [ "${r1:-0}" -gt "${r0:-0}" ] && echo "$r0 $r1")"
nsenter --net=/run/netns/$LAN "$S" master --data-dir "$TOP/master" --bind-address 10.77.0.1 --secure-port $PORT >"$TOP/master.log" 2>&1 &
MASTER_PID=$!
wait_for 30 grep -q "master ready" "$TOP/master.log"
wait_for 15 sh -c "[ \"\$(nsenter --net=/run/netns/$LAN kubectl --kubeconfig $TOP/master/admin.kubeconfig get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge $r1 ] 2>/dev/null"
check_match "the master back: the status it shows caught up within a status period (restarts ≥ $r1)" "^[0-9]+$" \
  "$(n=$(k get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>&1); [ "${n:-0}" -ge "$r1" ] 2>/dev/null && echo "$n")"
check_eq "… the three nodes Ready" "True True True" "$(k get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status} {end}' 2>&1 | xargs)"
k delete -f "$TOP/crasher.yaml" --grace-period=0 --force >/dev/null 2>&1

# node2's agent killed -9 and back: its pod keeps running, nothing restarted, the node Ready again
pid2=$(T=$TOP/n2 own_pids 'sleep 3600' | head -1)
kill -9 "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null
start_node 2
wait_for 20 sh -c "\"$S\" ps --socket $TOP/n2/run/agent.sock >/dev/null 2>&1"
wait_for 30 sh -c "grep -q 'kubelet API serving' $TOP/n2/agent.log"
check_eq "node2's agent killed and back: the same container process, no restart, the node Ready" "$pid2 0 True" \
  "$(T=$TOP/n2 own_pids 'sleep 3600' | head -1) $(k get pod p2 -o jsonpath='{.status.containerStatuses[0].restartCount}') $(k get node node2 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
check_match "… it came back with the kubeconfig its bootstrap wrote (no new client request)" "^3$" \
  "$(k get csr -o jsonpath='{range .items[*]}{.spec.signerName}{"\n"}{end}' | grep -c client-kubelet)"
check_eq "… and serves logs again" "hello from p2 on node2" "$(k logs p2 2>&1)"

# deleting the pods: each node stops its own
check_match "kubectl delete: the three pods gone" "pod \"p3\" deleted" "$(k delete -f "$TOP/pods.yaml" --timeout=60s 2>&1)"
check_eq "… nothing left running on any node" "0 0 0" \
  "$(for i in 1 2 3; do "$S" ps --socket "$TOP/n$i/run/agent.sock" 2>/dev/null | grep -c '^default '; done | xargs)"
summary

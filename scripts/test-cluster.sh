#!/usr/bin/env bash
# Root suite: the agent joining the master (issue 27). The master (HTTPS, the defaults) and the agent
# run in a throwaway "node" network namespace and talk over its loopback; kubectl 1.32 and 1.20 look
# at what the agent registered. Checks: the Node (labels, taints, capacity/allocatable from this
# machine, nodeInfo, addresses, Ready), its Lease (owner, renewals), an idle node's writes, an agent
# restart (same Node, labels reconciled), the Node deleted under the agent, the master away and back,
# and agents that must not get in (another node's certificate, no credentials, a missing kubeconfig).
#   scripts/test-cluster.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the cluster suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
NODE=swl-cluster-$$
T=$(mktemp -d /tmp/swiftlet-cluster.XXXXXX)
M=$T/manifests
mkdir -p "$M"
SOCK=$T/run/agent.sock
AGENT_PID=
MASTER_PID=
PORT=6643
ARGS=(--node-name node1 --manifests "$M" --root-dir "$T/root" --run-dir "$T/run" --pod-logs-dir "$T/logs"
      --healthz-port 0 --allow-unenforced-resources --bridge swl-clu0 --pod-subnet 10.91.0.0/24 --backoff-initial 1 --backoff-max 2
      --cgroup-root "swiftlet-test-$$" --node-ip 192.0.2.9)
cleanup() {
  tmux kill-session -t "swl-$$" 2>/dev/null
  [ -n "$MASTER_PID" ] && kill "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null
  agent_teardown "swiftlet-test-$$" "$T"/run/run/*/containers
}
trap cleanup EXIT
kube_clients "$T/clients" || exit 1
ip netns add "$NODE" && ip -n "$NODE" link set lo up
ip -n "$NODE" addr add 192.0.2.9/32 dev lo   # the node's address (--node-ip): the master reaches its kubelet API there
python3 "$here/make-images.py" "$T/imgs" >/dev/null || { echo "image build failed" >&2; exit 1; }
"$S" images import --store "$T/root/images" --name busybox:test "$T/imgs/busybox" >/dev/null

in_node() { nsenter --net=/run/netns/$NODE "$@"; }
k() { in_node kubectl --kubeconfig "$T/master/admin.kubeconfig" "$@"; }
k120() { in_node "$K120" --kubeconfig "$T/master/admin.kubeconfig" "$@"; }
jp() { k get "$1" "$2" ${3:+-n "$3"} -o jsonpath="$4" 2>&1; }
master_start() {
  nsenter --net=/run/netns/$NODE "$S" master --data-dir "$T/master" --secure-port $PORT --verbose >>"$T/master.log" 2>&1 &   # not in_node: $! must be the master
  MASTER_PID=$!
  wait_for 30 grep -q "master ready" "$T/master.log" && return 0
  echo "master did not start: $(tail -5 "$T/master.log")" >&2; return 1
}
master_stop() { kill "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null; MASTER_PID=; : >"$T/master.log"; }
node_kubeconfig() {  # USER FILE: a client certificate for USER in the group system:nodes
  "$S" master kubeconfig --pki-dir "$T/master/pki" --user "$1" --group system:nodes --server https://127.0.0.1:$PORT --output "$2"
}
ready() { [ "$(jp node node1 "" '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }

master_start || { not_ok "master starts" "$(cat "$T/master.log")"; summary; exit 1; }
node_kubeconfig system:node:node1 "$T/node1.kc"
node_kubeconfig system:node:node2 "$T/node2.kc"

# --- bad input: nothing registered, a clear message ------------------------------------------------
out=$(in_node "$S" agent "${ARGS[@]}" --kubeconfig "$T/missing.kc" 2>&1); rc=$?
check_match "a missing kubeconfig: refused at start, named" "kubeconfig $T/missing.kc: cannot read the file" "$out (exit $rc)"
out=$(in_node "$S" agent "${ARGS[@]}" --kubeconfig "$T/node1.kc" --register-with-taints "gpu:Sometimes" 2>&1); rc=$?
check_match "a malformed taint: refused at start" "taint \"gpu:Sometimes\": expected key\[=value\]:Effect" "$out"
check_eq "… and no Node was registered" "NotFound" "$(k get node node1 -o name 2>&1 | grep -o NotFound)"

# --- the defaults: registration, status, lease ------------------------------------------------------
agent_start --kubeconfig "$T/node1.kc" --node-labels tier=test,zone=a --register-with-taints dedicated=test:NoSchedule || { summary; exit 1; }
wait_for 15 ready && ok "node1 registers and is Ready" || not_ok "node1 Ready" "$(k get node node1 -o yaml 2>&1 | tail -30; tail -5 "$T/agent.log")"
check_match "kubectl 1.32 get nodes" "^node1 +Ready +<none> +[0-9]+s +v1\.32\.0$" "$(k get nodes --no-headers 2>&1)"
check_match "kubectl 1.20 get nodes" "^node1 +Ready +<none> +[0-9]+s +v1\.32\.0$" "$(k120 get nodes --no-headers 2>&1)"
mem_ki=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
check_eq "capacity: this machine's CPUs, memory (Ki), pods" "$(nproc) ${mem_ki}Ki 110" "$(jp node node1 "" '{.status.capacity.cpu} {.status.capacity.memory} {.status.capacity.pods}')"
check_eq "allocatable memory: capacity minus memory.available<100Mi" "$((mem_ki - 102400))Ki" "$(jp node node1 "" '{.status.allocatable.memory}')"
check_match "ephemeral-storage capacity from the root dir's filesystem" "^[0-9]+Ki$" "$(jp node node1 "" '{.status.capacity.ephemeral-storage}')"
check_eq "labels: hostname, os, arch, --node-labels" "node1 linux amd64 test a" \
  "$(jp node node1 "" '{.metadata.labels.kubernetes\.io/hostname} {.metadata.labels.kubernetes\.io/os} {.metadata.labels.kubernetes\.io/arch} {.metadata.labels.tier} {.metadata.labels.zone}')"
check_eq "--register-with-taints" "dedicated=test:NoSchedule" "$(jp node node1 "" '{.spec.taints[0].key}={.spec.taints[0].value}:{.spec.taints[0].effect}')"
check_eq "nodeInfo: runtime, kernel, OS, machine and boot ids" "swiftlet://0.1.0 $(uname -r) linux $(cat /etc/machine-id) $(cat /proc/sys/kernel/random/boot_id)" \
  "$(jp node node1 "" '{.status.nodeInfo.containerRuntimeVersion} {.status.nodeInfo.kernelVersion} {.status.nodeInfo.operatingSystem} {.status.nodeInfo.machineID} {.status.nodeInfo.bootID}')"
check_eq "addresses and the kubelet endpoint" "InternalIP=192.0.2.9 Hostname=node1 10250" \
  "$(jp node node1 "" '{range .status.addresses[*]}{.type}={.address} {end}{.status.daemonEndpoints.kubeletEndpoint.Port}')"
check_eq "pressure conditions False with the kubelet's reasons" "KubeletHasSufficientMemory KubeletHasNoDiskPressure KubeletHasSufficientPID KubeletReady" \
  "$(jp node node1 "" '{range .status.conditions[*]}{.reason} {end}' | xargs)"
uid=$(jp node node1 "" '{.metadata.uid}')
wait_for 10 k -n kube-node-lease get lease node1
check_eq "Lease: holder, 40 s, owned by the Node" "node1 40 Node/node1/$uid" \
  "$(jp lease node1 kube-node-lease '{.spec.holderIdentity} {.spec.leaseDurationSeconds} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].uid}')"
check_match "renewTime is a MicroTime" "^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}Z$" "$(jp lease node1 kube-node-lease '{.spec.renewTime}')"

# --- pods from the master -------------------------------------------------------------------------
ps_() { timeout 10 "$S" ps --socket "$SOCK" "$@" 2>&1; }
cat >"$T/web.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello-from-the-api}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 20
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, "trap 'echo got-TERM; exit 0' TERM; echo started $GREETING; while true; do sleep 0.1; done"]
    env: [{name: GREETING, valueFrom: {configMapKeyRef: {name: web-config, key: greeting}}}]
    volumeMounts: [{name: cfg, mountPath: /etc/cfg}]
  volumes: [{name: cfg, configMap: {name: web-config}}]
---
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  nodeName: node1
  restartPolicy: Never
  containers: [{name: c, image: busybox:test, command: [sh, -c, "echo bye; exit 3"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere}
spec:
  nodeName: node2
  containers: [{name: c, image: busybox:test, command: [sleep, "3600"]}]
YAML
check_match "kubectl apply: a ConfigMap and pods bound to node1 and node2" "pod/elsewhere created" "$(k apply -f "$T/web.yaml" 2>&1)"
k wait --for=condition=Ready pod/web --timeout=30s >/dev/null 2>&1 && ok "the pod bound to node1 runs and is Ready (status from the agent)" \
  || not_ok "pod web Ready" "$(k get pod web -o yaml 2>&1 | sed -n '/^status/,$p'; tail -5 "$T/agent.log")"
check_match "kubectl get pods -o wide: Running, the pod IP, node1" "^web +1/1 +Running +0 +[0-9]+s +10\.91\.0\.[0-9]+ +node1 " "$(k get pod web -o wide --no-headers 2>&1)"
check_match "kubectl 1.20 sees it Running too" "^web +1/1 +Running" "$(k120 get pod web --no-headers 2>&1)"
check_match "the Python client: node1 Ready, web Running on it" "^node1 True web Running node1$" "$(in_node "$PY" -c '
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1]); v1 = client.CoreV1Api()
n = v1.read_node("node1"); p = v1.read_namespaced_pod("web", "default")
print(n.metadata.name, [c.status for c in n.status.conditions if c.type == "Ready"][0], p.metadata.name, p.status.phase, p.spec.node_name)' "$T/master/admin.kubeconfig" 2>&1)"
check_eq "hostIP is the node's" "192.0.2.9" "$(jp pod web default '{.status.hostIP}')"
check_eq "a ConfigMap from the API: env and volume" "hello-from-the-api hello-from-the-api" \
  "$("$S" exec --socket "$SOCK" web -- sh -c 'echo $GREETING $(cat /etc/cfg/greeting)' 2>&1)"
k patch cm web-config -p '{"data":{"greeting":"changed"}}' >/dev/null
wait_for 30 sh -c "\"$S\" exec --socket $SOCK web -- cat /etc/cfg/greeting | grep -qx changed" \
  && ok "a ConfigMap edit reaches the mounted file" || not_ok "ConfigMap edit reaches the file" "$("$S" exec --socket "$SOCK" web -- cat /etc/cfg/greeting 2>&1)"
wait_for 30 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod once -o jsonpath='{.status.phase}')\" = Failed ]"
check_eq "restartPolicy Never, exit 3: Failed with the exit code" "Failed 3" "$(jp pod once default '{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}')"
check_eq "a pod bound to node2 is not run here" "" "$(ps_ | grep elsewhere)"
check_eq "… and has no status from node1" "Pending " "$(jp pod elsewhere default '{.status.phase} {.status.hostIP}')"
web_pid=$(own_pids 'echo started' | head -1)

# --- kubectl logs and exec: through the master to the node's kubelet API --------------------------------
wait_for 20 grep -q "kubelet API serving" "$T/agent.log"
csr=$(k get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name}{end}' 2>&1)
check_eq "the kubelet API's serving certificate: requested by node1, approved and signed by the master" \
  "system:node:node1 Approved AutoApproved issued" \
  "$(jp csr "$csr" "" '{.spec.username} {.status.conditions[0].type} {.status.conditions[0].reason}') $( [ -n "$(jp csr "$csr" "" '{.status.certificate}')" ] && echo issued)"
check_eq "… its key kept 0600 under the agent's root dir" "600" "$(stat -c %a "$T/root/pki/kubelet-server.key" 2>&1)"
# node2's credentials asking for a serving certificate in node1's name: not approved
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/steal.key" -subj "/O=system:nodes/CN=system:node:node1" \
  -addext "subjectAltName=IP:192.0.2.9,DNS:node1" -out "$T/steal.csr" 2>/dev/null
printf '%s\n' 'apiVersion: certificates.k8s.io/v1' 'kind: CertificateSigningRequest' 'metadata: {name: steal}' 'spec:' \
  "  request: $(base64 -w0 "$T/steal.csr")" '  signerName: kubernetes.io/kubelet-serving' '  usages: [digital signature, server auth]' >"$T/steal.yaml"
check_match "node2 files a serving request in node1's name" "created" "$(in_node kubectl --kubeconfig "$T/node2.kc" create -f "$T/steal.yaml" 2>&1)"
wait_for 20 grep -q 'csr=steal .*left for an administrator\|left for an administrator.*csr=steal\|steal.*not by the node' "$T/master.log"
check_eq "… left pending: no approval, no certificate, the requester recorded as node2" "system:node:node2  " \
  "$(jp csr steal "" '{.spec.username} {.status.conditions[0].type} {.status.certificate}')"
check_match "… node2 cannot approve it itself" "forbidden" "$(in_node kubectl --kubeconfig "$T/node2.kc" certificate approve steal 2>&1)"
k delete csr steal >/dev/null 2>&1
cat >"$T/streams.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:test, command: [sh, -c, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: crashy}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:test, command: [sh, -c, "echo instance $(cat /proc/sys/kernel/random/uuid); sleep 0.5; exit 1"]}]
YAML
k apply -f "$T/streams.yaml" >/dev/null
k wait --for=condition=Ready pod/ticker --timeout=30s >/dev/null 2>&1
check_eq "kubectl logs: what the container wrote" "started hello-from-the-api" "$(k logs web 2>&1)"
check_eq "kubectl 1.20 logs" "started hello-from-the-api" "$(k120 logs web 2>&1)"
check_match "logs --timestamps --tail=1: one line, RFC 3339 time first" "^[0-9-]{10}T[0-9:.]+Z started hello-from-the-api$" "$(k logs web --timestamps --tail=1 2>&1)"
wait_for 10 sh -c "nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig logs ticker | grep -q 'tick 2'"
last=$(k logs ticker 2>&1 | tail -1 | awk '{print $2}')
followed=$(timeout 3 nsenter --net=/run/netns/$NODE kubectl --kubeconfig "$T/master/admin.kubeconfig" logs -f --tail=0 ticker 2>&1)
check_match "logs -f streams lines written after it started" "^[0-9]+ [0-9]+$" \
  "$(first=$(echo "$followed" | head -1 | awk '{print $2}'); [ -n "$first" ] && [ "$first" -gt "$last" ] && [ "$(echo "$followed" | wc -l)" -ge 2 ] && echo "$last $first")"
check_eq "logs --limit-bytes=6" "tick 0" "$(k logs ticker --limit-bytes=6 2>&1)"
wait_for 30 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod crashy -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge 1 ] 2>/dev/null"
prev=$(k logs crashy --previous 2>&1)
check_match "logs --previous after a restart: the earlier instance's line" "^instance [0-9a-f-]{36}$" "$prev"
check_match "logs for a container the pod does not have: 400, named" "container nope is not valid for pod web" "$(k logs web -c nope 2>&1)"
out=$(k exec web -- sh -c 'echo exec-$GREETING; echo to-stderr >&2; exit 4' 2>&1); rc=$?
check_eq "kubectl exec: stdout and stderr" "exec-hello-from-the-api to-stderr" "$(echo "$out" | grep -v 'command terminated' | sort | xargs)"
check_eq "… the exit code (4) is kubectl's" "4" "$rc"
check_eq "exec -i: stdin piped through" "piped-in" "$(echo piped-in | k exec -i web -- cat 2>&1)"
out=$(k120 exec web -- sh -c 'echo spdy-$GREETING; echo err >&2; exit 5' 2>&1); rc=$?
check_eq "kubectl 1.20 exec (SPDY/3.1, v4.channel.k8s.io): stdout and stderr" "err spdy-hello-from-the-api" "$(echo "$out" | grep -v 'command terminated' | sort | xargs)"
check_eq "… its exit code (5)" "5" "$rc"
check_eq "kubectl 1.20 exec -i: stdin piped through" "piped-spdy" "$(echo piped-spdy | k120 exec -i web -- cat 2>&1)"
check_eq "exec into a completed pod: refused" "1" "$(k exec once -- true >/dev/null 2>&1; echo $?)"
# the container's shell waits for the resize to arrive (no race with the second stty)
cat >"$T/tty.sh" <<TTY
nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig exec -it web -- \\
  sh -c 'tty; stty size; while [ "\$(stty size)" = "30 100" ]; do sleep 0.1; done; stty size; exit 7'
echo rc=\$?
sleep 30
TTY
tmux new-session -d -x 100 -y 30 -s "swl-$$" "bash $T/tty.sh"
pane() { tmux capture-pane -p -t "swl-$$" 2>/dev/null; }
wait_for 15 sh -c "tmux capture-pane -p -t swl-$$ | grep -q '^[0-9]* [0-9]*\$'"
tmux resize-window -t "swl-$$" -x 90 -y 25 2>/dev/null
wait_for 15 sh -c "tmux capture-pane -p -t swl-$$ | grep -q '^rc='"
tty_out=$(pane | tr -d '\r' | xargs); tmux kill-session -t "swl-$$" 2>/dev/null
check_match "exec -it under tmux: a pty, its size, a resize, the exit code" "^/dev/pts/[0-9]+ 30 100 25 90 command terminated with exit code 7 rc=7$" "$tty_out"
sed -i "s|kubectl --kubeconfig|$K120 --kubeconfig|" "$T/tty.sh"
tmux new-session -d -x 100 -y 30 -s "swl-$$" "bash $T/tty.sh"
wait_for 15 sh -c "tmux capture-pane -p -t swl-$$ | grep -q '^[0-9]* [0-9]*\$'"
tmux resize-window -t "swl-$$" -x 90 -y 25 2>/dev/null
wait_for 15 sh -c "tmux capture-pane -p -t swl-$$ | grep -q '^rc='"
tty_out=$(pane | tr -d '\r' | xargs); tmux kill-session -t "swl-$$" 2>/dev/null
check_match "kubectl 1.20 exec -it under tmux (SPDY): a pty, its size, a resize, the exit code" "^/dev/pts/[0-9]+ 30 100 25 90 command terminated with exit code 7 rc=7$" "$tty_out"
check_eq "the Python client's exec (WebSocket v4)" "py-hello-from-the-api" "$(in_node "$PY" -c '
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
print(stream(client.CoreV1Api().connect_get_namespaced_pod_exec, "web", "default", command=["sh", "-c", "echo py-$GREETING"],
             stderr=True, stdin=False, stdout=True, tty=False).strip())' "$T/master/admin.kubeconfig" 2>&1)"
# who may not get in
"$S" master kubeconfig --pki-dir "$T/master/pki" --user viewer --server https://127.0.0.1:$PORT --output "$T/viewer.kc"
k create rolebinding viewer-view --clusterrole=view --user=viewer >/dev/null
kv() { in_node kubectl --kubeconfig "$T/viewer.kc" "$@"; }
check_eq "a view-only user: logs allowed" "started hello-from-the-api" "$(kv logs web 2>&1)"
check_match "… exec forbidden (create pods/exec)" "cannot create resource \"pods/exec\"" "$(kv exec web -- id 2>&1)"
kc_field() { grep "$2" "$1" | awk '{print $2}' | base64 -d; }
kc_field "$T/node2.kc" client-certificate-data >"$T/n2.crt"; kc_field "$T/node2.kc" client-key-data >"$T/n2.key"
kc_field "$T/master/admin.kubeconfig" client-certificate-data >"$T/adm.crt"; kc_field "$T/master/admin.kubeconfig" client-key-data >"$T/adm.key"
kcurl() { in_node curl -s --cacert "$T/master/pki/ca.crt" -o /dev/null -w '%{http_code}' "$@"; }
check_eq "kubelet API, no client certificate: 401" "401" "$(kcurl https://192.0.2.9:10250/containerLogs/default/web/c)"
check_eq "kubelet API, another node's certificate: 403" "403" "$(kcurl --cert "$T/n2.crt" --key "$T/n2.key" https://192.0.2.9:10250/containerLogs/default/web/c)"
check_eq "kubelet API, an administrator's certificate: 200" "200" "$(kcurl --cert "$T/adm.crt" --key "$T/adm.key" https://192.0.2.9:10250/containerLogs/default/web/c)"
check_eq "kubelet API, a dot segment in the path: 400" "400" "$(kcurl --path-as-is --cert "$T/adm.crt" --key "$T/adm.key" https://192.0.2.9:10250/containerLogs/default/web/..)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=system:masters/CN=mallory" -days 1 \
  -keyout "$T/evil.key" -out "$T/evil.crt" >/dev/null 2>&1
check_match "kubelet API, a self-made system:masters certificate: the TLS handshake fails" "^000$" \
  "$(kcurl --cert "$T/evil.crt" --key "$T/evil.key" https://192.0.2.9:10250/containerLogs/default/web/c)"
check_eq "kubelet API, healthz needs no identity" "200" "$(kcurl https://192.0.2.9:10250/healthz)"
# the node's events for its pods
check_match "kubectl describe pod: the node's events (image present, created, started) from kubelet on node1" \
  "Normal +Pulled .*kubelet +Container image \"busybox:test\" already present on machine.*Normal +Created .*Created container c.*Normal +Started .*Started container c" \
  "$(k describe pod web 2>&1 | tr '\n' ' ')"
wait_for 20 sh -c "nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get events --field-selector involvedObject.name=crashy,reason=BackOff -o jsonpath='{.items[0].count}' | grep -q '^[2-9]'"
check_match "a crash loop: a BackOff Warning whose count grows (one Event, patched)" "^Warning BackOff [2-9][0-9]* kubelet node1 spec.containers\{c\}$" \
  "$(k get events --field-selector involvedObject.name=crashy,reason=BackOff -o jsonpath='{range .items[*]}{.type} {.reason} {.count} {.source.component} {.source.host} {.involvedObject.fieldPath}{"\n"}{end}' 2>&1)"
k delete -f "$T/streams.yaml" --grace-period=1 >/dev/null 2>&1

# static pods show up as mirror pods
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: static, labels: {tier: node}}' 'spec:' '  terminationGracePeriodSeconds: 1' \
  '  containers: [{name: c, image: busybox:test, command: [sh, -c, "echo static-up; exec sleep 3601"]}]' >"$M/static.yaml"
wait_for 30 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod static-node1 -o jsonpath='{.status.phase}')\" = Running ]"
check_eq "a static pod's mirror pod: Running, on node1, marked as a mirror, owned by the Node" "Running node1 true Node/node1" \
  "$(jp pod static-node1 default '{.status.phase} {.spec.nodeName} {.metadata.annotations.kubernetes\.io/config\.mirror}' | sed 's/ [0-9a-f]\{32\}$/ true/') $(jp pod static-node1 default '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')"
static_pid=$(own_pids 'sleep 3601' | head -1)
muid=$(jp pod static-node1 default '{.metadata.uid}')
k delete pod static-node1 --wait=false >/dev/null 2>&1
wait_for 30 sh -c "nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod static-node1 -o jsonpath='{.metadata.uid}' | grep -q . && ! nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod static-node1 -o jsonpath='{.metadata.uid}' | grep -qx '$muid'"
check_match "a deleted mirror pod comes back (new uid); the static pod itself keeps running" "^[0-9]+$" \
  "$( [ "$(jp pod static-node1 default '{.metadata.uid}')" != "$muid" ] && [ "$(own_pids 'sleep 3601' | head -1)" = "$static_pid" ] && echo "$static_pid")"
rm "$M/static.yaml"
wait_for 30 sh -c "! nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod static-node1 >/dev/null 2>&1" \
  && ok "the manifest removed: the mirror pod is gone too" || not_ok "mirror removed" "$(k get pod static-node1 2>&1)"

# an idle node with pods: the Lease renewed every 10 s, no Node or pod status write while nothing changes
r0=$(jp lease node1 kube-node-lease '{.spec.renewTime}')
w0=$(grep -c '"PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1"\|PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1 ' "$T/master.log")
s0=$(grep -c 'PATCH /api/v1/nodes/node1/status\|PATCH /api/v1/namespaces/default/pods/.*/status' "$T/master.log")
g0=$(grep -c 'GET /api/v1/namespaces/default/configmaps' "$T/master.log")
sleep 31
check_match "the Lease is renewed (renewTime moves)" "^[0-9-]{10}T" "$( [ "$(jp lease node1 kube-node-lease '{.spec.renewTime}')" != "$r0" ] && echo "$r0")"
w1=$(grep -c '"PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1"\|PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1 ' "$T/master.log")
s1=$(grep -c 'PATCH /api/v1/nodes/node1/status\|PATCH /api/v1/namespaces/default/pods/.*/status' "$T/master.log")
check_match "an idle node with a running pod, 31 s: 3 or 4 Lease renewals, no Node or pod status patch" "^(3|4) 0$" "$((w1 - w0)) $((s1 - s0))"
check_eq "… and no ConfigMap read: the one in use is watched, not polled" "0" "$(( $(grep -c 'GET /api/v1/namespaces/default/configmaps' "$T/master.log") - g0 ))"


# --- restart: the same Node taken over, labels reconciled; pods adopted ---------------------------------
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
k patch cm web-config -p '{"data":{"greeting":"while-away"}}' >/dev/null
# it comes back with a bootstrap token only (TLS bootstrap): its own kubeconfig is requested and written
in_node "$S" master bootstrap-token --kubeconfig "$T/master/admin.kubeconfig" --ttl 10m --output "$T/bootstrap.kc" 2>/dev/null
check_match "a bootstrap token for joining nodes: a kubeconfig with <id>.<secret>" "token: [a-z0-9]{6}\.[a-z0-9]{16}$" "$(cat "$T/bootstrap.kc")"
agent_start --bootstrap-kubeconfig "$T/bootstrap.kc" --kubeconfig "$T/joined/node1.kc" --node-labels tier=prod || { summary; exit 1; }
check_eq "TLS bootstrap: the node's kubeconfig written, 0600, its identity system:node:node1" "600 system:node:node1" \
  "$(stat -c %a "$T/joined/node1.kc" 2>&1) $(in_node kubectl --kubeconfig "$T/joined/node1.kc" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)"
boot_csr=$(k get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kube-apiserver-client-kubelet")]}{.metadata.name}{end}' 2>&1)
check_match "… from a request the bootstrap token filed, approved by the master (nodeclient) and signed" "^system:bootstrap:[a-z0-9]{6} Approved AutoApproved issued$" \
  "$(jp csr "$boot_csr" "" '{.spec.username} {.status.conditions[0].type} {.status.conditions[0].reason}') $( [ -n "$(jp csr "$boot_csr" "" '{.status.certificate}')" ] && echo issued)"
check_match "a bootstrap token cannot act as a node (list pods: forbidden)" "forbidden" "$(in_node kubectl --kubeconfig "$T/bootstrap.kc" get pods -A 2>&1)"
check_match "the web container's process is found before the restart" "^[0-9]+$" "$web_pid"
check_eq "after an agent restart: the same container process, no restart counted" "$web_pid 0" \
  "$(own_pids 'echo started' | head -1) $(jp pod web default '{.status.containerStatuses[0].restartCount}')"
wait_for 30 sh -c "\"$S\" exec --socket $SOCK web -- cat /etc/cfg/greeting | grep -qx while-away" \
  && ok "an edit made while the agent was down reaches the file" || not_ok "edit while down" "$("$S" exec --socket "$SOCK" web -- cat /etc/cfg/greeting 2>&1)"
t0=$(date +%s%N)
check_eq "kubectl delete returns once the pod is gone" 'pod "web" deleted' "$(k delete pod web --timeout=60s 2>&1)"
t1=$(date +%s%N)
check_eq "… its containers stopped (TERM handled), nothing left on the node" "" "$(ps_ -a | grep -w web)"
check_match "… well inside its 20 s grace period ($(( (t1 - t0) / 1000000 )) ms)" "^[0-9]{1,4}$" "$(( (t1 - t0) / 1000000 ))"
wait_for 10 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get node node1 -o jsonpath='{.metadata.labels.tier}')\" = prod ]"
check_eq "after a restart: the same Node (uid), its label updated, Ready" "$uid prod True" \
  "$(jp node node1 "" '{.metadata.uid} {.metadata.labels.tier} {.status.conditions[?(@.type=="Ready")].status}')"
check_match "… the restart's registration met the existing Node (409) and took it over" "POST /api/v1/nodes.* 409" "$(cat "$T/master.log")"

# --- the Node deleted under a running agent: registered again ---------------------------------------
k delete node node1 >/dev/null 2>&1
wait_for 20 sh -c "nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get node node1 -o jsonpath='{.metadata.uid}' | grep -qv '^$uid\$'"
uid2=$(jp node node1 "" '{.metadata.uid}')
check_match "a deleted Node is registered again (a new uid) within a status period" "^[0-9a-f-]{36}$" "$( [ "$uid2" != "$uid" ] && echo "$uid2")"
wait_for 15 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig -n kube-node-lease get lease node1 -o jsonpath='{.metadata.ownerReferences[0].uid}')\" = \"$uid2\" ]"
check_eq "… and its Lease names the new Node as owner" "$uid2" "$(jp lease node1 kube-node-lease '{.metadata.ownerReferences[0].uid}')"

# --- the master away: the agent keeps going, and catches up ------------------------------------------
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: steady}' 'spec:' '  nodeName: node1' '  terminationGracePeriodSeconds: 1' \
  '  containers: [{name: c, image: busybox:test, command: [sh, -c, "echo steady-up; exec sleep 3600"]}]' '---' \
  'apiVersion: v1' 'kind: Pod' 'metadata: {name: crasher}' 'spec:' '  nodeName: node1' '  terminationGracePeriodSeconds: 1' \
  '  containers: [{name: c, image: busybox:test, command: [sh, -c, "sleep 0.5; exit 1"]}]' | k apply -f - >/dev/null
k wait --for=condition=Ready pod/steady --timeout=30s >/dev/null 2>&1
steady_pid=$(own_pids 'sleep 3600' | head -1)
restarts() { "$S" inspect --socket "$SOCK" "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["containerStatuses"][0]["restartCount"])' 2>/dev/null; }
master_stop
before=$(restarts crasher)
sleep 12
check_eq "the agent outlives its master" "alive" "$(kill -0 "$AGENT_PID" 2>/dev/null && echo alive)"
check_match "… its pods keep running (same process)" "^[0-9]+ [0-9]+$" "$( [ "$(own_pids 'sleep 3600' | head -1)" = "$steady_pid" ] && echo "$steady_pid $steady_pid")"
after=$(restarts crasher)
check_match "… a crashing container is still restarted ($before → $after)" "^[1-9][0-9]*$" "$(( ${after:-0} - ${before:-0} ))"
check_match "… and says why it cannot renew" "renewing the node's Lease: .*(refused|connect)" "$(cat "$T/agent.log")"
master_start || { summary; exit 1; }
r0=$(jp lease node1 kube-node-lease '{.spec.renewTime}')
wait_for 25 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig -n kube-node-lease get lease node1 -o jsonpath='{.spec.renewTime}')\" != \"$r0\" ]" \
  && ok "the master back: the Lease is renewed again" || not_ok "Lease renewed after the master's return" "$(tail -5 "$T/agent.log")"
check_eq "… the node still Ready" "True" "$(jp node node1 "" '{.status.conditions[?(@.type=="Ready")].status}')"
wait_for 15 sh -c "[ \"\$(nsenter --net=/run/netns/$NODE kubectl --kubeconfig $T/master/admin.kubeconfig get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge \"$after\" ]"
check_match "… and the status the master shows caught up (restarts ≥ $after)" "^[0-9]+$" \
  "$(n=$(jp pod crasher default '{.status.containerStatuses[0].restartCount}'); [ "${n:-0}" -ge "${after:-1}" ] && echo "$n")"

# --- agents that must not get in -----------------------------------------------------------------------
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
: >"$T/agent.log"
agent_start --kubeconfig "$T/node2.kc" --node-labels evil=1 || { summary; exit 1; }
wait_for 10 grep -q "registering node node1" "$T/agent.log"
check_match "node2's certificate as node1: registration forbidden by NodeRestriction" \
  "registering node node1: .*node \"node2\" is not allowed to modify node \"node1\"" "$(cat "$T/agent.log")"
check_eq "… node1 untouched (no label from it)" "" "$(jp node node1 "" '{.metadata.labels.evil}')"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
: >"$T/agent.log"
agent_start --server https://127.0.0.1:$PORT --certificate-authority "$T/master/pki/ca.crt" || { summary; exit 1; }
wait_for 10 grep -q "registering node node1" "$T/agent.log"
check_match "no credentials: 401, logged" "registering node node1: Unauthorized \(401" "$(cat "$T/agent.log")"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
: >"$T/agent.log"
agent_start --server https://127.0.0.1:$PORT || { summary; exit 1; }
wait_for 10 grep -q "registering node node1" "$T/agent.log"
check_match "a master whose certificate the agent cannot verify: refused (TLS)" "registering node node1: .*(certificate|handshake|TLS|SSL)" "$(cat "$T/agent.log")"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=

summary

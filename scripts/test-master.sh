#!/usr/bin/env bash
# `swiftlet master` end to end, driven by real clients: kubectl 1.32 (the image's), Debian's
# kubectl 1.20 and the official Python client. No root needed and no network beyond 127.0.0.1.
#   scripts/test-master.sh [BIN_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PASS=0; FAIL=0
BIN=${1:-bin}
SW="$BIN/swiftlet"
WORK=$(mktemp -d /tmp/swiftlet-master-test.XXXXXX)
MASTER_PID=""
OTHER_PIDS=()

cleanup() {
  [ -n "$MASTER_PID" ] && kill "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null
  for p in "${OTHER_PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- clients --------------------------------------------------------------------------------
kube_clients "$WORK" || exit 1

start_master() { # DATA_DIR [args...]
  local dir=$1; shift
  # the old log goes before the start: the background redirection truncates it only once the child
  # runs, and until then a restart would find the previous run's "master ready" (a race CI hit)
  rm -f "$dir.log"
  "$SW" master --data-dir "$dir" "$@" >"$dir.log" 2>&1 &
  MASTER_PID=$!
  for _ in $(seq 300); do
    [ -s "$dir/admin.kubeconfig" ] && grep -q "master ready" "$dir.log" && return 0
    kill -0 "$MASTER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "master did not start:"; cat "$dir.log"; return 1
}
stop_master() { kill "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null; MASTER_PID=""; }

# --- the defaults a user gets: port 6443 on 127.0.0.1 -----------------------------------------
D="$WORK/data"
mkdir -p "$D"
start_master "$D" || { not_ok "master starts with the default port" "see log"; summary; exit 1; }
export KUBECONFIG="$D/admin.kubeconfig"
check_match "admin kubeconfig points at the default address" "server: https?://127.0.0.1:6443" "$(cat "$KUBECONFIG")"
check_eq "admin kubeconfig is 0600" "600" "$(stat -c %a "$KUBECONFIG")"
check_match "kubectl version sees the server" "Server Version: v1\.32" "$(kubectl version 2>&1)"
check_eq "bootstrap namespaces" "default kube-node-lease kube-public kube-system" "$(kubectl get ns -o name | sed 's,namespace/,,' | sort | xargs)"

cat >"$WORK/app.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
      tolerations: [{key: dedicated, operator: Equal, value: web, effect: NoSchedule}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
EOF
check_match "kubectl apply creates" "deployment.apps/web created" "$(kubectl apply -f "$WORK/app.yaml" 2>&1)"
check_match "kubectl apply again is unchanged" "deployment.apps/web unchanged" "$(kubectl apply -f "$WORK/app.yaml" 2>&1)"
check_match "kubectl get deploy prints READY UP-TO-DATE AVAILABLE" "^web +0/2 +0 +0 " "$(kubectl get deploy --no-headers 2>&1)"
json=$(kubectl get deploy web -o json)
check_eq "defaults: strategy" "RollingUpdate 25% 25%" "$(printf '%s' "$json" | python3 -c 'import json,sys; s=json.load(sys.stdin)["spec"]["strategy"]; print(s["type"], s["rollingUpdate"]["maxSurge"], s["rollingUpdate"]["maxUnavailable"])')"
check_eq "fidelity: affinity and tolerations survive" "linux web" "$(printf '%s' "$json" | python3 -c 'import json,sys; t=json.load(sys.stdin)["spec"]["template"]["spec"]; print(t["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0], t["tolerations"][0]["value"])')"
check_match "kubectl apply --server-side after client-side apply" "serverside-applied" "$(kubectl apply --server-side -f "$WORK/app.yaml" 2>&1)"
sed 's/nginx:1.25/nginx:1.26/' "$WORK/app.yaml" >"$WORK/app2.yaml"
check_match "kubectl apply of a new image bumps the generation" "^2$" "$(kubectl apply -f "$WORK/app2.yaml" >/dev/null 2>&1; kubectl get deploy web -o jsonpath='{.metadata.generation}')"
check_match "kubectl scale" "deployment.apps/web scaled" "$(kubectl scale deploy web --replicas=4 2>&1)"
check_eq "scaled through /scale" "4" "$(kubectl get deploy web -o jsonpath='{.spec.replicas}')"
check_match "kubectl label + selector" "^web" "$(kubectl label deploy web tier=front >/dev/null && kubectl get deploy -l 'tier in (front)' --no-headers)"
check_match "kubectl run makes a Pending pod" "^p1 +0/1 +Pending" "$(kubectl run p1 --image=busybox -- sleep 1 >/dev/null && kubectl get pods --no-headers)"
check_eq "admission: default tolerations of 300 s" "300 300" "$(kubectl get pod p1 -o jsonpath='{.spec.tolerations[*].tolerationSeconds}')"
check_match "kubectl delete of an unscheduled pod removes it" "deleted" "$(kubectl delete pod p1 --wait=false 2>&1)"
check_match "the pod is gone" "NotFound" "$(kubectl get pod p1 2>&1)"

# stale resourceVersion: 409
kubectl get cm settings -o json >"$WORK/cm.json"
kubectl patch cm settings -p '{"data":{"mode":"slow"}}' >/dev/null
check_match "kubectl replace with a stale resourceVersion is a conflict" "the object has been modified" "$(kubectl replace -f "$WORK/cm.json" 2>&1)"

# invalid input: 422 with the field, nothing created
check_match "an invalid pod is refused with the field" 'spec.containers\[0\].image: Required value' \
  "$(printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{"containers":[{"name":"c"}]}}' | kubectl create -f - 2>&1)"
check_match "and nothing was created" "NotFound" "$(kubectl get pod bad 2>&1)"

# unknown fields: kubectl sends fieldValidation=Strict (it finds the parameter in /openapi/v3), other clients get Warn
cat >"$WORK/typo.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: typo}
spec:
  containers:
  - {name: c, image: busybox, imagePullPolicyy: Always}
EOF
check_match "kubectl create refuses an unknown field, naming its path" 'strict decoding error: unknown field "spec.containers\[0\].imagePullPolicyy"' "$(kubectl create -f "$WORK/typo.yaml" 2>&1)"
check_match "so does kubectl apply --server-side" 'unknown field "spec.containers\[0\].imagePullPolicyy"' "$(kubectl apply --server-side -f "$WORK/typo.yaml" 2>&1)"
check_match "and nothing was created" "NotFound" "$(kubectl get pod typo 2>&1)"
check_match "kubectl create --validate=warn creates it with a warning" 'Warning: unknown field "spec.containers\[0\].imagePullPolicyy".*pod/typo created' "$(kubectl create --validate=warn -f "$WORK/typo.yaml" 2>&1 | tr '\n' ' ')"
check_eq "without the unknown field" "" "$(kubectl get pod typo -o json | grep imagePullPolicyy)"
check_match "kubectl 1.20 (no fieldValidation) gets the server default, Warn" 'Warning: unknown field.*pod/typo2 created' "$(sed 's/name: typo/name: typo2/' "$WORK/typo.yaml" | "$K120" create -f - 2>&1 | tr '\n' ' ')"
kubectl delete pod typo typo2 --wait=false >/dev/null 2>&1

# kubectl explain walks /openapi/v3
OUT=$(kubectl explain pod.spec.containers 2>&1)
check_match "kubectl explain pod.spec.containers" 'FIELD: containers <\[\]Container>' "$OUT"
check_match "lists the container's fields, required ones marked" 'name[[:space:]]+<string> -required-' "$OUT"
check_match "kubectl explain deployment.spec.strategy.rollingUpdate" 'maxSurge[[:space:]]+<Object>' "$(kubectl explain deployment.spec.strategy.rollingUpdate 2>&1)"
check_match "kubectl explain hpa (autoscaling/v2)" 'VERSION: +v2' "$(kubectl explain hpa 2>&1)"

# kubectl get -w: the watch sees a change made by another client
( kubectl get cm settings -w --output-watch-events -o json >"$WORK/watch.out" 2>&1 & echo $! >"$WORK/watch.pid" )
# the change is made once the watch holds the object (under load kubectl can take seconds to start)
for _ in $(seq 300); do grep -q '"ADDED"' "$WORK/watch.out" 2>/dev/null && break; sleep 0.1; done
kubectl patch cm settings -p '{"data":{"mode":"watched"}}' >/dev/null
for _ in $(seq 300); do grep -q '"MODIFIED"' "$WORK/watch.out" && break; sleep 0.1; done
kill "$(cat "$WORK/watch.pid")" 2>/dev/null
check_match "kubectl get -w sees MODIFIED" '"type": ?"MODIFIED"' "$(cat "$WORK/watch.out")"
check_match "with the new data" '"mode": ?"watched"' "$(cat "$WORK/watch.out")"

# kubectl 1.32's typed generators send protobuf bodies
check_match "kubectl create namespace (protobuf body)" "namespace/gen created" "$(kubectl create namespace gen 2>&1)"
check_match "kubectl create configmap (protobuf)" "configmap/c1 created" "$(kubectl -n gen create configmap c1 --from-literal=a=b 2>&1)"
check_match "kubectl create secret generic (protobuf)" "secret/s1 created" "$(kubectl -n gen create secret generic s1 --from-literal=pw=hunter2 2>&1)"
check_eq "the secret is Opaque with its data" "Opaque aHVudGVyMg==" "$(kubectl -n gen get secret s1 -o jsonpath='{.type} {.data.pw}')"
check_match "kubectl create serviceaccount (protobuf)" "serviceaccount/robot created" "$(kubectl -n gen create serviceaccount robot 2>&1)"
check_match "kubectl create service nodeport (protobuf)" "service/np created" "$(kubectl -n gen create service nodeport np --tcp=80:8080 --node-port=30080 2>&1)"
check_eq "the service's ports" "80 8080 30080 TCP" "$(kubectl -n gen get svc np -o jsonpath='{.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].nodePort} {.spec.ports[0].protocol}')"
check_match "kubectl create deployment (protobuf)" "deployment.apps/gd created" "$(kubectl -n gen create deployment gd --image=nginx:1.25 --replicas=3 --port=8080 2>&1)"
check_eq "the deployment's replicas, port and defaults" "3 8080 IfNotPresent" "$(kubectl -n gen get deploy gd -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.template.spec.containers[0].imagePullPolicy}')"
check_match "kubectl create job (protobuf)" "job.batch/j1 created" "$(kubectl -n gen create job j1 --image=busybox -- echo hi 2>&1)"
check_match "kubectl get job prints STATUS COMPLETIONS" "^j1 +Running +0/1 " "$(kubectl -n gen get job j1 --no-headers 2>&1)"
check_match "kubectl create cronjob (protobuf)" "cronjob.batch/cj created" "$(kubectl -n gen create cronjob cj --image=busybox --schedule='*/5 * * * *' -- echo hi 2>&1)"
check_match "kubectl get cronjob prints the schedule" '^cj +\*/5 \* \* \* \* +<none> +False +0 +<none>' "$(kubectl -n gen get cronjob cj --no-headers 2>&1)"
check_match "kubectl delete namespace with objects in it" 'namespace "gen" deleted' "$(kubectl delete namespace gen --timeout=30s 2>&1)"
check_match "and its objects are gone" "NotFound" "$(kubectl -n gen get cm c1 2>&1)"

# --- kubectl 1.20 ---------------------------------------------------------------------------
check_match "kubectl 1.20 lists deployments" "^web +0/4" "$("$K120" get deploy --no-headers 2>&1)"
check_match "kubectl 1.20 creates a configmap" "configmap/old-client created" "$("$K120" create configmap old-client --from-literal=a=b 2>&1)"
check_match "kubectl 1.20 apply" "configured|unchanged" "$("$K120" apply -f "$WORK/app.yaml" 2>&1)"

# --- the official Python client -------------------------------------------------------------
cat >"$WORK/client.py" <<'EOF'
import sys
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm", labels={"from": "python"}), data={"k": "v"}))
rv = v1.list_namespaced_config_map("default", label_selector="from=python").metadata.resource_version
v1.patch_namespaced_config_map("py-cm", "default", {"data": {"k": "w"}})
v1.delete_namespaced_config_map("py-cm", "default")
w, seen = watch.Watch(), []
for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=10):
    seen.append(ev["type"] + ":" + ev["object"].metadata.name)
    if len(seen) == 2: w.stop()
apps = client.AppsV1Api()
d = apps.read_namespaced_deployment("web", "default")
print(" ".join(seen), d.spec.template.spec.containers[0].image)
EOF
check_eq "Python client: create, list, patch, delete, watch from a resourceVersion" "MODIFIED:py-cm DELETED:py-cm nginx:1.25" "$("$PY" "$WORK/client.py" "$KUBECONFIG" 2>&1 | tail -1)"

# --- the other side: hostile requests change nothing ------------------------------------------
URL=$(sed -n 's/ *server: //p' "$KUBECONFIG")
check_match "the default master serves HTTPS" "^https://" "$URL"
# curl as the admin the kubeconfig names (the cluster CA's client certificate)
curl() { command curl --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" --key "$D/pki/admin.key" "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check_eq "a path-traversal name (encoded slashes) is a 400" "400" "$(code "$URL/api/v1/namespaces/default/configmaps/..%2f..%2fsecrets")"
check_eq "a create whose name is a path is refused" "422" "$(code -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"../x"}}' "$URL/api/v1/namespaces/default/configmaps")"
check_eq "malformed JSON is a 400" "400" "$(code -X POST -H 'Content-Type: application/json' -d '{"metadata":' "$URL/api/v1/namespaces/default/configmaps")"
head -c 4194304 /dev/zero | tr '\0' 'a' >"$WORK/big"
check_eq "a body over 3 MiB is a 413" "413" "$(code -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/big" "$URL/api/v1/namespaces/default/configmaps")"
check_eq "a create in a missing namespace is a 404" "404" "$(code -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"x"}}' "$URL/api/v1/namespaces/nope/configmaps")"
OUT=$(python3 - "${URL#https://}" "$D/pki/ca.crt" <<'PY'
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host); s.settimeout(10)
s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d: break
    data += d
print(data.split(b"\r\n")[0].decode(), "closed", data.endswith(b"ok"))
PY
)
check_eq "an HTTP/1.0 request gets its answer and the connection closed (as ab expects)" "HTTP/1.1 200 OK closed True" "$OUT"
check_eq "the master still answers after all that" "ok" "$(curl -s "$URL/healthz")"

# /metrics on the default master (SQLite): kube-apiserver's metric names, counted for real
M=$(kubectl get --raw /metrics 2>&1)
check_match "kubectl get --raw /metrics: apiserver_request_total by verb and resource" 'apiserver_request_total\{code="201",.*resource="configmaps",scope="namespace",.*verb="POST",version="v1"\} [1-9]' "$M"
check_match "apiserver_request_duration_seconds histogram" 'apiserver_request_duration_seconds_bucket\{.*resource="deployments".*le="0.005"\}' "$M"
check_eq "apiserver_storage_objects counts what is stored" "$(kubectl get cm -A --no-headers | wc -l)" "$(printf '%s\n' "$M" | sed -n 's/^apiserver_storage_objects{resource="configmaps"} \([0-9]*\).*/\1/p')"
check_match "the store's latency (SQLite)" 'sqlite_request_duration_seconds_count\{operation="create",type="configmaps"\} [1-9]' "$M"

# --- one autoscaler at two versions (stored at autoscaling/v2, served at v1 too) -------------------
kubectl autoscale deployment web --cpu-percent=50 --min=1 --max=3 >/dev/null 2>&1
check_match "kubectl autoscale (protobuf, autoscaling/v1) and kubectl get hpa's columns" "web +Deployment/web +cpu: <unknown>/50% +1 +3 +0" "$(kubectl get hpa web --no-headers 2>&1)"
check_eq "read at autoscaling/v2: a CPU utilization metric" "Resource cpu 50" "$(kubectl get hpa web -o jsonpath='{.spec.metrics[0].type} {.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageUtilization}')"
check_eq "read at autoscaling/v1: targetCPUUtilizationPercentage" "autoscaling/v1 50" "$(kubectl get horizontalpodautoscalers.v1.autoscaling web -o jsonpath='{.apiVersion} {.spec.targetCPUUtilizationPercentage}')"
check_match "kubectl 1.20 lists it" "web +Deployment/web" "$("$K120" get hpa web --no-headers 2>&1)"

# --- kubectl drain: cordon, then pods/eviction ---------------------------------------------------
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: drain-me, labels: {kubernetes.io/hostname: drain-me}}\n' | kubectl apply -f - >/dev/null
for p in ev1 ev2; do
  kubectl run "$p" --image=busybox -- sleep 1000 >/dev/null
  curl -s -X POST -H 'Content-Type: application/json' -d '{"target":{"kind":"Node","name":"drain-me"}}' "$URL/api/v1/namespaces/default/pods/$p/binding" >/dev/null
done
OUT=$(timeout 60 kubectl drain drain-me --force --grace-period=0 --timeout=30s 2>&1); RC=$?
check_match "kubectl drain evicts the node's pods" "pod/ev1 evicted" "$OUT"
check_eq "and finishes" "0" "$RC"
check_eq "the node is cordoned" "true" "$(kubectl get node drain-me -o jsonpath='{.spec.unschedulable}')"
check_eq "its pods are gone" "" "$(kubectl get pods --field-selector spec.nodeName=drain-me -o name)"
check_eq "an eviction naming another pod is a 400" "400" "$(code -X POST -H 'Content-Type: application/json' -d '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"other"}}' "$URL/api/v1/namespaces/default/pods/web/eviction")"

# --- nothing is lost when the master restarts (SIGTERM, then SIGKILL) ------------------------------
before=$(kubectl get deploy,cm -o name | sort | xargs)
stop_master
start_master "$D" || not_ok "master restarts" "see log"
check_eq "after a restart every object is there" "$before" "$(kubectl get deploy,cm -o name | sort | xargs)"
rv1=$(kubectl get cm settings -o jsonpath='{.metadata.resourceVersion}')
kill -9 "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null; MASTER_PID=""
start_master "$D" || not_ok "master restarts after SIGKILL" "see log"
check_eq "after SIGKILL the data and resourceVersions are there" "$rv1" "$(kubectl get cm settings -o jsonpath='{.metadata.resourceVersion}')"
kubectl patch cm settings -p '{"data":{"mode":"after"}}' >/dev/null
rv2=$(kubectl get cm settings -o jsonpath='{.metadata.resourceVersion}')
[ "$rv2" -gt "$rv1" ] && ok "resourceVersions keep growing after a restart" || not_ok "resourceVersions keep growing after a restart" "$rv1 then $rv2"
cat >"$WORK/resume.py" <<'EOF'
import sys
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=sys.argv[2], field_selector="metadata.name=settings", timeout_seconds=10):
    print(ev["type"], ev["object"].metadata.resource_version, ev["object"].data.get("mode"))
    w.stop()
EOF
check_eq "a watch from a resourceVersion taken before the SIGKILL resumes with the write made after the restart (Python client)" "MODIFIED $rv2 after" "$("$PY" "$WORK/resume.py" "$KUBECONFIG" "$rv1" 2>&1 | tail -1)"
stop_master

# --- etcd: two masters share one etcd (Debian's etcd-server 3.4, its default ports) ----------------
start_etcd() {
  etcd --data-dir "$WORK/etcd" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --log-level error >>"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  OTHER_PIDS+=("$ETCD_PID")
  for _ in $(seq 100); do curl -s http://127.0.0.1:2379/health 2>/dev/null | grep -q true && return 0; sleep 0.1; done
  echo "etcd did not start:"; cat "$WORK/etcd.log"; return 1
}
etcd_count() { # KEY-PREFIX -> how many keys etcd holds under it (etcd's JSON API)
  python3 - "$1" <<'PY'
import base64, json, sys, urllib.request
k = sys.argv[1].encode()
end = k[:-1] + bytes([k[-1] + 1])
body = json.dumps({"key": base64.b64encode(k).decode(), "range_end": base64.b64encode(end).decode(), "count_only": True}).encode()
print(json.load(urllib.request.urlopen("http://127.0.0.1:2379/v3/kv/range", body)).get("count", "0"))
PY
}
OUT=$("$SW" master --data-dir "$WORK/nowhere" --secure-port 0 --etcd-servers http://127.0.0.1:2379 2>&1); RC=$?
check_match "no etcd listening: the master refuses to start, naming etcd" "etcd http://127.0.0.1:2379: .*no endpoint answered" "$OUT"
check_eq "and exits 1" "1" "$RC"
start_etcd || not_ok "etcd starts" "see $WORK/etcd.log"
start_master "$WORK/ea" --etcd-servers http://127.0.0.1:2379 --pki-dir "$WORK/epki" || not_ok "master A on etcd starts" "see log"
A_PID=$MASTER_PID
start_master "$WORK/eb" --etcd-servers http://127.0.0.1:2379 --pki-dir "$WORK/epki" --secure-port 6444 || not_ok "master B on the same etcd starts" "see log"
B_PID=$MASTER_PID; MASTER_PID=""
OTHER_PIDS+=("$A_PID" "$B_PID")
KA="$WORK/ea/admin.kubeconfig"; KB="$WORK/eb/admin.kubeconfig"
check_eq "both masters bootstrapped the namespaces once" "default kube-node-lease kube-public kube-system" "$(kubectl --kubeconfig "$KB" get ns -o name | sed 's,namespace/,,' | sort | xargs)"
kubectl --kubeconfig "$KA" create configmap shared --from-literal=k=v >/dev/null
check_eq "a configmap created through A is read through B" "v" "$(kubectl --kubeconfig "$KB" get cm shared -o jsonpath='{.data.k}')"
check_eq "it is an etcd key in kube-apiserver's layout" "1" "$(etcd_count /registry/configmaps/default/shared)"
check_match "an etcd master's /metrics has etcd_request_duration_seconds" 'etcd_request_duration_seconds_count\{operation="create",type="configmaps"\} [1-9]' "$(kubectl --kubeconfig "$KA" get --raw /metrics 2>&1)"
kubectl --kubeconfig "$KB" get cm -w --output-watch-events >"$WORK/ewatch" 2>&1 &
EW=$!
for _ in $(seq 100); do grep -q " shared " "$WORK/ewatch" && break; sleep 0.1; done
kubectl --kubeconfig "$KA" create configmap from-a --from-literal=k=a >/dev/null
kubectl --kubeconfig "$KA" delete configmap from-a >/dev/null
for _ in $(seq 100); do grep -q "DELETED *from-a" "$WORK/ewatch" && break; sleep 0.1; done
kill "$EW" 2>/dev/null; wait "$EW" 2>/dev/null
check_eq "a watch on B sees A's create and delete" "ADDED from-a DELETED from-a" "$(grep from-a "$WORK/ewatch" | awk '{print $1, $2}' | xargs)"
kubectl --kubeconfig "$KA" get cm shared -o yaml >"$WORK/shared.yaml"
kubectl --kubeconfig "$KB" patch cm shared -p '{"data":{"k":"from-b"}}' >/dev/null
OUT=$(kubectl --kubeconfig "$KA" replace -f "$WORK/shared.yaml" 2>&1)
check_match "a write through A with the revision B made stale is a 409" "the object has been modified" "$OUT"
check_eq "and B's write stands" "from-b" "$(kubectl --kubeconfig "$KA" get cm shared -o jsonpath='{.data.k}')"

# kill -9 master A while 16 writers create through it: every acknowledged write is in etcd
WRITERS=()
for w in $(seq 16); do
  ( for i in $(seq 20); do kubectl --kubeconfig "$KA" create configmap "w$w-$i" --from-literal=i=$i 2>/dev/null | grep -q created && echo "w$w-$i"; done >"$WORK/acked.$w" ) &
  WRITERS+=($!)
done
sleep 3
kill -9 "$A_PID"; wait "$A_PID" 2>/dev/null
wait "${WRITERS[@]}" 2>/dev/null
acked=$(cat "$WORK"/acked.* | sort)
present=$(kubectl --kubeconfig "$KB" get cm -o name | sed 's,configmap/,,' | grep '^w[0-9]' | sort)
n_acked=$(echo "$acked" | grep -c . || true)
[ "$n_acked" -gt 0 ] && ok "writers got acknowledgements before the kill ($n_acked)" || not_ok "writers got acknowledgements before the kill" "none"
check_eq "every acknowledged write survived kill -9 of its master" "" "$(comm -23 <(echo "$acked") <(echo "$present"))"
start_master "$WORK/ea" --etcd-servers http://127.0.0.1:2379 --pki-dir "$WORK/epki" || not_ok "master A restarts on etcd" "see log"
A_PID=$MASTER_PID; MASTER_PID=""; OTHER_PIDS+=("$A_PID")
check_eq "after the restart A and B list the same objects" "$(kubectl --kubeconfig "$KB" get cm -o name | xargs)" "$(kubectl --kubeconfig "$KA" get cm -o name | xargs)"

# etcd itself restarts: both masters reconnect, B's watches see A's writes again
kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null
start_etcd || not_ok "etcd restarts" "see $WORK/etcd.log"
for _ in $(seq 100); do kubectl --kubeconfig "$KA" get ns default >/dev/null 2>&1 && break; sleep 0.2; done
kubectl --kubeconfig "$KB" get cm -w --output-watch-events >"$WORK/ewatch2" 2>&1 &
EW=$!
for _ in $(seq 100); do grep -q " shared " "$WORK/ewatch2" && break; sleep 0.1; done
kubectl --kubeconfig "$KA" create configmap after-etcd-restart --from-literal=k=v >/dev/null 2>&1
for _ in $(seq 150); do grep -q "after-etcd-restart" "$WORK/ewatch2" && break; sleep 0.1; done
kill "$EW" 2>/dev/null; wait "$EW" 2>/dev/null
check_match "after etcd restarts, a watch on B sees A's write" "ADDED +after-etcd-restart" "$(cat "$WORK/ewatch2")"
kill "$A_PID" "$B_PID" 2>/dev/null; wait "$A_PID" "$B_PID" 2>/dev/null

summary

#!/usr/bin/env bash
# The master's security boundary end to end, from the other side: TLS, client certificates,
# bearer tokens (static, service-account JWTs), RBAC, the Node authorizer and NodeRestriction,
# driven by kubectl 1.32, Debian's kubectl 1.20, the official Python client, curl and raw sockets.
# No root needed and no network beyond 127.0.0.1 (port 6543).
#   scripts/test-auth.sh [BIN_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PASS=0; FAIL=0
BIN=${1:-bin}
SW="$BIN/swiftlet"
WORK=$(mktemp -d /tmp/swiftlet-auth-test.XXXXXX)
MASTER_PID=""
HOLD_PID=""
cleanup() {
  [ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null && wait "$HOLD_PID" 2>/dev/null
  [ -n "$MASTER_PID" ] && kill "$MASTER_PID" 2>/dev/null && wait "$MASTER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
kube_clients "$WORK" || exit 1

D="$WORK/master"
PKI="$D/pki"
URL=https://127.0.0.1:6543
printf '%s\n' 'edit-token-0123456789abcdef,eddie,2001' 'view-token-0123456789abcdef,vera,2002,"viewers,auditors"' >"$WORK/tokens.csv"
start_master() {
  rm -f "$WORK/master.log"   # not left to the background redirection: a restart must not see the last "master ready"
  "$SW" master --data-dir "$D" --secure-port 6543 --token-auth-file "$WORK/tokens.csv" >"$WORK/master.log" 2>&1 &
  MASTER_PID=$!
  for _ in $(seq 300); do
    grep -q "master ready" "$WORK/master.log" && return 0
    kill -0 "$MASTER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "master did not start:"; cat "$WORK/master.log"; return 1
}
start_master || { not_ok "master starts" "see log"; summary; exit 1; }
export KUBECONFIG="$D/admin.kubeconfig"
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" "$@"; }
admin=(--cert "$PKI/admin.crt" --key "$PKI/admin.key")

# --- files and TLS ---------------------------------------------------------------------------------
check_eq "private keys are 0600, the PKI directory 0700" "700 600 600 600 600" "$(stat -c %a "$PKI" "$PKI/ca.key" "$PKI/apiserver.key" "$PKI/admin.key" "$PKI/sa.key" | xargs)"
check_match "the serving certificate is signed by the cluster CA and names 127.0.0.1" "OK" "$(openssl verify -CAfile "$PKI/ca.crt" "$PKI/apiserver.crt" 2>&1)"
check_match "… and kubernetes.default.svc" "DNS:kubernetes.default.svc" "$(openssl x509 -in "$PKI/apiserver.crt" -noout -ext subjectAltName 2>&1)"
check_eq "plain HTTP on the secure port gets no API answer" "000" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:6543/api/v1/pods)"
check_eq "TLS 1.1 is refused" "000" "$(code --tls-max 1.1 --max-time 5 "$URL/healthz" 2>/dev/null)"

# --- anonymous -------------------------------------------------------------------------------------
check_eq "anonymous: /healthz and /version are public" "200 200" "$(code "$URL/healthz") $(code "$URL/version")"
check_eq "anonymous: the API is 401 Unauthorized" '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}' "$(curl -s --cacert "$PKI/ca.crt" "$URL/api/v1/namespaces/default/secrets")"
check_eq "anonymous: a create is 401 and stores nothing" "401" "$(code -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"anon"}}' "$URL/api/v1/namespaces/default/configmaps")"
check_eq "… nothing" "" "$(kubectl get cm anon -o name 2>/dev/null)"
check_eq "anonymous: discovery is 401 too" "401" "$(code "$URL/apis")"

# --- client certificates -----------------------------------------------------------------------------
check_eq "admin (O=system:masters) is kubernetes-admin" "kubernetes-admin" "$(kubectl auth whoami -o jsonpath='{.status.userInfo.username}')"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/evil-ca.key" 2>/dev/null
openssl req -x509 -new -key "$WORK/evil-ca.key" -subj "/CN=swiftlet-ca" -days 2 -out "$WORK/evil-ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/evil.key" 2>/dev/null
openssl req -new -key "$WORK/evil.key" -subj "/O=system:masters/CN=kubernetes-admin" -out "$WORK/evil.csr" 2>/dev/null
openssl x509 -req -in "$WORK/evil.csr" -CA "$WORK/evil-ca.crt" -CAkey "$WORK/evil-ca.key" -CAcreateserial -days 1 -out "$WORK/evil.crt" 2>/dev/null
check_eq "a system:masters certificate from another CA (same CA name) fails the handshake" "000" "$(code --cert "$WORK/evil.crt" --key "$WORK/evil.key" "$URL/api/v1/secrets")"
"$SW" master kubeconfig --pki-dir "$PKI" --user jane --server "$URL" --output "$WORK/jane.kc"
certs_of() { # KUBECONFIG NAME: its client certificate and key as NAME.crt/NAME.key
  kubectl config view --kubeconfig "$1" --raw -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$WORK/$2.crt"
  kubectl config view --kubeconfig "$1" --raw -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$WORK/$2.key"
}
certs_of "$WORK/jane.kc" jane
check_eq "swiftlet master kubeconfig writes 0600" "600" "$(stat -c %a "$WORK/jane.kc")"
check_match "jane, with no binding: kubectl get pods is forbidden in kube-apiserver's words" 'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"' "$(kubectl --kubeconfig "$WORK/jane.kc" get pods 2>&1)"
check_eq "jane: kubectl auth can-i list pods" "no" "$(kubectl --kubeconfig "$WORK/jane.kc" auth can-i list pods 2>/dev/null)"
kubectl create rolebinding jane-view --clusterrole=view --user=jane >/dev/null
check_eq "jane bound to view in default: can-i list pods / create configmaps / list pods in kube-system" "yes no no" \
  "$(for a in "list pods" "create configmaps" "list pods -n kube-system"; do kubectl --kubeconfig "$WORK/jane.kc" auth can-i $a 2>/dev/null; done | xargs)"
check_eq "jane: kubectl get pods works" "No resources found in default namespace." "$(kubectl --kubeconfig "$WORK/jane.kc" get pods 2>&1)"
check_match "jane: kubectl create configmap is forbidden" 'configmaps is forbidden: User "jane" cannot create resource "configmaps"' "$(kubectl --kubeconfig "$WORK/jane.kc" create cm j --from-literal=a=b 2>&1)"
check_match "jane: view cannot read secrets" 'secrets is forbidden' "$(kubectl --kubeconfig "$WORK/jane.kc" get secrets 2>&1)"
check_match "kubectl 1.20 as jane: get works" "No resources found" "$("$K120" --kubeconfig "$WORK/jane.kc" get pods 2>&1)"
check_match "kubectl 1.20 as jane: create is forbidden" 'forbidden: User "jane"' "$("$K120" --kubeconfig "$WORK/jane.kc" create cm j2 --from-literal=a=b 2>&1)"
OUT=$("$PY" - "$WORK/jane.kc" <<'PY'
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
print(len(v1.list_namespaced_pod("default").items), end=" ")
try:
    v1.create_namespaced_config_map("default", {"metadata": {"name": "py"}})
    print("created")
except client.ApiException as e:
    print(e.status, e.reason)
PY
)
check_eq "Python client as jane: list allowed, create 403" "0 403 Forbidden" "$OUT"

# --- static tokens and escalation ---------------------------------------------------------------------
tok() { kubectl --kubeconfig=/dev/null --server="$URL" --certificate-authority="$PKI/ca.crt" --token="$1" "${@:2}"; }
check_eq "a static token's user and groups" "vera viewers,auditors,system:authenticated" "$(tok view-token-0123456789abcdef auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}' | tr -d '[]"')"
check_match "a wrong token is 401" "Unauthorized" "$(tok edit-token-0123456789abcdeX get pods 2>&1)"
kubectl create rolebinding eddie-edit --clusterrole=edit --user=eddie >/dev/null
check_eq "eddie (edit): creates a configmap" "configmap/e1 created" "$(tok edit-token-0123456789abcdef create cm e1 --from-literal=a=b 2>&1)"
check_match "eddie (edit): cannot create RoleBindings" "rolebindings.rbac.authorization.k8s.io is forbidden" "$(tok edit-token-0123456789abcdef create rolebinding x --clusterrole=view --user=eddie 2>&1)"
kubectl create role binder --verb=create,get,list --resource=rolebindings.rbac.authorization.k8s.io >/dev/null
kubectl create rolebinding eddie-binder --role=binder --user=eddie >/dev/null
check_match "eddie may create RoleBindings but cannot bind cluster-admin (escalation)" "is forbidden: user \"eddie\" .*is attempting to grant RBAC permissions not currently held" "$(tok edit-token-0123456789abcdef create rolebinding grab --clusterrole=cluster-admin --user=eddie 2>&1)"
check_eq "… and no such binding exists" "" "$(kubectl get rolebinding grab -o name 2>/dev/null)"
check_eq "eddie can bind view (he holds every permission it grants)" "rolebinding.rbac.authorization.k8s.io/give created" "$(tok edit-token-0123456789abcdef create rolebinding give --clusterrole=view --user=jane 2>&1)"
check_match "a group subject: vera's group viewers bound to view" "yes" "$(kubectl create rolebinding viewers --clusterrole=view --group=viewers >/dev/null; tok view-token-0123456789abcdef auth can-i list configmaps)"

# --- service-account tokens ----------------------------------------------------------------------------
kubectl create serviceaccount robot >/dev/null
check_eq "a new namespace gets its default ServiceAccount" "default" "$(kubectl create ns team >/dev/null; for _ in $(seq 50); do kubectl -n team get sa default -o name 2>/dev/null && break; sleep 0.1; done | sed 's,serviceaccount/,,')"
T=$(kubectl create token robot)
check_eq "kubectl create token: the SA's identity" "system:serviceaccount:default:robot" "$(tok "$T" auth whoami -o jsonpath='{.status.userInfo.username}')"
check_match "the SA without a binding is forbidden" 'User "system:serviceaccount:default:robot" cannot list resource "pods"' "$(tok "$T" get pods 2>&1)"
kubectl create rolebinding robot-view --clusterrole=view --serviceaccount=default:robot >/dev/null
check_eq "bound to view: the SA lists pods" "No resources found in default namespace." "$(tok "$T" get pods 2>&1)"
check_match "an expiry under 10 minutes is invalid" "may not specify a duration less than 10 minutes" "$(kubectl create token robot --duration=60s 2>&1)"
check_match "a token for a missing ServiceAccount is 404" 'serviceaccounts "ghost" not found' "$(kubectl create token ghost 2>&1)"
# forged tokens: the signature, the algorithm, the expiry, the audience
openssl ec -in "$PKI/sa.key" -pubout -out "$WORK/sa.pub" 2>/dev/null
FORGE=$(python3 - "$T" "$PKI/sa.key" "$WORK/sa.pub" <<'PY'
import base64, hashlib, hmac, json, subprocess, sys, time
tok, key, pub = sys.argv[1:4]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def unb64(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
h, c, s = tok.split(".")
claims = json.loads(unb64(c)); header = json.loads(unb64(h))
def es256(header, claims):
    si = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=si.encode(), capture_output=True).stdout
    # DER SEQUENCE { INTEGER r, INTEGER s } -> r||s, 32 bytes each
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        n = der[i + 1]; v = der[i + 2:i + 2 + n]; i += 2 + n
        out += v.lstrip(b"\0").rjust(32, b"\0")
    return si + "." + b64(out)
tampered = dict(claims); tampered["sub"] = "system:serviceaccount:kube-system:default"
print(h + "." + b64(json.dumps(tampered).encode()) + "." + s)                       # claims changed, old signature
print(b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + b64(json.dumps(tampered).encode()) + ".")
hs = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(tampered).encode())
print(hs + "." + b64(hmac.new(open(pub, "rb").read(), hs.encode(), hashlib.sha256).digest()))
expired = dict(claims); expired["exp"] = int(time.time()) - 60; expired["nbf"] = expired["iat"] = int(time.time()) - 4000
print(es256(header, expired))                                                     # really signed, expired
aud = dict(claims); aud["aud"] = ["https://elsewhere.example"]
print(es256(header, aud))                                                         # really signed, other audience
print(es256(header, claims))                                                      # really signed, as issued: valid
PY
)
mapfile -t F <<<"$FORGE"
check_eq "forged: tampered claims / alg none / HS256 with the public key / expired / other audience are 401; a re-signed valid one passes" \
  "401 401 401 401 401 200" "$(for t in "${F[@]}"; do code -H "Authorization: Bearer $t" "$URL/api/v1/namespaces/default/pods"; echo; done | xargs)"
# a token bound to a pod dies with the pod
kubectl run holder --image=busybox --restart=Never --overrides='{"spec":{"serviceAccountName":"robot"}}' -- sleep 1000 >/dev/null
PT=$(kubectl create token robot --bound-object-kind=Pod --bound-object-name=holder)
check_eq "a pod-bound token works while the pod exists" "200" "$(code -H "Authorization: Bearer $PT" "$URL/api/v1/namespaces/default/pods")"
check_match "a pod-bound token carries the pod" "pod-name.*holder" "$(tok "$PT" auth whoami 2>&1 | tr -s ' ')"
kubectl delete pod holder --wait=false >/dev/null
for _ in $(seq 50); do kubectl get pod holder >/dev/null 2>&1 || break; sleep 0.1; done
check_eq "once the pod is gone its token is refused" "401" "$(code -H "Authorization: Bearer $PT" "$URL/api/v1/namespaces/default/pods")"
kubectl delete sa robot >/dev/null
check_eq "once the ServiceAccount is deleted its tokens are refused" "401" "$(code -H "Authorization: Bearer $T" "$URL/api/v1/namespaces/default/pods")"
kubectl create sa robot >/dev/null
check_eq "… also after a ServiceAccount of the same name is re-created (another uid)" "401" "$(code -H "Authorization: Bearer $T" "$URL/api/v1/namespaces/default/pods")"

# --- nodes: the Node authorizer and NodeRestriction ---------------------------------------------------
"$SW" master kubeconfig --pki-dir "$PKI" --user system:node:n1 --group system:nodes --server "$URL" --output "$WORK/n1.kc"
node() { kubectl --kubeconfig "$WORK/n1.kc" "$@"; }
node_yaml() { printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s, labels: {%s}}\n' "$1" "${2:-}"; }
check_eq "node n1 registers its own Node" "node/n1 created" "$(node_yaml n1 | node create -f - 2>&1)"
check_match "node n1 cannot create Node n2" 'node "n1" is not allowed to modify node "n2"' "$(node_yaml n2 | node create -f - 2>&1)"
check_match "node n1 cannot set a node-restriction.kubernetes.io label" "is not allowed to modify labels: node-restriction.kubernetes.io/tier" "$(node label node n1 node-restriction.kubernetes.io/tier=gold 2>&1)"
check_eq "node n1 sets an ordinary label on itself" "node/n1 labeled" "$(node label node n1 disk=ssd 2>&1)"
kubectl create secret generic unrelated --from-literal=k=v >/dev/null
check_match "node n1 cannot read a secret no pod of it uses" "no relationship found between node 'n1' and this object" "$(node get secret unrelated 2>&1)"
cat >"$WORK/p1.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: uses-secret}
spec:
  nodeName: n1
  containers: [{name: c, image: busybox, envFrom: [{secretRef: {name: unrelated}}]}]
EOF
kubectl create -f "$WORK/p1.yaml" >/dev/null
check_eq "… until a pod bound to n1 references it" "unrelated" "$(node get secret unrelated -o jsonpath='{.metadata.name}' 2>&1)"
check_match "node n1 cannot list secrets" "forbidden" "$(node get secrets 2>&1)"
printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: %s, namespace: kube-node-lease}\nspec: {holderIdentity: %s, leaseDurationSeconds: 40}\n' n1 n1 >"$WORK/l1.yaml"
check_eq "node n1 creates its Lease" "lease.coordination.k8s.io/n1 created" "$(node create -f "$WORK/l1.yaml" 2>&1)"
check_match "node n1 cannot create n2's Lease" "can only access node lease with the same name as the requesting node" "$(sed 's/n1/n2/g' "$WORK/l1.yaml" | node create -f - 2>&1)"
check_match "node n1 cannot delete pods of another node" "forbidden" "$(kubectl run other --image=busybox --overrides='{"spec":{"nodeName":"n2"}}' >/dev/null 2>&1; node delete pod other 2>&1)"
certs_of "$WORK/n1.kc" n1
check_eq "node n1 cannot get a token for a pod not on it" "403" "$(code --cert "$WORK/n1.crt" --key "$WORK/n1.key" -X POST -H 'Content-Type: application/json' -d '{"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"other"}}}' "$URL/api/v1/namespaces/default/serviceaccounts/default/token")"

# --- request shapes an attacker sends -----------------------------------------------------------------
check_eq "an encoded slash in a name is 400 (even for the admin)" "400" "$(code "${admin[@]}" "$URL/api/v1/namespaces/default/configmaps/..%2fsecrets")"
check_eq "dot segments are 400, not resolved" "400" "$(code "${admin[@]}" --path-as-is "$URL/api/v1/namespaces/default/configmaps/../../kube-system/secrets")"
check_eq "a NUL in a path is 400" "400" "$(code "${admin[@]}" "$URL/api/v1/namespaces/default/configmaps/a%00b")"
check_eq "jane cannot reach secrets through a view path with dot segments" "400" "$(code --cert "$WORK/jane.crt" --key "$WORK/jane.key" --path-as-is "$URL/api/v1/namespaces/default/pods/../secrets")"
head -c $((100 * 1024 * 1024)) /dev/zero >"$WORK/huge"
check_eq "a 100 MiB body is 413 (declared length, not read)" "413" "$(code "${admin[@]}" -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/huge" "$URL/api/v1/namespaces/default/configmaps")"
rm -f "$WORK/huge"
# slow loris: 200 TLS connections that never finish a request head
python3 - "$PKI/ca.crt" >"$WORK/hold.log" 2>&1 <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
held = []
for _ in range(200):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 6543)), server_hostname="127.0.0.1")
    s.sendall(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(120)
PY
HOLD_PID=$!
for _ in $(seq 300); do grep -q holding "$WORK/hold.log" && break; sleep 0.1; done
check_eq "200 half-sent requests are held open" "holding 200" "$(cat "$WORK/hold.log")"
check_eq "… and the master still serves kubectl" "default" "$(kubectl get ns default -o jsonpath='{.metadata.name}' 2>&1)"
kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null; HOLD_PID=""

# --- restart: the same CA, keys and tokens --------------------------------------------------------------
SUM=$(sha256sum "$PKI/ca.crt" "$PKI/sa.key" | awk '{print $1}' | xargs)
kill "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null; MASTER_PID=""
start_master || not_ok "master restarts" "see log"
check_eq "a restart keeps the CA and the signing key" "$SUM" "$(sha256sum "$PKI/ca.crt" "$PKI/sa.key" | awk '{print $1}' | xargs)"
check_eq "jane's certificate and her binding survive the restart" "yes" "$(kubectl --kubeconfig "$WORK/jane.kc" auth can-i list pods 2>&1)"
check_eq "the default ClusterRoles are there once" "1" "$(kubectl get clusterroles -o name | grep -cx clusterrole.rbac.authorization.k8s.io/view)"
check_match "--insecure-http refuses a non-loopback address" "loopback only" "$("$SW" master --data-dir "$WORK/x" --insecure-http --bind-address 0.0.0.0 2>&1)"

summary

#!/usr/bin/env bash
# Root suite for pod networking. Never touches the host's routes, forwarding or firewall: a "node"
# network namespace runs the networking code, an "outside" namespace is linked to it by a veth
# (192.168.77.0/24), pods get pinned namespaces of their own. Everything is removed afterwards.
#   scripts/test-network.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the network suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)

if [ -z "${SWL_NODE:-}" ]; then
  NODE=swl-node-$$ OUT=swl-out-$$
  fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)
  T=$(mktemp -d /tmp/swiftlet-net.XXXXXX)
  cleanup_outer() {
    ip netns del "$NODE" 2>/dev/null
    ip netns del "$OUT" 2>/dev/null
    unmount_under "$T"
    rm -rf "$T"
  }
  trap cleanup_outer EXIT
  ip netns add "$NODE" && ip netns add "$OUT" || { echo "cannot create test namespaces" >&2; exit 1; }
  ip link add swl-up-$$ netns "$NODE" type veth peer name swl-out netns "$OUT"
  ip -n "$NODE" link set lo up
  ip -n "$NODE" addr add 192.168.77.1/24 dev swl-up-$$
  ip -n "$NODE" link set swl-up-$$ up
  ip -n "$OUT" link set lo up
  ip -n "$OUT" addr add 192.168.77.2/24 dev swl-out
  ip -n "$OUT" link set swl-out up
  # a server outside that answers with the client address it sees (to observe masquerade)
  ip netns exec "$OUT" /usr/bin/python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = self.client_address[0].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("192.168.77.2", 9000), H).serve_forever()' &
  PYSRV=$!
  SWL_NODE=$NODE SWL_OUT=$OUT T=$T BIN=$BIN ip netns exec "$NODE" bash "$0"
  rc=$?
  kill "$PYSRV" 2>/dev/null; wait "$PYSRV" 2>/dev/null
  check_eq "host ip_forward untouched" "$fwd_before" "$(cat /proc/sys/net/ipv4/ip_forward)"
  check_eq "no test namespaces pinned on the host" "" "$(ip netns list | grep -E "swl-(node|out)-$$" | grep -v "^$NODE\$\|^$OUT\$" || true)"
  [ "$rc" = 0 ] && [ "$FAIL" = 0 ]
  exit $?
fi

# ---- inside the node namespace ----
S="$BIN/swiftlet"
ST="$T/state"
N="$S net --state-dir $ST"
PODS=$T/pods
mkdir -p "$PODS" "$T/www"
echo hello-from-pod > "$T/www/index.html"
HTTPD=()
cleanup() {
  for p in "${HTTPD[@]}"; do kill "$p" 2>/dev/null; done
  for f in "$PODS"/*; do [ -e "$f" ] && "$S" net netns del "$f" 2>/dev/null; done
  $N teardown 2>/dev/null
  $N --cni --cni-conf-dir "$T/cni" --cni-bin-dir /usr/lib/cni teardown 2>/dev/null
}
trap cleanup EXIT
in_pod() { local p=$1; shift; nsenter --net="$PODS/$p" "$@"; }
ipof() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ip"])' "$1"; }

echo "# built-in network"
$N setup
check_eq "node setup" "0" "$?"
check_match "bridge holds the gateway" "swiftlet0 .* 10.88.0.1/24" "$(ip -br addr show swiftlet0)"
check_match "bridge is up" "<.*,UP.*>" "$(ip link show swiftlet0)"
check_eq "forwarding enabled in the node (NAT on)" "1" "$(cat /proc/sys/net/ipv4/ip_forward)"
for p in a b; do "$S" net netns add "$PODS/$p"; done
A=$(ipof "$($N add --netns "$PODS/a" --name web-a --pod-files "$T/podfiles-a" --cluster-dns 10.43.0.10 --host-alias 10.1.2.3=db.local,cache.local pod-a)")
B=$(ipof "$($N add --netns "$PODS/b" --port 8080:80 pod-b)")
check_match "pod addresses" "^10\.88\.0\.[0-9]+ 10\.88\.0\.[0-9]+$" "$A $B"
check_match "eth0 in the pod with its address" "eth0@.* UP +$A/24" "$(in_pod a ip -br addr show eth0)"
check_match "lo is up in the pod" "lo +UNKNOWN +127.0.0.1/8" "$(in_pod a ip -br addr show lo)"
check_match "default route via the gateway" "default via 10.88.0.1 dev eth0" "$(in_pod a ip route)"
check_match "pod MTU is the node's default-route MTU (1500 here)" "mtu 1500 " "$(in_pod a ip -o link show eth0)"
check_match "two pods ping each other" " 0% packet loss" "$(in_pod a busybox ping -c 2 -W 2 "$B")"
nsenter --net="$PODS/b" busybox httpd -f -p 80 -h "$T/www" & HTTPD+=($!)
sleep 0.3
check_eq "the node reaches an httpd in a pod" "hello-from-pod" "$(curl -s -m 5 "http://$B/")"
check_match "a pod reaches the node" " 0% packet loss" "$(in_pod a busybox ping -c 1 -W 2 10.88.0.1)"
check_eq "hostPort from outside the node reaches the pod" "hello-from-pod" "$(ip netns exec "$SWL_OUT" curl -s -m 5 http://192.168.77.1:8080/ 2>&1)"
check_eq "hostPort from the node itself" "hello-from-pod" "$(curl -s -m 5 http://192.168.77.1:8080/ 2>&1)"
check_eq "hostPort from another pod (hairpin via the node address)" "hello-from-pod" "$(in_pod a curl -s -m 5 http://192.168.77.1:8080/ 2>&1)"
check_eq "outbound traffic is masqueraded (outside sees the node address)" "192.168.77.1" "$(in_pod a curl -s -m 5 http://192.168.77.2:9000/ 2>&1)"
echo "# containers of a pod share its network namespace and its hosts/resolv.conf"
"$here/make-rootfs.sh" "$T/rootfs"
mkdir -p "$T/bundle" && (cd "$T/bundle" && "$S" oci spec --rootfs "$T/rootfs")
OCI="$S oci --root $T/oci"
setcfg "$T/bundle/config.json" "
c['hostname'] = 'web-a'
c['linux']['namespaces'] = [n for n in c['linux']['namespaces'] if n['type'] != 'network'] + [{'type': 'network', 'path': '$PODS/a'}]
c['mounts'] += [{'destination': '/etc/hosts', 'type': 'bind', 'source': '$T/podfiles-a/hosts', 'options': ['rbind', 'ro']},
                {'destination': '/etc/resolv.conf', 'type': 'bind', 'source': '$T/podfiles-a/resolv.conf', 'options': ['rbind', 'ro']},
                {'destination': '/www', 'type': 'bind', 'source': '$T/www', 'options': ['rbind', 'ro']}]
c['process']['args'] = ['httpd', '-f', '-p', '127.0.0.1:8088', '-h', '/www']"
$OCI create -b "$T/bundle" --detach-stdio web </dev/null && $OCI start web
setcfg "$T/bundle/config.json" "c['process']['args'] = ['sh', '-c', 'sleep 0.3; cat /etc/hosts /etc/resolv.conf; wget -q -O - http://127.0.0.1:8088/; ip -o -4 addr show eth0']"
OUT=$($OCI run -b "$T/bundle" client 2>&1)
check_match "the pod's /etc/hosts in its container: pod IP and hostname" "$A	web-a" "$OUT"
check_match "hostAliases" "10.1.2.3	db.local	cache.local" "$OUT"
check_match "resolv.conf (ClusterFirst)" "search default.svc.cluster.local svc.cluster.local cluster.local.*nameserver 10.43.0.10.*options ndots:5" "$(echo $OUT)"
check_match "two containers of the pod talk over localhost" "hello-from-pod" "$OUT"
check_match "a container sees the pod's eth0 and address" "eth0 +inet $A/24" "$OUT"
$OCI delete -f web
check_eq "pod containers removed" "" "$($OCI list -q)"

OUT=$($N add --netns "$PODS/a" --port 8080:81 pod-c 2>&1)
check_match "a hostPort already in use is refused" "host port 8080/tcp is already used by pod-b" "$OUT"
check_eq "ADD is idempotent per pod" "$A" "$(ipof "$($N list | awk '$1=="pod-a" {print "{\"ip\":\""$2"\"}"}')")"
kill "${HTTPD[@]}" 2>/dev/null; HTTPD=()
$N del pod-a && $N del pod-b && $N del pod-b
check_eq "DEL (twice) succeeds" "0" "$?"
check_eq "no veth left" "" "$(ip -br link show type veth | grep -v swl-up || true)"
check_eq "hostPort rules removed" "" "$(nft list map ip swiftlet hostports | grep -E 'tcp|udp' || true)"
check_eq "addresses released" "" "$($N list)"

echo "# IPAM survives restarts and reclaims"
X=$(ipof "$($N add --netns "$PODS/a" pod-x)")
check_eq "allocation persisted (a new process sees it)" "pod-x $X" "$($N list | awk '{print $1, $2}')"
$N reclaim >/dev/null
check_eq "start-up reclaim releases pods that no longer exist" "" "$($N list)"
check_eq "and removes their veth" "" "$(ip -br link show type veth | grep -v swl-up || true)"

echo "# 50 pods set up concurrently"
for i in $(seq 50); do "$S" net netns add "$PODS/c$i" & done; wait
for i in $(seq 50); do ( $N add --netns "$PODS/c$i" c$i > "$T/c$i.json" 2> "$T/c$i.err" ) & done; wait
ips=$(cat "$T"/c*.json | /usr/bin/python3 -c 'import json,sys; print("\n".join(json.loads(l)["ip"] for l in sys.stdin))' | sort)
check_eq "50 pods got addresses" "50" "$(echo "$ips" | grep -c .)"
check_eq "all distinct" "50" "$(echo "$ips" | sort -u | grep -c .)"
check_eq "no errors" "" "$(cat "$T"/c*.err)"
check_match "pod 1 reaches pod 50" " 0% packet loss" "$(in_pod c1 busybox ping -c 1 -W 2 "$(ipof "$(cat "$T/c50.json")")")"
for i in $(seq 50); do $N del c$i & done; wait
for i in $(seq 50); do "$S" net netns del "$PODS/c$i"; done
check_eq "teardown of 50 pods leaves no veth" "" "$(ip -br link show type veth | grep -v swl-up || true)"
check_eq "and no allocation" "" "$($N list)"
"$S" net netns del "$PODS/a"; "$S" net netns del "$PODS/b"
check_eq "pinned namespaces removed" "" "$(ls "$PODS")"
check_eq "no pin mounts left" "" "$(grep "$PODS" /proc/self/mountinfo || true)"
$N teardown
check_eq "teardown removes the bridge" "" "$(ip -br link show swiftlet0 2>/dev/null)"
check_eq "teardown removes the nftables table" "" "$(nft list tables | grep swiftlet || true)"
check_eq "teardown restores ip_forward" "0" "$(cat /proc/sys/net/ipv4/ip_forward)"

echo "# CNI mode (containernetworking-plugins)"
mkdir -p "$T/cni"
cat > "$T/cni/10-swl.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "swl-cni", "plugins": [
  {"type": "bridge", "bridge": "cni-swl", "isGateway": true, "ipMasq": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$T/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
C="$S net --state-dir $ST --cni --cni-conf-dir $T/cni --cni-bin-dir /usr/lib/cni"
for p in a b; do "$S" net netns add "$PODS/$p"; done
A=$(ipof "$($C add --netns "$PODS/a" --namespace ns1 --name web-a cni-a)")
B=$(ipof "$($C add --netns "$PODS/b" --namespace ns1 --name web-b --port 8081:80 cni-b)")
check_match "CNI pod addresses from host-local" "^10\.99\.0\.[0-9]+ 10\.99\.0\.[0-9]+$" "$A $B"
check_match "loopback plugin brought lo up" "lo +UNKNOWN +127.0.0.1/8" "$(in_pod a ip -br addr show lo)"
check_match "CNI: two pods ping each other" " 0% packet loss" "$(in_pod a busybox ping -c 2 -W 2 "$B")"
nsenter --net="$PODS/b" busybox httpd -f -p 80 -h "$T/www" & HTTPD+=($!)
sleep 0.3
check_eq "CNI: the node reaches a pod's httpd" "hello-from-pod" "$(curl -s -m 5 "http://$B/")"
check_eq "CNI: portmap hostPort from outside" "hello-from-pod" "$(ip netns exec "$SWL_OUT" curl -s -m 5 http://192.168.77.1:8081/ 2>&1)"
check_eq "CNI: masquerade" "192.168.77.1" "$(in_pod a curl -s -m 5 http://192.168.77.2:9000/ 2>&1)"
$C check --netns "$PODS/a" cni-a
check_eq "CNI CHECK with the cached result" "0" "$?"
check_match "ADD result cached on disk (K8S args recorded)" '"name":"web-b"' "$(cat "$ST"/cni/results/swl-cni-cni-b-eth0)"
kill "${HTTPD[@]}" 2>/dev/null; HTTPD=()
# DEL from a fresh process without the port mappings: they come from the cache
$C del --netns "$PODS/b" cni-b
check_eq "CNI DEL after a restart (from the cache)" "0" "$?"
check_eq "portmap rules gone" "" "$(iptables-save 2>/dev/null | grep -- '--dport 8081' || true)"
$C del --netns "$PODS/a" cni-a
check_eq "CNI DEL is idempotent" "0" "$($C del --netns "$PODS/a" cni-a; echo $?)"
check_eq "no CNI veth left" "" "$(ip -br link show type veth | grep -v swl-up || true)"
check_eq "host-local released both addresses" "" "$(ls "$T/cni-ipam/swl-cni" 2>/dev/null | grep -E '^10\.' || true)"
mv "$T/cni/10-swl.conflist" "$T/cni/bad.txt"
OUT=$($C add --netns "$PODS/a" cni-x 2>&1)
check_match "no CNI config: clear error" "no CNI network configuration in $T/cni" "$OUT"
echo '{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"nosuchplugin"}]}' > "$T/cni/20-bad.conflist"
OUT=$($C add --netns "$PODS/a" cni-x 2>&1)
check_match "missing plugin: clear error" 'CNI plugin "nosuchplugin" not found in /usr/lib/cni' "$OUT"
ip link del cni-swl 2>/dev/null
for p in a b; do "$S" net netns del "$PODS/$p"; done

echo "# bad input"
$N setup
OUT=$($N add --netns /nonexistent pod-z 2>&1)
check_match "missing namespace: clear error" "open /nonexistent: No such file or directory" "$OUT"
check_eq "and its address was released" "" "$($N list)"
$N teardown
OUT=$($N --subnet 10.1.2.3/33 setup 2>&1)
check_match "bad subnet refused" 'subnet: "10.1.2.3/33" is not an IPv4 CIDR' "$OUT"

summary

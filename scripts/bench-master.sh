#!/usr/bin/env bash
# API server throughput on loopback, in one run: `swiftlet master` on SQLite and on etcd, against
# the peer underneath it — etcd's own v3 API with the same request count and concurrency (the
# floor an etcd-backed API server pays per write). ab (apache2-utils) drives every side.
#   creates: POST a ConfigMap with generateName (every request a new object, validated, defaulted,
#            managedFields recorded, one guarded write)
#   gets:    GET one ConfigMap;   lists: GET all ConfigMaps of the namespace (N objects)
#   scripts/bench-master.sh [REQUESTS] [CONCURRENCY] [BIN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-2000}
C=${2:-16}
BIN=$(cd "${3:-$here/../bin}" && pwd)
S=$BIN/swiftlet
command -v ab >/dev/null || { echo "bench-master: needs ab (apt-get install apache2-utils)" >&2; exit 1; }
command -v etcd >/dev/null || { echo "bench-master: needs etcd (apt-get install etcd-server)" >&2; exit 1; }
T=$(mktemp -d /tmp/swiftlet-bench-master.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

EP=http://127.0.0.1:23791
etcd --data-dir "$T/etcd" --listen-client-urls $EP --advertise-client-urls $EP \
  --listen-peer-urls http://127.0.0.1:23792 --initial-advertise-peer-urls http://127.0.0.1:23792 \
  --initial-cluster default=http://127.0.0.1:23792 --log-level error >"$T/etcd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s $EP/health | grep -q true && break; sleep 0.1; done

start() { # NAME PORT [args]
  local name=$1 port=$2; shift 2
  "$S" master --data-dir "$T/$name" --secure-port "$port" "$@" >"$T/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do grep -q "master ready" "$T/$name.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "master $name did not start"; cat "$T/$name.log"; exit 1
}
start sqlite 16481 --insecure-http
start etcd 16482 --etcd-servers $EP --insecure-http
# the default: HTTPS, a bearer token authenticated, RBAC authorizing (a plain user bound to edit)
echo 'bench-token-0123456789,bench,1001' >"$T/tokens.csv"
start secure 16483 --token-auth-file "$T/tokens.csv"
KUBECONFIG="$T/secure/admin.kubeconfig" kubectl create rolebinding bench-edit --clusterrole=edit --user=bench >/dev/null
AUTH="Authorization: Bearer bench-token-0123456789"

rps() { awk '/Requests per second/ {print $4}'; }
p50() { awk '/^ +50%/ {print $2}'; }
# failures: connect/receive errors, exceptions and non-2xx answers (not "Length": every new
# object's resourceVersion makes the bodies differ in length)
fails() { awk '/Connect: [0-9]+, Receive/ {gsub(/[(),]/, ""); s += $2 + $4 + $8} /^Non-2xx responses/ {s += $NF} END {print s + 0}'; }
run_ab() { # LABEL ab-args... -> "rps p50 failures"
  local out
  out=$(ab -q -k "$@" 2>&1)
  echo "$(echo "$out" | rps) $(echo "$out" | p50) $(echo "$out" | fails)"
}

printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"bench-"},"data":{"k":"%s"}}' "$(head -c 512 /dev/zero | tr '\0' v)" >"$T/cm.json"
K=$(printf '/bench/key' | base64 -w0); V=$(head -c 640 /dev/zero | tr '\0' v | base64 -w0)
printf '{"key":"%s","value":"%s"}' "$K" "$V" >"$T/put.json"
printf '{"key":"%s"}' "$K" >"$T/range.json"

declare -A R
for side in sqlite etcd; do
  port=$([ $side = sqlite ] && echo 16481 || echo 16482)
  base=http://127.0.0.1:$port/api/v1/namespaces/default/configmaps
  R[$side.create]=$(run_ab -n "$N" -c "$C" -p "$T/cm.json" -T application/json "$base")
  one=$(curl -s "$base?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["metadata"]["name"])')
  R[$side.get]=$(run_ab -n "$N" -c "$C" "$base/$one")
  R[$side.list]=$(run_ab -n 40 -c 4 "$base")
done
base=https://127.0.0.1:16483/api/v1/namespaces/default/configmaps
R[secure.create]=$(run_ab -H "$AUTH" -n "$N" -c "$C" -p "$T/cm.json" -T application/json "$base")
one=$(curl -sk -H "$AUTH" "$base?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["metadata"]["name"])')
R[secure.get]=$(run_ab -H "$AUTH" -n "$N" -c "$C" "$base/$one")
R[secure.list]=$(run_ab -H "$AUTH" -n 40 -c 4 "$base")
R[peer.create]=$(run_ab -n "$N" -c "$C" -p "$T/put.json" -T application/json "$EP/v3/kv/put")
R[peer.get]=$(run_ab -n "$N" -c "$C" -p "$T/range.json" -T application/json "$EP/v3/kv/range")

echo "swiftlet master, $N requests at concurrency $C (lists: 40 at 4, of $N ConfigMaps), loopback"
printf '%-8s %-24s %-24s %-24s %-24s\n' "" "SQLite master (HTTP)" "etcd master (HTTP)" "etcd v3 API (peer)" "SQLite, HTTPS+token+RBAC"
for op in create get list; do
  row=("${R[sqlite.$op]}" "${R[etcd.$op]}" "${R[peer.$op]:-- - -}" "${R[secure.$op]}")
  printf '%-8s' "$op"
  for r in "${row[@]}"; do set -- $r; printf ' %-24s' "$1/s p50 ${2}ms fail $3"; done
  echo
done
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}' if b else '-')" "$1" "$2"; }
set -- ${R[etcd.create]}; ec=$1; set -- ${R[peer.create]}; pc=$1; set -- ${R[sqlite.create]}; sc=$1
set -- ${R[etcd.get]}; eg=$1; set -- ${R[peer.get]}; pg=$1
set -- ${R[secure.get]}; xg=$1; set -- ${R[sqlite.get]}; sg=$1; set -- ${R[secure.create]}; xc=$1
echo "ratios: HTTPS+token+RBAC / plain HTTP (SQLite): gets $(ratio "$xg" "$sg"), creates $(ratio "$xc" "$sc")"
echo "ratios: etcd-master creates / etcd puts = $(ratio "$ec" "$pc"); etcd-master gets / etcd ranges = $(ratio "$eg" "$pg"); SQLite master creates / etcd master creates = $(ratio "$sc" "$ec")"

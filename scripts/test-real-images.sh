#!/usr/bin/env bash
# Root suite with real Debian-built images: mmdebstrap builds an nginx and a PostgreSQL root
# filesystem from Debian's packages, make-images.py wraps each as an OCI layout, and the agent
# (defaults, in a throwaway node network namespace) runs them as pods the way a user writes them:
# nginx answers HTTP on the pod IP, postgres passes pg_isready and runs a query, readiness
# probes of both pass, and both survive an agent restart.
#   scripts/test-real-images.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the real-images suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
NODE=swl-real-$$
T=$(mktemp -d /tmp/swiftlet-real.XXXXXX)
M=$T/manifests
mkdir -p "$M" "$T/build"
SOCK=$T/run/agent.sock
CG="swiftlet-real-$$"
AGENT_PID=
ARGS=(--node-name node1 --manifests "$M" --root-dir "$T/root" --run-dir "$T/run" --pod-logs-dir "$T/logs"
      --allow-unenforced-resources --file-check-frequency 2
      --bridge swl-real0 --pod-subnet 10.94.0.0/24 --cgroup-root "$CG" --node-ip 192.0.2.12)

cleanup() { agent_teardown "$CG"; }
trap cleanup EXIT

ps_() { timeout 10 "$S" ps --socket "$SOCK" "$@" 2>&1; }
pod_json() { timeout 10 "$S" inspect --socket "$SOCK" "$1" 2>/dev/null; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
ready() { [ "$(pod_json "$1" | jq_ '[c["status"] for c in d["status"]["conditions"] if c["type"] == "Ready"][0]')" = "True" ]; }
pod_ip() { pod_json "$1" | jq_ 'd["status"]["podIP"]'; }
in_node() { nsenter --net=/run/netns/$NODE "$@"; }

# --- images from Debian packages (both built at once: two cores) ---------------------------------
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is not installed (scripts/install-deps.sh --images)" >&2; exit 1; }
slim=(--variant=minbase --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
      --dpkgopt='path-exclude=/usr/share/locale/*')
t0=$(date +%s)
mmdebstrap "${slim[@]}" --include=nginx-light bookworm "$T/build/nginx.tar" >"$T/build/nginx.log" 2>&1 &
b1=$!
mmdebstrap "${slim[@]}" --include=postgresql bookworm "$T/build/pg.tar" >"$T/build/pg.log" 2>&1 &
b2=$!
wait $b1 || { echo "mmdebstrap nginx failed: $(tail -5 "$T/build/nginx.log")" >&2; exit 1; }
wait $b2 || { echo "mmdebstrap postgresql failed: $(tail -5 "$T/build/pg.log")" >&2; exit 1; }
PATHENV='"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
python3 "$here/make-images.py" --rootfs-tar "$T/build/nginx.tar" "$T/build/nginx" \
  '{"Cmd": ["nginx", "-g", "daemon off;"], "Env": ['"$PATHENV"'], "ExposedPorts": {"80/tcp": {}}}' || exit 1
PGBIN=$(tar -tf "$T/build/pg.tar" | grep -m1 -oE 'usr/lib/postgresql/[0-9]+/bin/postgres$')
PGVER=$(echo "$PGBIN" | cut -d/ -f4)
python3 "$here/make-images.py" --rootfs-tar "$T/build/pg.tar" "$T/build/postgres" \
  '{"Entrypoint": ["/'"$PGBIN"'"], "Cmd": ["-D", "/var/lib/postgresql/'"$PGVER"'/main", "-c", "config_file=/etc/postgresql/'"$PGVER"'/main/postgresql.conf"], "User": "postgres", "Env": ['"$PATHENV"', "PGDATA=/var/lib/postgresql/'"$PGVER"'/main"]}' || exit 1
rm -f "$T/build/"*.tar
echo "# images built from Debian packages in $(( $(date +%s) - t0 )) s (postgres $PGVER)"
"$S" images import --store "$T/root/images" --name debian/nginx:bookworm "$T/build/nginx" >/dev/null || { echo "import nginx failed" >&2; exit 1; }
"$S" images import --store "$T/root/images" --name debian/postgres:bookworm "$T/build/postgres" >/dev/null || { echo "import postgres failed" >&2; exit 1; }

ip netns add "$NODE" && ip -n "$NODE" link set lo up
agent_start || exit 1

cat > "$M/web.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: nginx
    image: debian/nginx:bookworm
    ports: [{containerPort: 80}]
    readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 2}
    resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 256Mi}}
EOF
cat > "$M/db.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: db, labels: {app: db}}
spec:
  containers:
  - name: postgres
    image: debian/postgres:bookworm
    ports: [{containerPort: 5432}]
    readinessProbe: {exec: {command: [pg_isready, -q]}, periodSeconds: 2}
    resources: {requests: {cpu: 100m, memory: 128Mi}}
    # the socket directory systemd-tmpfiles makes on a booted Debian system (empty in an image)
    volumeMounts: [{name: run, mountPath: /run/postgresql}]
  volumes:
  - {name: run, emptyDir: {medium: Memory}}
EOF

wait_for 90 ready web-node1 && ok "nginx (Debian's nginx-light) is Ready by its httpGet probe" \
  || not_ok "nginx Ready" "$(ps_ -a; pod_json web-node1 | head -c 600; tail -5 "$T/agent.log")"
ip=$(pod_ip web-node1)
check_match "nginx serves its page on the pod IP $ip:80" "Welcome to nginx" "$(in_node curl -s --max-time 5 "http://$ip/")"
check_eq "nginx answers 404 for a missing page" "404" "$(in_node curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$ip/missing")"
check_match "an nginx worker runs as www-data (uid 33), the master as root" "33 0" \
  "$(timeout 10 "$S" exec --socket "$SOCK" web-node1 -- sh -c 'for p in /proc/[0-9]*; do grep -q "^Name:.nginx" $p/status 2>/dev/null && awk "/^Uid/ {print \$2}" $p/status; done | sort -ru | tr "\n" " "' 2>&1)"
wait_for 120 ready db-node1 && ok "postgres is Ready by its pg_isready exec probe" \
  || not_ok "postgres Ready" "$(ps_ -a; tail -20 "$T"/logs/default_db-node1_*/postgres/*.log 2>/dev/null; tail -5 "$T/agent.log")"
check_match "pg_isready reports the server accepting connections" "accepting connections" \
  "$(timeout 20 "$S" exec --socket "$SOCK" db-node1 -- pg_isready 2>&1)"
q() { timeout 20 "$S" exec --socket "$SOCK" db-node1 -- psql -X -A -t -v ON_ERROR_STOP=1 -c "$1" 2>&1; }
q "CREATE TABLE t (id int PRIMARY KEY, v text)" >/dev/null
q "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g" >/dev/null
check_eq "a query over the rows just written" "1000|500500" "$(q 'SELECT count(*), sum(id) FROM t')"
check_eq "postgres runs as the image's user" "postgres" "$(q 'SELECT current_user')"
dbip=$(pod_ip db-node1)
check_eq "postgres listens on localhost only (the Debian default), not on the pod IP $dbip" "" \
  "$(in_node timeout 3 bash -c "exec 3<>/dev/tcp/$dbip/5432" 2>/dev/null && echo open)"

# an agent restart keeps both pods and their data
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
agent_start || not_ok "agent restart" "$(tail -5 "$T/agent.log")"
wait_for 30 ready db-node1 && wait_for 30 ready web-node1 && ok "both pods Ready again after kill -9 of the agent" \
  || not_ok "Ready after agent restart" "$(ps_ -a)"
check_eq "the rows are still there" "1000" "$(q 'SELECT count(*) FROM t')"
check_eq "no container was restarted by the agent restart" "0 0" \
  "$(pod_json web-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]') $(pod_json db-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]')"

# graceful stop: postgres gets SIGTERM and shuts down cleanly
rm -f "$M/db.yaml"
no_db() { [ "$(ps_ | grep -c db-node1)" = 0 ]; }
wait_for 60 no_db && ok "the postgres pod is removed" || not_ok "postgres removed" "$(ps_ -a)"
check_match "postgres shut down cleanly on SIGTERM within its grace period (exit 0)" 'container=postgres.*exitCode=0.*graceful=true' \
  "$(grep 'container stopped' "$T/agent.log" | grep postgres)"
summary

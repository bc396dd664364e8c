#!/usr/bin/env bash
# Root suite for the node agent (static pods). The agent runs inside a throwaway "node" network
# namespace (nsenter --net: same mount namespace, so sandboxes and rootfs mounts stay visible to a
# restarted agent); everything it creates lives under a temp dir and is removed afterwards.
#   scripts/test-agent.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the agent suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
NODE=swl-agent-$$
T=$(mktemp -d /tmp/swiftlet-agent.XXXXXX)
M=$T/manifests
mkdir -p "$M"
SOCK=$T/run/agent.sock
AGENT_PID=
ARGS=(--node-name node1 --manifests "$M" --root-dir "$T/root" --run-dir "$T/run" --pod-logs-dir "$T/logs"
      --healthz-port 0 --allow-unenforced-resources --backoff-initial 1 --backoff-max 4 --file-check-frequency 2
      --bridge swl-agent0 --pod-subnet 10.89.0.0/24 --cgroup-root "swiftlet-test-$$" --node-ip 192.0.2.7)

cleanup() {
  [ -n "${RP:-}" ] && kill -9 "$RP" 2>/dev/null   # a `swiftlet run -f` a failed test left
  agent_teardown "swiftlet-test-$$" "$T"/run/run/*/containers
}
trap cleanup EXIT

python3 "$here/make-images.py" "$T/imgs" >/dev/null || { echo "image build failed" >&2; exit 1; }
"$S" images import --store "$T/root/images" --name busybox:test "$T/imgs/busybox" >/dev/null
ip netns add "$NODE" && ip -n "$NODE" link set lo up

ps_() { timeout 10 "$S" ps --socket "$SOCK" "$@" 2>&1; }
pod_json() { timeout 10 "$S" inspect --socket "$SOCK" "$1" 2>/dev/null; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
phase_is() { [ "$(pod_json "$1" | jq_ 'd["status"]["phase"]')" = "$2" ]; }
running() { [ "$(pod_json "$1" | jq_ 'sum(1 for c in d["status"]["containerStatuses"] if "running" in c["state"])')" = "$2" ]; }
manifest() {  # manifest NAME YAML-SPEC-BODY (indented 2); grace 2 s unless the body sets it
  local grace="  terminationGracePeriodSeconds: 2"
  case "$2" in *terminationGracePeriodSeconds*) grace="" ;; esac
  cat > "$M/.$1.tmp" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
$grace
$2
EOF
  mv "$M/.$1.tmp" "$M/$1.yaml"
}

agent_start || exit 1
check_eq "healthz on the socket" "ok" "$(curl -s --max-time 3 --unix-socket "$SOCK" http://agent/healthz)"
check_eq "API socket is root-only" "600" "$(stat -c %a "$SOCK")"

# --- two containers talking over localhost; env, $(VAR), fieldRef ---------------------------
manifest web '  containers:
  - name: server
    image: busybox:test
    command: ["sh", "-c", "mkdir -p /www && echo page-from-$(POD_NAME) > /www/index.html && exec httpd -f -p 8080 -h /www"]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
  - name: client
    image: busybox:test
    command: ["sh", "-c", "until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; exec sleep 3600"]'
wait_for 10 running web-node1 2 && ok "two-container pod running (name <name>-<node>)" || not_ok "two-container pod running" "$(ps_ -a)"
wait_for 5 grep -q page-from-web-node1 "$T"/logs/default_web-node1_*/client/0.log
check_match "containers talk over the pod's localhost; fieldRef expanded" "stdout F page-from-web-node1" "$(cat "$T"/logs/default_web-node1_*/client/0.log 2>/dev/null)"
check_eq "logs CLI" "page-from-web-node1" "$("$S" logs --socket "$SOCK" web-node1 -c client)"
check_eq "exec: hostname is the pod name, pod IP in /etc/hosts" "web-node1|web-node1" \
  "$("$S" exec --socket "$SOCK" web-node1 -c client -- sh -c 'echo "$(hostname)|$(tail -1 /etc/hosts | cut -f2)"' 2>&1)"
ip=$(pod_json web-node1 | jq_ 'd["status"]["podIP"]')
check_eq "pod reachable from the node" "page-from-web-node1" "$(nsenter --net=/run/netns/$NODE curl -s --max-time 3 "http://$ip:8080/")"
check_match "status: Ready and ContainersReady conditions" "Ready:True.*ContainersReady:True" \
  "$(pod_json web-node1 | jq_ '" ".join(c["type"]+":"+c["status"] for c in d["status"]["conditions"])')"

# --- restart policies --------------------------------------------------------------------------
manifest never '  restartPolicy: Never
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "exit 3"]}'
manifest onfail-ok '  restartPolicy: OnFailure
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "exit 0"]}'
wait_for 10 phase_is never-node1 Failed && ok "Never + exit 3 → Failed" || not_ok "Never + exit 3 → Failed" "$(pod_json never-node1 | head -40)"
check_eq "terminated exit code and reason" "3 Error 0" "$(pod_json never-node1 | jq_ '"%s %s %s" % (d["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], d["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], d["status"]["containerStatuses"][0]["restartCount"])')"
wait_for 10 phase_is onfail-ok-node1 Succeeded && ok "OnFailure + exit 0 → Succeeded, not restarted" || not_ok "OnFailure + exit 0" "$(pod_json onfail-ok-node1 | head -40)"
check_eq "Completed reason" "Completed" "$(pod_json onfail-ok-node1 | jq_ 'd["status"]["containerStatuses"][0]["state"]["terminated"]["reason"]')"

# --- crash loop with growing delays (backoff 1 s doubling, max 4 s) ---------------------------
manifest crash '  restartPolicy: OnFailure
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "echo run; exit 1"]}'
restarts() { pod_json crash-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]'; }
wait_for 20 test "$(restarts)" -ge 4
check_match "crash loop restarts counted" "^[4-9]$" "$(restarts)"
check_match "CrashLoopBackOff reason while waiting" "CrashLoopBackOff|running|terminated" "$(ps_ -a | grep -A1 crash-node1 | tail -1)"
gaps=$(for f in $(ls "$T"/logs/default_crash-node1_*/c/ | sort -n); do head -1 "$T"/logs/default_crash-node1_*/c/$f | cut -d' ' -f1; done | python3 -c '
import sys, datetime
ts = [datetime.datetime.fromisoformat(l.strip()[:26]) for l in sys.stdin if l.strip()]
print(" ".join("%.1f" % (b - a).total_seconds() for a, b in zip(ts, ts[1:])))')
check_match "delays grow: ~0, 1, 2, 4 s (gaps: $gaps)" "^0\.[0-9] 1\.[0-9] 2\.[0-9] (4|3)\.[0-9]" "$gaps"
check_eq "lastState carries the exit code" "1" "$(pod_json crash-node1 | jq_ 'd["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"]')"
rm "$M/crash.yaml" "$M/never.yaml" "$M/onfail-ok.yaml"

# --- kill -9 of the agent: adoption ------------------------------------------------------------
manifest counter '  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"]}'
manifest quitter '  restartPolicy: OnFailure
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "sleep 2; exit 7"]}'
wait_for 10 running counter-node1 1
wait_for 10 running quitter-node1 1
pid_before=$(own_pids 'httpd -f -p 8080' | head -1)
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
lines_at_kill=$(cat "$T"/logs/default_counter-node1_*/c/0.log | wc -l)
sleep 3   # the counter keeps logging, the quitter exits with 7 while no agent runs
lines_before_restart=$(cat "$T"/logs/default_counter-node1_*/c/0.log | wc -l)
check_match "logs keep flowing without the agent ($lines_at_kill → $lines_before_restart)" "^[0-9]+$" "$(( lines_before_restart - lines_at_kill - 20 ))"
agent_start
check_match "the web container's process is found before the restart" "^[0-9]+$" "$pid_before"
check_eq "same container PID after restart" "$pid_before" "$(own_pids 'httpd -f -p 8080' | head -1)"
check_eq "no restart counted for survivors" "0 0" "$(pod_json web-node1 | jq_ '" ".join(str(c["restartCount"]) for c in d["status"]["containerStatuses"])')"
wait_for 10 test "$(pod_json quitter-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]')" = 1
check_eq "container that exited meanwhile: real exit code, policy applied" "7 1" \
  "$(pod_json quitter-node1 | jq_ '"%s %s" % (d["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], d["status"]["containerStatuses"][0]["restartCount"])')"
seq_ok=$(grep -o 'line [0-9]*' "$T"/logs/default_counter-node1_*/c/0.log | awk '{ if ($2 != NR-1) bad=1 } END { print bad ? "gap" : "complete" }')
check_eq "every log line written meanwhile is there" "complete" "$seq_ok"
rm "$M/counter.yaml" "$M/quitter.yaml"

# --- graceful stop: TERM handled vs ignored (SIGKILL at the grace deadline) ---------------------
manifest polite '  terminationGracePeriodSeconds: 10
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "trap \"exit 0\" TERM; echo trap-set; while true; do sleep 0.1; done"]}'
manifest stubborn '  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "trap \"\" TERM; echo trap-set; while true; do sleep 0.1; done"]}'
wait_for 10 running polite-node1 1; wait_for 10 running stubborn-node1 1
# "running" comes before the shell has run its trap: TERM sent earlier would kill it at once
trap_set() { grep -qs trap-set "$T"/logs/default_"$1"_*/c/0.log; }
wait_for 10 trap_set polite-node1 || not_ok "polite installed its TERM trap" "$(ps_)"
wait_for 10 trap_set stubborn-node1 || not_ok "stubborn installed its TERM trap" "$(ps_)"
gone() { ! ps_ | grep -q "$1"; }
t0=$(date +%s%N); rm "$M/polite.yaml"; wait_for 15 gone polite-node1; t1=$(date +%s%N)
check_match "TERM handled: stopped well inside the grace period ($(( (t1 - t0) / 1000000 )) ms)" "^[0-9]{1,4}$" "$(( (t1 - t0) / 1000000 ))"
t0=$(date +%s%N); rm "$M/stubborn.yaml"
wait_for 3 sh -c "timeout 10 \"$S\" ps --socket $SOCK | grep -q 'stubborn-node1 .*Terminating'" && ok "a stopping pod shows as Terminating" || not_ok "Terminating shown" "$(ps_)"
wait_for 15 gone stubborn-node1; t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check_match "TERM ignored: SIGKILL after the 2 s grace period ($ms ms)" "^(2|3)[0-9]{3}$" "$ms"

# --- manifest edit and removal: nothing left behind ---------------------------------------------
uid1=$(pod_json web-node1 | jq_ 'd["metadata"]["uid"]')
sed -i 's/exec sleep 3600/exec sleep 3601/' "$M/web.yaml"
wait_for 40 sh -c "[ \"\$(\"$S\" inspect --socket $SOCK web-node1 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"metadata\"][\"uid\"], sum(1 for c in d[\"status\"][\"containerStatuses\"] if \"running\" in c[\"state\"]))')\" != \"$uid1 2\" ] && [ \"\$(\"$S\" inspect --socket $SOCK web-node1 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for c in d[\"status\"][\"containerStatuses\"] if \"running\" in c[\"state\"]))')\" = 2 ]"
uid2=$(pod_json web-node1 | jq_ 'd["metadata"]["uid"]')
check_nomatch "edit → a new pod (new UID) running" "^$uid1$|^$" "$uid2"
check_eq "old pod's dirs gone" "absent" "$([ -e "$T/root/pods/$uid1" ] || [ -e "$T/run/agent/sandboxes/$uid1" ] && echo present || echo absent)"
rm "$M/web.yaml"
wait_for 40 gone web-node1
check_eq "removal: no pods, sandboxes, containers, snapshots, logs" "0 0 0 0 0" \
  "$(ls "$T/root/pods" | wc -l) $(ls "$T/run/agent/sandboxes" | wc -l) $(ls "$T/run/agent/containers" | wc -l) $(ls "$T/root/images/snapshots" | wc -l) $(ls "$T/logs" | wc -l)"
check_eq "removal: no mounts left under the agent's dirs" "0" "$(awk -v t="$T" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)"
check_eq "removal: no pod addresses allocated" "0" "$(ls "$T/root/network" 2>/dev/null | grep -c '^10\.' || true)"
check_eq "removal: no veths left on the node" "0" "$(ip -n "$NODE" -o link show type veth | wc -l)"

# --- bad manifests: reported, others unaffected, agent healthy ---------------------------------
manifest good '  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:test, command: [sleep, "3600"]}'
printf 'apiVersion: v1\nkind: Pod\nmetadata: [\n' > "$M/bad-yaml.yaml"
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n' > "$M/bad-kind.yaml"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec:\n  containers:\n  - {name: c}\n' > "$M/bad-image.yaml"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers:\n  - {name: c, image: busybox:test}\n' > "$M/bad-name.yaml"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' '#' > "$M/huge.yaml"
echo 'not a manifest' > "$M/.hidden.yaml"
wait_for 10 running good-node1 1 && ok "a good pod runs beside bad manifests" || not_ok "good pod" "$(ps_)"
out=$(ps_)
check_match "invalid YAML reported" "bad-yaml.yaml: invalid YAML" "$out"
check_match "wrong kind reported" 'bad-kind.yaml: kind: Unsupported value: "Deployment"' "$out"
check_match "missing image reported" 'bad-image.yaml: spec.containers\[0\].image: Required value' "$out"
check_match "invalid name reported" 'bad-name.yaml: metadata.name: Invalid value: "Bad_Name"' "$out"
check_match "10 MiB file refused" "huge.yaml: manifest is 10485760 bytes; the limit is 1048576" "$out"
check_nomatch "dotfiles ignored" "hidden" "$out"
check_eq "agent still alive" "alive" "$(kill -0 "$AGENT_PID" 2>/dev/null && echo alive)"

# --- orphans: a pod whose manifest vanished while the agent was down ----------------------------
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
rm "$M/good.yaml"
agent_start
wait_for 20 sh -c "[ \$(ls $T/root/pods | wc -l) = 0 ]"
check_eq "pod removed while the agent was down is cleaned at start-up" "0 0 0" \
  "$(ls "$T/root/pods" | wc -l) $(ls "$T/run/agent/containers" | wc -l) $(awk -v t="$T/run/agent/sandboxes" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)"

# --- shared PID namespace; host namespaces ------------------------------------------------------
manifest shared '  shareProcessNamespace: true
  containers:
  - {name: a, image: busybox:test, command: [sleep, "3333"]}
  - {name: b, image: busybox:test, command: [sleep, "3600"]}'
manifest hostns '  hostNetwork: true
  hostPID: true
  hostIPC: true
  containers:
  - {name: h, image: busybox:test, command: [sleep, "3600"]}'
wait_for 15 running shared-node1 2 && wait_for 15 running hostns-node1 1
out=$("$S" exec --socket "$SOCK" shared-node1 -c b -- ps -o pid,args 2>&1)
check_match "shareProcessNamespace: container b sees container a's process" "sleep 3333" "$out"
check_match "shareProcessNamespace: PID 1 is the sandbox's pause process" "^ +1 .*swiftlet-pause pause" "$out"
check_eq "hostNetwork: the node's interfaces (the pod bridge) are visible" "swl-agent0" \
  "$("$S" exec --socket "$SOCK" hostns-node1 -- sh -c 'ls /sys/class/net | grep swl-agent0' 2>&1)"
check_eq "hostPID: the node's PID namespace" "$(readlink /proc/self/ns/pid)" "$("$S" exec --socket "$SOCK" hostns-node1 -- readlink /proc/self/ns/pid 2>&1)"
check_eq "hostIPC: the node's IPC namespace" "$(readlink /proc/self/ns/ipc)" "$("$S" exec --socket "$SOCK" hostns-node1 -- readlink /proc/self/ns/ipc 2>&1)"
check_eq "hostNetwork: podIP is the node IP" "192.0.2.7 192.0.2.7" "$(pod_json hostns-node1 | jq_ 'd["status"]["podIP"] + " " + d["status"]["hostIP"]')"
pause=$(own_pause_pids | head -1)
check_match "the shared pod's pause process is found" "^[0-9]+$" "$pause"
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
agent_start
check_eq "adoption keeps the pause process and the containers" "$pause 2" \
  "$(own_pause_pids | head -1) $(pod_json shared-node1 | jq_ 'sum(1 for c in d["status"]["containerStatuses"] if "running" in c["state"] and c["restartCount"] == 0)')"
rm "$M/shared.yaml" "$M/hostns.yaml"
wait_for 20 sh -c "! kill -0 $pause 2>/dev/null && [ \$(ls $T/root/pods | wc -l) = 0 ]"
check_eq "removal ends the pause process and leaves no pod dir" "gone 0" \
  "$(kill -0 "$pause" 2>/dev/null || echo gone) $(ls "$T/root/pods" | wc -l)"

# --- image pull failure: ErrImagePull, then ImagePullBackOff ------------------------------------
manifest nopull '  containers:
  - {name: c, image: "127.0.0.1:9/nothing/here:1", imagePullPolicy: Always}'
reason() { pod_json nopull-node1 | jq_ 'd["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]'; }
seen=""
# (a deadline, not an iteration count: how long one look takes depends on the machine's load)
end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
  r=$(reason)
  case " $seen " in *" $r "*) ;; *) [ -n "$r" ] && seen="$seen $r" ;; esac
  case "$seen" in *ImagePullBackOff*) break ;; esac
  sleep 0.05
done
check_match "ErrImagePull, then ImagePullBackOff" "ErrImagePull ImagePullBackOff" "$seen"
check_match "back-off message names the image" 'Back-off pulling image "127.0.0.1:9/nothing/here:1"' \
  "$(pod_json nopull-node1 | jq_ 'd["status"]["containerStatuses"][0]["state"]["waiting"]["message"]')"
rm "$M/nopull.yaml"

# --- exec -it: a terminal on the container's own devpts ------------------------------------------
manifest tty '  containers:
  - {name: c, image: busybox:test, command: [sleep, "3600"]}'
wait_for 10 running tty-node1 1
printf 'tty; stty size; exit 4\n' > "$T/tty.in"
out=$(script -qec "stty rows 33 cols 91; $S exec --socket $SOCK tty-node1 -it -- sh" /dev/null < "$T/tty.in" 2>&1); rc=$?
check_match "exec -it: the process's terminal is the container's /dev/pts/0" "/dev/pts/0" "$out"
check_match "exec -it: window size passed on" "33 91" "$out"
check_eq "exec -it: exit status passed back" "4" "$rc"
rm "$M/tty.yaml"
wait_for 20 sh -c "[ \$(ls $T/root/pods | wc -l) = 0 ]"

# --- swiftlet run -f: one pod in the foreground ----------------------------------------------------
runpod() { nsenter --net=/run/netns/$NODE "$S" run "${ARGS[@]}" --log-level error "$@"; }
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: once}' 'spec:' '  restartPolicy: Never' '  containers:' \
  '  - {name: a, image: busybox:test, command: [sh, -c, "echo out-a; echo err-a >&2; exit 5"]}' \
  '  - {name: b, image: busybox:test, command: [sh, -c, "sleep 0.2; echo out-b"]}' > "$T/run1.yaml"
out=$(runpod -q -f "$T/run1.yaml" 2>"$T/run1.err"); rc=$?
check_eq "run -f: exit status is the failed container's" "5" "$rc"
check_eq "run -f: stdout lines, prefixed by container" "[a] out-a
[b] out-b" "$(printf '%s\n' "$out" | sort)"
check_match "run -f: stderr lines on stderr" "\[a\] err-a" "$(cat "$T/run1.err")"
check_eq "run -f: nothing left (state, containers, addresses, logs)" "0 0 0 0" \
  "$(ls "$T/root/run" | wc -l) $(ls "$T/run/run" 2>/dev/null | wc -l) $(grep -c '"run-' "$T/root/network/ipam.json") $(ls "$T/logs" | grep -c once)"
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: fg}' 'spec:' '  terminationGracePeriodSeconds: 5' '  containers:' \
  "  - {name: s, image: busybox:test, command: [sh, -c, \"trap 'echo got TERM; exit 0' TERM; echo up; while true; do sleep 0.1; done\"]}" > "$T/run2.yaml"
nsenter --net=/run/netns/$NODE "$S" run "${ARGS[@]}" --log-level error -f "$T/run2.yaml" > "$T/run2.out" 2>&1 &
RP=$!
wait_for 10 grep -q '^up$' "$T/run2.out"
# an agent start-up meanwhile leaves the run pod alone
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
agent_start
sleep 0.3
rroot=$(ls -d "$T"/run/run/*/containers | head -1)
check_eq "an agent start-up leaves a run pod running" "running" \
  "$("$S" oci --root "$rroot" state "$(ls "$rroot" | head -1)" 2>/dev/null | jq_ 'd["status"]')"
kill -INT "$RP"; wait "$RP"; rc=$?
check_eq "run -f: ^C stops the pod gracefully (TERM seen), status 130" "got TERM 130" "$(grep -o 'got TERM' "$T/run2.out") $rc"
nsenter --net=/run/netns/$NODE "$S" run "${ARGS[@]}" --log-level error -f "$T/run2.yaml" > "$T/run3.out" 2>&1 &
RP=$!
wait_for 10 grep -q '^up$' "$T/run3.out"
kill -9 "$RP"; wait "$RP" 2>/dev/null
check_eq "run -f killed -9: its pod keeps running" "1" "$(ls "$T/run/run" | wc -l)"
runpod -q -f "$T/run1.yaml" >/dev/null 2>&1
check_eq "the next run -f removes the dead run's pod" "0 0 0" \
  "$(ls "$T/root/run" | wc -l) $(ls "$T/run/run" | wc -l) $(grep -c '"run-' "$T/root/network/ipam.json")"
printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata: {name: Bad_Name}' 'spec: {containers: [{name: c}]}' > "$T/bad.yaml"
out=$(runpod -f "$T/bad.yaml" 2>&1); rc=$?
check_match "run -f with a bad manifest: every error, status 1" "metadata.name: Invalid value.*image: Required value.* 1$" "$(echo $out) $rc"
check_eq "and nothing created" "0" "$(ls "$T/root/run" | wc -l)"

# --- graceful shutdown of the agent leaves pods running ------------------------------------------
manifest keep '  containers:
  - {name: c, image: busybox:test, command: [sleep, "3600"]}'
wait_for 10 running keep-node1 1
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
check_match "SIGTERM: agent exits, pod keeps running" "^[0-9]+$" "$(own_pids '^sleep 3600$' | head -1)"
agent_start
check_eq "and is adopted again" "1" "$(pod_json keep-node1 | jq_ 'sum(1 for c in d["status"]["containerStatuses"] if "running" in c["state"])')"

summary

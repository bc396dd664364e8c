#!/usr/bin/env bash
# Root integration suite for the runtime core: real containers from a busybox rootfs through
# `swiftlet oci`. Usage: scripts/test-runtime.sh [BIN_DIR] [--cgroup-sections]   (default: ./bin)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the runtime integration suite"

# --cgroup-sections: only the sections whose outcome depends on the cgroup hierarchy (what the
# pure cgroup v2 VM guest runs; the host runs them all)
SECTIONS=(identity security fds exits process createstart logs hooks resources mounts refusals badinput)
CGROUP_SECTIONS=(security fds createstart hooks resources refusals badinput)
BIN_ARG=""
for a in "$@"; do
  case "$a" in
    --cgroup-sections) SECTIONS=("${CGROUP_SECTIONS[@]}") ;;
    *) BIN_ARG=$a ;;
  esac
done
BIN=$(cd "${BIN_ARG:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
[ -x "$S" ] && [ -x "$BIN/swiftlet-monitor" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
T=$(mktemp -d /tmp/swiftlet-rt.XXXXXX)
chmod 755 "$T"   # a user-namespaced root (host uid 200000) must be able to reach the rootfs
ROOT="$T/state"
OCI_CMD="$S oci --root $ROOT"
# `$OCI VERB ...`: the runtime, noting the id of every container this suite creates (the last
# argument of create and run), so the leftover check looks at this suite's cgroups only — other
# suites' containers live under the same cgroup parent at the same time
OCI=oci_
oci_() {
  case "$1" in create|run) local last; for last in "$@"; do :; done; echo "$last" >>"$T/ids" ;; esac
  $OCI_CMD "$@"
}
CG2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)

cleanup() {
  for id in $($OCI list -q 2>/dev/null); do $OCI delete -f "$id" >/dev/null 2>&1; done
  [ -n "${BG:-}" ] && kill "$BG" 2>/dev/null
  unmount_under "$T"
  rm -rf "$T"
}
trap cleanup EXIT

set -e
"$here/make-rootfs.sh" "$T/rootfs"
mkdir -p "$T/b"
ln -s "$T/rootfs" "$T/b/rootfs"
(cd "$T/b" && "$S" oci spec)
cp "$T/b/config.json" "$T/default.json"
set +e
reset_cfg() { cp "$T/default.json" "$T/b/config.json"; }
args() { setcfg "$T/b/config.json" "c['process']['args'] = $1"; }
# run ID ARGS-PYLIST -> stdout+stderr of the container, status in $RC
run() {
  local id=$1; shift
  args "$1"
  OUT=$($OCI run -b "$T/b" "$id" 2>&1)
  RC=$?
}
leftovers() {
  local l=""
  [ -n "$(ls -A "$ROOT" 2>/dev/null)" ] && l="$l state:$(ls "$ROOT")"
  local id cg=""
  for id in $(sort -u "$T/ids" 2>/dev/null); do [ -n "$CG2" ] && [ -d "$CG2/swiftlet/$id" ] && cg="$cg $id"; done
  [ -n "$cg" ] && l="$l cgroups:$cg"
  grep -q "$T/rootfs" /proc/self/mountinfo && l="$l mounts"
  echo "$l"
}

sec_identity() {
echo "# namespaces and identity"
reset_cfg
run c1 "['sh','-c','echo \$\$; hostname']"
check_eq "init is PID 1 and hostname is set" "1
swiftlet" "$OUT"

run c2 "['sh','-c','cat /proc/self/mountinfo']"
bad=$(printf '%s\n' "$OUT" | awk '{print $5}' | grep -vE '^/$|^/proc|^/dev|^/sys' || true)
check_eq "no host mounts visible inside" "" "$bad"
check_nomatch "host mount points absent from mountinfo" "$T|/work|/mnt/sandboxing" "$(printf '%s\n' "$OUT" | awk '{print $5}')"

run c3 "['sh','-c','ls /; cat /proc/1/cgroup']"
check_match "root is the bundle rootfs" "^bin" "$OUT"
}

sec_security() {
echo "# security profile"
run c4 "['sh','-c','grep -E \"^(CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs|Seccomp):\" /proc/self/status']"
check_match "CapEff is the 14 containerd defaults" "CapEff:[[:space:]]+00000000a80425fb" "$OUT"
check_match "CapBnd matches" "CapBnd:[[:space:]]+00000000a80425fb" "$OUT"
check_match "no ambient capabilities" "CapAmb:[[:space:]]+0000000000000000" "$OUT"
check_match "NoNewPrivs is set" "NoNewPrivs:[[:space:]]+1" "$OUT"
check_match "seccomp filter mode" "Seccomp:[[:space:]]+2" "$OUT"

run c5 "['sh','-c','cat /proc/timer_list | wc -c; cat /proc/keys | wc -c; ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname && echo WROTE; echo x > /proc/sysrq-trigger && echo WROTE2; true']"
check_eq "masked paths read as empty; /proc/sys and sysrq-trigger read-only" "0
0
0" "$(printf '%s\n' "$OUT" | grep -v 'Read-only\|can.t create')"
check_match "writes to /proc/sys are refused" "Read-only file system" "$OUT"

run c6 "['sh','-c','touch /newfile']"
check_match "read-only root refuses writes" "Read-only file system" "$OUT"
check_eq "touch on read-only root exits 1" "1" "$RC"

# seccomp alone: give CAP_SYS_ADMIN but keep the default profile (which denies sethostname then)
setcfg "$T/b/config.json" "
for k in ('bounding','effective','permitted'): c['process']['capabilities'][k].append('CAP_SYS_ADMIN')"
run c7 "['sh','-c','hostname evil 2>&1; hostname']"
check_match "a syscall the default profile denies fails with EPERM" "Operation not permitted" "$OUT"
check_match "hostname unchanged" "swiftlet$" "$OUT"
setcfg "$T/b/config.json" "del c['linux']['seccomp']"
run c8 "['sh','-c','hostname changed && hostname']"
check_eq "without the filter the same call succeeds (control)" "changed" "$OUT"
reset_cfg

run c10 "['sh','-c','mknod /dev/sda b 8 0 2>&1; mknod /dev/mem2 c 1 1 2>&1; head -c 3 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok; grep -c . /dev/zero >/dev/null 2>&1 & sleep 0.1; kill %1; echo done']"
check_match "device cgroup: no block device node despite CAP_MKNOD" "mknod: /dev/sda: Operation not permitted" "$OUT"
check_match "device cgroup: no /dev/mem node" "mknod: /dev/mem2: Operation not permitted" "$OUT"
check_match "the container's own devices work" "3.*null-ok" "$(echo $OUT)"
setcfg "$T/b/config.json" "c['linux']['resources']['devices'].append({'allow': True, 'type': 'c', 'major': 1, 'minor': 1, 'access': 'm'})"
run c11 "['sh','-c','mknod /dev/mem2 c 1 1 && echo created; cat /dev/mem2 2>&1 | head -c 60']"
check_match "a device rule allowing mknod (m) of c 1:1 lets it be created" "created" "$OUT"
check_match "but not opened (access m only)" "Operation not permitted" "$OUT"
reset_cfg

run c9 "['sh','-c','unshare -m true 2>&1; echo rc=\$?']"
check_match "unshare denied in the default profile" "rc=[1-9]" "$OUT"
}

sec_fds() {
echo "# fds"
args "['sleep','3600']"
$OCI create -b "$T/b" f1 </dev/null >/dev/null 2>&1 && $OCI start f1
fds=$(ls /proc/"$($OCI state f1 | awk -F'[:,]' '/"pid"/ {gsub(/ /,"",$2); print $2}')"/fd | sort -n | tr '\n' ' ')
check_eq "only fds 0-2 are open in the container" "0 1 2 " "$fds"
OUT=$($OCI exec f1 -- sh -c 'ls /proc/self/fd | sort -n | tr "\n" " "')
check_eq "exec'd process gets only stdio (+ the ls dirfd)" "0 1 2 3 " "$OUT"
OUT=$($OCI exec f1 -- sh -c 'hostname; ps -o pid,comm | grep sleep')
check_match "exec joins the container's uts and pid namespaces" "swiftlet.*1 +sleep" "$(echo $OUT)"
$OCI exec f1 -- nosuch >/dev/null 2>&1
check_eq "exec of a missing command exits 127" "127" "$?"
OUT=$($OCI exec -e FOO=bar --cwd /tmp f1 -- sh -c 'echo $FOO $(pwd)')
check_eq "exec env and cwd" "bar /tmp" "$OUT"
$OCI exec f1 -- sh -c 'exit 7'
check_eq "exec passes the exit code" "7" "$?"
OUT=$($OCI ps --format json f1)
check_match "ps lists the container's pids" "^\[[0-9]+\]$" "$OUT"
$OCI kill f1 KILL
for _ in $(seq 50); do [ "$($OCI state f1 | grep -c stopped)" = 1 ] && break; sleep 0.05; done
check_match "state is stopped after SIGKILL" '"status": "stopped"' "$($OCI state f1)"
check_match "monitor recorded exit 137 / signal 9" '"exitCode":137,"signal":9' "$(cat "$ROOT/f1/exit.json")"
$OCI delete f1
}

sec_exits() {
echo "# exit codes and signals"
run e1 "['sh','-c','exit 42']"
check_eq "exit code passes through run" "42" "$RC"
args "['sleep','3600']"
( $OCI run -b "$T/b" e2 >/dev/null 2>&1; echo $? > "$T/e2.rc" ) &
for _ in $(seq 100); do $OCI state e2 2>/dev/null | grep -q running && break; sleep 0.02; done
$OCI kill e2 KILL
wait
check_eq "SIGKILL gives 137 through run" "137" "$(cat "$T/e2.rc")"
run e3 "['sh','-c','kill -TERM \$\$; sleep 1; echo survived']"
check_eq "init ignores signals without handlers (PID-1 semantics)" "survived" "$OUT"
run e4 "['sh','-c','sleep 10 & kill -KILL \$!; wait \$! 2>/dev/null; echo \$?']"
check_eq "a child killed by a signal reports 137" "137" "$OUT"
}

sec_process() {
echo "# process settings"
setcfg "$T/b/config.json" "
c['process']['env'].append('FOO=bar baz')
c['process']['cwd'] = '/tmp'
c['process']['user'] = {'uid': 1000, 'gid': 1000, 'additionalGids': [5]}
c['process']['rlimits'] = [{'type':'RLIMIT_NOFILE','hard':512,'soft':256}]"
run p1 "['sh','-c','echo \$FOO; pwd; id; ulimit -n; ulimit -Hn; grep CapEff /proc/self/status']"
check_eq "env, cwd, user, groups, rlimits" "bar baz
/tmp
uid=1000(app) gid=1000(app) groups=5(tty)
256
512" "$(printf '%s\n' "$OUT" | head -5)"
check_match "non-root process: execve clears effective capabilities (as runc)" "CapEff:[[:space:]]+0000000000000000" "$OUT"
setcfg "$T/b/config.json" "
c['process']['capabilities']['inheritable'] = ['CAP_NET_BIND_SERVICE']
c['process']['capabilities']['ambient'] = ['CAP_NET_BIND_SERVICE']"
run p1b "['sh','-c','grep -E \"^Cap(Eff|Amb)\" /proc/self/status']"
check_match "ambient capabilities survive execve for a non-root user" "CapEff:[[:space:]]+0000000000000400.*CapAmb:[[:space:]]+0000000000000400" "$(echo $OUT)"
reset_cfg
setcfg "$T/b/config.json" "c['linux']['sysctl'] = {'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1'}"
run p2 "['sh','-c','cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced']"
check_eq "sysctls are applied in the container's namespaces" "1
1" "$OUT"
check_eq "host ip_forward untouched" "$(cat /proc/sys/net/ipv4/ip_forward)" "$(cat /proc/sys/net/ipv4/ip_forward)"
reset_cfg
setcfg "$T/b/config.json" "
c['linux']['namespaces'].append({'type':'user'})
c['linux']['uidMappings'] = [{'containerID':0,'hostID':200000,'size':65536}]
c['linux']['gidMappings'] = [{'containerID':0,'hostID':200000,'size':65536}]
c['root']['readonly'] = True"
run p3 "['sh','-c','id -u; cat /proc/self/uid_map']"
check_match "user namespace with a mapped root" "^0
 +0 +200000 +65536" "$OUT"
reset_cfg
}

sec_createstart() {
echo "# create / start"
args "['sh','-c','echo started > /dev/shm/marker; sleep 3600']"
$OCI create -b "$T/b" --pid-file "$T/c1.pid" s1 </dev/null >/dev/null 2>&1
pid=$(cat "$T/c1.pid")
check_match "create leaves the process waiting before exec" "swiftlet-monitor" "$(tr '\0' ' ' < /proc/"$pid"/cmdline)"
check_match "state after create" '"status": "created"' "$($OCI state s1)"
$OCI start s1
sleep 0.1
check_match "start execs the process" "sleep 3600" "$(tr '\0' ' ' < /proc/"$pid"/cmdline)"
check_match "state after start" '"status": "running"' "$($OCI state s1)"
$OCI start s1 2>/dev/null
check_eq "start twice is refused" "1" "$?"
$OCI delete s1 2>/dev/null
check_eq "delete of a running container without --force is refused" "1" "$?"
$OCI delete -f s1
check_eq "delete --force leaves nothing" "" "$(leftovers)"
}

sec_logs() {
echo "# CRI logs and the caller's death"
args "['sh','-c','i=0; while true; do echo out \$i; echo err \$i >&2; i=\$((i+1)); sleep 0.1; done']"
# (the runtime itself in the background, not a function around it: its pid is the caller killed)
echo l1 >>"$T/ids"
$OCI_CMD run -b "$T/b" --cri-log "$T/l1.log" l1 >/dev/null 2>&1 &
BG=$!
for _ in $(seq 100); do [ -s "$T/l1.log" ] && break; sleep 0.02; done
sleep 0.3
kill -9 "$BG"; wait "$BG" 2>/dev/null; BG=""
n1=$(wc -l < "$T/l1.log")
sleep 0.6
n2=$(wc -l < "$T/l1.log")
check_match "container keeps running after kill -9 of the caller" '"status": "running"' "$($OCI state l1)"
if [ "$n2" -gt "$n1" ]; then ok "logging continues after the caller died ($n1 -> $n2 lines)"; else not_ok "logging continues" "$n1 -> $n2"; fi
bad=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]{1,9})?Z (stdout|stderr) [FP] (out|err) [0-9]+$' "$T/l1.log" | head -3)
check_eq "every log line is CRI-formatted" "" "$bad"
check_match "stdout and stderr are both captured" "stderr F err 1" "$(cat "$T/l1.log")"
$OCI kill l1 KILL
for _ in $(seq 100); do [ -f "$ROOT/l1/exit.json" ] && break; sleep 0.02; done
check_match "exit recorded after the caller died" '"exitCode":137' "$(cat "$ROOT/l1/exit.json" 2>/dev/null)"
$OCI delete l1

args "['sh','-c','head -c 40000 /dev/zero | tr \"\\\\0\" a; echo; printf tail']"
$OCI run -b "$T/b" --cri-log "$T/l2.log" l2 >/dev/null 2>&1
check_eq "a long line is split into P fragments then F" "P P F F" "$(awk '{print $3}' "$T/l2.log" | tr '\n' ' ' | sed 's/ $//')"
check_match "an unterminated last line is written at exit" "stdout F tail$" "$(tail -1 "$T/l2.log")"
}

sec_hooks() {
echo "# hooks"
cat > "$T/hook.sh" <<EOF
#!/bin/sh
echo "\$1 \$(cat)" >> $T/hooks.log
EOF
chmod +x "$T/hook.sh"
setcfg "$T/b/config.json" "
h = lambda n: [{'path': '$T/hook.sh', 'args': ['hook.sh', n]}]
c['hooks'] = {'prestart': h('prestart'), 'createRuntime': h('createRuntime'), 'poststart': h('poststart'), 'poststop': h('poststop')}"
run h1 "['true']"
check_eq "hooks run in order" "prestart createRuntime poststart poststop" "$(awk '{print $1}' "$T/hooks.log" | tr '\n' ' ' | sed 's/ $//')"
check_match "hooks get the state JSON on stdin (status created, as runc and crun)" '^createRuntime \{"ociVersion":"1.0.2","id":"h1","status":"created","pid":[1-9]' "$(sed -n 2p "$T/hooks.log")"
setcfg "$T/b/config.json" "c['hooks'] = {'createRuntime': [{'path': '/bin/false'}]}"
run h2 "['true']"
check_match "a failing createRuntime hook fails create" "createRuntime hook /bin/false failed" "$OUT"
check_eq "and leaves nothing behind" "" "$(leftovers)"
reset_cfg
}

sec_resources() {
echo "# resources need their cgroup v2 controllers"
reset_cfg
setcfg "$T/b/config.json" "
c['process']['args'] = ['cat', '/sys/fs/cgroup/memory.max']
c['linux']['resources'] = {'memory': {'limit': 67108864}}"
if grep -qw memory "$CG2/cgroup.controllers"; then
  OUT=$($OCI run -b "$T/b" r1 2>&1)
  check_eq "memory limit enforced (pure cgroup v2 host)" "67108864" "$OUT"
else
  OUT=$($OCI run -b "$T/b" r1 2>&1); RC=$?
  check_match "a limit this host cannot enforce is refused, naming the controller" 'linux.resources: cgroup v2 controller "memory" not available in '"$CG2" "$OUT"
  check_eq "refused: exit status 1" "1" "$RC"
  check_eq "refused: nothing left" "" "$(leftovers)"
  args "['true']"
  OUT=$($OCI run -b "$T/b" --allow-unenforced-resources r2 2>&1); RC=$?
  check_match "--allow-unenforced-resources runs it with a warning" "warning: linux.resources not enforced" "$OUT"
  check_eq "and it ran" "0" "$RC"
fi
reset_cfg
}

sec_mounts() {
echo "# OCI spec details (what the runtime-tools validation suite checks, and crun does)"
state_pid() { $OCI state "$1" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['pid'])" 2>/dev/null; }
for prop in shared slave unbindable private; do
  reset_cfg
  setcfg "$T/b/config.json" "c['linux']['rootfsPropagation'] = '$prop'; c['root']['readonly'] = False"
  run "p-$prop" "['awk', '\$5 == \"/\"', '/proc/self/mountinfo']"
  case $prop in
    shared) check_match "rootfsPropagation shared: the container starts (no pivot_root EINVAL) and / is shared" "shared:" "$OUT" ;;
    unbindable) check_match "rootfsPropagation unbindable: the container starts and / is unbindable" "unbindable" "$OUT" ;;
    *) check_eq "rootfsPropagation $prop: the container starts, / is not shared" "0 " "$RC $(echo "$OUT" | grep -o 'shared:')" ;;
  esac
done
reset_cfg
setcfg "$T/b/config.json" "c['linux']['namespaces'] = [n for n in c['linux']['namespaces'] if n['type'] != 'mount']; c['root']['readonly'] = False"
# long enough to outlive the checks on a slow guest (under TCG one swiftlet call can take seconds)
args "['sleep','3600']"
$OCI create -b "$T/b" nomnt </dev/null >"$T/nomnt.out" 2>&1; echo "create: $?" >>"$T/nomnt.out"
$OCI start nomnt >>"$T/nomnt.out" 2>&1; echo "start: $?" >>"$T/nomnt.out"
P=$(state_pid nomnt)
[ -n "$P" ] && [ -e "/proc/$P/ns/mnt" ] || echo "# nomnt is not running: $(tr '\n' ' ' <"$T/nomnt.out") state: $($OCI state nomnt 2>&1 | tr '\n' ' ') exit: $(cat "$ROOT/nomnt/exit.json" 2>/dev/null)"
check_eq "no mount namespace listed: the runtime's is shared" "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/$P/ns/mnt 2>/dev/null)"
check_eq "and the container is chrooted into its rootfs" "$(stat -c %i "$T/rootfs/")" "$(stat -L -c %i /proc/$P/root/ 2>/dev/null)"
check_eq "exec enters the same chroot" "$(ls "$T/rootfs" | head -1)" "$($OCI exec nomnt -- ls / 2>&1 | head -1)"
check_match "its proc is mounted under the rootfs meanwhile" "$(readlink -f "$T/rootfs")/proc" "$(awk '{print $5}' /proc/self/mountinfo)"
$OCI delete -f nomnt >/dev/null 2>&1
check_eq "delete takes its mounts down" "" "$(awk -v r="$(readlink -f "$T/rootfs")/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo)"
unshare -m --propagation private sleep 60 & JM=$!
unshare -u sh -c 'hostname before; exec sleep 60' & JU=$!
sleep 0.3
reset_cfg
setcfg "$T/b/config.json" "
c['root']['readonly'] = False
c['hostname'] = 'joined-uts'
for n in c['linux']['namespaces']:
    if n['type'] == 'mount': n['path'] = '/proc/$JM/ns/mnt'
    if n['type'] == 'uts': n['path'] = '/proc/$JU/ns/uts'"
run joins "['hostname']"
check_eq "a mount namespace joined by path, and a hostname for a UTS namespace joined by path" "joined-uts 0" "$OUT $RC"
check_eq "the joined UTS namespace got that hostname" "joined-uts" "$(nsenter -u -t $JU hostname)"
kill $JM $JU 2>/dev/null; wait $JM $JU 2>/dev/null
}

sec_refusals() {
echo "# OCI details whose failure would leave state or cgroups behind (big hook state, SIGTERM, refusals)"
reset_cfg
# (built inside python: a 300 KB argument is over the kernel's per-argument limit)
setcfg "$T/b/config.json" "c['annotations'] = {'big': 'a' * 300000}; c['hooks'] = {'createRuntime': [{'path': '/bin/true'}], 'poststart': [{'path': '/bin/true'}], 'poststop': [{'path': '/bin/true'}]}"
check_eq "the bundle carries the 300 KB annotation" "300000" "$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['annotations']['big']))" "$T/b/config.json")"
run hk "['true']"
check_eq "hooks that exit without reading a 300 KB state: no SIGPIPE (exit 141), the container runs" "0" "$RC"
check_eq "and nothing is left" "" "$(leftovers)"
reset_cfg
setcfg "$T/b/config.json" "c['hooks'] = {'createRuntime': [{'path': '/bin/sleep', 'args': ['sleep', '2']}]}"
args "['true']"
echo sig >>"$T/ids"
$OCI_CMD create -b "$T/b" sig </dev/null >/dev/null 2>&1 & CP=$!
sleep 0.7; kill -TERM $CP; wait $CP; RC=$?
check_eq "SIGTERM during create: the runtime finishes, undoes it and dies by the signal" "143" "$RC"
check_eq "SIGTERM during create: nothing left" "" "$(leftovers)"
reset_cfg
setcfg "$T/b/config.json" "c['process']['capabilities']['bounding'].append('CAP_SYS_RESOURCE')"
echo nocap >>"$T/ids"
OUT=$(setpriv --bounding-set -sys_resource $OCI_CMD run -b "$T/b" nocap 2>&1; echo "rc=$?")
check_match "a capability the runtime does not hold is an error" "process.capabilities: not available to this runtime .*CAP_SYS_RESOURCE" "$OUT"
check_match "refused with exit 1" "rc=1$" "$OUT"
reset_cfg
setcfg "$T/b/config.json" "c['linux']['resources'] = {'network': {'classID': 1048577}}"
OUT=$($OCI run -b "$T/b" --allow-unenforced-resources net 2>&1); RC=$?
check_match "linux.resources.network is refused, not ignored" "linux.resources.network: classID and priorities are cgroup v1 controllers" "$OUT"
reset_cfg
setcfg "$T/b/config.json" "c['process']['apparmorProfile'] = 'unconfined-please'"
OUT=$($OCI run -b "$T/b" aa 2>&1); RC=$?
if grep -qs Y /sys/module/apparmor/parameters/enabled; then
  check_match "an apparmorProfile that is not loaded fails the start" "security label" "$OUT"
else
  check_match "apparmorProfile on a host without AppArmor is refused" "process.apparmorProfile: AppArmor is not enabled on this host" "$OUT"
fi
check_eq "resource and profile refusals leave nothing" "" "$(leftovers)"
}

sec_badinput() {
echo "# bad input leaves nothing behind"
bad_case() { # NAME PYTHON-EDIT EXPECTED-REGEX [EXPECTED-RC]
  reset_cfg
  setcfg "$T/b/config.json" "$2"
  OUT=$($OCI run -b "$T/b" bad 2>&1); RC=$?
  check_match "$1: clear error" "$3" "$OUT"
  check_eq "$1: exit status" "${4:-1}" "$RC"
  check_eq "$1: nothing left" "" "$(leftovers)"
}
bad_case "missing rootfs" "c['root']['path'] = '/nonexistent'" "root.path: rootfs /nonexistent does not exist"
bad_case "unknown namespace" "c['linux']['namespaces'].append({'type':'bogus'})" 'linux.namespaces\[6\].type: unknown namespace type "bogus"'
bad_case "unknown capability" "c['process']['capabilities']['bounding'].append('CAP_FLY')" 'process.capabilities.bounding\[14\]: unknown capability "CAP_FLY"'
bad_case "wrong field type" "c['process']['args'] = 'sh'" "process.args: expected an array, got a string"
bad_case "missing command" "c['process']['args'] = ['nosuchcmd']" 'exec "nosuchcmd": executable file not found in \$PATH' 127
bad_case "missing absolute command" "c['process']['args'] = ['/bin/nope']" 'exec "/bin/nope": no such file or directory' 127
bad_case "bad cwd" "c['process']['cwd'] = '/does/not/exist'" "chdir /does/not/exist: No such file or directory \(errno 2\)"
bad_case "bad sysctl" "c['linux']['sysctl'] = {'kernel.nonexistent_key': '1'}" "sysctl kernel.nonexistent_key=1: No such file or directory"
bad_case "bad bind source" "c['mounts'].append({'destination':'/x','type':'bind','source':'/nope','options':['rbind']})" "mounts\[7\].source: /nope does not exist"
reset_cfg
printf '{"ociVersion": "1.0.2", "process": ' > "$T/b/config.json"
OUT=$($OCI run -b "$T/b" bad 2>&1)
check_match "malformed config.json" "malformed JSON at line 1: unexpected end of input" "$OUT"
check_eq "malformed config.json: nothing left" "" "$(leftovers)"
reset_cfg
args "['sleep','30']"
$OCI create -b "$T/b" dup </dev/null >/dev/null 2>&1
OUT=$($OCI create -b "$T/b" dup 2>&1 </dev/null)
check_match "duplicate id refused" 'container "dup" already exists' "$OUT"
check_match "the first container is untouched" '"status": "created"' "$($OCI state dup)"
$OCI delete -f dup
OUT=$($OCI create -b "$T/b" "../x" 2>&1 </dev/null)
check_match "invalid id refused" "invalid container id" "$OUT"
check_eq "state dir empty at the end" "" "$(leftovers)"
}

for s in "${SECTIONS[@]}"; do "sec_$s"; done

summary

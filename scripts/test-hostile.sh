#!/usr/bin/env bash
# Root suite where the other side is trying to get through: hostile containers racing subPath
# resolution and scanning /proc for the runtime's descriptors and binary, the agent killed at
# bad moments, the monitor killed, a decompression bomb, absurd integers, and the defaults a user
# gets (the kubelet's healthz port, no special flags but --allow-unenforced-resources on this
# hybrid-cgroup host). The agent runs in a throwaway node network namespace.
#   scripts/test-hostile.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the hostile suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
NODE=swl-hostile-$$
T=$(mktemp -d /tmp/swiftlet-hostile.XXXXXX)
M=$T/manifests
mkdir -p "$M" "$T/tools" "$T/hostdir/d"
SOCK=$T/run/agent.sock
CG="swiftlet-hostile-$$"
AGENT_PID=
# the defaults a user gets, except where the files go (and what this host cannot enforce)
ARGS=(--node-name node1 --manifests "$M" --root-dir "$T/root" --run-dir "$T/run" --pod-logs-dir "$T/logs"
      --allow-unenforced-resources --backoff-initial 1 --backoff-max 2 --file-check-frequency 2
      --bridge swl-host0 --pod-subnet 10.93.0.0/24 --cgroup-root "$CG" --node-ip 192.0.2.11)

stop_agent() {  # stop_agent SIGNAL
  [ -n "$AGENT_PID" ] && kill "-$1" "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=
}
cleanup() { agent_teardown "$CG" "$T/oci"; }
trap cleanup EXIT

cc -O2 -static -o "$T/tools/hostile" "$here/hostile/hostile.c" || { echo "building the hostile helper failed" >&2; exit 1; }
python3 "$here/make-images.py" "$T/imgs" >/dev/null || { echo "image build failed" >&2; exit 1; }
"$S" images import --store "$T/root/images" --name busybox:test "$T/imgs/busybox" >/dev/null
ip netns add "$NODE" && ip -n "$NODE" link set lo up

ps_() { timeout 10 "$S" ps --socket "$SOCK" "$@" 2>&1; }
pod_json() { timeout 10 "$S" inspect --socket "$SOCK" "$1" 2>/dev/null; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
no_pod() { [ "$(ps_ | grep -c "$1")" = 0 ]; }
running() { [ "$(pod_json "$1" | jq_ 'sum(1 for c in d["status"]["containerStatuses"] if "running" in c["state"])')" = "$2" ]; }
ready() { [ "$(pod_json "$1" | jq_ '[c["status"] for c in d["status"]["conditions"] if c["type"] == "Ready"][0]')" = "True" ]; }
cid() {  # cid POD CONTAINER: the running container's id
  pod_json "$1" | jq_ '[c["containerID"] for c in d["status"]["containerStatuses"] + d["status"].get("initContainerStatuses", []) if c["name"] == "'"$2"'"][0].split("//")[1]'
}
record() {  # record ID FIELD: a field of the runtime's state.json
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$T/run/agent/containers/$1/state.json" "$2" 2>/dev/null
}

agent_start || exit 1
check_eq "healthz on the kubelet's default port 10248" "ok" "$(nsenter --net=/run/netns/$NODE curl -s --max-time 3 http://127.0.0.1:10248/healthz)"

# --- 1. subPath symlink swap (CVE-2017-1002101 / CVE-2021-25741 class) -------------------------
echo "host secret" > "$T/hostdir/d/HOST-MARKER"
victim() {
  cat <<EOF
  - name: $1
    image: busybox:test
    command: [sh, -c, "echo start; if [ -e /mnt/HOST-MARKER ]; then echo ESCAPED; touch /mnt/written-by-$1; fi; exit 1"]
    volumeMounts: [{name: vol, mountPath: /mnt, subPath: x/d}]
EOF
}
cat > "$M/swap.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: swap}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: vol, emptyDir: {}}
  - {name: tools, hostPath: {path: $T/tools, type: Directory}}
  initContainers:
  - name: prep
    image: busybox:test
    command: [sh, -c, "mkdir -p /vol/x/d && ln -sfn $T/hostdir /vol/y"]
    volumeMounts: [{name: vol, mountPath: /vol}]
  containers:
  - name: swapper
    image: busybox:test
    command: [/tools/hostile, swap, /vol, x, y, "3600"]
    volumeMounts: [{name: vol, mountPath: /vol}, {name: tools, mountPath: /tools, readOnly: true}]
$(victim v1)
$(victim v2)
$(victim v3)
EOF
wait_for 20 running swap-node1 1 || not_ok "swap pod started" "$(ps_ -a; tail -5 "$T/agent.log")"
sleep 25
starts=$(cat "$T"/logs/default_swap-node1_*/v*/*.log 2>/dev/null | grep -c "stdout F start")
escaped=$(cat "$T"/logs/default_swap-node1_*/v*/*.log 2>/dev/null | grep -c ESCAPED)
check_match "the victims started again and again during 25 s of swapping ($starts starts)" "^([5-9]|[1-9][0-9]+)$" "$starts"
check_eq "no subPath ever mounted the host directory" "0" "$escaped"
check_eq "nothing written into the host directory" "HOST-MARKER" "$(ls "$T/hostdir/d")"
check_match "a swapped subPath is refused with a reason" "subPath \"x/d\" leads outside the volume" "$(grep -m1 'leads outside' "$T/agent.log")"
check_eq "pinned subPaths live under the pod dir, nowhere else" "" \
  "$(awk -v t="$T/hostdir" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)"
rm -f "$M/swap.yaml"

# --- 2. /proc scanning while processes join the container (CVE-2019-5736 / CVE-2024-21626) -----
cat > "$M/scan.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: scan}
spec:
  terminationGracePeriodSeconds: 1
  shareProcessNamespace: true
  volumes:
  - {name: tools, hostPath: {path: $T/tools, type: Directory}}
  containers:
  - name: scanner
    image: busybox:test
    command: [/tools/hostile, scan, "35"]
    volumeMounts: [{name: tools, mountPath: /tools, readOnly: true}]
    livenessProbe: {exec: {command: ["true"]}, periodSeconds: 1, failureThreshold: 100}
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
  - name: idle
    image: busybox:test
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
    livenessProbe: {exec: {command: ["true"]}, periodSeconds: 1, failureThreshold: 100}
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
EOF
wait_for 20 running scan-node1 2 || not_ok "scan pod started" "$(ps_ -a; tail -5 "$T/agent.log")"
execs=0
for i in $(seq 200); do
  "$S" exec --socket "$SOCK" scan-node1 -c scanner -- true >/dev/null 2>&1 && execs=$((execs + 1))
done
check_eq "200 execs ran beside the scanner" "200" "$execs"
# create: an OCI container joining the scanner's PID namespace waits on its exec fifo for 8 s
scan_id=$(cid scan-node1 scanner)
scan_pid=$(record "$scan_id" pid)
mkdir -p "$T/bundle/rootfs"
"$S" oci spec --bundle "$T/bundle" >/dev/null 2>&1 || true
tar -C "$T/bundle/rootfs" -xzf <(python3 - "$T/imgs/busybox" <<'PY'
import json, sys, os
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
man = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
sys.stdout.buffer.write(open(d + "/blobs/sha256/" + man["layers"][0]["digest"].split(":")[1], "rb").read())
PY
) 2>/dev/null
setcfg "$T/bundle/config.json" 'c["process"]["args"]=["true"]; c["process"]["terminal"]=False; c["root"]={"path":"rootfs"}; c["linux"]["namespaces"]=[n for n in c["linux"]["namespaces"] if n["type"]!="pid"]+[{"type":"pid","path":"/proc/'"$scan_pid"'/ns/pid"}]; c["linux"].pop("resources",None)'
if "$S" oci --root "$T/oci" create --bundle "$T/bundle" waiting >/dev/null 2>"$T/create.err"; then
  ok "a container created into the scanner's PID namespace waits on its fifo"
else
  not_ok "oci create into the scanner's PID namespace" "$(cat "$T/create.err")"
fi
sleep 8
"$S" oci --root "$T/oci" delete -f waiting >/dev/null 2>&1
wait_for 60 grep -q "scanned" "$T"/logs/default_scan-node1_*/scanner/0.log
scanlog=$(cat "$T"/logs/default_scan-node1_*/scanner/*.log 2>/dev/null)
check_match "the scanner ran to the end" "scanned [0-9]+ rounds" "$scanlog $(ls "$T"/logs/default_scan-node1_*/scanner/) $(ps_ -a | grep scan)"
check_eq "no host fd, cgroupfs dir or runtime binary reached through /proc" "" "$(printf '%s\n' "$scanlog" | grep VIOLATION)"

# --- 3. the monitors' and containers' descriptors ------------------------------------------------
idle_id=$(cid scan-node1 idle)
mon=$(record "$idle_id" monitorPid)
mfds=$(ls -l /proc/$mon/fd 2>/dev/null | awk 'NR > 1 {print $NF}' | sort -u | tr '\n' ' ')
check_nomatch "the monitor holds no socket, epoll or agent file ($mfds)" "socket:|eventpoll|eventfd|agent|\.sock|images" "$mfds"
check_match "the monitor holds its own: /dev/null, pipes, pidfd, the log" "/dev/null.*pipe:.*" "$mfds"
ipid=$(record "$idle_id" pid)
cfds=$(ls /proc/$ipid/fd 2>/dev/null | sort -n | tr '\n' ' ')
check_eq "the container's process holds stdio only" "0 1 2 " "$cfds"
mexe=$(readlink /proc/$mon/exe)
check_match "the monitor runs from a sealed in-memory copy, not the installed file ($mexe)" "^/memfd:swiftlet-monitor" "$mexe"
if printf x 2>/dev/null >>"/proc/$mon/exe"; then not_ok "the image the monitor runs cannot be written" "a write succeeded"; else ok "the image the monitor runs cannot be written, even by root (sealed)"; fi
check_eq "and the installed binary is not the one it runs" "0" "$(awk -v b="$BIN/swiftlet-monitor" '$NF == b' /proc/$mon/maps | wc -l)"
rm -f "$M/scan.yaml"
wait_for 20 test ! -e "$T/root/pods/$(pod_json scan-node1 | jq_ 'd["metadata"]["uid"]')"

# --- 4. agent kill -9, restart with the default healthz port ------------------------------------
cat > "$M/keep.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: keep}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]}
EOF
wait_for 20 running keep-node1 1
keep_id=$(cid keep-node1 c)
stop_agent 9
agent_start || not_ok "agent restart after kill -9" "$(tail -5 "$T/agent.log")"
check_eq "after kill -9 the agent binds the default healthz port again" "ok" "$(nsenter --net=/run/netns/$NODE curl -s --max-time 3 http://127.0.0.1:10248/healthz)"
check_eq "the pod was adopted, not restarted" "$keep_id 0" "$(cid keep-node1 c) $(pod_json keep-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]')"

# --- 5. kill -9 of a container's monitor -------------------------------------------------------
mon=$(record "$keep_id" monitorPid)
old=$(record "$keep_id" pid)
kill -9 "$mon"
restarted_once() { [ "$(pod_json keep-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]')" = 1 ]; }
wait_for 20 restarted_once
check_eq "monitor killed: the container is restarted per policy" "1" "$(pod_json keep-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]')"
check_match "its last state says the monitor died (exit 255 Unknown or 137)" "^(255 Unknown|137 Error) .*monitor" \
  "$(pod_json keep-node1 | jq_ '"%s %s %s" % (d["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], d["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"], d["status"]["containerStatuses"][0]["lastState"]["terminated"].get("message",""))')"
wait_for 5 test ! -e "/proc/$old" && ok "the unsupervised process is gone" || not_ok "the unsupervised process is gone" "pid $old still runs"
wait_for 20 running keep-node1 1 && ok "a new container runs" || not_ok "a new container runs" "$(ps_ -a)"
rm -f "$M/keep.yaml"

# --- 6. SIGTERM during 20 pod starts ---------------------------------------------------------------
for i in $(seq 20); do
  cat > "$M/.b$i.tmp" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: burst-$i}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:test, command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]}
EOF
  mv "$M/.b$i.tmp" "$M/b$i.yaml"
done
sleep 0.4
stop_agent TERM
agent_start || not_ok "agent restart after SIGTERM" "$(tail -5 "$T/agent.log")"
all_running() { [ "$(ps_ | grep -c 'burst-.*Running')" = 20 ]; }
wait_for 60 all_running && ok "SIGTERM during 20 pod starts: all 20 Running after the restart" || not_ok "20 Running after SIGTERM" "$(ps_ | grep -c 'burst-.*Running') running; $(ps_ -a | grep -v Running | head -8); $(tail -5 "$T/agent.log")"
sleep 3
check_eq "no container is stuck as 'already exists'" "" "$(tail -n 200 "$T/agent.log" | grep 'already exists')"
check_eq "no half-created container left" "" "$(for d in "$T"/run/agent/containers/*/; do [ -e "$d/state.json" ] || echo "$d"; done)"
rm -f "$M"/b*.yaml
wait_for 60 no_pod burst || not_ok "the 20 pods are removed" "$(ps_ -a | grep burst | head -3)"

# --- 7. absurd integers -------------------------------------------------------------------------------
cat > "$M/biggrace.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: biggrace}
spec:
  terminationGracePeriodSeconds: 9223372036854775807
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
    livenessProbe: {exec: {command: ["true"]}, timeoutSeconds: 2147483647, periodSeconds: 2147483647, initialDelaySeconds: 2147483647}
EOF
for f in "activeDeadlineSeconds: 9223372036854775807" "activeDeadlineSeconds: -9223372036854775808" \
         "securityContext: {runAsUser: 9223372036854775807}" "securityContext: {fsGroup: -9223372036854775808}" \
         "priority: 9223372036854775807"; do
  n=$((${n:-0} + 1))
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: bad%s}\nspec:\n  %s\n  containers: [{name: c, image: busybox:test}]\n' "$n" "$f" > "$M/bad$n.yaml"
done
wait_for 20 running biggrace-node1 1 && ok "a 2^63-1 s grace period is accepted" || not_ok "biggrace runs" "$(pod_json biggrace-node1 | head -c 300; echo; ps_ -a | head -3)"
sleep 3
check_eq "absurd integers are listed as invalid manifests" "5" "$(ps_ -a | grep -c 'bad[0-9].yaml')"
rm -f "$M/biggrace.yaml"
wait_for 30 no_pod biggrace && ok "the pod with a 2^63-1 s grace period is removed" || not_ok "biggrace removed" "$(ps_ -a)"
kill -0 "$AGENT_PID" 2>/dev/null && ok "the agent is still running" || not_ok "the agent is still running" "$(tail -5 "$T/agent.log")"
stop_agent 9
agent_start && ok "and starts again with those records" || not_ok "restart with the absurd records" "$(tail -5 "$T/agent.log")"
rm -f "$M"/bad*.yaml

# --- 8. non-root pods with configMap volumes, right at agent start-up -----------------------------------
stop_agent TERM
mkdir -p "$T/objs"
cat > "$T/objs/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {index.html: "<h1>from a configMap</h1>"}
EOF
for i in $(seq 10); do
  cat > "$M/nr$i.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: nonroot-$i}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  volumes: [{name: cfg, configMap: {name: web-config}}]
  containers:
  - name: web
    image: busybox:test
    command: [sh, -c, "cat /cfg/index.html && exec httpd -f -p 8080 -h /cfg"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
    readinessProbe: {httpGet: {port: 8080, path: /index.html}, periodSeconds: 1}
EOF
done
agent_start --objects-dir "$T/objs" || not_ok "agent start with 10 non-root pods" "$(tail -5 "$T/agent.log")"
all_ready() { for i in $(seq 10); do ready nonroot-$i-node1 || return 1; done; }
wait_for 60 all_ready && ok "10 non-root pods with configMap volumes Ready right after start-up" || not_ok "non-root pods Ready" "$(ps_ -a | grep nonroot | head -5)"
check_eq "none needed a second start" "0" "$(for i in $(seq 10); do pod_json nonroot-$i-node1 | jq_ 'd["status"]["containerStatuses"][0]["restartCount"]'; done | sort -u | tr -d '\n')"
rm -f "$M"/nr*.yaml

# --- 9. a failing probe is logged and recorded as an event -------------------------------------------
cat > "$M/probe.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:test
    command: [sh, -c, "mkdir -p /www && exec httpd -f -p 8080 -h /www"]
    readinessProbe: {httpGet: {port: 8080, path: /missing}, periodSeconds: 1}
EOF
wait_for 20 grep -q "Readiness probe failed: HTTP probe failed with statuscode: 404" "$T/agent.log" \
  && ok "a failing readiness probe is logged as the kubelet words it" || not_ok "probe failure logged" "$(tail -3 "$T/agent.log")"
check_match "and shown as an Unhealthy event" "Warning +Unhealthy .*Readiness probe failed: HTTP probe failed with statuscode: 404" "$("$S" events --socket "$SOCK" probe-node1 2>&1)"
check_match "the node reports its pressure conditions" "DiskPressure +False +KubeletHasNoDiskPressure" "$("$S" node --socket "$SOCK" 2>&1)"
rm -f "$M/probe.yaml"

# --- 10. a decompression bomb, and image GC, on a small image filesystem -------------------------------
mkdir -p "$T/small"
mount -t tmpfs -o size=64m tmpfs "$T/small"
python3 - "$T/bomb" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
# a tar of one 512 MiB file of zeros, gzip'd: about 0.5 MiB
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    info = tarfile.TarInfo("zeros"); info.size = 512 << 20
    class Z(io.RawIOBase):
        def __init__(self, n): self.n = n
        def readable(self): return True
        def readinto(self, b):
            k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
    t.addfile(info, io.BufferedReader(Z(info.size), 1 << 20))
tar = raw.getvalue()
gz = gzip.compress(tar, 6)
layer = blob(gz); layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode())
cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": [layer]}).encode())
man["mediaType"] = "application/vnd.oci.image.manifest.v1+json"; man["annotations"] = {"org.opencontainers.image.ref.name": "test"}
json.dump({"schemaVersion": 2, "manifests": [man]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
print(len(gz))
PY
out=$("$S" images import --store "$T/small/images" --name bomb:1 "$T/bomb" 2>&1); rc=$?
check_match "a 512 MiB gzip bomb into a 64 MiB image filesystem is refused" "free-space threshold|threshold of 15%" "$out"
check_eq "with a non-zero exit" "1" "$([ $rc -ne 0 ] && echo 1 || echo 0)"
avail=$(df --output=avail -k "$T/small" | tail -1)
check_match "the image filesystem kept its 15% ($avail KiB free of 65536)" "^([1-9][0-9]{4,})$" "$([ "$avail" -ge 9830 ] && echo "$avail")"
check_eq "nothing half-unpacked is left" "" "$(ls "$T/small/images/tmp" 2>/dev/null)"
# image GC: three unused ~12 MiB images on the same small filesystem, GC at 50/30 %
python3 "$here/make-images.py" "$T/gc" --bench-mib 12 >/dev/null
for i in 1 2 3; do "$S" images import --store "$T/small/images" --name gc$i:test "$T/gc/bench" >/dev/null 2>&1; done
stop_agent TERM
used_before=$(df --output=pcent "$T/small" | tail -1 | tr -dc 0-9)
agent_start --image-store "$T/small/images" --image-gc-high-threshold 20 --image-gc-low-threshold 10 --minimum-image-ttl-duration 0 --housekeeping-interval 1
small_used_at_most() { [ "$(df --output=pcent "$T/small" | tail -1 | tr -dc 0-9)" -le "$1" ]; }
wait_for 20 small_used_at_most 10
used_after=$(df --output=pcent "$T/small" | tail -1 | tr -dc 0-9)
check_match "image GC removed unused images: ${used_before}% → ${used_after}% used" "^([0-9]|10)$" "$used_after"
check_match "and logged it" "image garbage collection: removed" "$(cat "$T/agent.log")"
stop_agent TERM
umount -l "$T/small"

summary

#!/usr/bin/env bash
# Static pod throughput and footprint: 100 manifests written at once (busybox, warm image), in a
# throwaway node network namespace.
#   file write → container running, per pod (from each container's first CRI log line): p50, p99
#   time until all 100 run; agent RSS and CPU at steady state; monitor RSS per container;
#   manifest edit → the new container running.
#   scripts/bench-pods.sh [PODS] [BIN_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
N=${1:-100}
BIN=$(cd "${2:-$here/../bin}" && pwd)
S=$BIN/swiftlet
[ "$(id -u)" = 0 ] || { echo "bench-pods: needs root" >&2; exit 1; }
NODE=swl-bench-$$
T=$(mktemp -d /tmp/swiftlet-bench-pods.XXXXXX)
M=$T/manifests; mkdir -p "$M"
SOCK=$T/run/agent.sock
AGENT=
cleanup() {
  rm -f "$M"/*
  if [ -n "$AGENT" ]; then
    for _ in $(seq 300); do [ "$(ls "$T/root/pods" 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.1; done
    kill "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true
  fi
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  ip netns del "$NODE" 2>/dev/null || true
  remove_cgroups "swiftlet-bench-$$"
  rm -rf "$T"
}
trap cleanup EXIT
python3 "$here/make-images.py" "$T/imgs" >/dev/null
"$S" images import --store "$T/root/images" --name busybox:bench "$T/imgs/busybox" >/dev/null
ip netns add "$NODE"; ip -n "$NODE" link set lo up
nsenter --net=/run/netns/$NODE "$S" agent --node-name bench --manifests "$M" --root-dir "$T/root" --run-dir "$T/run" \
  --pod-logs-dir "$T/logs" --healthz-port 0 --allow-unenforced-resources --pod-subnet 10.90.0.0/23 --bridge swl-bench0 \
  --log-level warning --cgroup-root "swiftlet-bench-$$" >"$T/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
sleep 0.5
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
agent_pid=$(pgrep -P "$AGENT" -f 'swiftlet agent' || echo "$AGENT")
[ -d "/proc/$agent_pid" ] || agent_pid=$AGENT
idle_rss=$(rss_kib "$agent_pid")

# write all manifests at once, remembering each write time
python3 - "$M" "$N" > "$T/writes" <<'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    body = f"""apiVersion: v1
kind: Pod
metadata:
  name: p{i:03d}
spec:
  containers:
  - name: c
    image: busybox:bench
    command: ["sh", "-c", "trap 'exit 0' TERM; echo started; sleep 3600 & wait"]
"""
    tmp = f"{d}/.p{i:03d}.tmp"
    open(tmp, "w").write(body)
    os.rename(tmp, f"{d}/p{i:03d}.yaml")
    print(f"p{i:03d} {time.time_ns()}")
EOF
first_write=$(head -1 "$T/writes" | cut -d' ' -f2)
# wait until every pod's container has logged its first line
deadline=$(( $(date +%s) + 120 ))
while [ "$(ls "$T"/logs/*/c/0.log 2>/dev/null | xargs -r grep -l started 2>/dev/null | wc -l)" -lt "$N" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "bench-pods: not all pods started in 120 s" >&2; tail -20 "$T/agent.log" >&2; exit 1; }
  sleep 0.1
done
python3 - "$T" "$first_write" <<'EOF' > "$T/lat"
import datetime, glob, sys
t, first = sys.argv[1], int(sys.argv[2])
writes = dict(l.split() for l in open(f"{t}/writes"))
def ns(s):
    d, frac = s.rstrip("Z").split(".")
    base = datetime.datetime.fromisoformat(d).replace(tzinfo=datetime.timezone.utc).timestamp()
    return int(base) * 10**9 + int(frac.ljust(9, "0")[:9])
lat, last = [], 0
for f in glob.glob(f"{t}/logs/*/c/0.log"):
    name = f.split("/logs/")[1].split("_")[1].rsplit("-", 1)[0]
    started = ns(open(f).readline().split()[0])
    lat.append((started - int(writes[name])) / 1e6)
    last = max(last, started)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"{p(0.5):.1f} {p(0.99):.1f} {lat[-1]:.1f} {(last - first) / 1e6:.0f}")
EOF
read -r p50 p99 pmax all_ms < "$T/lat"

sleep 3
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14 + $15}' "/proc/$agent_pid/stat"); sleep 10; cpu1=$(awk '{print $14 + $15}' "/proc/$agent_pid/stat")
cpu_pct=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$ticks" 'BEGIN { printf "%.2f", (b - a) / t / 10 * 100 }')
steady_rss=$(rss_kib "$agent_pid")
mon=$(for p in $(pgrep -f 'swiftlet-monitor create'); do rss_kib "$p"; done | awk '{s += $1; n++} END { printf "%.0f %d", s / n, n }')

# edit one manifest: old pod stopped (TERM handled), new one running
f=$M/p000.yaml
t0=$(date +%s%N)
sed -i 's/echo started/echo started-again/' "$f"
t0=$(date +%s%N)
edit_ms=
for _ in $(seq 400); do
  l=$(ls "$T"/logs/default_p000-bench_*/c/0.log 2>/dev/null | xargs -r grep -l started-again 2>/dev/null | head -1 || true)
  if [ -n "$l" ]; then
    ts=$(head -1 "$l" | cut -d' ' -f1)
    edit_ms=$(python3 -c "
import datetime,sys
d, frac = '$ts'.rstrip('Z').split('.')
s = int(datetime.datetime.fromisoformat(d).replace(tzinfo=datetime.timezone.utc).timestamp()) * 10**9 + int(frac.ljust(9, '0')[:9])
print('%.0f' % ((s - $t0) / 1e6))")
    break
  fi
  sleep 0.05
done

# one pod at a time (the others keep running): write → running, 10 samples
single=$(python3 - "$M" "$T/logs" <<'EOF2'
import glob, os, sys, time, datetime
m, logs = sys.argv[1], sys.argv[2]
def ns(s):
    d, frac = s.rstrip("Z").split(".")
    return int(datetime.datetime.fromisoformat(d).replace(tzinfo=datetime.timezone.utc).timestamp()) * 10**9 + int(frac.ljust(9, "0")[:9])
lat = []
for i in range(10):
    body = f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: single{i}\nspec:\n  containers:\n  - name: c\n    image: busybox:bench\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; echo started; sleep 3600 & wait\"]\n"
    open(f"{m}/.s{i}.tmp", "w").write(body)
    t0 = time.time_ns()
    os.rename(f"{m}/.s{i}.tmp", f"{m}/single{i}.yaml")
    end = time.time() + 20
    while time.time() < end:
        fs = glob.glob(f"{logs}/default_single{i}-bench_*/c/0.log")
        line = open(fs[0]).readline() if fs else ""
        if "started" in line:
            lat.append((ns(line.split()[0]) - t0) / 1e6)
            break
        time.sleep(0.002)
lat.sort()
print("%.1f %.1f" % (lat[len(lat) // 2], lat[-1]) if lat else "timeout timeout")
EOF2
)

echo "pods: $N (busybox, image already in the store), agent in a node netns, $(nproc) CPUs"
echo "file write → container running: p50 ${p50} ms, p99 ${p99} ms, max ${pmax} ms"
echo "all $N running after: ${all_ms} ms (from the first write)"
echo "agent RSS: idle $((idle_rss / 1024)) MiB, with $N pods $((steady_rss / 1024)) MiB ($(( (steady_rss - idle_rss) / N )) KiB per pod); CPU at steady state: ${cpu_pct}% of one core"
echo "monitor RSS per container: $(echo "$mon" | cut -d' ' -f1) KiB (over $(echo "$mon" | cut -d' ' -f2) monitors)"
echo "manifest edit → new container running: ${edit_ms:-timeout} ms"
echo "one pod written alone (100 running): write → running p50 $(echo "$single" | cut -d' ' -f1) ms, max of 10 $(echo "$single" | cut -d' ' -f2) ms"

#!/usr/bin/env bash
# Pod network ADD/DEL: Swiftlet's built-in network (`swiftlet net add/del`, rtnetlink + IPAM)
# vs the CNI reference bridge plugin (bridge + host-local, exec'd as a runtime would), same run,
# interleaved, in a throwaway "node" network namespace. Prints medians and ratios.
#  - ADD: attach a fresh pinned namespace.
#  - teardown: what a sandbox stop does, DEL then removal of the pinned namespace. The plugin's
#    DEL waits for the kernel to unregister the veth (~25 ms of RCU grace periods here);
#    `swiftlet net del --remove-netns` releases the address and removes the namespace, and the
#    kernel destroys the veth pair with it asynchronously.
#  - DEL alone (namespace kept): both wait for the synchronous unregister.
#   scripts/bench-network.sh [N]     (default 30)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-30}
BIN=$(cd "${BIN:-$here/../bin}" && pwd)
[ "$(id -u)" = 0 ] || { echo "bench-network: needs root" >&2; exit 1; }
[ -x /usr/lib/cni/bridge ] || { echo "bench-network: /usr/lib/cni/bridge missing (apt-get install containernetworking-plugins)" >&2; exit 1; }

if [ -z "${BENCH_NODE:-}" ]; then
  NODE=swl-bench-$$
  T=$(mktemp -d /tmp/swiftlet-benchnet.XXXXXX)
  trap 'ip netns del "$NODE" 2>/dev/null; rm -rf "$T"' EXIT
  ip netns add "$NODE"
  BENCH_NODE=$NODE T=$T N=$N BIN=$BIN ip netns exec "$NODE" bash "$0"
  exit $?
fi

S="$BIN/swiftlet"
ip link set lo up
NET="$S net --state-dir $T/state --no-nat --no-host-ports"
$NET setup
cat > "$T/bridge.json" <<JSON
{"cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cni-bench", "isGateway": true, "ipMasq": false,
 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/16"}]], "dataDir": "$T/cni-ipam"}}
JSON
mkdir -p "$T/ns"
cni() { # COMMAND ID NETNS
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge < "$T/bridge.json" > /dev/null
}
ms() { echo "${1/./} ${2/./}" | awk '{printf "%.3f\n", ($2-$1)/1000}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
: > "$T/s-add"; : > "$T/s-td"; : > "$T/c-add"; : > "$T/c-td"; : > "$T/s-del"; : > "$T/c-del"
for i in $(seq $((N + 3))); do
  "$S" net netns add "$T/ns/s$i"; "$S" net netns add "$T/ns/c$i"
  t0=$EPOCHREALTIME; $NET add --netns "$T/ns/s$i" s$i > /dev/null; t1=$EPOCHREALTIME
  cni ADD c$i "$T/ns/c$i"; t2=$EPOCHREALTIME
  $NET del --netns "$T/ns/s$i" --remove-netns s$i; t3=$EPOCHREALTIME
  cni DEL c$i "$T/ns/c$i"; "$S" net netns del "$T/ns/c$i"; t4=$EPOCHREALTIME
  if [ "$i" -gt 3 ]; then  # 3 warm-up rounds
    ms "$t0" "$t1" >> "$T/s-add"; ms "$t1" "$t2" >> "$T/c-add"; ms "$t2" "$t3" >> "$T/s-td"; ms "$t3" "$t4" >> "$T/c-td"
  fi
done
for i in $(seq $((N / 3 + 1))); do   # DEL alone, namespace kept
  "$S" net netns add "$T/ns/d$i"; "$S" net netns add "$T/ns/e$i"
  $NET add --netns "$T/ns/d$i" d$i > /dev/null; cni ADD e$i "$T/ns/e$i"
  t0=$EPOCHREALTIME; $NET del d$i; t1=$EPOCHREALTIME; cni DEL e$i "$T/ns/e$i"; t2=$EPOCHREALTIME
  ms "$t0" "$t1" >> "$T/s-del"; ms "$t1" "$t2" >> "$T/c-del"
  "$S" net netns del "$T/ns/d$i"; "$S" net netns del "$T/ns/e$i"
done
sa=$(median < "$T/s-add"); ca=$(median < "$T/c-add"); st=$(median < "$T/s-td"); ct=$(median < "$T/c-td")
sd=$(median < "$T/s-del"); cd=$(median < "$T/c-del")
echo "$N pod network ADD+DEL cycles each, interleaved; whole-process wall time, medians"
echo
echo "| operation | swiftlet (built-in) | CNI bridge + host-local | ratio |"
echo "|---|---|---|---|"
echo "| ADD | $sa ms | $ca ms | $(awk -v a="$sa" -v b="$ca" 'BEGIN {printf "%.2fx", a/b}') |"
echo "| teardown: DEL + namespace removal | $st ms | $ct ms | $(awk -v a="$st" -v b="$ct" 'BEGIN {printf "%.2fx", a/b}') |"
echo "| DEL alone, namespace kept ($((N / 3 + 1)) runs) | $sd ms | $cd ms | $(awk -v a="$sd" -v b="$cd" 'BEGIN {printf "%.2fx", a/b}') |"
read -r _ ia _ it < <($NET bench --dir "$T/ns" "$N")
ia=$(printf '%.3f' "$ia"); it=$(printf '%.3f' "$it")
echo "| ADD, in-process (the agent's path: a library call) | $ia ms | $ca ms (exec'd) | $(awk -v a="$ia" -v b="$ca" 'BEGIN {printf "%.2fx", a/b}') |"
echo "| teardown, in-process | $it ms | $ct ms (exec'd) | $(awk -v a="$it" -v b="$ct" 'BEGIN {printf "%.2fx", a/b}') |"
$NET teardown
ip link del cni-bench 2>/dev/null || true

# Shared helpers for Swiftlet's root test suites (sourced).
# Each check prints "ok - NAME" or "not ok - NAME: detail"; `summary` prints "N passed, N failed".
PASS=0
FAIL=0

# The suites' python is Debian's (json, sys, socket: nothing else). On this image `python3` on
# PATH is pyenv's shim, a script that costs ~20 s per call in the TCG guest (1 s for
# /usr/bin/python3) and milliseconds on the host.
python3() { /usr/bin/python3 "$@"; }
export -f python3
FAILED_NAMES=()

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() { FAIL=$((FAIL + 1)); FAILED_NAMES+=("$1"); echo "not ok - $1: $2"; }

# check NAME EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected [$2], got [$3]"; fi
}
# check_match NAME REGEX ACTUAL
check_match() {
  # a here-string, not a pipe: grep -q stops at the first match and, under pipefail, the writer's
  # SIGPIPE would turn a match in a long text into a failure
  if grep -Eq -- "$2" <<<"$3"; then ok "$1"; else not_ok "$1" "[$3] does not match /$2/"; fi
}
check_nomatch() {
  if grep -Eq -- "$2" <<<"$3"; then not_ok "$1" "[$3] matches /$2/"; else ok "$1"; fi
}

summary() {
  echo
  if [ "$FAIL" -gt 0 ]; then printf 'failed: %s\n' "${FAILED_NAMES[@]}"; fi
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "########################################################################"
    echo "# SKIPPED: $1 needs root (uid 0); it did NOT run.                       #"
    echo "########################################################################"
    [ "${CI:-}" = true ] && { echo "CI must run the root suites: failing." >&2; exit 1; }
    exit 0
  fi
}

# setcfg FILE PYTHON-EXPR-ON-c : edit a config.json in place (c is the parsed dict)
setcfg() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
path, expr = sys.argv[1], sys.argv[2]
c = json.load(open(path))
exec(expr)
json.dump(c, open(path, "w"), indent=1)
PY
}

# remove_cgroups NAME: deletes <cgroup2 root>/NAME and everything below it (a test agent's tree),
# deepest first; only ever a tree the caller created.
# wait_for SECONDS CMD...: until CMD succeeds (polled every 0.1 s) or the time is up (status 1).
wait_for() {
  local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt "$end" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
remove_cgroups() {
  local root
  root=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
  [ -n "$root" ] && [ -n "$1" ] && [ -d "$root/$1" ] || return 0
  echo 1 > "$root/$1/cgroup.kill" 2>/dev/null || true
  for _ in $(seq 50); do [ -z "$(cat $(find "$root/$1" -name cgroup.procs) 2>/dev/null)" ] && break; sleep 0.1; done
  find "$root/$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

# Test teardown helpers (a failed test may leave any of these behind).
# delete_containers BIN ROOT...: force-deletes every container under each OCI state root.
delete_containers() {
  local bin=$1 root d; shift
  for root in "$@"; do
    for d in "$root"/*/; do [ -d "$d" ] && "$bin" oci --root "$root" delete -f "$(basename "$d")" 2>/dev/null; done
  done
}
# unmount_under DIR: every mount below DIR, deepest first.
unmount_under() {
  local m
  for m in $(awk -v t="$1" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
}

# Suites run side by side: a process is identified as this suite's, never by its name alone.
# own_pids PATTERN: the init processes of this suite's containers (the pids in the runtime state
# under $T) whose command line matches PATTERN. own_pause_pids: this suite's sandbox pause
# processes (their PID namespaces are pinned under $T).
own_pids() {
  local f p
  for f in $(find "$T" -path '*/containers/*/state.json' 2>/dev/null); do
    p=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$f" | head -1)
    [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | sed 's/ $//' | grep -Eq -- "$1" && echo "$p"
  done
}
own_pause_pids() {
  local p pin
  for p in $(pgrep -f '^swiftlet-pause pause$'); do
    for pin in $(awk -v t="$T" 'index($5, t) == 1 && $5 ~ /\/pid$/ {print $5}' /proc/self/mountinfo); do
      [ "$(stat -L -c %i "/proc/$p/ns/pid" 2>/dev/null)" = "$(stat -c %i "$pin")" ] && echo "$p"
    done
  done
}

# The node agent under test, for suites that run it in a throwaway node network namespace. They
# set NODE (the netns), S (swiftlet), ARGS (agent flags), SOCK, T (temp dir) and M (manifests).
# agent_start [MORE FLAGS...]: starts it (appending to $T/agent.log), waits for its socket, sets AGENT_PID.
agent_start() {
  rm -f "$SOCK"
  nsenter --net=/run/netns/$NODE "$S" agent "${ARGS[@]}" "$@" >>"$T/agent.log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 200); do [ -S "$SOCK" ] && "$S" ps --socket "$SOCK" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "agent did not start: $(tail -5 "$T/agent.log")" >&2
  return 1
}
# agent_teardown CGROUP_ROOT [CONTAINER_ROOTS...]: the pods stopped by their manifests' removal, the
# agent stopped, then whatever a failed test left: containers, the pause processes of this suite's
# sandboxes (their PID namespaces are pinned under $T), mounts, the netns, cgroups, $T.
agent_teardown() {
  local cg=$1 p pin; shift
  rm -f "$M"/*
  if [ -n "${AGENT_PID:-}" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    for _ in $(seq 300); do [ "$(ls "$T/root/pods" 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.1; done
    kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null
  fi
  delete_containers "$S" "$T"/run/agent/containers "$@"
  for p in $(own_pause_pids); do kill -9 "$p"; done
  unmount_under "$T"
  ip netns del "$NODE" 2>/dev/null
  remove_cgroups "$cg"
  rm -rf "$T"
}

# kube_clients WORKDIR: the official Python client (a venv at /opt/swiftlet-py, $PY) and Debian's
# kubectl 1.20 (extracted from kubernetes-client to /opt/swiftlet-kubectl-1.20, $K120), installed
# once; the master and auth suites drive the master with them.
kube_clients() {
  PY=/opt/swiftlet-py/bin/python
  K120=/opt/swiftlet-kubectl-1.20/usr/bin/kubectl
  (
    exec 9>/tmp/swiftlet-kube-clients.lock
    flock 9
    if ! "$PY" -c "import kubernetes" 2>/dev/null; then
      command python3 -m venv /opt/swiftlet-py && /opt/swiftlet-py/bin/pip install -q kubernetes || { echo "cannot install the Python client"; exit 1; }
    fi
    if [ ! -x "$K120" ]; then
      (cd "$1" && { apt-get download kubernetes-client >/dev/null 2>&1 || { apt-get update -qq && apt-get download kubernetes-client >/dev/null 2>&1; }; } && dpkg-deb -x kubernetes-client_*.deb /opt/swiftlet-kubectl-1.20) \
        || { echo "cannot fetch Debian's kubernetes-client (kubectl 1.20)"; exit 1; }
    fi
  )
}

#!/usr/bin/env bash
# Root suite for pod spec parity (init containers, sidecars, volumes, env from objects,
# securityContext). Each case is a manifest in the style of the Kubernetes task docs, run with
# `swiftlet run -f` inside a throwaway node network namespace; the checks look at what the
# containers saw (their output) and at the exit status.
#   scripts/test-podspec.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the pod spec suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
NODE=swl-spec-$$
T=$(mktemp -d /tmp/swiftlet-spec.XXXXXX)
CG="swiftlet-spec-$$"
ARGS=(--node-name node1 --root-dir "$T/root" --run-dir "$T/run" --pod-logs-dir "$T/logs" --allow-unenforced-resources
      --backoff-initial 1 --backoff-max 2 --bridge swl-spec0 --pod-subnet 10.92.0.0/24 --cgroup-root "$CG" --node-ip 192.0.2.9
      --log-level error)

cleanup() {
  delete_containers "$S" "$T"/run/run/*/containers
  unmount_under "$T"
  ip netns del "$NODE" 2>/dev/null
  remove_cgroups "$CG"
  rm -rf "$T"
}
trap cleanup EXIT

python3 "$here/make-images.py" "$T/imgs" >/dev/null || { echo "image build failed" >&2; exit 1; }
"$S" images import --store "$T/root/images" --name busybox:test "$T/imgs/busybox" >/dev/null
ip netns add "$NODE" && ip -n "$NODE" link set lo up

# runpod FILE [SECONDS]: the pod in the foreground; stdout in $OUT, stderr in $ERR, status in $RC.
# SIGINT after SECONDS (default 30) for pods that are meant to stay up or stay refused.
runpod() {
  timeout -s INT "${2:-30}" nsenter --net=/run/netns/$NODE "$S" run "${ARGS[@]}" -f "$1" >"$T/out" 2>"$T/err"
  RC=$?
  OUT=$(cat "$T/out")
  ERR=$(cat "$T/err")
}
lines() {  # lines A B: lines A..B of $OUT joined by spaces
  printf '%s\n' "$OUT" | sed -n "$1,$2p" | tr '\n' ' ' | sed 's/ $//'
}
pod() {  # pod NAME: writes $T/NAME.yaml from stdin
  cat > "$T/$1.yaml"
}

echo "# init containers and sidecars"
pod init <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: init-demo}
spec:
  restartPolicy: Never
  initContainers:
  - name: install
    image: busybox:test
    command: [sh, -c, "echo '<h1>installed by init</h1>' > /work-dir/index.html; echo first >> /work-dir/order"]
    volumeMounts: [{name: workdir, mountPath: /work-dir}]
  - name: second
    image: busybox:test
    command: [sh, -c, "test -f /work-dir/index.html && echo second >> /work-dir/order"]
    volumeMounts: [{name: workdir, mountPath: /work-dir}]
  - name: logshipper
    image: busybox:test
    restartPolicy: Always
    command: [sh, -c, "trap 'echo sidecar-stopped >> /work-dir/order; exit 0' TERM; touch /work-dir/trap-set; while true; do sleep 0.1; done"]
    volumeMounts: [{name: workdir, mountPath: /work-dir}]
  containers:
  - name: app
    image: busybox:test
    command: [sh, -c, "until [ -f /work-dir/trap-set ]; do sleep 0.05; done; echo app >> /work-dir/order; sleep 0.3; ls /proc | grep -c '^[0-9]'; cat /work-dir/order; cat /work-dir/index.html"]
    volumeMounts: [{name: workdir, mountPath: /work-dir}]
  terminationGracePeriodSeconds: 5
  volumes:
  - {name: workdir, emptyDir: {}}
EOF
runpod "$T/init.yaml"
check_eq "init containers run in order before the app; emptyDir shared" "[app] first
[app] second
[app] app" "$(printf '%s\n' "$OUT" | grep '^\[app\]' | sed -n '2,4p')"
check_match "the app sees what the init container wrote" "installed by init" "$OUT"
check_eq "pod completes (exit 0) once the sidecar is stopped" "0" "$RC"
check_match "the sidecar ran beside the app, then was stopped (its TERM handler exits 0)" "logshipper: terminated \(Completed, exit code 0\)" "$ERR"

pod initfail <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: init-fail}
spec:
  restartPolicy: Never
  initContainers:
  - {name: check, image: busybox:test, command: [sh, -c, "echo checking; exit 3"]}
  containers:
  - {name: app, image: busybox:test, command: [sh, -c, "echo must-not-run"]}
EOF
runpod "$T/initfail.yaml"
check_eq "a failed init container with restartPolicy Never fails the pod (status 3)" "3" "$RC"
check_nomatch "and the app container never runs" "must-not-run" "$OUT"
check_match "the app waits in PodInitializing" "app: waiting \(PodInitializing\)" "$ERR"

pod initretry <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: init-retry}
spec:
  restartPolicy: OnFailure
  initContainers:
  - name: flaky
    image: busybox:test
    command: [sh, -c, "if [ -f /d/once ]; then echo second-try; else touch /d/once; exit 1; fi"]
    volumeMounts: [{name: d, mountPath: /d}]
  containers:
  - {name: app, image: busybox:test, command: [sh, -c, "echo app-ran"]}
  volumes: [{name: d, emptyDir: {}}]
EOF
runpod "$T/initretry.yaml"
check_eq "a failed init container is retried (OnFailure), then the app runs" "0 [flaky] second-try [app] app-ran" \
  "$RC $(printf '%s\n' "$OUT" | grep -E 'second-try|app-ran' | sort -r | tr '\n' ' ' | sed 's/ $//')"

echo "# volumes"
mkdir -p "$T/host/data" && echo from-host > "$T/host/data/file.txt"
pod vols <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: game-config}
data:
  game.properties: |
    enemies=aliens
    lives=3
  ui: dark
---
apiVersion: v1
kind: Secret
metadata: {name: db-creds}
data:
  password: czNjcjN0
stringData:
  username: admin
---
apiVersion: v1
kind: Pod
metadata:
  name: volumes-demo
  labels: {zone: us-est-coast, cluster: test-cluster1}
  annotations: {build: two}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, "cat /etc/config/game.properties; echo; cat /etc/config/ui; echo;
      cat /etc/secret/password; echo; stat -c '%a' /etc/secret/..data/password;
      cat /etc/podinfo/labels; echo; cat /etc/podinfo/name; echo;
      cat /etc/podinfo/cpu_limit; echo; cat /projected/ui; echo; cat /projected/user; echo;
      readlink /etc/config/ui; readlink /etc/config/..data | grep -c '^[.][.]';
      df -k /cache | tail -1 | tr -s ' ' | cut -d' ' -f1,2;
      cat /host/file.txt; touch /host/x 2>&1 | grep -c 'Read-only';
      echo sub > /sub/inside.txt; cat /scratch-root/nested/dir/inside.txt; ls /dir-or-create >/dev/null && echo created;
      touch /etc/config/new 2>&1 | grep -c 'Read-only'; cat /etc/podinfo/annotations"]
    resources: {limits: {cpu: 500m, memory: 64Mi}}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
    - {name: podinfo, mountPath: /etc/podinfo}
    - {name: all, mountPath: /projected}
    - {name: cache, mountPath: /cache}
    - {name: host, mountPath: /host, readOnly: true}
    - {name: scratch, mountPath: /sub, subPath: nested/dir}
    - {name: scratch, mountPath: /scratch-root}
    - {name: doc, mountPath: /dir-or-create}
  volumes:
  - {name: config, configMap: {name: game-config}}
  - {name: secret, secret: {secretName: db-creds, defaultMode: 0400}}
  - name: podinfo
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: cpu_limit, resourceFieldRef: {containerName: c, resource: limits.cpu, divisor: 1m}}
  - name: all
    projected:
      sources:
      - configMap: {name: game-config, items: [{key: ui, path: ui}]}
      - secret: {name: db-creds, items: [{key: username, path: user}]}
  - {name: cache, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: host, hostPath: {path: $T/host/data, type: Directory}}
  - {name: scratch, emptyDir: {}}
  - {name: doc, hostPath: {path: $T/host/made, type: DirectoryOrCreate}}
EOF
runpod "$T/vols.yaml"
check_eq "configMap volume: keys as files" "enemies=aliens
lives=3

dark" "$(printf '%s\n' "$OUT" | sed -n '1,4p')"
check_eq "secret volume: decoded value, defaultMode 0400" "s3cr3t 400" "$(lines 5 6)"
check_eq "downwardAPI: labels as sorted key=\"value\" lines, name, limits.cpu in millicores" 'cluster="test-cluster1"
zone="us-est-coast"
volumes-demo
500' "$(printf '%s\n' "$OUT" | sed -n '7,10p')"
check_match "downwardAPI: annotations (with the source annotations the agent adds)" '^build="two"' "$(printf '%s\n' "$OUT" | sed -n '21,$p')"
check_eq "projected: configMap and secret items in one dir" "dark admin" "$(lines 11 12)"
check_eq "atomic writer layout: names link through ..data to a ..<timestamp> dir" "..data/ui 1" "$(lines 13 14)"
check_eq "emptyDir medium Memory: tmpfs of sizeLimit (8 MiB)" "tmpfs 8192" "$(printf '%s\n' "$OUT" | sed -n '15p')"
check_eq "hostPath Directory, mounted readOnly" "from-host 1" "$(lines 16 17)"
check_eq "subPath created inside the volume and written through" "sub" "$(printf '%s\n' "$OUT" | sed -n '18p')"
check_eq "hostPath DirectoryOrCreate made the dir" "created yes" "$(printf '%s\n' "$OUT" | sed -n '19p') $([ -d "$T/host/made" ] && echo yes)"
check_eq "configMap volumes are read-only" "1" "$(printf '%s\n' "$OUT" | sed -n '20p')"
check_eq "pod volumes (tmpfs, dirs) removed with the pod" "0" "$(awk -v t="$T/root" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)"

pod badhost <<EOF
apiVersion: v1
kind: Pod
metadata: {name: bad-hostpath}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox:test, command: ["true"], volumeMounts: [{name: h, mountPath: /h}]}]
  volumes: [{name: h, hostPath: {path: $T/host/data/file.txt, type: Directory}}]
EOF
runpod "$T/badhost.yaml" 4
check_match "hostPath type mismatch: the pod waits with the reason" "hostPath type check failed: .*file.txt is not a directory" "$ERR"

pod escape <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: subpath-escape}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox:test, command: ["true"], volumeMounts: [{name: v, mountPath: /v, subPath: "../../etc"}]}]
  volumes: [{name: v, emptyDir: {}}]
EOF
runpod "$T/escape.yaml" 4
check_match "subPath with '..' refused at validation, nothing run (status 1)" "subPath: Invalid value: \"../../etc\": must be a relative path without '..' 1" "$(echo $ERR) $RC"

pod missingcm <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: missing-cm}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox:test, command: ["true"], volumeMounts: [{name: v, mountPath: /v}]}]
  volumes: [{name: v, configMap: {name: nowhere}}]
EOF
runpod "$T/missingcm.yaml" 4
check_match "a missing configMap keeps the pod ContainerCreating with the reason" 'configmap "nowhere" not found' "$ERR"

echo "# environment from objects"
pod env <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: special-config}
data: {SPECIAL_LEVEL: very, SPECIAL_TYPE: charm, "bad-name": skipped}
---
apiVersion: v1
kind: Secret
metadata: {name: backend-user}
data: {backend-username: YmFja2VuZC1hZG1pbg==}
---
apiVersion: v1
kind: Pod
metadata: {name: env-demo, labels: {app: envs}}
spec:
  restartPolicy: Never
  serviceAccountName: runner
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, "echo $SPECIAL_LEVEL_KEY $SECRET_USERNAME $CFG_SPECIAL_TYPE $OPTIONAL_MISSING- $MY_NODE $MY_SA $MY_APP $MY_MEM $MY_HOST; env | grep -c bad-name"]
    resources: {limits: {memory: 64Mi}}
    env:
    - {name: SPECIAL_LEVEL_KEY, valueFrom: {configMapKeyRef: {name: special-config, key: SPECIAL_LEVEL}}}
    - {name: SECRET_USERNAME, valueFrom: {secretKeyRef: {name: backend-user, key: backend-username}}}
    - {name: OPTIONAL_MISSING, valueFrom: {configMapKeyRef: {name: special-config, key: nope, optional: true}}}
    - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: MY_SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: MY_APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: MY_MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: MY_HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    envFrom:
    - {configMapRef: {name: special-config}, prefix: CFG_}
EOF
runpod "$T/env.yaml"
check_eq "env: configMapKeyRef, secretKeyRef, envFrom prefix, optional, fieldRefs, resourceFieldRef; invalid names skipped" \
  "very backend-admin charm - node1 runner envs 64 192.0.2.9 0" "$(echo $OUT)"
pod envmissing <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: env-missing}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:test
    command: ["true"]
    env: [{name: X, valueFrom: {secretKeyRef: {name: absent, key: k}}}]
EOF
runpod "$T/envmissing.yaml" 4
check_match "env from a missing secret: CreateContainerConfigError" 'CreateContainerConfigError\): secret "absent" not found' "$ERR"

echo "# securityContext"
pod sc <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: security-context-demo}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}
  containers:
  - name: ids
    image: busybox:test
    command: [sh, -c, "id -u; id -g; id -G; echo data > /data/demo/f; stat -c '%g' /data/demo /data/demo/f; grep NoNewPrivs /proc/self/status"]
    volumeMounts: [{name: sec-ctx-vol, mountPath: /data/demo}]
  volumes: [{name: sec-ctx-vol, emptyDir: {}}]
EOF
runpod "$T/sc.yaml"
check_eq "runAsUser/runAsGroup/supplementalGroups/fsGroup: ids, groups, volume group ownership; privilege escalation allowed by default" \
  "1000 3000 3000 2000 4000 2000 2000 NoNewPrivs: 0" "$(echo $OUT | sed 's/\t/ /g')"

pod nonroot <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: busybox:test, command: ["true"], securityContext: {runAsNonRoot: true, runAsUser: 0}}
EOF
runpod "$T/nonroot.yaml" 4
check_match "runAsNonRoot with uid 0: CreateContainerConfigError" "CreateContainerConfigError\): container has runAsNonRoot and image will run as root" "$ERR"

pod caps <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: caps}
spec:
  restartPolicy: Never
  containers:
  - name: nochown
    image: busybox:test
    command: [sh, -c, "touch /tmp/f; chown 1234 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied"]
    securityContext: {capabilities: {drop: [CHOWN]}}
  - name: default
    image: busybox:test
    command: [sh, -c, "touch /tmp/f; chown 1234 /tmp/f && echo chown-ok; mount -t tmpfs t /tmp 2>/dev/null || echo mount-denied;
      hostname evil 2>/dev/null || echo hostname-denied; echo 1 > /proc/sys/kernel/ostype 2>/dev/null || echo procsys-denied;
      insmod /nonexistent.ko 2>/dev/null || echo insmod-denied; ls /proc | grep -c '^[0-9]'; ls /proc/self/fd | wc -l;
      grep Seccomp: /proc/self/status"]
  - name: nnp
    image: busybox:test
    command: [sh, -c, "grep NoNewPrivs /proc/self/status"]
    securityContext: {allowPrivilegeEscalation: false}
  - name: added
    image: busybox:test
    command: [sh, -c, "hostname added-cap && hostname"]
    securityContext: {capabilities: {add: [SYS_ADMIN]}}
  - name: priv
    image: busybox:test
    command: [sh, -c, "mount -t tmpfs t /tmp && echo priv-mount-ok; grep Seccomp: /proc/self/status; test -c /dev/kmsg && echo host-devices"]
    securityContext: {privileged: true}
  - name: ro
    image: busybox:test
    command: [sh, -c, "touch /file 2>/dev/null || echo rootfs-readonly"]
    securityContext: {readOnlyRootFilesystem: true}
  - name: unconfined
    image: busybox:test
    command: [sh, -c, "grep Seccomp: /proc/self/status"]
    securityContext: {seccompProfile: {type: Unconfined}}
EOF
runpod "$T/caps.yaml"
out=$(echo $OUT | sed 's/\t/ /g')
check_match "capabilities drop CHOWN: chown fails" "\[nochown\] chown-denied" "$out"
check_match "default: chown works (CAP_CHOWN in the default set)" "\[default\] chown-ok" "$out"
check_match "default: cannot mount" "\[default\] mount-denied" "$out"
check_match "default: cannot change the hostname" "\[default\] hostname-denied" "$out"
check_match "default: cannot write /proc/sys" "\[default\] procsys-denied" "$out"
check_match "default: cannot load modules" "\[default\] insmod-denied" "$out"
check_match "default: sees only its own processes (sh, ls, grep)" "\[default\] [23] " "$out"
check_match "default: no fds from the agent (stdin/out/err and the listing's own)" "\[default\] 4( |$)" "$out"
check_match "allowPrivilegeEscalation false: no_new_privs set" "\[nnp\] NoNewPrivs: 1" "$out"
check_match "capabilities add SYS_ADMIN: may set the UTS hostname" "\[added\] added-cap" "$out"
check_match "privileged: may mount, no seccomp filter, host devices" "\[priv\] priv-mount-ok \[priv\] Seccomp: 0 \[priv\] host-devices" \
  "$(printf '%s\n' "$OUT" | grep '^\[priv\]' | tr -s '\n\t ' ' ')"
check_match "readOnlyRootFilesystem" "\[ro\] rootfs-readonly" "$out"
check_match "seccompProfile Unconfined" "\[unconfined\] Seccomp: 0" "$out"
check_match "RuntimeDefault seccomp applies by default (filter mode 2)" "\[default\] Seccomp: 2" "$out"

pod sysctl <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: sysctl-example}
spec:
  restartPolicy: Never
  securityContext:
    sysctls:
    - {name: kernel.shm_rmid_forced, value: "1"}
    - {name: net.ipv4.ip_local_port_range, value: "32768 60999"}
  containers: [{name: c, image: busybox:test, command: [sh, -c, "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_local_port_range"]}]
EOF
runpod "$T/sysctl.yaml"
check_eq "safe sysctls applied in the pod's namespaces" "1 32768 60999" "$(echo $OUT | tr '\t' ' ')"
sed -i 's/kernel.shm_rmid_forced/kernel.msgmax/' "$T/sysctl.yaml"
runpod "$T/sysctl.yaml" 4
check_eq "an unsafe sysctl: pod refused (SysctlForbidden), status 1" "1" "$RC"
check_match "with the kubelet's message" 'forbidden sysctl: "kernel.msgmax" not allowlisted' "$ERR"

echo "# probes and lifecycle hooks"
pod liveness <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: liveness-exec}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: liveness
    image: busybox:test
    args: [/bin/sh, -c, "touch /tmp/healthy; sleep 2; rm -f /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
EOF
runpod "$T/liveness.yaml" 9
check_match "liveness exec: failing probe restarts the container (counted)" "liveness: running, ready \(restarts: 1\); last exit: Container liveness failed liveness probe, will be restarted" "$ERR"

pod readiness <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: readiness-http}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:test
    command: [sh, -c, "mkdir -p /www; sleep 1.5; echo ok > /www/healthz; httpd -p 8080 -h /www; sleep 2.5; rm /www/healthz; sleep 600"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http, httpHeaders: [{name: X-Probe, value: "yes"}]}
      periodSeconds: 1
      failureThreshold: 1
EOF
runpod "$T/readiness.yaml" 8
check_eq "readiness httpGet: not ready, ready once the server answers 200, not ready after 404 (and while stopping)" \
  "running, not ready|running, ready|running, not ready" "$(grep -o 'web: running, [a-z ]*' <<<"$ERR" | sed 's/web: //; s/ *$//' | paste -sd '|')"

pod tcp <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: tcp-liveness}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: up
    image: busybox:test
    command: [sh, -c, "mkdir -p /w; httpd -f -p 8081 -h /w"]
    ports: [{name: web, containerPort: 8081}]
    livenessProbe: {tcpSocket: {port: web}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}
  - name: down
    image: busybox:test
    command: [sleep, "600"]
    livenessProbe: {tcpSocket: {port: 9999}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 2}
  - name: slow
    image: busybox:test
    command: [sleep, "600"]
    livenessProbe: {exec: {command: [sleep, "5"]}, timeoutSeconds: 1, periodSeconds: 1, failureThreshold: 1}
EOF
runpod "$T/tcp.yaml" 8
check_nomatch "tcpSocket liveness on a listening named port: never restarted" "up: .*restarts" "$ERR"
check_match "tcpSocket liveness on a closed port: restarted" "down: running, ready \(restarts: [1-9]" "$ERR"
check_match "exec probe timeoutSeconds enforced: a probe that hangs fails" "slow: running, ready \(restarts: [1-9].*failed liveness probe" "$ERR"

pod startup <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: startup-probe}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: gated
    image: busybox:test
    command: [sh, -c, "sleep 2; touch /tmp/started; sleep 600"]
    startupProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 10}
    livenessProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 1}
  - name: never
    image: busybox:test
    command: [sleep, "600"]
    startupProbe: {exec: {command: ["false"]}, periodSeconds: 1, failureThreshold: 2}
EOF
runpod "$T/startup.yaml" 7
check_eq "startup probe gates liveness: not started, then ready, never restarted (not ready once stopping)" "running, not started|running, ready|running, not ready" \
  "$(grep -o 'gated: running, [a-z ]*' <<<"$ERR" | sed 's/gated: //; s/ *$//' | paste -sd '|')"
check_match "a failing startup probe restarts the container" "never: running, not started \(restarts: [1-9]\); last exit: Container never failed startup probe" "$ERR"
check_nomatch "and it never counts as ready" "never: running, ready" "$ERR"

pod hooks <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: lifecycle-demo}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: lifecycle-demo-container
    image: busybox:test
    command: [sh, -c, "until [ -f /usr/share/message ]; do sleep 0.1; done; cat /usr/share/message; trap 'echo got-TERM; exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      postStart: {exec: {command: [/bin/sh, -c, "mkdir -p /usr/share; echo Hello from the postStart handler > /usr/share/message"]}}
      preStop: {exec: {command: [/bin/sh, -c, "echo prestop-ran > /proc/1/fd/1; sleep 1"]}}
EOF
runpod "$T/hooks.yaml" 3
check_eq "postStart runs before the container counts as started; preStop runs before SIGTERM" \
  "Hello from the postStart handler|prestop-ran|got-TERM" "$(printf '%s\n' "$OUT" | paste -sd '|')"

pod httphook <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: http-hooks}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
    image: busybox:test
    command: [sh, -c, "mkdir -p /www/cgi-bin; printf '#!/bin/sh\\necho hook-$QUERY_STRING > /proc/1/fd/1\\necho Content-Type: text/plain\\necho\\necho ok\\n' > /www/cgi-bin/hook;
      chmod 755 /www/cgi-bin/hook; httpd -p 8080 -h /www; trap 'echo got-TERM; exit 0' TERM; while true; do sleep 0.1; done"]
    ports: [{name: http, containerPort: 8080}]
    lifecycle:
      postStart: {sleep: {seconds: 1}}
      preStop: {httpGet: {path: "/cgi-bin/hook?prestop", port: http}}
EOF
runpod "$T/httphook.yaml" 4
check_eq "preStop httpGet reaches the container before SIGTERM (postStart sleep first)" "hook-prestop|got-TERM" "$(printf '%s\n' "$OUT" | paste -sd '|')"

pod grpc <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: grpc-probe}
spec:
  containers:
  - {name: c, image: busybox:test, command: [sleep, "60"], livenessProbe: {grpc: {port: 9000}}}
EOF
runpod "$T/grpc.yaml" 3
check_match "grpc probes: refused with a clear reason" "CreateContainerConfigError\): grpc probes are not supported" "$ERR"

echo "# user namespaces (hostUsers: false)"
pod userns <<'EOF'
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {token: abc}
---
apiVersion: v1
kind: Pod
metadata: {name: userns}
spec:
  restartPolicy: Never
  hostUsers: false
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, "cat /proc/self/uid_map | tr -s ' '; id -u; touch /newfile && stat -c '%u:%g' /newfile; stat -c '%u:%g' /bin/busybox;
      echo x > /data/f && stat -c '%u' /data/f; cat /sec/token; echo; mkdir -p /www; httpd -p 80 -h /www && echo port80-ok;
      chown 1234 /newfile && echo chown-in-range-ok; cat /proc/1/status | grep -c ^Uid"]
    volumeMounts: [{name: data, mountPath: /data}, {name: sec, mountPath: /sec}]
  volumes: [{name: data, emptyDir: {}}, {name: sec, secret: {secretName: token, defaultMode: 0400}}]
EOF
runpod "$T/userns.yaml"
base=$(printf '%s\n' "$OUT" | sed -n '1p' | cut -d' ' -f3)
check_match "hostUsers false: the pod's own user namespace, 65536 IDs from a per-pod base" "^ 0 [1-9][0-9]* 65536$" "$(printf '%s\n' "$OUT" | sed -n '1p')"
check_eq "root inside; files it creates are its own; the image's files appear as root's (idmapped layers)" "0 0:0 0:0" \
  "$(lines 2 4)"
check_eq "volumes stay usable: emptyDir writable, a 0400 secret readable (idmapped mounts)" "0 abc" \
  "$(lines 5 6)"
check_eq "root in the pod may bind port 80 and chown within its range" "port80-ok chown-in-range-ok" \
  "$(printf '%s\n' "$OUT" | grep -E 'port80-ok|chown-in-range' | tr '\n' ' ' | sed 's/ $//')"
check_eq "the ID range is released with the pod" "{}" "$(cat "$T/root/userns.json" 2>/dev/null | tr -d ' \n')"
check_match "and was not the host's (base >= 65536)" "^[0-9]{5,}$" "$base"

echo "# more security: setuid, seccomp Localhost, procMount, host processes, mount propagation"
mkdir -p "$T/suid" "$T/seccomp/profiles"
cat > "$T/suid/euid.c" <<'CEOF'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("euid=%d\n", (int)geteuid()); return 0; }
CEOF
cc -static -O2 -o "$T/suid/euid" "$T/suid/euid.c" && chown 0:0 "$T/suid/euid" && chmod 4755 "$T/suid/euid"
chmod 755 "$T" "$T/suid"
cat > "$T/seccomp/profiles/no-mkdir.json" <<'JEOF'
{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JEOF
ARGS+=(--seccomp-profile-root "$T/seccomp")
pod suid <<EOF
apiVersion: v1
kind: Pod
metadata: {name: setuid}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000}
  containers:
  - name: escalates
    image: busybox:test
    command: [/suid/euid]
    volumeMounts: [{name: s, mountPath: /suid, readOnly: true}]
  - name: contained
    image: busybox:test
    command: [/suid/euid]
    securityContext: {allowPrivilegeEscalation: false}
    volumeMounts: [{name: s, mountPath: /suid, readOnly: true}]
  - name: localhost
    image: busybox:test
    command: [sh, -c, "mkdir /tmp/x 2>&1 | grep -c 'Operation not permitted'; grep Seccomp: /proc/self/status | tr '\t' ' '"]
    securityContext: {runAsUser: 0, seccompProfile: {type: Localhost, localhostProfile: profiles/no-mkdir.json}}
  - name: hostpids
    image: busybox:test
    command: [sh, -c, "kill -0 $$ 2>/dev/null && echo host-pid-visible || echo host-pid-invisible; ls /proc/$$ >/dev/null 2>&1 || echo no-proc-entry"]
    securityContext: {runAsUser: 0}
  volumes: [{name: s, hostPath: {path: $T/suid, type: Directory}}]
EOF
runpod "$T/suid.yaml"
out=$(echo $OUT)
check_match "a setuid-root binary raises privileges by default (allowPrivilegeEscalation defaults to true)" "\[escalates\] euid=0" "$out"
check_match "with allowPrivilegeEscalation false it does not (no_new_privs)" "\[contained\] euid=1000" "$out"
# the containers print side by side: the localhost container's own lines, in its order
check_match "seccompProfile Localhost: the profile from seccompProfileRoot applies" "\[localhost\] 1 \[localhost\] Seccomp: 2" \
  "$(printf '%s\n' "$OUT" | grep '^\[localhost\]' | tr -s '\n\t ' ' ')"
check_match "a host process (this test's shell) cannot be signalled or traced from the pod: it is not there" \
  "\[hostpids\] host-pid-invisible \[hostpids\] no-proc-entry" "$(printf '%s\n' "$OUT" | grep '^\[hostpids\]' | tr -s '\n\t ' ' ')"

pod unmasked <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: unmasked}
spec:
  restartPolicy: Never
  hostUsers: false
  containers:
  - name: default
    image: busybox:test
    command: [sh, -c, "grep -c ' /proc/timer_list ' /proc/self/mountinfo"]
  - name: unmasked
    image: busybox:test
    command: [sh, -c, "grep -c ' /proc/timer_list ' /proc/self/mountinfo"]
    securityContext: {procMount: Unmasked}
EOF
runpod "$T/unmasked.yaml"
check_eq "procMount Unmasked (with hostUsers: false): /proc paths are not masked" "[default] 1 [unmasked] 0" "$(echo $OUT)"

# HostToContainer: a mount made on the node under the hostPath after the container started
mkdir -p "$T/prop" && mount --bind "$T/prop" "$T/prop" && mount --make-rshared "$T/prop"
pod prop <<EOF
apiVersion: v1
kind: Pod
metadata: {name: propagation}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:test
    command: [sh, -c, "until [ -f /host/late/marker ]; do sleep 0.1; done; cat /host/late/marker"]
    volumeMounts: [{name: h, mountPath: /host, mountPropagation: HostToContainer}]
  volumes: [{name: h, hostPath: {path: $T/prop}}]
EOF
( sleep 2; mkdir -p "$T/prop/late" "$T/late-src"; echo propagated > "$T/late-src/marker"; mount --bind "$T/late-src" "$T/prop/late" ) &
runpod "$T/prop.yaml" 15
wait
check_eq "mountPropagation HostToContainer: a later node mount shows up inside" "propagated" "$OUT"
umount -l "$T/prop/late" 2>/dev/null; umount -l "$T/prop" 2>/dev/null

check_eq "nothing left: run state, containers, mounts" "0 0 0" \
  "$(ls "$T/root/run" 2>/dev/null | wc -l) $(ls "$T/run/run" 2>/dev/null | wc -l) $(awk -v t="$T/root" 'index($5, t) == 1' /proc/self/mountinfo | wc -l)"
summary

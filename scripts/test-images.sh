#!/usr/bin/env bash
# Root suite for images: Debian's docker-registry on 127.0.0.1 (plain, htpasswd basic auth, and
# behind a token endpoint this script serves), test images built from busybox-static, pulls by
# tag / digest / index, corrupted blobs, auth failures, overlay whiteouts, a container from a
# pulled image, hostile layers, rm/prune, concurrent pulls. All temp state is removed after.
#   scripts/test-images.sh [BIN_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root "the image suite"
BIN=$(cd "${1:-$here/../bin}" && pwd)
S="$BIN/swiftlet"
for tool in docker-registry skopeo htpasswd openssl; do
  command -v $tool >/dev/null || { echo "test-images: $tool missing (scripts/install-deps.sh --images)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/swiftlet-img.XXXXXX)
ST=$T/store
OCIROOT=$T/oci
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for m in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 "$here/make-images.py" "$T/imgs" --outside "$T/outside" || { echo "image build failed" >&2; exit 1; }
mkdir -p "$T/outside"

# registry NAME PORT [AUTH-YAML]
registry() {
  mkdir -p "$T/$1"
  cat > "$T/$1/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/$1/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$2}
${3:-}
EOF
  docker-registry serve "$T/$1/config.yml" >"$T/$1/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$2/v2/" && return 0; sleep 0.05; done
  echo "registry $1 did not start: $(tail -5 "$T/$1/log")" >&2; exit 1
}
push() { skopeo copy --quiet --all --dest-tls-verify=false ${3:+--dest-creds "$3"} "oci:$T/imgs/$1:test" "docker://$2" >/dev/null; }
pull() { "$S" images pull --store "$ST" "$@" 2>&1; }
run() { "$S" images run --store "$ST" --root "$OCIROOT" --allow-unenforced-resources "$@" 2>&1; }

P=$(free_port)
registry plain "$P"
R=127.0.0.1:$P
for i in busybox httpd layered multi many; do push $i "$R/test/$i:1.0" || not_ok "push $i" "skopeo failed"; done

# --- pulls ---------------------------------------------------------------------------------
out=$(pull "$R/test/busybox:1.0" </dev/null)
check_match "pull by tag" "^$R/test/busybox:1.0 sha256:[0-9a-f]{64}$" "$(echo "$out" | tail -1)"
check_match "plain progress lines when not a terminal" "layer 1 [0-9a-f]{12}: done" "$out"
digest=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/busybox:1.0" | sha256sum | cut -d' ' -f1)
out=$(pull -q "$R/test/busybox@sha256:$digest")
check_match "pull by digest" "test/busybox@sha256:$digest sha256:$digest" "$out"
check_match "already-present layers are not fetched again" "already present" "$(pull "$R/test/busybox:1.0")"
check_eq "one unpacked layer for busybox" 1 "$(ls "$ST/layers/sha256" | wc -l)"
out=$(pull "$R/test/multi:1.0")
check_match "index pull succeeds" "test/multi:1.0 sha256:" "$out"
check_eq "index → linux/amd64 manifest chosen" "amd64" "$(run "$R/test/multi:1.0" m1 -- sh -c 'echo $ARCH')"
inspect=$("$S" images inspect --store "$ST" "$R/test/multi:1.0")
check_match "inspect shows the amd64 config" '"architecture": "amd64"' "$inspect"
check_match "bad reference → InvalidImageName" 'InvalidImageName: "Busybox:1": repository name must be lowercase' "$(pull Busybox:1)"
check_match "missing tag → not found" "not found: manifest test/busybox:nope" "$(pull "$R/test/busybox:nope")"

# --- a container from a pulled image: entrypoint, env, workdir, user -----------------------
pull -q "$R/test/httpd:1.0" >/dev/null
run "$R/test/httpd:1.0" web1 >"$T/web1.log" 2>&1 &
webpid=$!
for _ in $(seq 100); do "$S" oci --root "$OCIROOT" state web1 2>/dev/null | grep -q '"running"' && break; sleep 0.05; done
check_eq "image ENTRYPOINT runs" "httpd -f -p 8080 -h /www" "$("$S" oci --root "$OCIROOT" exec web1 cat /proc/1/cmdline 2>&1 | tr '\0' ' ' | sed 's/ $//')"
check_eq "image USER app (uid 1000) runs the entrypoint" "1000 1000" "$("$S" oci --root "$OCIROOT" exec web1 stat -c '%u %g' /proc/1 2>&1)"
check_eq "image WORKDIR" "/www" "$("$S" oci --root "$OCIROOT" exec web1 readlink /proc/1/cwd 2>&1)"
check_match "image ENV" "GREETING=hello" "$("$S" oci --root "$OCIROOT" exec web1 cat /proc/1/environ 2>&1 | tr '\0' '\n')"
"$S" oci --root "$OCIROOT" kill web1 KILL   # busybox httpd as PID 1 has no SIGTERM handler
wait $webpid
check_eq "container removed after exit" "" "$(ls "$ST/snapshots")"
check_eq "overlay unmounted after exit" "0" "$(grep -c "$ST/snapshots" /proc/self/mountinfo)"
check_eq "args replace CMD, user and group names resolved" "uid=1000(app) gid=50(staff)|/tmp|uid=1000(app) gid=1000(app) groups=50(staff)" \
  "$(run --user app:staff --workdir /tmp --command sh "$R/test/httpd:1.0" u1 -- -c 'echo "$(id)|$(pwd)"')|$(run --user app "$R/test/busybox:1.0" u1b -- id)"
check_match "unknown user → clear error" "unable to find user nosuch" "$(run --user nosuch "$R/test/busybox:1.0" u2 -- true)"
check_eq "failed start leaves no snapshot" "" "$(ls "$ST/snapshots")"

# --- whiteouts and opaque directories through the overlay ---------------------------------
pull -q "$R/test/layered:1.0" >/dev/null
check_eq "whiteout hides /etc/motd" "absent" "$(run "$R/test/layered:1.0" w1 -- sh -c 'test -e /etc/motd && echo present || echo absent')"
check_eq "opaque dir hides lower /data entries" "new" "$(run "$R/test/layered:1.0" w2 -- ls /data)"
check_eq "whiteout of a directory from a lower layer; zstd layer" "link z|zstd layer" \
  "$(run "$R/test/layered:1.0" w3 -- sh -c 'echo "$(ls /deep | tr "\n" " " | sed "s/ $//")|$(cat /deep/z)"')"
check_eq "writes go to the container's upper dir only" "ok|ok" \
  "$(run "$R/test/layered:1.0" w4 -- sh -c 'echo x > /data/new && rm /bin/ls && echo ok' 2>/dev/null | head -1)|$(run "$R/test/layered:1.0" w5 -- sh -c 'test -x /bin/ls && grep -q new /data/new && echo ok')"
pull -q "$R/test/many:1.0" >/dev/null
check_eq "60-layer image mounts (short layer links)" "59" "$(run "$R/test/many:1.0" m60 -- sh -c 'ls /layers | wc -l')"

# --- corrupted blob: digest mismatch, nothing stored ----------------------------------------
layer=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/httpd:1.0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][1]["digest"].split(":")[1])')
data="$T/plain/data/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data"
size=$(stat -c %s "$data")
head -c "$size" /dev/urandom > "$data"
out=$("$S" images pull --store "$T/store2" "$R/test/httpd:1.0" 2>&1)
check_match "corrupted blob rejected" "digest mismatch for blob sha256:$layer" "$out"
check_eq "corrupted blob not stored" "absent" "$([ -e "$T/store2/blobs/sha256/$layer" ] && echo present || echo absent)"
check_eq "no staging leftovers" "" "$(ls "$T/store2/tmp")"
check_eq "no image record for the failed pull" "" "$("$S" images ls -q --store "$T/store2")"

# --- basic auth ----------------------------------------------------------------------------
PB=$(free_port)
htpasswd -Bbn alice s3cret > "$T/htpasswd" 2>/dev/null
registry basic "$PB" "auth: {htpasswd: {realm: swiftlet-basic, path: $T/htpasswd}}"
push busybox "127.0.0.1:$PB/test/busybox:1.0" alice:s3cret || not_ok "push to basic registry" "skopeo failed"
check_match "basic auth without credentials" "unauthorized: authentication to 127.0.0.1:$PB failed: registry requires Basic authentication and no credentials" \
  "$(pull --registry-config "$T/none.json" "127.0.0.1:$PB/test/busybox:1.0")"
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$PB" "$(printf alice:wrong | base64)" > "$T/wrong.json"
check_match "basic auth with a wrong password" "unauthorized: .*credentials rejected" \
  "$(pull --registry-config "$T/wrong.json" "127.0.0.1:$PB/test/busybox:1.0")"
printf '{"auths":{"http://127.0.0.1:%s":{"auth":"%s"}}}' "$PB" "$(printf alice:s3cret | base64)" > "$T/basic.json"
check_match "basic auth with config.json credentials" "test/busybox:1.0 sha256:" \
  "$(pull -q --registry-config "$T/basic.json" "127.0.0.1:$PB/test/busybox:1.0")"

# --- bearer token flow -------------------------------------------------------------------------
PT=$(free_port) PR=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=swiftlet-token 2>/dev/null
/usr/bin/python3 "$here/registry-token-server.py" "$PT" "$T/key.pem" "$T/cert.pem" bob:hunter2 swiftlet-issuer swiftlet-registry &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PT/token" && break; sleep 0.05; done
registry token "$PR" "auth: {token: {realm: http://127.0.0.1:$PT/token, service: swiftlet-registry, issuer: swiftlet-issuer, rootcertbundle: $T/cert.pem}}"
push busybox "127.0.0.1:$PR/test/busybox:1.0" bob:hunter2 || not_ok "push to token registry" "skopeo failed"
check_match "token flow without credentials" "unauthorized: .*token endpoint http://127.0.0.1:$PT/token answered HTTP 401 \(no credentials configured\)" \
  "$(pull --registry-config "$T/none.json" "127.0.0.1:$PR/test/busybox:1.0")"
printf '{"auths":{"127.0.0.1:%s":{"username":"bob","password":"hunter2"}}}' "$PR" > "$T/token.json"
check_match "token flow with credentials" "test/busybox:1.0 sha256:" \
  "$(pull -q --registry-config "$T/token.json" "127.0.0.1:$PR/test/busybox:1.0")"
check_match "connection refused: retried, then reported" "GET http://127.0.0.1:1/v2/x/manifests/1: .*(refused|Connect)" \
  "$(pull 127.0.0.1:1/x:1)"

# --- hostile layers: no write outside, clear errors ------------------------------------------
before=$(find / -xdev -name 'escaped-*' 2>/dev/null | wc -l)
hostile() { "$S" images import --store "$T/hstore" --name "hostile/$1:t" "$T/imgs/hostile-$1" 2>&1; }
check_match "hostile: .. names refused" 'layer entry \.\./\.\./escaped-dotdot: path escapes the layer root' "$(hostile dotdot)"
check_match "hostile: absolute names are re-rooted in the layer (as Docker and containerd), not refused" '^docker.io/hostile/absolute:t sha256:' "$(hostile absolute)"
check_eq "hostile: the absolute entry landed inside its layer" "1" "$(find "$T/hstore/layers" -path '*/tmp/escaped-absolute' | wc -l)"
check_match "hostile: write through an absolute symlink stays inside" 'layer entry evil/escaped-symlink: open parent directory evil inside the layer' "$(hostile symlink-write)"
check_match "hostile: write through a climbing symlink stays inside" 'layer entry up/escaped-symlink2: open parent directory up inside the layer' "$(hostile symlink-dotdot)"
check_match "hostile: hard link out refused" 'layer entry link: hard link target \.\./\.\./\.\./\.\./etc/passwd escapes' "$(hostile hardlink-out)"
check_match "hostile: an absolute hard link points into the layer (here: at nothing), never at the host" 'layer entry link2: hard link target /etc/shadow: No such file or directory' "$(hostile hardlink-abs)"
check_match "hostile: whiteout of .. refused" 'layer entry dir/\.wh\.\.\.: invalid whiteout name' "$(hostile whiteout-dotdot)"
check_match "hostile: lying diffID refused" 'uncompressed content is sha256:[0-9a-f]{64} but the image config says sha256:0{64}; the layer was discarded' "$(hostile diffid)"
out=$(hostile devices)
check_match "hostile: device nodes skipped with a warning" 'warning: layer .*: layer entry (sda|mem): (block|character) device node, not created \(2 entries skipped\)' "$out"
check_eq "hostile: no device node in the layer" "" "$(find "$T/hstore/layers" -type b -o -type c -not -perm 0 2>/dev/null | while read -r f; do stat -c '%t:%T %n' "$f"; done | grep -v '^0:0 ')"
check_eq "hostile: nothing written outside" "0 0" "$(ls -A "$T/outside" | wc -l) $(( $(find / -xdev -name 'escaped-*' -not -path "$T/hstore/*" 2>/dev/null | wc -l) - before ))"
check_eq "hostile: only the good layers (base, absolute, devices) are visible; no staging dirs" "3|" "$(ls "$T/hstore/layers/sha256" | wc -l)|$(ls "$T/hstore/tmp")"
check_eq "hostile: failed imports leave no image record" "docker.io/hostile/absolute:t docker.io/hostile/devices:t" "$("$S" images ls -q --store "$T/hstore" | sort | tr '\n' ' ' | sed 's/ $//')"

# --- import formats ------------------------------------------------------------------------
tar -C "$T/imgs/busybox" -cf "$T/busybox-oci.tar" .
check_match "import OCI layout tar" "docker.io/library/bb-oci:1 sha256:" "$("$S" images import --store "$T/istore" --name bb-oci:1 "$T/busybox-oci.tar" 2>&1)"
skopeo copy --quiet "oci:$T/imgs/httpd:test" "docker-archive:$T/httpd-docker.tar:example.com/web:2" >/dev/null
check_match "import docker save tar (RepoTags)" "^example.com/web:2 sha256:" "$("$S" images import --store "$T/istore" "$T/httpd-docker.tar" 2>&1)"
check_eq "docker-save image runs with its config" "1000 /www hello" \
  "$("$S" images run --store "$T/istore" --root "$OCIROOT" --allow-unenforced-resources --command sh example.com/web:2 d1 -- -c 'echo $(id -u) $(pwd) $GREETING' 2>&1)"
check_match "import of a non-image refused" "neither an OCI image layout" "$("$S" images import --store "$T/istore" "$T/imgs/busybox/blobs" 2>&1)"

# --- rm / prune / in-use ---------------------------------------------------------------------
run --keep "$R/test/busybox:1.0" keep1 -- true >/dev/null
check_match "rm of an image in use refused" "in use by container\(s\) keep1" "$("$S" images rm --store "$ST" "$R/test/busybox:1.0" 2>&1)"
"$S" oci --root "$OCIROOT" delete keep1 2>/dev/null
umount "$ST/snapshots/keep1/rootfs" && rm -rf "$ST/snapshots/keep1"
layers_before=$(ls "$ST/layers/sha256" | wc -l)
"$S" images rm --store "$ST" "$R/test/many:1.0" >/dev/null
check_eq "rm + prune frees the image's own layers (59)" "$((layers_before - 59))" "$(ls "$ST/layers/sha256" | wc -l)"
check_match "prune keeps what images use" "removed 0 blobs, 0 layers" "$("$S" images prune --store "$ST")"
check_eq "busybox still runs after pruning" "ok" "$(run "$R/test/busybox:1.0" after -- echo ok)"

# --- concurrent pulls of the same image: done once ------------------------------------------
"$S" images pull -q --store "$T/cstore" "$R/test/layered:1.0" >"$T/c1" 2>&1 &
c1=$!
"$S" images pull -q --store "$T/cstore" "$R/test/layered:1.0" >"$T/c2" 2>&1
wait $c1
check_eq "two concurrent pulls both succeed" "2" "$(cat "$T/c1" "$T/c2" | grep -c 'test/layered:1.0 sha256:')"
check_eq "each layer unpacked once" "3|" "$(ls "$T/cstore/layers/sha256" | wc -l)|$(ls "$T/cstore/tmp")"

summary

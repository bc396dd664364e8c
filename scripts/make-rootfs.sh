#!/usr/bin/env bash
# Builds a minimal busybox root filesystem from Debian's busybox-static.
#   scripts/make-rootfs.sh DIR
set -euo pipefail
dir=${1:?usage: make-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
ldd "$bb" >/dev/null 2>&1 && { echo "make-rootfs: $bb is not static" >&2; exit 1; }
mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,tmp,root,home,var/tmp,usr/bin}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
cp "$bb" "$dir/bin/busybox"
# every applet a relative link to busybox, made by one process (a fork per applet costs
# ~90 s in the TCG guest)
"$bb" --list | /usr/bin/python3 -S -c '
import os, sys
d = sys.argv[1]
for a in sys.stdin.read().split():
    if a == "busybox": continue
    p = os.path.join(d, a)
    if os.path.lexists(p): os.unlink(p)
    os.symlink("busybox", p)
' "$dir/bin"
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
P
cat > "$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
app:x:1000:
nogroup:x:65534:
G
echo "hosts: files dns" > "$dir/etc/nsswitch.conf"
: > "$dir/etc/hosts"
: > "$dir/etc/resolv.conf"
mkdir -p "$dir/home/app" && chown 1000:1000 "$dir/home/app"

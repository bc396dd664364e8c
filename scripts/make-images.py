#!/usr/bin/env python3
"""Builds the test images as OCI image layouts from Debian's busybox-static, no Docker needed.

  make-images.py OUT_DIR [--bench-mib N]

OUT_DIR/<name>/ is an OCI layout (index.json, oci-layout, blobs/sha256/...), tag "test":
  busybox   one layer: busybox + applet links, /etc/passwd+group (user app 1000, group staff 50)
  httpd     busybox + a page; ENTRYPOINT httpd -f -p 8080 -h /www, USER app, WORKDIR /www, ENV
  layered   busybox + layer 2 deleting /etc/motd (whiteout) and replacing /data (opaque dir),
            layer 3 zstd-compressed (when the zstd tool exists)
  many      busybox + 59 small layers (60 in all: longer than one page of overlay options)
  multi     an index: linux/arm64 (a fake config) and linux/amd64 (busybox)
  hostile-* one bad layer each (see HOSTILE below), for the unpack safety tests
  bench     (with --bench-mib) 5 layers, N MiB of half-random data in all

  make-images.py --rootfs-tar TAR OUT_DIR CONFIG_JSON
OUT_DIR becomes a one-layer OCI layout (tag "test") of the root filesystem tarball TAR (e.g. from
mmdebstrap), with CONFIG_JSON as the image config (Entrypoint, Cmd, Env, User, WorkingDir, ...).
"""
import gzip, hashlib, io, json, os, shutil, subprocess, sys, tarfile, time

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ls", "cat", "echo", "id", "env", "pwd", "sleep", "httpd", "test", "stat", "mkdir", "touch",
           "rm", "wget", "true", "false", "grep", "head", "wc", "find", "readlink", "mount", "hostname",
           "ps", "tr", "tail", "kill", "chown", "chmod", "cut", "sed", "nc", "umount", "ln", "whoami", "sysctl",
           "printf", "expr", "date", "sort", "cp", "mv", "ip", "su", "tee", "seq", "nsenter", "insmod", "chroot"]
MTIME = 1700000000


def blob(out, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def tar_bytes(entries):
    """entries: list of (TarInfo, bytes|None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in entries:
            info.mtime = info.mtime or MTIME
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def d(name, mode=0o755):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = mode; return (i, None)


def f(name, data, mode=0o644, uid=0, gid=0):
    if isinstance(data, str): data = data.encode()
    i = tarfile.TarInfo(name); i.size = len(data); i.mode = mode; i.uid = uid; i.gid = gid; return (i, data)


def l(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; i.mode = 0o777; return (i, None)


def h(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; return (i, None)


def dev(name, kind, major, minor):
    i = tarfile.TarInfo(name); i.type = kind; i.devmajor = major; i.devminor = minor; i.mode = 0o600; return (i, None)


def busybox_layer():
    bb = open(BUSYBOX, "rb").read()
    e = [d("bin"), f("bin/busybox", bb, 0o755)]
    e += [l("bin/" + a, "busybox") for a in APPLETS]
    e += [d("etc"), f("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
          f("etc/group", "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"),
          f("etc/motd", "welcome\n"), d("root", 0o700), d("home"), d("home/app"), d("tmp", 0o1777),
          d("data"), f("data/old", "old\n"), d("proc"), d("sys"), d("dev")]
    return tar_bytes(e)


def compress(raw, kind="gzip"):
    if kind == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if kind == "zstd":
        z = subprocess.run(["zstd", "-q", "-3", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
        return z, "application/vnd.oci.image.layer.v1.tar+zstd"
    return raw, "application/vnd.oci.image.layer.v1.tar"


def image(out, layers, config, tag="test", arch="amd64", write_index=True, diff_ids=None):
    """layers: list of (raw tar bytes, compression). Returns the manifest descriptor."""
    descs, diffs = [], []
    for raw, kind in layers:
        data, mt = compress(raw, kind)
        desc = blob(out, data); desc["mediaType"] = mt
        descs.append(desc); diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    cfg = {"architecture": arch, "os": "linux", "created": "2026-11-30T00:00:00Z",
           "config": config, "rootfs": {"type": "layers", "diff_ids": diff_ids or diffs}}
    c = blob(out, json.dumps(cfg).encode()); c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": descs}
    m = blob(out, json.dumps(man).encode()); m["mediaType"] = man["mediaType"]
    m["platform"] = {"os": "linux", "architecture": arch}
    if write_index:
        write_layout(out, [dict(m, annotations={"org.opencontainers.image.ref.name": tag})])
    return m


def write_layout(out, manifests):
    with open(f"{out}/oci-layout", "w") as fh: json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    with open(f"{out}/index.json", "w") as fh:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}, fh)


BASE_CONFIG = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FOO=from-image"], "Cmd": ["sh"]}

# name -> (entries, description); each is one layer on top of busybox
HOSTILE = {
    "dotdot": ([f("../../escaped-dotdot", "x")], "entry ../../escaped-dotdot"),
    "absolute": ([f("/tmp/escaped-absolute", "x")], "entry /tmp/escaped-absolute"),
    "symlink-write": ([l("evil", "@OUTSIDE@"), f("evil/escaped-symlink", "x")], "symlink then write through it"),
    "symlink-dotdot": ([l("up", "../../../../../../../../@OUTSIDE@"), f("up/escaped-symlink2", "x")], "relative symlink then write"),
    "hardlink-out": ([h("link", "../../../../etc/passwd")], "hard link to a file outside"),
    "hardlink-abs": ([h("link2", "/etc/shadow")], "hard link to an absolute path"),
    "devices": ([dev("sda", tarfile.BLKTYPE, 8, 0), dev("mem", tarfile.CHRTYPE, 1, 1), f("ok", "fine")], "device nodes"),
    "whiteout-dotdot": ([f("dir/.wh...", "")], "whiteout of .."),
}


def from_rootfs_tar(tar_path, out, config_json):
    with open(tar_path, "rb") as fh:
        raw = fh.read()
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    image(out, [(raw, "gzip")], json.loads(config_json))


def main():
    if sys.argv[1] == "--rootfs-tar":
        return from_rootfs_tar(sys.argv[2], sys.argv[3], sys.argv[4])
    out_root = sys.argv[1]
    bench_mib = int(sys.argv[sys.argv.index("--bench-mib") + 1]) if "--bench-mib" in sys.argv else 0
    outside = sys.argv[sys.argv.index("--outside") + 1] if "--outside" in sys.argv else "/tmp/swiftlet-outside"
    os.makedirs(out_root, exist_ok=True)
    bb = busybox_layer()

    def fresh(name):
        p = f"{out_root}/{name}"
        shutil.rmtree(p, ignore_errors=True); os.makedirs(p)
        return p

    image(fresh("busybox"), [(bb, "gzip")], dict(BASE_CONFIG))

    page = tar_bytes([d("www"), f("www/index.html", "<h1>hello from swiftlet</h1>\n", uid=1000, gid=1000)])
    image(fresh("httpd"), [(bb, "gzip"), (page, "gzip")],
          {"Env": BASE_CONFIG["Env"] + ["GREETING=hello"], "Entrypoint": ["httpd", "-f", "-p", "8080", "-h", "/www"],
           "User": "app", "WorkingDir": "/www", "ExposedPorts": {"8080/tcp": {}}, "StopSignal": "SIGTERM"})

    l2 = tar_bytes([d("etc"), f("etc/.wh.motd", ""), d("data"), f("data/.wh..wh..opq", ""), f("data/new", "new\n"),
                    d("deep"), d("deep/a"), f("deep/a/file", "deep\n"), h("deep/a/hard", "deep/a/file"),
                    l("deep/link", "a/file")])
    l3 = tar_bytes([d("deep"), f("deep/.wh.a", ""), f("deep/z", "zstd layer\n")])
    have_zstd = shutil.which("zstd") is not None
    image(fresh("layered"), [(bb, "gzip"), (l2, "gzip"), (l3, "zstd" if have_zstd else "none")], dict(BASE_CONFIG))

    many = [(bb, "gzip")] + [(tar_bytes([d("layers"), f(f"layers/{i}", f"{i}\n")]), "gzip") for i in range(1, 60)]
    image(fresh("many"), many, dict(BASE_CONFIG))

    multi = fresh("multi")
    arm = image(multi, [(bb, "gzip")], dict(BASE_CONFIG), arch="arm64", write_index=False)
    amd = image(multi, [(bb, "gzip")], dict(BASE_CONFIG, Env=BASE_CONFIG["Env"] + ["ARCH=amd64"]), write_index=False)
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [arm, amd]}
    i = blob(multi, json.dumps(idx).encode()); i["mediaType"] = idx["mediaType"]
    write_layout(multi, [dict(i, annotations={"org.opencontainers.image.ref.name": "test"})])

    for name, (entries, _) in HOSTILE.items():
        fixed = []
        for info, data in entries:
            if info.linkname: info.linkname = info.linkname.replace("@OUTSIDE@", outside.lstrip("/") if info.linkname.startswith("../") else outside)
            fixed.append((info, data))
        image(fresh("hostile-" + name), [(bb, "gzip"), (tar_bytes(fixed), "gzip")], dict(BASE_CONFIG))
    # a layer whose diffID in the config lies
    liar = tar_bytes([f("innocent", "x")])
    image(fresh("hostile-diffid"), [(bb, "gzip"), (liar, "gzip")], dict(BASE_CONFIG),
          diff_ids=["sha256:" + hashlib.sha256(bb).hexdigest(), "sha256:" + "0" * 64])

    if bench_mib:
        per = bench_mib * 1024 * 1024 // 4
        layers = []
        for n in range(4):
            entries = [d(f"bench{n}")]
            chunk = 1024 * 1024
            for k in range(per // chunk):
                data = os.urandom(chunk // 2) + (f"line {k} of layer {n}\n" * 40).encode()[: chunk // 2].ljust(chunk // 2, b"x")
                entries.append(f(f"bench{n}/f{k}", data))
            layers.append((tar_bytes(entries), "gzip"))
        image(fresh("bench"), [(bb, "gzip")] + layers, dict(BASE_CONFIG))


if __name__ == "__main__":
    main()

// Layer unpacking: a (gzip|zstd|xz|bzip2|plain) tar stream into a directory that becomes an
// overlay lower dir.
//
// Two libarchive readers are stacked: the outer one only decompresses (format "raw"), the
// inner one parses tar from the outer one's output. The bytes passing between them are the
// uncompressed layer, hashed on the way (the diffID the image config promises).
//
// Every entry is placed with *at() calls relative to a parent directory opened with
// openat2(RESOLVE_IN_ROOT): a symlink planted by an earlier entry, "..", or an absolute
// name can never take a write outside the layer directory. Absolute names are re-rooted in the
// layer (as Docker and containerd do: `umoci insert` writes "/" and "/etc/x" entries); names
// with ".." components are refused outright; device nodes are not created (the runtime
// provides /dev) and are reported instead. The bytes written are counted against a budget, so
// a decompression bomb stops before it fills the disk.
#define _GNU_SOURCE
#include "cshims.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct outer_ctx {
    struct archive *outer;
    struct sha256_ctx sha;
    uint64_t bytes;
    char buf[128 * 1024];
};

static la_ssize_t inner_read(struct archive *a, void *opaque, const void **out) {
    (void)a;
    struct outer_ctx *c = opaque;
    la_ssize_t n = archive_read_data(c->outer, c->buf, sizeof c->buf);
    if (n > 0) {
        sha256_update(&c->sha, (size_t)n, (const uint8_t *)c->buf);
        c->bytes += (uint64_t)n;
    }
    *out = c->buf;
    return n;
}

struct dir_time {
    char *path;
    struct timespec times[2];
};

struct unpack {
    int root;
    int flags;
    struct sl_unpack_result *res;
    char *err;
    size_t errlen;
    struct dir_time *dirs;
    size_t ndirs, capdirs;
    uint64_t written, budget;
};

// Metadata cost charged per entry (an inode, a directory block) against the budget.
#define ENTRY_COST 512

static int failf(struct unpack *u, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->err, u->errlen, fmt, ap);
    va_end(ap);
    return code > 0 ? -code : code;
}

// Cleans an entry name into a relative path without "." components or trailing slashes; a
// leading "/" is dropped (the name is taken relative to the layer root). Returns 0, or -EINVAL
// for names with ".." (they try to leave the root).
static int clean_name(const char *name, char *out, size_t outlen) {
    size_t o = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 1 && p[0] == '.') { p += len; continue; }
        if (len == 2 && p[0] == '.' && p[1] == '.') return -EINVAL;
        if (o + len + 2 > outlen) return -ENAMETOOLONG;
        if (o) out[o++] = '/';
        memcpy(out + o, p, len);
        o += len;
        p += len;
    }
    out[o] = 0;
    return 0;
}

static int open_in_root(int root, const char *path, int flags) {
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int fd;
    do { fd = (int)syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof how); } while (fd < 0 && errno == EINTR);
    return fd;
}

// Opens (creating as needed, mode 0755) the directory `path` inside the root.
static int ensure_dir(int root, const char *path) {
    int fd = open_in_root(root, path, O_PATH | O_DIRECTORY);
    if (fd >= 0 || errno != ENOENT) return fd;
    char parent[4096];
    const char *slash = strrchr(path, '/');
    const char *base = path;
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof parent) { errno = ENAMETOOLONG; return -1; }
        memcpy(parent, path, n);
        parent[n] = 0;
        base = slash + 1;
    } else {
        parent[0] = 0;
    }
    int pfd = ensure_dir(root, parent);
    if (pfd < 0) return -1;
    if (mkdirat(pfd, base, 0755) != 0 && errno != EEXIST) { int e = errno; close(pfd); errno = e; return -1; }
    close(pfd);
    return open_in_root(root, path, O_PATH | O_DIRECTORY);
}

// Splits a cleaned name into a parent fd (resolved in the root, created if missing) and the base.
static int parent_of(struct unpack *u, const char *clean, const char **base, int create) {
    char parent[4096];
    const char *slash = strrchr(clean, '/');
    if (slash) {
        size_t n = (size_t)(slash - clean);
        memcpy(parent, clean, n);
        parent[n] = 0;
        *base = slash + 1;
    } else {
        parent[0] = 0;
        *base = clean;
    }
    int fd = create ? ensure_dir(u->root, parent) : open_in_root(u->root, parent, O_PATH | O_DIRECTORY);
    return fd;
}

// Removes whatever is at (dirfd, name) so that a new entry can take its place. A directory
// is only replaced by a directory (kept) or removed when empty, as tar does.
static int clear_leaf(int dirfd, const char *name, int keep_dir) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir) return 1;
        return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 ? 0 : -errno;
    }
    return unlinkat(dirfd, name, 0) == 0 ? 0 : -errno;
}

static int xattr_allowed(const char *name) {
    return strncmp(name, "user.", 5) == 0 || strcmp(name, "security.capability") == 0;
}

static int apply_meta(struct unpack *u, struct archive_entry *e, const char *name, int dirfd, const char *base,
                      int fd, int is_symlink) {
    if (u->flags & SL_UNPACK_KEEP_OWNERS) {
        uid_t uid = (uid_t)archive_entry_uid(e);
        gid_t gid = (gid_t)archive_entry_gid(e);
        int r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(dirfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (r != 0) return failf(u, errno, "layer entry %s: chown %u:%u: %s", name, uid, gid, strerror(errno));
    }
    if (!is_symlink) {
        mode_t mode = archive_entry_perm(e) & 07777;
        int r = fd >= 0 ? fchmod(fd, mode) : fchmodat(dirfd, base, mode, 0);
        if (r != 0) return failf(u, errno, "layer entry %s: chmod %o: %s", name, mode, strerror(errno));
        if (fd >= 0) {
            const char *xn;
            const void *xv;
            size_t xs;
            archive_entry_xattr_reset(e);
            while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
                if (!xattr_allowed(xn)) continue;
                if (fsetxattr(fd, xn, xv, xs, 0) != 0 && errno != ENOTSUP)
                    return failf(u, errno, "layer entry %s: setxattr %s: %s", name, xn, strerror(errno));
            }
        }
    }
    struct timespec ts[2] = {
        {.tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e),
         .tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e)},
        {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
    };
    if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) != 0)
        return failf(u, errno, "layer entry %s: utimensat: %s", name, strerror(errno));
    return 0;
}

static int remember_dir(struct unpack *u, const char *clean, struct archive_entry *e) {
    if (u->ndirs == u->capdirs) {
        size_t cap = u->capdirs ? u->capdirs * 2 : 64;
        struct dir_time *n = realloc(u->dirs, cap * sizeof *n);
        if (!n) return -ENOMEM;
        u->dirs = n;
        u->capdirs = cap;
    }
    struct dir_time *d = &u->dirs[u->ndirs++];
    d->path = strdup(clean);
    d->times[0].tv_sec = archive_entry_mtime(e);
    d->times[0].tv_nsec = archive_entry_mtime_nsec(e);
    d->times[1] = d->times[0];
    return d->path ? 0 : -ENOMEM;
}

static int over_budget(struct unpack *u, const char *name) {
    return failf(u, EFBIG, "layer entry %s: unpacking stopped after %llu bytes: the layer would take more than the %llu bytes "
                 "the image filesystem can give before it crosses its free-space threshold", name,
                 (unsigned long long)u->written, (unsigned long long)u->budget);
}

static int write_data(struct unpack *u, struct archive *inner, int fd, const char *name, int64_t size) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(inner, &buf, &len, &off)) == ARCHIVE_OK) {
        u->written += len;
        if (u->written > u->budget) return over_budget(u, name);
        const char *p = buf;
        while (len > 0) {
            ssize_t w = pwrite(fd, p, len, off);
            if (w < 0) {
                if (errno == EINTR) continue;
                return failf(u, errno, "layer entry %s: write: %s", name, strerror(errno));
            }
            p += w;
            len -= (size_t)w;
            off += w;
        }
    }
    if (r != ARCHIVE_EOF) return failf(u, EIO, "layer entry %s: reading data: %s", name, archive_error_string(inner));
    if (ftruncate(fd, size) != 0) return failf(u, errno, "layer entry %s: truncate: %s", name, strerror(errno));
    return 0;
}

static int whiteout(struct unpack *u, const char *name, int dirfd, const char *base) {
    if (strcmp(base, ".wh..wh..opq") == 0) {
        if (!(u->flags & SL_UNPACK_OVERLAY_WHITEOUTS)) return 0;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return failf(u, errno, "layer entry %s: open parent: %s", name, strerror(errno));
        int r = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0);
        int e = errno;
        close(fd);
        if (r != 0) return failf(u, e, "layer entry %s: set opaque xattr: %s", name, strerror(e));
        u->res->whiteouts++;
        return 0;
    }
    const char *target = base + 4;
    if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
        return failf(u, EINVAL, "layer entry %s: invalid whiteout name", name);
    int c = clear_leaf(dirfd, target, 0);
    if (c < 0) return failf(u, -c, "layer entry %s: remove %s: %s", name, target, strerror(-c));
    if (u->flags & SL_UNPACK_OVERLAY_WHITEOUTS) {
        if (mknodat(dirfd, target, S_IFCHR | 0, makedev(0, 0)) != 0)
            return failf(u, errno, "layer entry %s: whiteout device: %s", name, strerror(errno));
    }
    u->res->whiteouts++;
    return 0;
}

static void note_skip(struct unpack *u, const char *name, const char *why) {
    u->res->skipped++;
    if (!u->res->warning[0])
        snprintf(u->res->warning, sizeof u->res->warning, "layer entry %s: %s, not created", name, why);
}

static int entry(struct unpack *u, struct archive *inner, struct archive_entry *e) {
    const char *raw = archive_entry_pathname(e);
    if (!raw) return failf(u, EINVAL, "layer entry without a name");
    char clean[4096];
    int cr = clean_name(raw, clean, sizeof clean);
    if (cr == -EINVAL) return failf(u, EPERM, "layer entry %s: path escapes the layer root (\"..\")", raw);
    if (cr < 0) return failf(u, -cr, "layer entry %.200s...: name too long", raw);
    if (!clean[0]) return 0; // "./" or "/": the root itself
    u->res->entries++;
    u->written += ENTRY_COST;
    if (u->written > u->budget) return over_budget(u, raw);

    const char *base;
    int dirfd = parent_of(u, clean, &base, 1);
    if (dirfd < 0) {
        int e = errno;
        return failf(u, e, "layer entry %s: open parent directory %.*s inside the layer: %s%s", raw,
                     (int)(base > clean ? base - clean - 1 : 0), clean, strerror(e),
                     e == ENOENT ? " (a symlink on the path points to a missing directory)" : "");
    }
    int rc = 0, fd = -1;
    if (strncmp(base, ".wh.", 4) == 0) { rc = whiteout(u, raw, dirfd, base); goto out; }

    const char *hl = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (hl) {
        char target[4096];
        if (clean_name(hl, target, sizeof target) != 0 || !target[0]) {
            rc = failf(u, EPERM, "layer entry %s: hard link target %s escapes the layer root", raw, hl);
            goto out;
        }
        const char *tbase;
        int tfd = parent_of(u, target, &tbase, 0);
        if (tfd < 0) { rc = failf(u, errno, "layer entry %s: hard link target %s: %s", raw, hl, strerror(errno)); goto out; }
        int c = clear_leaf(dirfd, base, 0);
        if (c < 0) { close(tfd); rc = failf(u, -c, "layer entry %s: replace: %s", raw, strerror(-c)); goto out; }
        if (linkat(tfd, tbase, dirfd, base, 0) != 0) {
            int er = errno;
            close(tfd);
            rc = failf(u, er, "layer entry %s: hard link to %s: %s", raw, hl, strerror(er));
            goto out;
        }
        close(tfd);
        // A hard link carrying data (pax "hardlink with content") rewrites the shared inode.
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
            fd = openat(dirfd, base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) { rc = failf(u, errno, "layer entry %s: open: %s", raw, strerror(errno)); goto out; }
            rc = write_data(u, inner, fd, raw, archive_entry_size(e));
        }
        goto out;
    }

    switch (type) {
    case AE_IFDIR: {
        int c = clear_leaf(dirfd, base, 1);
        if (c < 0) { rc = failf(u, -c, "layer entry %s: replace: %s", raw, strerror(-c)); goto out; }
        if (c == 0 && mkdirat(dirfd, base, 0700) != 0) {
            rc = failf(u, errno, "layer entry %s: mkdir: %s", raw, strerror(errno));
            goto out;
        }
        fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) { rc = failf(u, errno, "layer entry %s: open directory: %s", raw, strerror(errno)); goto out; }
        rc = apply_meta(u, e, raw, dirfd, base, fd, 0);
        if (rc == 0) rc = remember_dir(u, clean, e);
        goto out;
    }
    case AE_IFREG: {
        int c = clear_leaf(dirfd, base, 0);
        if (c < 0) { rc = failf(u, -c, "layer entry %s: replace: %s", raw, strerror(-c)); goto out; }
        fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) { rc = failf(u, errno, "layer entry %s: create: %s", raw, strerror(errno)); goto out; }
        rc = write_data(u, inner, fd, raw, archive_entry_size(e));
        if (rc == 0) rc = apply_meta(u, e, raw, dirfd, base, fd, 0);
        goto out;
    }
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        int c = clear_leaf(dirfd, base, 0);
        if (c < 0) { rc = failf(u, -c, "layer entry %s: replace: %s", raw, strerror(-c)); goto out; }
        if (symlinkat(target ? target : "", dirfd, base) != 0) {
            rc = failf(u, errno, "layer entry %s: symlink: %s", raw, strerror(errno));
            goto out;
        }
        rc = apply_meta(u, e, raw, dirfd, base, -1, 1);
        goto out;
    }
    case AE_IFIFO: {
        int c = clear_leaf(dirfd, base, 0);
        if (c < 0) { rc = failf(u, -c, "layer entry %s: replace: %s", raw, strerror(-c)); goto out; }
        if (mknodat(dirfd, base, S_IFIFO | 0600, 0) != 0) {
            rc = failf(u, errno, "layer entry %s: mkfifo: %s", raw, strerror(errno));
            goto out;
        }
        rc = apply_meta(u, e, raw, dirfd, base, -1, 0);
        goto out;
    }
    case AE_IFCHR:
    case AE_IFBLK:
        note_skip(u, raw, type == AE_IFCHR ? "character device node" : "block device node");
        goto out;
    default:
        note_skip(u, raw, "unsupported entry type");
        goto out;
    }
out:
    if (fd >= 0) close(fd);
    close(dirfd);
    return rc;
}

int sl_unpack_layer(int in_fd, int dest_fd, int flags, uint64_t max_bytes, struct sl_unpack_result *res, char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    err[0] = 0;
    struct unpack u = {.root = dest_fd, .flags = flags, .res = res, .err = err, .errlen = errlen, .budget = max_bytes};
    struct outer_ctx *oc = calloc(1, sizeof *oc);
    if (!oc) return -ENOMEM;
    sha256_init(&oc->sha);
    int rc = 0;
    struct archive *inner = NULL;
    struct archive *outer = archive_read_new();
    if (!outer) { free(oc); return -ENOMEM; }
    oc->outer = outer;
    archive_read_support_filter_gzip(outer);
    archive_read_support_filter_zstd(outer);
    archive_read_support_filter_xz(outer);
    archive_read_support_filter_bzip2(outer);
    archive_read_support_format_raw(outer);
    struct archive_entry *e;
    if (archive_read_open_fd(outer, in_fd, 128 * 1024) != ARCHIVE_OK ||
        archive_read_next_header(outer, &e) != ARCHIVE_OK) {
        rc = failf(&u, EINVAL, "layer: not a readable (compressed) stream: %s", archive_error_string(outer));
        goto done;
    }
    inner = archive_read_new();
    archive_read_support_format_tar(inner);
    if (archive_read_open(inner, oc, NULL, inner_read, NULL) != ARCHIVE_OK) {
        rc = failf(&u, EINVAL, "layer: not a tar archive: %s", archive_error_string(inner));
        goto done;
    }
    for (;;) {
        int r = archive_read_next_header(inner, &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = failf(&u, EINVAL, "layer: bad tar stream after %llu entries: %s",
                       (unsigned long long)res->entries, archive_error_string(inner));
            goto done;
        }
        rc = entry(&u, inner, e);
        if (rc != 0) goto done;
    }
    // Hash what follows the end-of-archive marker too: the diffID covers the whole stream.
    for (;;) {
        la_ssize_t n = archive_read_data(outer, oc->buf, sizeof oc->buf);
        if (n == 0) break;
        if (n < 0) { rc = failf(&u, EIO, "layer: decompressing: %s", archive_error_string(outer)); goto done; }
        sha256_update(&oc->sha, (size_t)n, (const uint8_t *)oc->buf);
        oc->bytes += (uint64_t)n;
    }
    // Directory times last (their contents changed them), deepest first.
    for (size_t i = u.ndirs; i > 0; i--) {
        struct dir_time *d = &u.dirs[i - 1];
        const char *base;
        int dfd = parent_of(&u, d->path, &base, 0);
        if (dfd >= 0) {
            utimensat(dfd, base, d->times, AT_SYMLINK_NOFOLLOW);
            close(dfd);
        }
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&oc->sha, sizeof digest, digest);
    strcpy(res->diffid, "sha256:");
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) sprintf(res->diffid + 7 + 2 * i, "%02x", digest[i]);
    res->size = oc->bytes;
done:
    for (size_t i = 0; i < u.ndirs; i++) free(u.dirs[i].path);
    free(u.dirs);
    if (inner) archive_read_free(inner);
    archive_read_free(outer);
    free(oc);
    return rc;
}

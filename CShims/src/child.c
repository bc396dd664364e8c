// The container init side of clone3: runs in the child of the single-threaded C monitor and
// executes a plan (namespaces, mounts, pivot_root, security settings) up to execve.
// Every failure is reported to the monitor as {stage, errno, detail}; nothing is logged here.
#define _GNU_SOURCE
#include "cshims.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static struct sl_child_ctx *g_ctx;

static void report(uint32_t type, int err, const char *stage, const char *fmt, ...) {
    struct sl_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.err = err;
    snprintf(m.stage, sizeof(m.stage), "%s", stage ? stage : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m.detail, sizeof(m.detail), fmt, ap);
        va_end(ap);
    }
    ssize_t w;
    do { w = write(g_ctx->c2p, &m, sizeof(m)); } while (w < 0 && errno == EINTR);
}

__attribute__((noreturn, format(printf, 2, 3)))
static void die(const char *stage, const char *fmt, ...) {
    int e = errno;
    struct sl_msg m;
    memset(&m, 0, sizeof(m));
    m.type = SL_MSG_ERROR;
    m.err = e;
    snprintf(m.stage, sizeof(m.stage), "%s", stage);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m.detail, sizeof(m.detail), fmt, ap);
        va_end(ap);
    }
    ssize_t w;
    do { w = write(g_ctx->c2p, &m, sizeof(m)); } while (w < 0 && errno == EINTR);
    _exit(127);
}

static void wait_go(const char *stage) {
    char b = 0;
    ssize_t r;
    do { r = read(g_ctx->p2c, &b, 1); } while (r < 0 && errno == EINTR);
    if (r != 1 || b != 'g') {
        errno = r < 0 ? errno : ECANCELED;
        die(stage, "monitor did not allow the container to continue");
    }
}

static int write_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(data);
    ssize_t w;
    do { w = write(fd, data, n); } while (w < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (w < 0 || (size_t)w != n) { errno = w < 0 ? e : EIO; return -1; }
    return 0;
}

int sl_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

// Opens `path` (relative to the container root, leading '/' ignored) as an O_PATH fd, resolving
// every component inside rootfd so symlinks in the image cannot point the mount outside the
// rootfs. Missing components are created (directories, or a file for the last one if asked).
static int open_in_root(int rootfd, const char *path, int create_file) {
    const uint64_t res = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    while (*path == '/') path++;
    if (*path == 0) return sl_openat2(rootfd, ".", O_PATH | O_CLOEXEC, 0, res);
    int fd = sl_openat2(rootfd, path, O_PATH | O_CLOEXEC, 0, res);
    if (fd >= 0 || errno != ENOENT) return fd;

    char buf[4096];
    if (strlen(path) >= sizeof(buf)) { errno = ENAMETOOLONG; return -1; }
    strcpy(buf, path);
    char *p = buf;
    int parent = sl_openat2(rootfd, ".", O_PATH | O_CLOEXEC, 0, res);
    if (parent < 0) return -1;
    while (*p) {
        char *slash = strchr(p, '/');
        int last = 0;
        if (slash) *slash = 0; else last = 1;
        if (*p != 0 && strcmp(p, ".") != 0) {
            // resolve the prefix up to here from the root every time (symlinks stay inside)
            int next = sl_openat2(rootfd, buf, O_PATH | O_CLOEXEC, 0, res);
            if (next < 0 && errno == ENOENT) {
                int rc;
                if (last && create_file) {
                    int f = openat(parent, p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                    rc = f < 0 ? -1 : 0;
                    if (f >= 0) close(f);
                } else {
                    rc = mkdirat(parent, p, 0755);
                }
                if (rc < 0 && errno != EEXIST) { int e = errno; close(parent); errno = e; return -1; }
                next = sl_openat2(rootfd, buf, O_PATH | O_CLOEXEC, 0, res);
            }
            if (next < 0) { int e = errno; close(parent); errno = e; return -1; }
            close(parent);
            parent = next;
        }
        if (last) break;
        *slash = '/';
        p = slash + 1;
    }
    return parent;
}

static void fdpath(char *out, size_t n, int fd) { snprintf(out, n, "/proc/self/fd/%d", fd); }

static unsigned long statvfs_to_ms(unsigned long f) {
    unsigned long m = 0;
    if (f & ST_RDONLY) m |= MS_RDONLY;
    if (f & ST_NOSUID) m |= MS_NOSUID;
    if (f & ST_NODEV) m |= MS_NODEV;
    if (f & ST_NOEXEC) m |= MS_NOEXEC;
    if (f & ST_NOATIME) m |= MS_NOATIME;
    if (f & ST_NODIRATIME) m |= MS_NODIRATIME;
    if (f & ST_RELATIME) m |= MS_RELATIME;
    return m;
}

// Remount a bind mount with extra flags, keeping the flags the kernel locks (needed in a user ns).
static int remount_bind(const char *target, unsigned long flags) {
    struct statvfs sv;
    unsigned long keep = 0;
    if (statvfs(target, &sv) == 0) keep = statvfs_to_ms(sv.f_flag) & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
    return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | keep | flags, NULL);
}

static void do_mount(int rootfd, const struct sl_mount *m) {
    int kind = (int)(m->kind & 0xff);
    int fd = open_in_root(rootfd, m->dest, (m->kind & SL_MOUNT_DEST_FILE) != 0);
    if (fd < 0) die("mount", "create mount point %s", m->dest);
    char target[64];
    fdpath(target, sizeof(target), fd);
    const unsigned long bindmask = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;
    if (kind == SL_MOUNT_BIND) {
        if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
            die("mount", "bind %s on %s", m->source, m->dest);
        if (m->flags & bindmask) {
            // re-resolve: the fd still points at the directory that is now covered by the bind
            close(fd);
            fd = open_in_root(rootfd, m->dest, 0);
            if (fd < 0) die("mount", "reopen %s", m->dest);
            fdpath(target, sizeof(target), fd);
            if (remount_bind(target, m->flags & bindmask) < 0)
                die("mount", "remount %s with bind options", m->dest);
        }
    } else if (kind == SL_MOUNT_CGROUP && !(g_ctx->plan->clone_flags & CLONE_NEWCGROUP) && g_ctx->plan->cgroup) {
        // no cgroup namespace: show the container its own group (as runc does), not the host's tree
        if (mount(g_ctx->plan->cgroup, target, NULL, MS_BIND, NULL) < 0) die("mount", "bind %s on %s", g_ctx->plan->cgroup, m->dest);
        close(fd);
        fd = open_in_root(rootfd, m->dest, 0);
        if (fd < 0) die("mount", "reopen %s", m->dest);
        fdpath(target, sizeof(target), fd);
        if (remount_bind(target, m->flags & bindmask) < 0) die("mount", "remount %s", m->dest);
    } else {
        int rc = mount(m->source, target, m->fstype, m->flags, m->data[0] ? m->data : NULL);
        if (rc < 0 && (errno == EPERM || errno == EBUSY) && kind == SL_MOUNT_SYSFS) {
            // no private network namespace: the kernel refuses a new sysfs; bind the host's
            rc = mount("/sys", target, NULL, MS_BIND | MS_REC, NULL);
            if (rc == 0 && (m->flags & MS_RDONLY)) {
                close(fd);
                fd = open_in_root(rootfd, m->dest, 0);
                if (fd < 0) die("mount", "reopen %s", m->dest);
                fdpath(target, sizeof(target), fd);
                rc = remount_bind(target, MS_RDONLY | (m->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)));
            }
        } else if (rc < 0 && (errno == EPERM || errno == EBUSY) && kind == SL_MOUNT_CGROUP) {
            rc = 0; // no cgroup namespace and not allowed to mount: leave the directory empty
        }
        if (rc < 0) die("mount", "%s (%s) on %s", m->source, m->fstype, m->dest);
    }
    if (m->propagation) {
        close(fd);
        fd = open_in_root(rootfd, m->dest, 0);
        if (fd < 0) die("mount", "reopen %s", m->dest);
        fdpath(target, sizeof(target), fd);
        if (mount(NULL, target, NULL, m->propagation, NULL) < 0)
            die("mount", "set propagation of %s", m->dest);
    }
    close(fd);
}

static void make_device(int rootfd, const struct sl_device *d, int in_userns) {
    const char *path = d->path;
    while (*path == '/') path++;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *name = path;
    int parent;
    if (slash) {
        *slash = 0;
        name = slash + 1;
        parent = open_in_root(rootfd, dir, 0);
    } else {
        parent = open_in_root(rootfd, "", 0);
    }
    if (parent < 0) die("device", "open parent of %s", d->path);
    if (in_userns) {
        // mknod is not allowed in a user namespace: bind the host node instead
        int f = openat(parent, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0 && errno != EEXIST) die("device", "create %s", d->path);
        if (f >= 0) close(f);
        int fd = open_in_root(rootfd, d->path, 0);
        if (fd < 0) die("device", "open %s", d->path);
        char target[64], src[4200];
        fdpath(target, sizeof(target), fd);
        snprintf(src, sizeof(src), "/%s", path);
        if (mount(src, target, NULL, MS_BIND, NULL) < 0) die("device", "bind %s", src);
        close(fd);
    } else {
        mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
        unlinkat(parent, name, 0);
        if (mknodat(parent, name, type | (d->mode & 07777), makedev(d->major, d->minor)) < 0)
            die("device", "mknod %s", d->path);
        if (fchownat(parent, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
            die("device", "chown %s", d->path);
        // mknod is subject to the umask: set the exact mode
        int fd = openat(parent, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            char p[64];
            fdpath(p, sizeof(p), fd);
            chmod(p, d->mode & 07777);
            close(fd);
        }
    }
    close(parent);
}

static void make_symlink(int rootfd, const struct sl_pair *s) {
    const char *path = s->b;
    while (*path == '/') path++;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *name = path;
    int parent;
    if (slash) { *slash = 0; name = slash + 1; parent = open_in_root(rootfd, dir, 0); }
    else parent = open_in_root(rootfd, "", 0);
    if (parent < 0) die("symlink", "open parent of %s", s->b);
    if (symlinkat(s->a, parent, name) < 0 && errno != EEXIST) die("symlink", "%s -> %s", s->b, s->a);
    close(parent);
}

static void pivot(const char *rootfs) {
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0) die("pivot_root", "open old root");
    int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (newroot < 0) die("pivot_root", "open %s", rootfs);
    if (fchdir(newroot) < 0) die("pivot_root", "chdir %s", rootfs);
    if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root", "%s", rootfs);
    // the old root is now mounted on top of "." : detach it
    if (fchdir(oldroot) < 0) die("pivot_root", "chdir old root");
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) die("pivot_root", "make old root rslave");
    if (umount2(".", MNT_DETACH) < 0) die("pivot_root", "detach old root");
    if (chdir("/") < 0) die("pivot_root", "chdir /");
    close(oldroot);
    close(newroot);
}

static void mask_path(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) return;
        die("masked path", "stat %s", path);
    }
    int rc;
    if (S_ISDIR(st.st_mode)) rc = mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k");
    else rc = mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (rc < 0 && errno != ENOENT) die("masked path", "%s", path);
}

static void readonly_path(const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT) return;
        die("readonly path", "bind %s", path);
    }
    if (remount_bind(path, MS_RDONLY | MS_REC) < 0) die("readonly path", "remount %s", path);
}

static void set_sysctl(const char *key, const char *value) {
    char path[512];
    int n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
    if (n < 0 || (size_t)n >= sizeof(path)) { errno = ENAMETOOLONG; die("sysctl", "%s", key); }
    for (char *p = path + 10; *p; p++) if (*p == '.') *p = '/';
    if (write_file(path, value) < 0) die("sysctl", "%s=%s", key, value);
}

static void apply_caps(const struct sl_plan *plan) {
    int last = (int)cap_max_bits();
    cap_t c = cap_init();
    if (!c) die("capabilities", "cap_init");
    for (int i = 0; i < last && i < 64; i++) {
        cap_value_t v = i;
        uint64_t bit = 1ULL << i;
        if (plan->cap_effective & bit) cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
        if (plan->cap_permitted & bit) cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET);
        if (plan->cap_inheritable & bit) cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET);
    }
    if (cap_set_proc(c) < 0) { int e = errno; cap_free(c); errno = e; die("capabilities", "capset"); }
    cap_free(c);
    if (CAP_AMBIENT_SUPPORTED()) {
        cap_reset_ambient();
        for (int i = 0; i < last && i < 64; i++) {
            if (plan->cap_ambient & (1ULL << i)) {
                if (cap_set_ambient(i, CAP_SET) < 0) die("capabilities", "raise ambient capability %d", i);
            }
        }
    }
}

static void drop_bounding(const struct sl_plan *plan) {
    int last = (int)cap_max_bits();
    for (int i = 0; i < last && i < 64; i++) {
        if (!(plan->cap_bounding & (1ULL << i))) {
            if (cap_drop_bound(i) < 0 && errno != EINVAL) die("capabilities", "drop bounding capability %d", i);
        }
    }
}

static void load_seccomp(const struct sl_plan *plan) {
    struct sock_fprog prog;
    prog.len = (unsigned short)(plan->seccomp_len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)plan->seccomp;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) die("seccomp", "load filter (%u instructions)", prog.len);
}

static const char *env_get(char **envp, const char *key) {
    size_t kl = strlen(key);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, key, kl) == 0 && (*e)[kl] == '=') return *e + kl + 1;
    return NULL;
}

static int is_executable(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (!S_ISREG(st.st_mode)) { errno = EACCES; return -1; }
    if (!(st.st_mode & 0111)) { errno = EACCES; return -1; }
    return 0;
}

// PATH lookup inside the container, with the container's environment (not the monitor's).
static const char *lookup(const struct sl_plan *plan, char *buf, size_t n) {
    const char *name = plan->argv[0];
    if (strchr(name, '/')) {
        if (is_executable(name) < 0) die("exec", "\"%s\": %s", name, errno == ENOENT ? "no such file or directory" : "not an executable file");
        return name;
    }
    const char *path = env_get(plan->envp, "PATH");
    if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int saw_eacces = 0;
    const char *p = path;
    while (1) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        if (dl == 0) snprintf(buf, n, "./%s", name);
        else snprintf(buf, n, "%.*s/%s", (int)dl, p, name);
        if (is_executable(buf) == 0) return buf;
        if (errno == EACCES) saw_eacces = 1;
        if (!colon) break;
        p = colon + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    die("exec", "\"%s\": executable file not found in $PATH", name);
}

// Right after clone: the child keeps only what it uses until execve (its pipes to the monitor,
// the exec fifo, the cgroup namespace to join, the stdio to install and the fds to pass on).
// The monitor's cgroup directory, log file, report pipe and the pipes' other ends are closed
// here, so nothing in the container can reach them through /proc/PID/fd while this process
// still runs. Preserved fds wait at SL_PRESERVE_FD_BASE; our own are lifted above them first.
static void keep_only_own_fds(struct sl_child_ctx *ctx) {
    int n = (int)ctx->plan->preserve_fds;
    int floor = SL_PRESERVE_FD_BASE + n;
    int *own[] = { &ctx->c2p, &ctx->p2c, &ctx->fifo_fd, &ctx->cgroupns_fd, &ctx->stdio[0], &ctx->stdio[1], &ctx->stdio[2] };
    int k = (int)(sizeof(own) / sizeof(own[0]));
    for (int i = 0; i < k; i++) {
        int fd = *own[i];
        if (fd <= 2 || fd >= floor) continue;
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);
        if (moved < 0) die("fds", "move fd %d above %d", fd, floor);
        // stdio entries may share one fd (/dev/null): move it once
        for (int j = i; j < k; j++) if (*own[j] == fd) *own[j] = moved;
        close(fd);
    }
    int keep[16], m = 0;
    for (int i = 0; i < k; i++) if (*own[i] > 2) keep[m++] = *own[i];
    for (int i = 1; i < m; i++) for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) { int t = keep[j]; keep[j] = keep[j - 1]; keep[j - 1] = t; }
    unsigned lo = 3;
    if (n > 0) {
        // [3, BASE) holds nothing of ours any more; [BASE, BASE+n) are the fds to pass on
        syscall(SYS_close_range, 3, SL_PRESERVE_FD_BASE - 1, 0);
        lo = (unsigned)floor;
    }
    for (int i = 0; i < m; i++) {
        if ((unsigned)keep[i] < lo) continue;
        if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

// The fds to pass on, from SL_PRESERVE_FD_BASE+i to 3+i (increasing i never overwrites a source
// still to be moved).
static void install_preserved_fds(const struct sl_plan *plan) {
    for (unsigned i = 0; i < plan->preserve_fds; i++) {
        int from = SL_PRESERVE_FD_BASE + (int)i, to = 3 + (int)i;
        if (dup2(from, to) < 0) die("preserve fds", "dup2 %d to %d", from, to);
    }
}

void sl_child_main(struct sl_child_ctx *ctx) {
    g_ctx = ctx;
    const struct sl_plan *plan = ctx->plan;

    // the monitor ignores SIGPIPE and may block signals: start the container with defaults
    sigset_t all;
    sigemptyset(&all);
    for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &all, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    keep_only_own_fds(ctx);

    if ((plan->clone_flags & CLONE_NEWUSER) && !ctx->exec_mode) {
        wait_go("userns");
        if (setresgid(0, 0, 0) < 0) die("userns", "become gid 0 in the user namespace");
        if (setresuid(0, 0, 0) < 0) die("userns", "become uid 0 in the user namespace");
    }

    if (ctx->exec_mode && ctx->cgroupns_fd >= 0) {
        if (setns(ctx->cgroupns_fd, CLONE_NEWCGROUP) < 0) die("setns", "cgroup namespace");
        close(ctx->cgroupns_fd);
    }

    // join existing namespaces (create mode: e.g. a pod's network namespace). user first.
    if (!ctx->exec_mode && !ctx->joins_done) {
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < plan->n_nsjoin; i++) {
                const struct sl_nsjoin *j = &plan->nsjoin[i];
                int is_user = j->type == CLONE_NEWUSER;
                if ((pass == 0) != is_user || j->type == CLONE_NEWPID) continue;
                int fd = open(j->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) die("setns", "open %s", j->path);
                if (setns(fd, (int)j->type) < 0) die("setns", "%s", j->path);
                close(fd);
            }
        }
    }

    // exec into a container that shares the runtime's mount namespace: its chroot
    if (ctx->exec_mode && plan->rootfs) {
        if (chdir(plan->rootfs) < 0) die("chroot", "chdir %s", plan->rootfs);
        if (chroot(".") < 0) die("chroot", "%s", plan->rootfs);
        if (chdir("/") < 0) die("chroot", "chdir /");
    }

    if ((!ctx->exec_mode || plan->controlling_tty) && setsid() < 0) die("setsid", NULL);

    for (int i = 0; i < 3; i++) {
        if (ctx->stdio[i] >= 0 && ctx->stdio[i] != i) {
            if (dup2(ctx->stdio[i], i) < 0) die("stdio", "dup2 fd %d", i);
        }
    }
    if (plan->controlling_tty && ioctl(0, TIOCSCTTY, 0) < 0) die("terminal", "make fd 0 the controlling terminal");

    // a mount namespace of the container's own (new, or joined by path), or else the runtime's,
    // shared: then nothing here may change it beyond mounts under the rootfs, and chroot enters it
    int own_mntns = (plan->clone_flags & CLONE_NEWNS) != 0;
    for (int i = 0; i < plan->n_nsjoin; i++) if (plan->nsjoin[i].type == CLONE_NEWNS) own_mntns = 1;
    if (!ctx->exec_mode) {
        if (own_mntns) {
            // pivot_root refuses shared mounts (EINVAL) and a recursive bind fails under an
            // unbindable one: keep / slave (to still receive the host's mounts) or private until
            // after the pivot, then give the new root the propagation the spec asks for
            unsigned long prop = plan->root_propagation & ~(unsigned long)MS_REC;
            unsigned long early = (prop == MS_SHARED || prop == MS_SLAVE) ? MS_SLAVE : MS_PRIVATE;
            if (mount(NULL, "/", NULL, MS_REC | early, NULL) < 0)
                die("mount", "make / %s", early == MS_SLAVE ? "rslave" : "rprivate");
            if (mount(plan->rootfs, plan->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
                die("mount", "bind rootfs %s", plan->rootfs);
        }
        int rootfd = open(plan->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) die("mount", "open rootfs %s", plan->rootfs);
        for (int i = 0; i < plan->n_mounts; i++) do_mount(rootfd, &plan->mounts[i]);
        int in_userns = (plan->clone_flags & CLONE_NEWUSER) != 0;
        for (int i = 0; i < plan->n_devices; i++) make_device(rootfd, &plan->devices[i], in_userns);
        for (int i = 0; i < plan->n_symlinks; i++) make_symlink(rootfd, &plan->symlinks[i]);
        close(rootfd);

        if (plan->hook_barrier) {
            report(SL_MSG_HOOKS, 0, "hooks", NULL);
            wait_go("hooks");
        }

        if (own_mntns) {
            pivot(plan->rootfs);
            if (plan->root_propagation && mount(NULL, "/", NULL, plan->root_propagation, NULL) < 0)
                die("mount", "set rootfsPropagation of /");
        } else {
            if (chdir(plan->rootfs) < 0) die("chroot", "chdir %s", plan->rootfs);
            if (chroot(".") < 0) die("chroot", "%s", plan->rootfs);
            if (chdir("/") < 0) die("chroot", "chdir /");
        }

        for (int i = 0; i < plan->n_sysctls; i++) set_sysctl(plan->sysctls[i].a, plan->sysctls[i].b);
        for (int i = 0; i < plan->n_masked; i++) mask_path(plan->masked[i]);
        for (int i = 0; i < plan->n_readonly; i++) readonly_path(plan->readonly[i]);
        if (plan->root_readonly && remount_bind("/", MS_RDONLY) < 0) die("mount", "remount / read-only");

        if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) < 0)
            die("sethostname", "%s", plan->hostname);
        if (plan->domainname && setdomainname(plan->domainname, strlen(plan->domainname)) < 0)
            die("setdomainname", "%s", plan->domainname);
    }

    for (int i = 0; i < plan->n_rlimits; i++) {
        struct rlimit rl = { .rlim_cur = plan->rlimits[i].soft, .rlim_max = plan->rlimits[i].hard };
        if (setrlimit((int)plan->rlimits[i].resource, &rl) < 0) die("setrlimit", "resource %u", plan->rlimits[i].resource);
    }
    if (plan->has_oom_score_adj && !(plan->clone_flags & CLONE_NEWUSER)) {   // else the monitor wrote it
        char v[16];
        snprintf(v, sizeof(v), "%d", plan->oom_score_adj);
        if (write_file("/proc/self/oom_score_adj", v) < 0) die("oom_score_adj", "write %s", v);
    }

    int cwd_done = 0;
    if (plan->cwd && chdir(plan->cwd) == 0) cwd_done = 1;
    else if (plan->cwd && errno != EACCES) die("chdir", "%s", plan->cwd);

    // NNP off: installing a filter needs CAP_SYS_ADMIN, so do it before dropping capabilities
    if (plan->seccomp && !plan->no_new_privs) load_seccomp(plan);

    if (plan->has_caps) drop_bounding(plan);
    if (plan->has_user) {
        if (prctl(PR_SET_KEEPCAPS, 1) < 0) die("capabilities", "keep capabilities across setuid");
        if (setgroups((size_t)plan->n_additional_gids, (const gid_t *)plan->additional_gids) < 0)
            die("setgroups", "%d groups", plan->n_additional_gids);
        if (setresgid(plan->gid, plan->gid, plan->gid) < 0) die("setgid", "%u", plan->gid);
        if (setresuid(plan->uid, plan->uid, plan->uid) < 0) die("setuid", "%u", plan->uid);
        prctl(PR_SET_KEEPCAPS, 0);
        // a change of credentials clears the parent-death signal: arm it again, and stop here if
        // the monitor is already gone (its end of p2c closed)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct pollfd pf = { .fd = ctx->p2c, .events = 0 };
        if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP)) _exit(127);
        if (plan->umask != 0xffffffffu) umask((mode_t)plan->umask);
    }
    if (plan->has_caps) apply_caps(plan);
    if (plan->cwd && !cwd_done && chdir(plan->cwd) < 0) die("chdir", "%s", plan->cwd);

    char pathbuf[4096];
    const char *exe = lookup(plan, pathbuf, sizeof(pathbuf));

    // the security label for the program about to run, set for the execve (before
    // no_new_privs, which would restrict the transition, and before "ready": a profile that
    // cannot be applied fails the create, not the start)
    if (plan->lsm_attr) {
        int fd = open(plan->lsm_attr, O_WRONLY | O_CLOEXEC);
        size_t n = strlen(plan->lsm_value);
        if (fd < 0 || write(fd, plan->lsm_value, n) != (ssize_t)n) die("security label", "write \"%s\" to %s", plan->lsm_value, plan->lsm_attr);
        close(fd);
    }

    if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs", NULL);

    report(SL_MSG_READY, 0, "ready", NULL);

    if (ctx->fifo_fd >= 0) {
        // blocks until `start` opens the fifo for reading
        char p[64];
        fdpath(p, sizeof(p), ctx->fifo_fd);
        int w = open(p, O_WRONLY | O_CLOEXEC);
        if (w < 0) die("exec fifo", "open");
        if (write(w, "0", 1) != 1) die("exec fifo", "write");
        close(w);
        close(ctx->fifo_fd);
    }

    if (plan->seccomp && plan->no_new_privs) load_seccomp(plan);

    // only stdio (and explicitly preserved fds) survive execve
    install_preserved_fds(plan);
    syscall(SYS_close_range, 3 + plan->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
    // PDEATHSIG stays armed across execve: a container whose monitor died (nothing records its
    // exit or carries its logs any more) dies with it, as a task does with its shim
    execve(exe, plan->argv, plan->envp);
    die("exec", "\"%s\"", exe);
}

pid_t sl_clone3(uint64_t flags, int cgroup_fd, int *pidfd_out) {
    struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
    } args;
    memset(&args, 0, sizeof(args));
    int pidfd = -1;
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= 0x200000000ULL; // CLONE_INTO_CGROUP
        args.cgroup = (uint64_t)cgroup_fd;
    }
    long r = syscall(SYS_clone3, &args, sizeof(args));
    if (r == 0) return 0;
    if (r < 0) return -1;
    if (pidfd_out) *pidfd_out = pidfd;
    return (pid_t)r;
}

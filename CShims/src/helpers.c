// Small helpers for Swift: a posix_spawn wrapper (safe from a multi-threaded process),
// pidfd syscalls, and the parent-side seccomp filter builder (libseccomp).
#define _GNU_SOURCE
#include "cshims.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/openat2.h>
#include <unistd.h>

#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif

int sl_spawn(const char *path, char *const argv[], char *const envp[],
             const int *fd_src, const int *fd_dst, int nfds, int flags, pid_t *pid_out) {
    // Sources may collide with other mappings' targets (e.g. src 3 -> 5 while src 4 -> 3):
    // duplicate every source above the target range first, then dup2 those into place.
    int tmp[64];
    if (nfds > 64) return E2BIG;
    for (int i = 0; i < nfds; i++) {
        if (fd_dst[i] >= 100) return EINVAL;
        tmp[i] = fcntl(fd_src[i], F_DUPFD_CLOEXEC, 100);
        if (tmp[i] < 0) { int e = errno; while (i-- > 0) close(tmp[i]); return e; }
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) goto out_tmp;
    rc = posix_spawnattr_init(&attr);
    if (rc) { posix_spawn_file_actions_destroy(&fa); goto out_tmp; }
    int top = 2;
    for (int i = 0; i < nfds && rc == 0; i++) {
        rc = posix_spawn_file_actions_adddup2(&fa, tmp[i], fd_dst[i]);
        if (fd_dst[i] > top) top = fd_dst[i];
    }
    // the child holds exactly the mapped fds (and 0-2): whatever the caller failed to mark
    // close-on-exec (a listener, an epoll fd of a library) stays behind
    if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, top + 1);
    for (int d = 0; d <= top && rc == 0; d++) {
        int mapped = d <= 2;
        for (int i = 0; i < nfds; i++) if (fd_dst[i] == d) mapped = 1;
        if (!mapped) rc = posix_spawn_file_actions_addclose(&fa, d);
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short sflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (flags & SL_SPAWN_SETSID) sflags |= POSIX_SPAWN_SETSID;
    if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc) rc = posix_spawnattr_setflags(&attr, sflags);
    if (!rc) rc = posix_spawn(pid_out, path, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
out_tmp:
    for (int i = 0; i < nfds; i++) close(tmp[i]);
    return rc;
}

int sl_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }

int sl_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }

int sl_mkfifo(const char *path, unsigned int mode) { return mkfifo(path, (mode_t)mode); }

int sl_close_range_cloexec(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, 1U << 2); }

void sl_free(void *p) { free(p); }

uint32_t sl_seccomp_action(int kind, uint32_t arg) {
    switch (kind) {
    case SL_SCMP_KILL_THREAD: return SCMP_ACT_KILL_THREAD;
    case SL_SCMP_KILL_PROCESS: return SCMP_ACT_KILL_PROCESS;
    case SL_SCMP_TRAP: return SCMP_ACT_TRAP;
    case SL_SCMP_ERRNO: return SCMP_ACT_ERRNO(arg);
    case SL_SCMP_TRACE: return SCMP_ACT_TRACE(arg);
    case SL_SCMP_ALLOW: return SCMP_ACT_ALLOW;
    case SL_SCMP_LOG: return SCMP_ACT_LOG;
    default: return SCMP_ACT_KILL_PROCESS;
    }
}

void *sl_seccomp_new(uint32_t default_action, int *err_out) {
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (!ctx) { if (err_out) *err_out = EINVAL; return NULL; }
    // we load the exported BPF ourselves; NNP is the plan's business
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    return ctx;
}

int sl_seccomp_add_arch(void *ctx, const char *name) {
    // OCI spells "SCMP_ARCH_X86_64"; libseccomp resolves "x86_64"
    char lower[64];
    const char *n = strncmp(name, "SCMP_ARCH_", 10) == 0 ? name + 10 : name;
    size_t i = 0;
    for (; n[i] && i < sizeof(lower) - 1; i++) lower[i] = (char)((n[i] >= 'A' && n[i] <= 'Z') ? n[i] + 32 : n[i]);
    lower[i] = 0;
    uint32_t arch = seccomp_arch_resolve_name(lower);
    if (arch == 0) return -EINVAL;
    int rc = seccomp_arch_add(ctx, arch);
    return rc == -EEXIST ? 0 : rc;
}

int sl_seccomp_add_rule(void *ctx, uint32_t action, const char *syscall_name,
                        const struct sl_scmp_arg *args, unsigned nargs) {
    int nr = seccomp_syscall_resolve_name(syscall_name);
    if (nr == __NR_SCMP_ERROR) return 1;
    struct scmp_arg_cmp cmp[6];
    if (nargs > 6) return -E2BIG;
    for (unsigned i = 0; i < nargs; i++) {
        cmp[i].arg = args[i].index;
        cmp[i].op = (enum scmp_compare)args[i].op;
        cmp[i].datum_a = args[i].value;
        cmp[i].datum_b = args[i].value_two;
    }
    int rc = seccomp_rule_add_array(ctx, action, nr, nargs, cmp);
    // a rule whose action equals the default action is redundant; libseccomp refuses it
    if (rc == -EACCES || rc == -EEXIST) return 0;
    return rc;
}

int sl_seccomp_export(void *ctx, uint8_t **out, size_t *len_out) {
    int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) { close(fd); return rc; }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0) { close(fd); return -EIO; }
    uint8_t *buf = malloc((size_t)size);
    if (!buf) { close(fd); return -ENOMEM; }
    ssize_t got = pread(fd, buf, (size_t)size, 0);
    close(fd);
    if (got != size) { free(buf); return -EIO; }
    *out = buf;
    *len_out = (size_t)size;
    return 0;
}

void sl_seccomp_free(void *ctx) { if (ctx) seccomp_release(ctx); }

// ---- signal forwarding for foreground commands (`oci run`) ----------------------------------
static volatile pid_t forward_pid = -1;
static void forward_handler(int sig) {
    if (forward_pid > 0) kill(forward_pid, sig);
}

void sl_forward_signals_to(pid_t pid) {
    forward_pid = pid;
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaction(sigs[i], &sa, NULL);
}

int sl_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sl_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int sl_syncfs(int fd) { return syncfs(fd); }

// ---- terminals (exec -t) --------------------------------------------------------------------
#include <sys/ioctl.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

// Opens a pty pair on the devpts instance of a container's /dev/ptmx, resolved inside the
// container's root (`root_path`, /proc/PID/root): a symlink the container planted there cannot
// point the open at a host file. The process sees its terminal as /dev/pts/N of its own /dev.
int sl_pty_open(const char *root_path, int *master_out, int *slave_out) {
    int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return -errno;
    int m = sl_openat2(root, "dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    int e0 = errno;
    close(root);
    if (m < 0) return -e0;
    struct stat st;
    // a pty multiplexer: /dev/ptmx (5:2) or devpts' own ptmx node (its minor is 2 as well)
    if (fstat(m, &st) < 0 || !S_ISCHR(st.st_mode) || minor(st.st_rdev) != 2) { close(m); return -ENOTTY; }
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0) { int e = errno; close(m); return -e; }
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) { int e = errno; close(m); return -e; }
    *master_out = m;
    *slave_out = s;
    return 0;
}

// Raw mode on a terminal; the previous settings go to *saved (restore with sl_tty_restore).
int sl_tty_raw(int fd, struct termios *saved) {
    if (tcgetattr(fd, saved) < 0) return -errno;
    struct termios t = *saved;
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSADRAIN, &t) < 0) return -errno;
    return 0;
}

int sl_tty_restore(int fd, const struct termios *saved) {
    return tcsetattr(fd, TCSADRAIN, saved) < 0 ? -errno : 0;
}

// Window size of `from` (rows<<16|cols), or -1 when it is not a terminal.
long sl_tty_size(int from) {
    struct winsize w;
    if (ioctl(from, TIOCGWINSZ, &w) < 0) return -1;
    return ((long)w.ws_row << 16) | w.ws_col;
}

int sl_tty_set_size(int fd, long size) {
    struct winsize w = {.ws_row = (unsigned short)(size >> 16), .ws_col = (unsigned short)(size & 0xffff)};
    return ioctl(fd, TIOCSWINSZ, &w) < 0 ? -errno : 0;
}

// ---- mount points ------------------------------------------------------------------------------
#include <sys/stat.h>
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

// 1: `path` is the root of a mount; 0: it is not; -1: unknown (no statx support) or error.
int sl_is_mount_point(const char *path) {
    struct statx sx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &sx) < 0) return errno == ENOENT ? 0 : -1;
    if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) return -1;
    return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
}

// Writes `content` to /proc/PID/NAME in one write (uid_map, gid_map, oom_score_adj of a child).
int sl_write_proc_file(pid_t pid, const char *name, const char *content) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/%s", pid, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t l = strlen(content);
    ssize_t w = write(fd, content, l);
    int e = errno;
    close(fd);
    if (w != (ssize_t)l) { errno = w < 0 ? e : EIO; return -1; }
    return 0;
}

// ---- paths inside a volume -------------------------------------------------------------------
// Opens `sub` (relative) beneath the directory fd `base` as an O_PATH fd without ever leaving it:
// symlinks are followed only while they stay beneath `base` (RESOLVE_BENEATH refuses absolute
// targets and `..` above it with EXDEV), magic links are refused. With `mkdirs`, missing
// components are created one at a time relative to their already-resolved parent (mkdirat does
// not follow a symlink in the last name). Returns the fd, or -errno.
int sl_open_beneath(int base, const char *sub, int mkdirs) {
    const uint64_t res = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    while (*sub == '/') sub++;
    if (*sub == 0) { int fd = sl_openat2(base, ".", O_PATH | O_CLOEXEC, 0, res); return fd < 0 ? -errno : fd; }
    int fd = sl_openat2(base, sub, O_PATH | O_CLOEXEC, 0, res);
    if (fd >= 0) return fd;
    if (errno != ENOENT || !mkdirs) return -errno;
    char buf[4096];
    if (strlen(sub) >= sizeof(buf)) return -ENAMETOOLONG;
    strcpy(buf, sub);
    int parent = sl_openat2(base, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, res);
    if (parent < 0) return -errno;
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash) *slash = 0;
        if (*p && strcmp(p, ".") != 0) {
            int next = sl_openat2(base, buf, O_PATH | O_CLOEXEC, 0, res);
            if (next < 0 && errno == ENOENT) {
                if (mkdirat(parent, p, 0755) < 0 && errno != EEXIST) { int e = errno; close(parent); return -e; }
                next = sl_openat2(base, buf, O_PATH | O_CLOEXEC, 0, res);
            }
            if (next < 0) { int e = errno; close(parent); return -e; }
            close(parent);
            parent = next;
        }
        if (!slash) break;
        *slash = '/';
        p = slash + 1;
    }
    return parent;
}

#include <sys/sendfile.h>

int sl_sealed_copy(const char *path, const char *name) {
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) return -errno;
    struct stat st;
    if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) { int e = errno ? errno : EINVAL; close(src); return -e; }
    int mfd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) { int e = errno; close(src); return -e; }
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { int e = n < 0 ? errno : EIO; close(src); close(mfd); return -e; }
    }
    close(src);
    if (fchmod(mfd, 0555) < 0 ||
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        int e = errno; close(mfd); return -e;
    }
    return mfd;
}

// swiftlet-monitor: one per container, like conmon. Single-threaded C, so it may fork freely.
//
//   (PLAN: a file, or fd:N for an inherited memfd)
//   swiftlet-monitor create PLAN [REPORT_FD [CTL_FD]]
//                                  create the container described by PLAN, report to fd 3,
//                                  hold its stdio, write CRI logs, record the exit, exit.
//   swiftlet-monitor exec PLAN [REPORT_FD]
//                                  run a process inside a running container (namespaces joined
//                                  from the plan), in the foreground; exit with its status.
//
// Reports on REPORT_FD (one line each): "pid N", "hooks N", "error STAGE<TAB>ERRNO<TAB>DETAIL",
// "exit CODE SIGNAL". Control on CTL_FD (create with hooks): 'g' = continue, anything else = abort.
#define _GNU_SOURCE
#include "cshims.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report_fd = -1;
static int ctl_fd = -1;
static pid_t child_pid = -1;
static int child_pidfd = -1;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
    if (report_fd < 0) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof(buf)) n = sizeof(buf) - 1;
    ssize_t w;
    do { w = write(report_fd, buf, (size_t)n); } while (w < 0 && errno == EINTR);
    if (w < 0) { close(report_fd); report_fd = -1; }
}

static void sanitize(char *s) {
    for (; *s; s++) if (*s == '\t' || *s == '\n') *s = ' ';
}

static void report_error(const char *stage, int err, const char *detail) {
    char d[512];
    snprintf(d, sizeof(d), "%s", detail ? detail : "");
    sanitize(d);
    report("error %s\t%d\t%s\n", stage, err, d);
}

// PLAN is a path, or "fd:N" for an inherited descriptor (a memfd written by the caller)
static int read_file(const char *path, uint8_t **out, size_t *len) {
    int fd;
    if (strncmp(path, "fd:", 3) == 0) {
        fd = atoi(path + 3);
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || lseek(fd, 0, SEEK_SET) < 0) return -1;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) { close(fd); return -1; }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) { close(fd); errno = ENOMEM; return -1; }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

static void rfc3339nano(char *out, size_t n, const struct timespec *ts) {
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    char frac[16];
    snprintf(frac, sizeof(frac), "%09ld", ts->tv_nsec);
    int fl = 9;
    while (fl > 0 && frac[fl - 1] == '0') fl--; // Go's RFC3339Nano trims trailing zeros
    if (fl > 0) l += (size_t)snprintf(out + l, n - l, ".%.*s", fl, frac);
    snprintf(out + l, n - l, "Z");
}

// ---- CRI log writer ---------------------------------------------------------------------
#define LOG_BUF 16384
struct stream {
    int fd;
    const char *name;
    char buf[LOG_BUF];
    size_t len;
};

static int log_fd = -1;
static const struct sl_plan *g_plan;
static uint64_t log_size;

static void log_open(void) {
    log_fd = open(g_plan->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    struct stat st;
    log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? (uint64_t)st.st_size : 0;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// kubelet-style rotation: <path> -> <path>.<YYYYMMDD-hhmmss>, keep max_files in total
static void log_rotate(void) {
    char stamp[32], dst[4200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(dst, sizeof(dst), "%s.%s", g_plan->log_path, stamp);
    for (int i = 1; access(dst, F_OK) == 0 && i < 1000; i++) snprintf(dst, sizeof(dst), "%s.%s.%d", g_plan->log_path, stamp, i);
    close(log_fd);
    rename(g_plan->log_path, dst);
    log_open();
    if (g_plan->log_max_files == 0) return;
    // prune the oldest rotated files
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", g_plan->log_path);
    char *slash = strrchr(dir, '/');
    const char *base = g_plan->log_path;
    if (slash) { *slash = 0; base = slash + 1; } else snprintf(dir, sizeof(dir), ".");
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (strncmp(e->d_name, base, bl) == 0 && e->d_name[bl] == '.') names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmpstr);
    int keep = (int)g_plan->log_max_files - 1; // the live file counts
    for (int i = 0; i < n; i++) {
        if (i < n - keep) {
            char p[8200];
            snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
            unlink(p);
        }
        free(names[i]);
    }
}

static void log_line(const char *stream, const char *tag, const char *msg, size_t len) {
    if (log_fd < 0) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char head[96];
    char t[64];
    rfc3339nano(t, sizeof(t), &ts);
    int hl = snprintf(head, sizeof(head), "%s %s %s ", t, stream, tag);
    // one write per line keeps lines whole for concurrent readers
    char line[LOG_BUF + 128];
    memcpy(line, head, (size_t)hl);
    memcpy(line + hl, msg, len);
    line[(size_t)hl + len] = '\n';
    size_t total = (size_t)hl + len + 1;
    ssize_t w;
    do { w = write(log_fd, line, total); } while (w < 0 && errno == EINTR);
    if (w > 0) log_size += (uint64_t)w;
    if (g_plan->log_max_bytes && log_size >= g_plan->log_max_bytes) log_rotate();
}

static void stream_flush_lines(struct stream *s, int eof) {
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->buf[i] == '\n') {
            log_line(s->name, "F", s->buf + start, i - start);
            start = i + 1;
        }
    }
    if (start < s->len && (eof || (start == 0 && s->len == LOG_BUF))) {
        log_line(s->name, eof ? "F" : "P", s->buf + start, s->len - start);
        start = s->len;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
}

// returns 0 at EOF, 1 otherwise
static int stream_read(struct stream *s) {
    ssize_t r = read(s->fd, s->buf + s->len, LOG_BUF - s->len);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (r <= 0) {
        stream_flush_lines(s, 1);
        return 0;
    }
    s->len += (size_t)r;
    stream_flush_lines(s, 0);
    return 1;
}

// ---- exit record ------------------------------------------------------------------------
static void json_escape(char *out, size_t n, const char *in) {
    size_t o = 0;
    for (; *in && o + 7 < n; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c < 0x20) o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    out[o] = 0;
}

// oom_kill count in <cgroup>/memory.events (0 when absent)
static long oom_kills(const char *cgroup) {
    if (!cgroup) return 0;
    char path[4200], buf[1024];
    snprintf(path, sizeof(path), "%s/memory.events", cgroup);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strstr(buf, "oom_kill ");
    return p ? atol(p + 9) : 0;
}

static void write_exit(const char *state_dir, int code, int sig, const char *error, int oom_killed) {
    if (!state_dir) return;
    char tmp[4200], dst[4200], t[64], err[1200] = "";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rfc3339nano(t, sizeof(t), &ts);
    if (error) json_escape(err, sizeof(err), error);
    snprintf(tmp, sizeof(tmp), "%s/.exit.json.tmp", state_dir);
    snprintf(dst, sizeof(dst), "%s/exit.json", state_dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char body[2048];
    // reason as the kubelet reports it: OOMKilled, Completed (0) or Error
    const char *reason = oom_killed ? "OOMKilled" : code == 0 ? "Completed" : "Error";
    int n = snprintf(body, sizeof(body), "{\"exitCode\":%d,\"signal\":%d,\"reason\":\"%s\",\"oomKilled\":%s,\"finishedAt\":\"%s\"%s%s%s}\n",
                     code, sig, reason, oom_killed ? "true" : "false", t, error ? ",\"error\":\"" : "", error ? err : "", error ? "\"" : "");
    // per-boot state (under /run): the rename makes it atomic; no fsync needed
    if (write(fd, body, (size_t)n) != n) { close(fd); unlink(tmp); return; }
    close(fd);
    rename(tmp, dst);
}

static void forward_signal(int sig) {
    if (child_pidfd >= 0) sl_pidfd_send_signal(child_pidfd, sig);
}

// exec mode: SIGALRM from the caller means "time is up" (probe and hook timeouts): the process
// is killed. (Its PDEATHSIG does not survive a setuid, so killing the monitor is not enough.)
static void kill_child(int sig) {
    (void)sig;
    if (child_pidfd >= 0) sl_pidfd_send_signal(child_pidfd, SIGKILL);
}

static int read_msg(int fd, struct sl_msg *m) {
    size_t got = 0;
    while (got < sizeof(*m)) {
        ssize_t r = read(fd, (char *)m + got, sizeof(*m) - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

static void format_msg(char *out, size_t n, const struct sl_msg *m) {
    if (m->detail[0]) snprintf(out, n, "%s", m->detail);
    else out[0] = 0;
}


static int status_code(const siginfo_t *si, int *sig_out) {
    *sig_out = 0;
    if (si->si_code == CLD_EXITED) return si->si_status;
    *sig_out = si->si_status;
    return 128 + si->si_status;
}

// Closes every descriptor above 2 that is not in keep[] (n entries, any order, -1 ignored) or
// in [lo_keep, lo_keep + n_keep).
static void close_all_but(const int *keep, int n, int lo_keep, int n_keep) {
    int k[96], m = 0;
    for (int i = 0; i < n && m < 96; i++) if (keep[i] > 2) k[m++] = keep[i];
    for (int i = 0; i < n_keep && m < 96; i++) k[m++] = lo_keep + i;
    for (int i = 1; i < m; i++) for (int j = i; j > 0 && k[j - 1] > k[j]; j--) { int t = k[j]; k[j] = k[j - 1]; k[j - 1] = t; }
    unsigned lo = 3;
    for (int i = 0; i < m; i++) {
        if ((unsigned)k[i] > lo) syscall(SYS_close_range, lo, (unsigned)k[i] - 1, 0);
        if ((unsigned)k[i] + 1 > lo) lo = (unsigned)k[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

// `pause`: init of a pod's shared PID namespace (shareProcessNamespace). Reaps whatever is
// re-parented to it and exits on SIGTERM; the namespace dies with it. The pod's containers see
// it as PID 1: it holds no descriptor but /dev/null, no capability, and is not dumpable, so
// neither /proc/1/exe nor /proc/1/fd leads anywhere.
static int pause_main(void) {
    prctl(PR_SET_DUMPABLE, 0);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
    close_all_but(NULL, 0, 0, 0);
    for (int c = 0; c <= 63; c++) if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL) break;
    cap_t none = cap_init();
    if (none) { cap_set_proc(none); cap_free(none); }
    setsid();   // out of the caller's session: a terminal's ^C is not for it
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig == SIGCHLD) { while (waitpid(-1, NULL, WNOHANG) > 0) {} }
        else if (sig == SIGTERM) return 0;
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "pause") == 0) return pause_main();
    if (argc < 3 || argc > 5 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "exec") != 0)) {
        fprintf(stderr, "usage: swiftlet-monitor create|exec PLAN [REPORT_FD [CTL_FD]]\n");
        return 2;
    }
    int exec_mode = strcmp(argv[1], "exec") == 0;
    // Not dumpable from the start, and so is every child: the process that joins a container
    // (create's init until execve, exec's child) is visible there while it still runs this
    // binary and holds host descriptors; /proc/PID/{fd,exe,mem,environ} of a non-dumpable
    // process are out of reach without CAP_SYS_PTRACE in the initial user namespace. execve of
    // the container's program makes it dumpable again.
    prctl(PR_SET_DUMPABLE, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 3) { report_fd = atoi(argv[3]); if (fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0) report_fd = -1; }
    if (argc > 4) { ctl_fd = atoi(argv[4]); if (fcntl(ctl_fd, F_SETFD, FD_CLOEXEC) < 0) ctl_fd = -1; }

    uint8_t *buf;
    size_t len;
    if (read_file(argv[2], &buf, &len) < 0) {
        char d[4200];
        snprintf(d, sizeof(d), "%s", argv[2]);
        report_error("read plan", errno, d);
        fprintf(stderr, "swiftlet-monitor: read plan %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (exec_mode && strncmp(argv[2], "fd:", 3) != 0) unlink(argv[2]);
    struct sl_plan plan;
    char perr[256];
    if (sl_plan_parse(buf, len, &plan, perr, sizeof(perr)) < 0) {
        report_error("parse plan", EINVAL, perr);
        fprintf(stderr, "swiftlet-monitor: %s\n", perr);
        return 1;
    }
    g_plan = &plan;
    // only what the caller handed over on purpose: stdio, the report and control pipes, and the
    // fds the container is to receive (--preserve-fds, at SL_PRESERVE_FD_BASE)
    {
        int keep[2] = { report_fd, ctl_fd };
        close_all_but(keep, 2, SL_PRESERVE_FD_BASE, (int)plan.preserve_fds);
    }
    if (!exec_mode) prctl(PR_SET_CHILD_SUBREAPER, 1);

    int cgfd = -1, cgroupns_fd = -1, userns_joins_done = 0;
    if (plan.cgroup) {
        cgfd = open(plan.cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0) { report_error("cgroup", errno, plan.cgroup); return 1; }
        if (!exec_mode && plan.device_filter) {
            // before the container exists, so it never runs without its device rules
            char derr[300];
            int dfd = open(plan.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            int rc = dfd < 0 ? -errno : sl_devfilter_attach(dfd, plan.devrules, plan.n_devrules, derr, sizeof(derr));
            if (dfd >= 0) close(dfd);
            if (rc < 0) { report_error("device cgroup", -rc, dfd < 0 ? plan.cgroup : derr); return 1; }
        }
    }

    // exec: enter the container's namespaces here (single-threaded); create: join the pid ns
    // here (it applies to children), the rest in the child
    if (exec_mode) {
        int fds[16];
        for (int i = 0; i < plan.n_nsjoin; i++) {
            fds[i] = open(plan.nsjoin[i].path, O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0) { report_error("setns", errno, plan.nsjoin[i].path); fprintf(stderr, "swiftlet-monitor: open %s: %s\n", plan.nsjoin[i].path, strerror(errno)); return 1; }
        }
        // user last: the monitor is root in the initial user namespace, so it may join every
        // other namespace first, including ones the initial user namespace owns (a pod's network
        // beside a container's own user namespace), which it could not from inside the
        // container's. The cgroup namespace is joined by the child after CLONE_INTO_CGROUP placed
        // it (with nsdelegate, migrating from outside the namespace root into it is refused).
        static const uint32_t order[] = { CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUSER };
        for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
            for (int i = 0; i < plan.n_nsjoin; i++) {
                if (plan.nsjoin[i].type != order[o]) continue;
                if (setns(fds[i], (int)plan.nsjoin[i].type) < 0) {
                    report_error("setns", errno, plan.nsjoin[i].path);
                    fprintf(stderr, "swiftlet-monitor: setns %s: %s\n", plan.nsjoin[i].path, strerror(errno));
                    return 1;
                }
            }
        }
        for (int i = 0; i < plan.n_nsjoin; i++) {
            if (plan.nsjoin[i].type == CLONE_NEWCGROUP) cgroupns_fd = fds[i];
            else close(fds[i]);
        }
    } else if (plan.clone_flags & CLONE_NEWUSER) {
        // a new user namespace joining namespaces owned by the initial one (a pod's network,
        // IPC, UTS): joined here, while the monitor still has its capabilities there; the child
        // inherits them and creates its user, mount, PID and cgroup namespaces with clone3
        static const uint32_t order[] = { CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID };
        for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
            for (int i = 0; i < plan.n_nsjoin; i++) {
                if (plan.nsjoin[i].type != order[o]) continue;
                int fd = open(plan.nsjoin[i].path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, (int)plan.nsjoin[i].type) < 0) { report_error("setns", errno, plan.nsjoin[i].path); return 1; }
                close(fd);
            }
        }
        userns_joins_done = 1;
    } else {
        for (int i = 0; i < plan.n_nsjoin; i++) {
            if (plan.nsjoin[i].type != CLONE_NEWPID) continue;
            int fd = open(plan.nsjoin[i].path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWPID) < 0) { report_error("setns", errno, plan.nsjoin[i].path); return 1; }
            close(fd);
        }
    }

    int fifo_fd = -1;
    if (plan.exec_fifo) {
        fifo_fd = open(plan.exec_fifo, O_PATH | O_CLOEXEC);
        if (fifo_fd < 0) { report_error("exec fifo", errno, plan.exec_fifo); return 1; }
    }

    int c2p[2], p2c[2];
    if (pipe2(c2p, O_CLOEXEC) < 0 || pipe2(p2c, O_CLOEXEC) < 0) { report_error("pipe", errno, NULL); return 1; }
    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
    int devnull = -1;
    struct sl_child_ctx ctx = { .plan = &plan, .c2p = c2p[1], .p2c = p2c[0], .fifo_fd = fifo_fd,
                                .stdio = { -1, -1, -1 }, .exec_mode = exec_mode, .cgroupns_fd = cgroupns_fd,
                                .joins_done = userns_joins_done };
    if (plan.log_path || plan.detach_stdio) {
        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        ctx.stdio[0] = devnull;
        ctx.stdio[1] = devnull;
        ctx.stdio[2] = devnull;
    }
    if (plan.log_path) {
        if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) { report_error("pipe", errno, NULL); return 1; }
        ctx.stdio[1] = outp[1];
        ctx.stdio[2] = errp[1];
        log_open();
        if (log_fd < 0) { report_error("open log", errno, plan.log_path); return 1; }
    }

    uint64_t flags = exec_mode ? 0 : (plan.clone_flags & (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | 0x80 /* CLONE_NEWTIME */));
    pid_t pid = sl_clone3(flags, cgfd, &child_pidfd);
    if (pid < 0) {
        int e = errno;
        report_error("clone3", e, cgfd >= 0 ? plan.cgroup : NULL);
        fprintf(stderr, "swiftlet-monitor: clone3: %s\n", strerror(e));
        return 1;
    }
    if (pid == 0) sl_child_main(&ctx);
    child_pid = pid;
    close(c2p[1]);
    close(p2c[0]);
    if (outp[1] >= 0) { close(outp[1]); close(errp[1]); }
    if (cgfd >= 0) close(cgfd);
    if (fifo_fd >= 0) close(fifo_fd);

    if ((flags & CLONE_NEWUSER)) {
        // the monitor runs as root, so gid_map may be written without denying setgroups (runc
        // writes "deny" only for rootless containers)
        int ok = 1;
        if (ok && plan.uid_map && sl_write_proc_file(pid, "uid_map", plan.uid_map) < 0) { report_error("userns", errno, "write uid_map"); ok = 0; }
        if (ok && plan.gid_map && sl_write_proc_file(pid, "gid_map", plan.gid_map) < 0) { report_error("userns", errno, "write gid_map"); ok = 0; }
        if (ok && plan.has_oom_score_adj) {
            // from inside its user namespace the child may not write its own /proc entries
            char p[64], v[16];
            snprintf(p, sizeof p, "/proc/%d/oom_score_adj", pid);
            snprintf(v, sizeof v, "%d", plan.oom_score_adj);
            if (sl_write_proc_file(pid, "oom_score_adj", v) < 0) { report_error("oom_score_adj", errno, p); ok = 0; }
        }
        if (!ok) { kill(pid, SIGKILL); waitpid(pid, NULL, 0); return 1; }
        if (write(p2c[1], "g", 1) != 1) { report_error("userns", errno, "signal child"); kill(pid, SIGKILL); return 1; }
    }

    struct sl_msg m;
    char detail[512];
    int created = 0;
    while (!created) {
        int r = read_msg(c2p[0], &m);
        if (r <= 0) {
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            waitid(P_PIDFD, (id_t)child_pidfd, &si, WEXITED);
            int sig;
            int code = status_code(&si, &sig);
            snprintf(detail, sizeof(detail), "container init exited during setup with status %d", code);
            report_error("init", ECHILD, detail);
            if (exec_mode) fprintf(stderr, "swiftlet-monitor: %s\n", detail);
            return 1;
        }
        if (m.type == SL_MSG_ERROR) {
            format_msg(detail, sizeof(detail), &m);
            report_error(m.stage, m.err, detail);
            if (exec_mode) fprintf(stderr, "swiftlet: %s %s: %s\n", m.stage, detail, strerror(m.err));
            siginfo_t si;
            waitid(P_PIDFD, (id_t)child_pidfd, &si, WEXITED);
            return m.stage[0] == 'e' && strcmp(m.stage, "exec") == 0 ? 127 : 1;
        }
        if (m.type == SL_MSG_HOOKS) {
            report("hooks %d\n", pid);
            char b = 0;
            ssize_t rr;
            do { rr = ctl_fd >= 0 ? read(ctl_fd, &b, 1) : -1; } while (rr < 0 && errno == EINTR);
            if (rr != 1 || b != 'g') {
                kill(pid, SIGKILL);
                siginfo_t si;
                waitid(P_PIDFD, (id_t)child_pidfd, &si, WEXITED);
                return 1;
            }
            if (write(p2c[1], "g", 1) != 1) { kill(pid, SIGKILL); return 1; }
            continue;
        }
        if (m.type == SL_MSG_READY) created = 1;
    }
    close(p2c[1]);
    report("pid %d\n", pid);

    if (exec_mode) {
        signal(SIGINT, forward_signal);
        signal(SIGTERM, forward_signal);
        signal(SIGHUP, forward_signal);
        signal(SIGQUIT, forward_signal);
        signal(SIGUSR1, forward_signal);
        signal(SIGUSR2, forward_signal);
        signal(SIGALRM, kill_child);
    } else {
        // the container holds the caller's stdio if asked to; the monitor itself lets go of it
        int nul = devnull >= 0 ? devnull : open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
        if (ctl_fd >= 0) { close(ctl_fd); ctl_fd = -1; }
    }

    struct stream out = { .fd = outp[0], .name = "stdout" }, err = { .fd = errp[0], .name = "stderr" };
    char exec_error[600] = "";
    int have_error = 0;
    int live_out = outp[0] >= 0, live_err = errp[0] >= 0, live_msg = 1;
    int exited = 0;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (!exited || live_out || live_err) {
        struct pollfd p[4];
        int np = 0, i_pid = -1, i_out = -1, i_err = -1, i_msg = -1;
        if (!exited) { i_pid = np; p[np].fd = child_pidfd; p[np].events = POLLIN; np++; }
        if (live_out) { i_out = np; p[np].fd = out.fd; p[np].events = POLLIN; np++; }
        if (live_err) { i_err = np; p[np].fd = err.fd; p[np].events = POLLIN; np++; }
        if (live_msg) { i_msg = np; p[np].fd = c2p[0]; p[np].events = POLLIN; np++; }
        // once the init is gone, descendants may still hold the pipes: drain what is there and stop
        int rc = poll(p, (nfds_t)np, exited ? 0 : -1);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0 && exited) break;
        if (i_msg >= 0 && p[i_msg].revents) {
            int r = read_msg(c2p[0], &m);
            if (r > 0 && m.type == SL_MSG_ERROR) {
                format_msg(detail, sizeof(detail), &m);
                snprintf(exec_error, sizeof(exec_error), "%s %s: %s", m.stage, detail, strerror(m.err));
                have_error = 1;
                if (exec_mode) fprintf(stderr, "swiftlet: %s\n", exec_error);
            } else {
                live_msg = 0;
            }
        }
        if (i_out >= 0 && (p[i_out].revents & (POLLIN | POLLHUP | POLLERR))) live_out = stream_read(&out);
        if (i_err >= 0 && (p[i_err].revents & (POLLIN | POLLHUP | POLLERR))) live_err = stream_read(&err);
        if (i_pid >= 0 && (p[i_pid].revents & POLLIN)) {
            if (waitid(P_PIDFD, (id_t)child_pidfd, &si, WEXITED) == 0) {
                exited = 1;
                if (live_out) fcntl(out.fd, F_SETFL, O_NONBLOCK);
                if (live_err) fcntl(err.fd, F_SETFL, O_NONBLOCK);
            }
        }
    }
    if (live_out) stream_flush_lines(&out, 1);
    if (live_err) stream_flush_lines(&err, 1);
    // orphans reparented to us (no pid namespace): reap them
    while (waitpid(-1, NULL, WNOHANG) > 0) {}

    int sig;
    int code = status_code(&si, &sig);
    if (have_error && code == 127) sig = 0;
    // memory.oom.group kills the whole group with SIGKILL; the event count says it was the OOM killer
    int oom = !exec_mode && sig == SIGKILL && oom_kills(plan.cgroup) > 0;
    if (!exec_mode) write_exit(plan.state_dir, code, sig, have_error ? exec_error : NULL, oom);
    report("exit %d %d\n", code, sig);
    return code;
}

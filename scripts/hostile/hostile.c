// The attacker for scripts/test-hostile.sh: runs inside a container (built static) and tries to
// get out. Every success is printed as a line starting with "VIOLATION"; the suite fails on any.
//
//   hostile swap DIR A B SECONDS    renameat2(A, B, RENAME_EXCHANGE) in DIR in a loop (the
//                                   subPath symlink-swap race, CVE-2017-1002101 / 2021-25741)
//   hostile scan SECONDS            loop over /proc/*/fd/* and /proc/*/exe of every other process
//                                   (CVE-2019-5736 / CVE-2024-21626): a host directory, a cgroupfs
//                                   fd, a host binary, a writable runtime binary are violations
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int swap_loop(const char *dir, const char *a, const char *b, double seconds) {
    int d = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) { perror("open dir"); return 1; }
    double end = now() + seconds;
    unsigned long n = 0;
    while (now() < end) {
        if (syscall(SYS_renameat2, d, a, d, b, RENAME_EXCHANGE) == 0) n++;
    }
    printf("swapped %lu times\n", n);
    return 0;
}

// Is the directory behind fd outside our root? Walk ".." up to its top and compare with "/".
static int outside_root(int fd) {
    struct stat root, cur, up;
    if (stat("/", &root) < 0) return 0;
    int c = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c < 0) return 0;
    for (int i = 0; i < 256; i++) {
        if (fstat(c, &cur) < 0) break;
        if (cur.st_dev == root.st_dev && cur.st_ino == root.st_ino) { close(c); return 0; }
        int p = openat(c, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (p < 0) break;
        if (fstat(p, &up) == 0 && up.st_dev == cur.st_dev && up.st_ino == cur.st_ino) {   // a top that is not our root
            close(p);
            close(c);
            return 1;
        }
        close(c);
        c = p;
    }
    close(c);
    return 0;
}

static unsigned long tried, opened;

static void probe_fd(pid_t pid, const char *name) {
    char path[256], target[4096];
    snprintf(path, sizeof path, "/proc/%d/fd/%s", pid, name);
    tried++;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return;
    opened++;
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    struct stat st;
    struct statfs sf;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (fstatfs(fd, &sf) == 0 && (sf.f_type == CGROUP2_SUPER_MAGIC || sf.f_type == CGROUP_SUPER_MAGIC)) {
            char dir[64];
            snprintf(dir, sizeof dir, "hostile-escape-%d", getpid());
            if (mkdirat(fd, dir, 0755) == 0) {
                printf("VIOLATION cgroupfs directory of pid %d fd %s (%s): created %s in it\n", pid, name, target, dir);
                unlinkat(fd, dir, AT_REMOVEDIR);
            } else {
                printf("VIOLATION cgroupfs directory of pid %d fd %s (%s) reachable\n", pid, name, target);
            }
        } else if (outside_root(fd)) {
            printf("VIOLATION host directory through pid %d fd %s (%s)\n", pid, name, target);
        }
    } else if (fstatfs(fd, &sf) == 0 && (sf.f_type == CGROUP2_SUPER_MAGIC || sf.f_type == CGROUP_SUPER_MAGIC)) {
        printf("VIOLATION cgroupfs file of pid %d fd %s (%s)\n", pid, name, target);
    }
    fflush(stdout);
    close(fd);
}

static void probe_exe(pid_t pid) {
    char path[64], target[4096];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    // the runtime's sealed in-memory copy may be named; a path to its binary on disk may not
    int sealed_copy = strncmp(target, "/memfd:", 7) == 0;
    if (n > 0 && strstr(target, "swiftlet") && !sealed_copy) printf("VIOLATION /proc/%d/exe names the runtime binary %s\n", pid, target);
    int w = open(path, O_RDWR | O_CLOEXEC);
    if (w < 0 && errno == ETXTBSY) {
        // busy: the CVE-2019-5736 pattern keeps an O_PATH fd and reopens it once the binary is idle
        int p = open(path, O_PATH | O_CLOEXEC);
        if (p >= 0) {
            struct stat st;
            if (fstat(p, &st) == 0 && strstr(target, "swiftlet") && !sealed_copy)
                printf("VIOLATION O_PATH fd on the runtime binary of pid %d (%s, inode %lu)\n", pid, target, (unsigned long)st.st_ino);
            close(p);
        }
    } else if (w >= 0) {
        // rewrite its first byte with itself: harmless if it works, and it must not
        char b;
        if (pread(w, &b, 1, 0) == 1 && pwrite(w, &b, 1, 0) == 1)
            printf("VIOLATION /proc/%d/exe (%s) written\n", pid, target);
        else if (!sealed_copy)
            printf("VIOLATION /proc/%d/exe (%s) opened for writing\n", pid, target);
        close(w);
    }
    fflush(stdout);
}

static int scan_loop(double seconds) {
    double end = now() + seconds;
    pid_t self = getpid();
    unsigned long rounds = 0, pids_seen = 0;
    while (now() < end) {
        DIR *proc = opendir("/proc");
        if (!proc) { perror("opendir /proc"); return 1; }
        struct dirent *e;
        while ((e = readdir(proc))) {
            pid_t pid = (pid_t)atoi(e->d_name);
            if (pid <= 0 || pid == self) continue;
            pids_seen++;
            probe_exe(pid);
            char fdd[64];
            snprintf(fdd, sizeof fdd, "/proc/%d/fd", pid);
            DIR *fds = opendir(fdd);
            if (!fds) continue;
            struct dirent *f;
            while ((f = readdir(fds))) {
                if (f->d_name[0] == '.') continue;
                probe_fd(pid, f->d_name);
            }
            closedir(fds);
        }
        closedir(proc);
        rounds++;
    }
    printf("scanned %lu rounds, %lu process looks, %lu fds tried, %lu opened\n", rounds, pids_seen, tried, opened);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 6 && strcmp(argv[1], "swap") == 0) return swap_loop(argv[2], argv[3], argv[4], atof(argv[5]));
    if (argc == 3 && strcmp(argv[1], "scan") == 0) return scan_loop(atof(argv[2]));
    fprintf(stderr, "usage: hostile swap DIR A B SECONDS | hostile scan SECONDS\n");
    return 2;
}

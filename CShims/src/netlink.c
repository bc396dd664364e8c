// rtnetlink for pod networking: bridge, veth (peer created directly inside the pod's network
// namespace as eth0), addresses, routes, link state; and pinned network namespaces.
// Everything is plain syscalls; sockets are close-on-exec. Errors: -errno with a message.
#define _GNU_SOURCE
#include "cshims.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NLBUF 4096

struct nlreq {
    char buf[NLBUF];
    struct nlmsghdr *h;
};

static int seterr(char *err, size_t n, int e, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -e;
}

static void req_init(struct nlreq *r, uint16_t type, uint16_t flags, const void *body, size_t blen) {
    memset(r->buf, 0, sizeof(r->buf));
    r->h = (struct nlmsghdr *)r->buf;
    r->h->nlmsg_len = NLMSG_LENGTH(blen);
    r->h->nlmsg_type = type;
    r->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    memcpy(NLMSG_DATA(r->h), body, blen);
}

static struct rtattr *attr_put(struct nlreq *r, uint16_t type, const void *data, size_t len) {
    size_t off = NLMSG_ALIGN(r->h->nlmsg_len);
    struct rtattr *a = (struct rtattr *)(r->buf + off);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    r->h->nlmsg_len = (uint32_t)(off + RTA_ALIGN(a->rta_len));
    return a;
}

static struct rtattr *nest_begin(struct nlreq *r, uint16_t type) { return attr_put(r, type, NULL, 0); }
static void nest_end(struct nlreq *r, struct rtattr *a) { a->rta_len = (unsigned short)(r->buf + r->h->nlmsg_len - (char *)a); }

static int open_socket(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) { int e = errno; close(fd); return -e; }
    return fd;
}

// A netlink socket in another network namespace: sockets stay bound to the namespace they were
// created in, so switch this thread in, create it, and switch back (one C call, one thread).
int sl_nl_socket_in(const char *netns_path, char *err, size_t errlen) {
    if (!netns_path) {
        int fd = open_socket();
        return fd < 0 ? seterr(err, errlen, -fd, "netlink socket") : fd;
    }
    int target = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0) return seterr(err, errlen, errno, "open %s", netns_path);
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) { int e = errno; close(target); return seterr(err, errlen, e, "open /proc/thread-self/ns/net"); }
    if (setns(target, CLONE_NEWNET) < 0) { int e = errno; close(target); close(self); return seterr(err, errlen, e, "setns %s", netns_path); }
    int fd = open_socket();
    int e = fd < 0 ? -fd : 0;
    if (setns(self, CLONE_NEWNET) < 0) {
        // cannot return to our namespace: nothing safe to do but stop this process
        abort();
    }
    close(target);
    close(self);
    return fd < 0 ? seterr(err, errlen, e, "netlink socket in %s", netns_path) : fd;
}

static uint32_t next_seq(void) {
    static uint32_t seq = 1;
    return __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
}

static int talk(int fd, struct nlreq *r) {
    r->h->nlmsg_seq = next_seq();
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(fd, r->buf, r->h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) return -errno;
    char buf[NLBUF * 2];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) { if (errno == EINTR) continue; return -errno; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->h->nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(h);
                return e->error; // 0 = ACK
            }
        }
    }
}

// ifindex of NAME through the given socket's namespace, or -errno
int sl_nl_ifindex(int fd, const char *name) {
    struct nlreq r;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    req_init(&r, RTM_GETLINK, 0, &ifi, sizeof(ifi));
    r.h->nlmsg_flags = NLM_F_REQUEST;
    attr_put(&r, IFLA_IFNAME, name, strlen(name) + 1);
    r.h->nlmsg_seq = next_seq();
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(fd, r.buf, r.h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) return -errno;
    char buf[NLBUF * 4];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) { if (errno == EINTR) continue; return -errno; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r.h->nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(h);
                return e->error ? e->error : -ENODEV;
            }
            if (h->nlmsg_type == RTM_NEWLINK) return ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
        }
    }
}

static int link_change(int fd, int ifindex, unsigned flags, unsigned change, int master, int mtu) {
    struct nlreq r;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = flags, .ifi_change = change };
    req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    if (master >= 0) attr_put(&r, IFLA_MASTER, &master, sizeof(master));
    if (mtu > 0) attr_put(&r, IFLA_MTU, &mtu, sizeof(mtu));
    return talk(fd, &r);
}

int sl_nl_link_up(int fd, int ifindex) { return link_change(fd, ifindex, IFF_UP, IFF_UP, -1, 0); }

int sl_nl_link_del(int fd, const char *name) {
    int idx = sl_nl_ifindex(fd, name);
    if (idx < 0) return idx;
    struct nlreq r;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = idx };
    req_init(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
    return talk(fd, &r);
}

static int addr_add(int fd, int ifindex, uint32_t addr_be, int prefix) {
    struct nlreq r;
    struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_index = (unsigned)ifindex, .ifa_scope = RT_SCOPE_UNIVERSE };
    req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
    attr_put(&r, IFA_LOCAL, &addr_be, 4);
    attr_put(&r, IFA_ADDRESS, &addr_be, 4);
    if (prefix < 31) {
        uint32_t mask = prefix ? htonl(~0u << (32 - prefix)) : 0;
        uint32_t brd = addr_be | ~mask;
        attr_put(&r, IFA_BROADCAST, &brd, 4);
    }
    int rc = talk(fd, &r);
    return rc == -EEXIST ? 0 : rc;
}

static int route_default(int fd, int ifindex, uint32_t gw_be) {
    struct nlreq r;
    struct rtmsg rt = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                        .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
    req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
    attr_put(&r, RTA_GATEWAY, &gw_be, 4);
    attr_put(&r, RTA_OIF, &ifindex, 4);
    int rc = talk(fd, &r);
    return rc == -EEXIST ? 0 : rc;
}

int sl_nl_bridge_ensure(int fd, const char *name, uint32_t gw_be, int prefix, int mtu, char *err, size_t errlen) {
    int idx = sl_nl_ifindex(fd, name);
    if (idx == -ENODEV) {
        struct nlreq r;
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
        attr_put(&r, IFLA_IFNAME, name, strlen(name) + 1);
        if (mtu > 0) attr_put(&r, IFLA_MTU, &mtu, sizeof(mtu));
        struct rtattr *li = nest_begin(&r, IFLA_LINKINFO);
        attr_put(&r, IFLA_INFO_KIND, "bridge", 7);
        nest_end(&r, li);
        int rc = talk(fd, &r);
        if (rc < 0 && rc != -EEXIST) return seterr(err, errlen, -rc, "create bridge %s", name);
        idx = sl_nl_ifindex(fd, name);
    }
    if (idx < 0) return seterr(err, errlen, -idx, "find bridge %s", name);
    int rc = addr_add(fd, idx, gw_be, prefix);
    if (rc < 0) return seterr(err, errlen, -rc, "add gateway address to %s", name);
    rc = sl_nl_link_up(fd, idx);
    if (rc < 0) return seterr(err, errlen, -rc, "set %s up", name);
    return idx;
}

// Pod network ADD in one call: a veth whose peer is created directly in the pod namespace as
// `pod_ifname`, host end on the bridge and up; inside: lo up, address, link up, default route.
int sl_pod_net_add(int host_fd, const char *netns_path, const char *host_ifname, const char *pod_ifname,
                   int bridge_index, int mtu, uint32_t addr_be, int prefix, uint32_t gw_be, char *err, size_t errlen) {
    int nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return seterr(err, errlen, errno, "open %s", netns_path);
    // One RTM_NEWLINK creates the pair: the host end up and on the bridge, the peer inside the pod
    // namespace under its final name, so no rename is needed. (The peer cannot be created up: the
    // kernel opens it before its partner exists and refuses with ENOTCONN.) lo is ifindex 1 in
    // every network namespace.
    struct nlreq r;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    attr_put(&r, IFLA_IFNAME, host_ifname, strlen(host_ifname) + 1);
    if (mtu > 0) attr_put(&r, IFLA_MTU, &mtu, sizeof(mtu));
    attr_put(&r, IFLA_MASTER, &bridge_index, sizeof(bridge_index));
    struct rtattr *li = nest_begin(&r, IFLA_LINKINFO);
    attr_put(&r, IFLA_INFO_KIND, "veth", 5);
    struct rtattr *data = nest_begin(&r, IFLA_INFO_DATA);
    struct rtattr *peer = nest_begin(&r, VETH_INFO_PEER);
    struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
    // the peer's ifinfomsg sits inside the attribute, followed by its own attributes
    memcpy(r.buf + r.h->nlmsg_len, &pifi, sizeof(pifi));
    r.h->nlmsg_len += NLMSG_ALIGN(sizeof(pifi));
    attr_put(&r, IFLA_IFNAME, pod_ifname, strlen(pod_ifname) + 1);
    attr_put(&r, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
    if (mtu > 0) attr_put(&r, IFLA_MTU, &mtu, sizeof(mtu));
    nest_end(&r, peer);
    nest_end(&r, data);
    nest_end(&r, li);
    int rc = talk(host_fd, &r);
    close(nsfd);
    if (rc == -EEXIST) return seterr(err, errlen, EEXIST, "create veth %s (peer %s in %s)", host_ifname, pod_ifname, netns_path);
    if (rc < 0) return seterr(err, errlen, -rc, "create veth %s (peer %s in %s)", host_ifname, pod_ifname, netns_path);

    int pfd = sl_nl_socket_in(netns_path, err, errlen);
    if (pfd < 0) { sl_nl_link_del(host_fd, host_ifname); return pfd; }
    const char *stage = "lo up";
    rc = sl_nl_link_up(pfd, 1);
    int pod_index = -1;
    if (rc >= 0) { stage = "find pod interface"; pod_index = sl_nl_ifindex(pfd, pod_ifname); rc = pod_index < 0 ? pod_index : 0; }
    if (rc >= 0) { stage = "add pod address"; rc = addr_add(pfd, pod_index, addr_be, prefix); }
    if (rc >= 0) { stage = "set pod interface up"; rc = sl_nl_link_up(pfd, pod_index); }
    if (rc >= 0 && gw_be) { stage = "add default route"; rc = route_default(pfd, pod_index, gw_be); }
    close(pfd);
    if (rc < 0) {
        sl_nl_link_del(host_fd, host_ifname);
        return seterr(err, errlen, -rc, "%s in %s", stage, netns_path);
    }
    return 0;
}

// ---- pinned network namespaces -----------------------------------------------------------
// Closes every fd >= 3 except a, b and c (-1: none). A clone3 child of a multi-threaded parent
// inherits other threads' pipe ends; holding them would keep those pipes from reaching EOF.
static void close_all_except(int a, int b, int c) {
    int keep[3] = { a, b, c }, n = 0;
    for (int i = 0; i < 3; i++) if (keep[i] >= 3) keep[n++] = keep[i];
    for (int i = 1; i < n; i++) for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) { int t = keep[j]; keep[j] = keep[j - 1]; keep[j - 1] = t; }
    unsigned lo = 3;
    for (int i = 0; i < n; i++) {
        if ((unsigned)keep[i] > lo) syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0u);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0u, 0u);
}

// The pinning child: waits until the parent says it is done (a byte, or EOF), then exits.
static int child_wait(void *arg) {
    int fd = *(int *)arg;
    char b;
    while (read(fd, &b, 1) < 0 && errno == EINTR) {}
    _exit(0);
}

// One namespace of a fresh clone3 child (`flag`), pinned by bind-mounting its nsfs file onto
// `path` (as `ip netns add` does); for a user namespace the maps are written first. The child only
// blocks on a pipe until the pin is in place.
static int pin_new_namespace(const char *path, uint64_t flag, const char *nsname, const char *uid_map,
                             const char *gid_map, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) return seterr(err, errlen, errno, "create %s", path);
    close(fd);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) { int e = errno; unlink(path); return seterr(err, errlen, e, "pipe"); }
    int pidfd = -1;
    pid_t pid = sl_clone3(flag, -1, &pidfd);
    if (pid == 0) { close_all_except(p[0], -1, -1); child_wait(&p[0]); }
    close(p[0]);
    if (pid < 0) { int e = errno; close(p[1]); unlink(path); return seterr(err, errlen, e, "clone3(new %s namespace)", nsname); }
    int rc = 0, e = 0;
    char what[96] = "";
    if (uid_map && sl_write_proc_file(pid, "uid_map", uid_map) < 0) { rc = -1; e = errno; snprintf(what, sizeof what, "write uid_map"); }
    else if (gid_map && sl_write_proc_file(pid, "gid_map", gid_map) < 0) { rc = -1; e = errno; snprintf(what, sizeof what, "write gid_map"); }
    else {
        char src[64];
        snprintf(src, sizeof src, "/proc/%d/ns/%s", pid, nsname);
        if (mount(src, path, NULL, MS_BIND, NULL) < 0) { rc = -1; e = errno; snprintf(what, sizeof what, "bind %s", src); }
    }
    if (write(p[1], "x", 1) < 0) {}
    close(p[1]);
    waitpid(pid, NULL, 0);
    close(pidfd);
    if (rc < 0) { unlink(path); return seterr(err, errlen, e, "%s on %s", what, path); }
    return 0;
}

// A pinned network namespace (as `ip netns add`).
int sl_netns_create(const char *path, char *err, size_t errlen) {
    return pin_new_namespace(path, CLONE_NEWNET, "net", NULL, NULL, err, errlen);
}

int sl_netns_remove(const char *path, char *err, size_t errlen) {
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) return seterr(err, errlen, errno, "umount %s", path);
    if (unlink(path) < 0 && errno != ENOENT) return seterr(err, errlen, errno, "unlink %s", path);
    return 0;
}

// Pins a pod sandbox: one child in new net+ipc+uts namespaces (hostname set inside), its
// namespace files bind-mounted on <dir>/net, <dir>/ipc, <dir>/uts. The child exits at once.
// A pod sandbox: the namespaces selected by `ns` (SL_SANDBOX_*) are created by one clone3 child
// and pinned by bind-mounting their nsfs files onto dir/{net,ipc,uts,pid}. Without a PID
// namespace the child exits once they are pinned. With one (shareProcessNamespace) the child is
// that namespace's init and must live: it execs `pause_path pause`, which reaps and waits for
// SIGTERM; its pid is returned in *pause_pid (the caller reaps it). Cleans up on failure.
int sl_sandbox_create(const char *dir, const char *hostname, int ns, int pause_fd, pid_t *pause_pid,
                      char *err, size_t errlen) {
    static const char *all_names[4] = {"net", "ipc", "uts", "pid"};
    static const uint64_t all_flags[4] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID};
    const char *names[4];
    char paths[4][4096];
    uint64_t flags = 0;
    int n = 0;
    if (pause_pid) *pause_pid = 0;
    for (int i = 0; i < 4; i++) {
        if (!(ns & (1 << i))) continue;   // bit i: all_names[i]
        names[n] = all_names[i];
        flags |= all_flags[i];
        snprintf(paths[n], sizeof paths[n], "%s/%s", dir, all_names[i]);
        n++;
    }
    if (n == 0) return 0;
    int with_pause = (flags & CLONE_NEWPID) != 0;
    if (with_pause && pause_fd < 0) return seterr(err, errlen, EINVAL, "a shared PID namespace needs the pause program");
    for (int i = 0; i < n; i++) {
        int fd = open(paths[i], O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0) {
            int e = errno;
            for (int j = 0; j < i; j++) unlink(paths[j]);
            return seterr(err, errlen, e, "create %s", paths[i]);
        }
        close(fd);
    }
    int p[2], ready[2];
    if (pipe2(p, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
        int e = errno;
        for (int j = 0; j < n; j++) unlink(paths[j]);
        return seterr(err, errlen, e, "pipe");
    }
    int pidfd = -1;
    pid_t pid = sl_clone3(flags, -1, &pidfd);
    if (pid == 0) {
        prctl(PR_SET_DUMPABLE, 0);   // it may become the pod's PID 1: nothing to read through /proc
        close_all_except(p[0], ready[1], with_pause ? pause_fd : -1);
        char ok = (!(flags & CLONE_NEWUTS) || sethostname(hostname, strlen(hostname)) == 0) ? 'y' : 'n';
        if (ok == 'y' && (ns & SL_SANDBOX_LOW_PORTS) && (flags & CLONE_NEWNET)) {
            // /proc/sys/net is the opener's network namespace: this child's, the new one
            int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "0", 1) != 1) ok = 'n';
            if (fd >= 0) close(fd);
        }
        if (write(ready[1], &ok, 1) < 0) _exit(1);
        if (!with_pause) child_wait(&p[0]);
        char b;
        ssize_t r;
        while ((r = read(p[0], &b, 1)) < 0 && errno == EINTR) {}
        if (r != 1) _exit(0);   // the parent gave up
        char *const argv[] = {(char *)"swiftlet-pause", (char *)"pause", NULL};
        char *const envp[] = {NULL};
        // the sealed in-memory copy of the monitor (never a path to the installed binary)
        syscall(SYS_execveat, pause_fd, "", argv, envp, AT_EMPTY_PATH);
        char fail = 'e';
        if (write(ready[1], &fail, 1) < 0) {}
        _exit(127);
    }
    close(p[0]);
    close(ready[1]);
    if (pid < 0) {
        int e = errno;
        close(p[1]);
        close(ready[0]);
        for (int j = 0; j < n; j++) unlink(paths[j]);
        return seterr(err, errlen, e, "clone3(sandbox namespaces)");
    }
    char ok = 'n';
    ssize_t got = read(ready[0], &ok, 1);
    int rc = 0, e = 0, failed = -1, exec_failed = 0;
    if (got != 1 || ok != 'y') { rc = -1; e = EINVAL; }
    for (int i = 0; rc == 0 && i < n; i++) {
        char src[64];
        snprintf(src, sizeof src, "/proc/%d/ns/%s", pid, names[i]);
        if (mount(src, paths[i], NULL, MS_BIND, NULL) < 0) { rc = -1; e = errno; failed = i; }
    }
    if (rc == 0) { if (write(p[1], "x", 1) < 0) {} }
    close(p[1]);
    if (with_pause && rc == 0) {
        // EOF: the exec succeeded (ready[1] is close-on-exec); a byte: it failed
        char f;
        if (read(ready[0], &f, 1) == 1) { rc = -1; e = ENOEXEC; exec_failed = 1; }
    }
    close(ready[0]);
    if (!with_pause || rc < 0) waitpid(pid, NULL, 0);
    close(pidfd);
    if (rc < 0) {
        for (int j = 0; j < n; j++) { umount2(paths[j], MNT_DETACH); unlink(paths[j]); }
        if (failed >= 0) return seterr(err, errlen, e, "bind /proc/%d/ns/%s on %s", pid, names[failed], paths[failed]);
        if (exec_failed) return seterr(err, errlen, e, "exec the sandbox's pause process (fd %d)", pause_fd);
        return seterr(err, errlen, e, "sethostname \"%s\" in the sandbox", hostname);
    }
    if (with_pause && pause_pid) *pause_pid = pid;
    return 0;
}

// ---- user namespaces for pods (hostUsers: false) --------------------------------------------
#include <linux/mount.h>

// A user namespace with the given maps ("0 65536 65536\n"), pinned at `path`: the pod's ID
// mapping, the reference for idmapped mounts of its rootfs and volumes.
int sl_userns_create(const char *path, const char *uid_map, const char *gid_map, char *err, size_t errlen) {
    return pin_new_namespace(path, CLONE_NEWUSER, "user", uid_map, gid_map, err, errlen);
}

// An idmapped clone of the mount at `src` (ids shifted by the user namespace pinned at
// `userns_path`) attached at `dst` (an existing directory). Needs kernel support for the
// filesystem (overlayfs 5.19, tmpfs 6.3, ext4/xfs/btrfs 5.12+).
int sl_idmapped_bind(const char *src, const char *dst, const char *userns_path, char *err, size_t errlen) {
    int ns = open(userns_path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) return seterr(err, errlen, errno, "open %s", userns_path);
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) { int e = errno; close(ns); return seterr(err, errlen, e, "open_tree %s", src); }
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)ns;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
        int e = errno;
        close(tree); close(ns);
        return seterr(err, errlen, e, "idmap the mount of %s (mount_setattr)", src);
    }
    close(ns);
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        int e = errno;
        close(tree);
        return seterr(err, errlen, e, "attach the idmapped mount at %s", dst);
    }
    close(tree);
    return 0;
}

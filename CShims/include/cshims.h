// Swiftlet C shim: everything that must run between clone3() and execve(), the seccomp
// filter builder (parent side, libseccomp), netlink later, and small POSIX helpers that
// Swift cannot call safely or conveniently.
//
// A container "plan" travels from Swift to the single-threaded C monitor as a flat binary
// record stream (see SL_T_* below): Swift computes every decision (mount flags, capability
// masks, BPF bytes, device numbers), C only executes it.
#ifndef SWIFTLET_CSHIMS_H
#define SWIFTLET_CSHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- plan wire format -------------------------------------------------------------------
// Each record: u32 tag, u32 payload length, payload (little endian, host order).
#define SL_PLAN_MAGIC 0x534c5031u /* "SLP1" */

enum sl_tag {
    SL_T_MAGIC = 1,        // u32 SL_PLAN_MAGIC
    SL_T_CLONE_FLAGS,      // u64 CLONE_NEW* flags for new namespaces
    SL_T_NSJOIN,           // u32 CLONE_NEW* type, then path (NUL-terminated)
    SL_T_ROOTFS,           // absolute host path of the root filesystem
    SL_T_ROOT_READONLY,    // no payload
    SL_T_ROOT_PROPAGATION, // u64 MS_* flags applied to "/" before anything else
    SL_T_MOUNT,            // u64 flags, u64 propagation, u32 kind, u32 pad, source\0 dest\0 fstype\0 data\0
    SL_T_DEVICE,           // u32 type ('c','b','p'), u32 major, u32 minor, u32 mode, u32 uid, u32 gid, path\0
    SL_T_SYMLINK,          // target\0 linkpath\0 (linkpath inside the rootfs)
    SL_T_MASKED,           // path\0
    SL_T_READONLY,         // path\0
    SL_T_HOSTNAME,         // name\0
    SL_T_DOMAINNAME,       // name\0
    SL_T_SYSCTL,           // key\0 value\0
    SL_T_RLIMIT,           // u32 resource, u32 pad, u64 soft, u64 hard
    SL_T_OOM_SCORE_ADJ,    // i32
    SL_T_USER,             // u32 uid, u32 gid, u32 umask (0xffffffff: leave)
    SL_T_ADDITIONAL_GID,   // u32 gid (repeated)
    SL_T_CAPS,             // u64 bounding, effective, permitted, inheritable, ambient
    SL_T_NO_NEW_PRIVS,     // no payload
    SL_T_SECCOMP,          // raw struct sock_filter[] bytes
    SL_T_CWD,              // path\0
    SL_T_ARG,              // string\0 (repeated, in order)
    SL_T_ENV,              // KEY=VALUE\0 (repeated)
    SL_T_CGROUP,           // absolute cgroup v2 directory for CLONE_INTO_CGROUP
    SL_T_EXEC_FIFO,        // path\0: block before execve until `start` opens it
    SL_T_LOG,              // u64 max bytes (0 = no rotation), u32 max files, u32 pad, path\0
    SL_T_STATE_DIR,        // path\0: where the monitor writes exit.json
    SL_T_UID_MAP,          // uid_map file contents
    SL_T_GID_MAP,          // gid_map file contents
    SL_T_HOOK_BARRIER,     // no payload: stop before pivot_root for createRuntime/prestart hooks
    SL_T_PRESERVE_FDS,     // u32 count of extra fds (3..3+n-1) passed to the process
    SL_T_DETACH_STDIO,     // no payload: container stdin=/dev/null, stdout/stderr=/dev/null unless SL_T_LOG
    SL_T_DEVICE_FILTER,    // no payload: attach a device filter to the cgroup (no rules = deny all)
    SL_T_DEVICE_RULE,      // u32 type ('a','c','b'), u32 access (1 mknod|2 read|4 write), i64 major, i64 minor (-1 any), u32 allow, u32 pad
    SL_T_CONTROLLING_TTY,  // no payload: fd 0 is a terminal; the process gets a new session with it as controlling tty
    SL_T_LSM_EXEC,         // attr file\0 value\0: written just before execve (AppArmor "exec PROFILE", an SELinux label)
    SL_T_TAG_MAX
};

enum sl_mount_kind {
    SL_MOUNT_FS = 0,      // mount(source, dest, fstype, flags, data)
    SL_MOUNT_BIND = 1,    // MS_BIND [+MS_REC], then a remount for the other flags
    SL_MOUNT_SYSFS = 2,   // sysfs; falls back to a recursive bind of /sys when EPERM (no new netns)
    SL_MOUNT_CGROUP = 3,  // cgroup2; falls back to a bind of the host's cgroup2 mount on EPERM
};
#define SL_MOUNT_DEST_FILE 0x100u // destination must be created as a file (bind of a file)

struct sl_mount {
    uint64_t flags;
    uint64_t propagation;
    uint32_t kind;
    const char *source, *dest, *fstype, *data;
};

struct sl_device {
    uint32_t type, major, minor, mode, uid, gid;
    const char *path;
};

struct sl_rlimit {
    uint32_t resource;
    uint64_t soft, hard;
};

#define SL_MAX_DEVRULES 128
struct sl_devrule {
    uint32_t type, access;
    int64_t major, minor;
    uint32_t allow;
};

struct sl_nsjoin {
    uint32_t type;
    const char *path;
};

struct sl_pair {
    const char *a, *b;
};

#define SL_MAX_LIST 512

struct sl_plan {
    uint64_t clone_flags;
    uint64_t root_propagation;
    int root_readonly;
    const char *rootfs;
    struct sl_nsjoin nsjoin[16]; int n_nsjoin;
    struct sl_mount *mounts; int n_mounts;
    struct sl_device *devices; int n_devices;
    struct sl_pair *symlinks; int n_symlinks;
    const char **masked; int n_masked;
    const char **readonly; int n_readonly;
    const char *hostname, *domainname;
    const char *lsm_attr, *lsm_value;
    struct sl_pair *sysctls; int n_sysctls;
    struct sl_rlimit *rlimits; int n_rlimits;
    int has_oom_score_adj; int32_t oom_score_adj;
    int has_user; uint32_t uid, gid, umask;
    uint32_t *additional_gids; int n_additional_gids;
    int has_caps; uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int no_new_privs;
    const uint8_t *seccomp; size_t seccomp_len;
    const char *cwd;
    char **argv; int argc;
    char **envp; int envc;
    const char *cgroup;
    const char *exec_fifo;
    const char *log_path; uint64_t log_max_bytes; uint32_t log_max_files;
    const char *state_dir;
    const char *uid_map, *gid_map;
    int hook_barrier;
    uint32_t preserve_fds;
    int detach_stdio;
    int controlling_tty;
    int device_filter;
    struct sl_devrule *devrules; int n_devrules;
    // storage owned by the plan
    void *arena;
};

// Parse a plan buffer (the buffer must outlive the plan). Returns 0, or -1 with err filled.
int sl_plan_parse(const uint8_t *buf, size_t len, struct sl_plan *plan, char *err, size_t errlen);
void sl_plan_free(struct sl_plan *plan);

// ---- child <-> monitor messages ---------------------------------------------------------
enum sl_msg_type { SL_MSG_READY = 1, SL_MSG_ERROR = 2, SL_MSG_HOOKS = 3 };
struct sl_msg {
    uint32_t type;
    int32_t err;
    char stage[48];
    char detail[400];
};

// --preserve-fds: the runtime hands the caller's fds 3.. to the monitor at this base; the
// container's init receives them as 3.. again.
#define SL_PRESERVE_FD_BASE 10
#define SL_PRESERVE_FD_MAX 60

struct sl_child_ctx {
    const struct sl_plan *plan;
    int c2p;          // child -> monitor messages (close-on-exec)
    int p2c;          // monitor -> child go-ahead bytes (close-on-exec)
    int fifo_fd;      // O_PATH fd of the exec fifo, or -1
    int stdio[3];     // fds to install as 0,1,2, or -1 to keep
    int exec_mode;    // 1: joining a running container (no rootfs setup)
    int cgroupns_fd;  // exec: the container's cgroup namespace, joined by the child once it is
                      // inside the container's cgroup (nsdelegate forbids the other order), or -1
    int joins_done;   // create with a new user namespace: the monitor joined the net/ipc/uts/pid
                      // namespaces before clone3 (from inside the new user namespace it could not)
};

// Runs in the clone3 child. Never returns.
void sl_child_main(struct sl_child_ctx *ctx) __attribute__((noreturn));

// clone3 wrapper: returns pid in the parent, 0 in the child, -1 with errno.
pid_t sl_clone3(uint64_t flags, int cgroup_fd, int *pidfd_out);

// ---- helpers for Swift -------------------------------------------------------------------
#define SL_SPAWN_SETSID 1
// posix_spawn with explicit fd mapping (src[i] -> dst[i], dst < 100); every other fd must be
// O_CLOEXEC. Sources may overlap targets.
// Returns 0 or an errno value.
int sl_spawn(const char *path, char *const argv[], char *const envp[],
             const int *fd_src, const int *fd_dst, int nfds, int flags, pid_t *pid_out);

int sl_pidfd_open(pid_t pid, unsigned int flags);
int sl_pidfd_send_signal(int pidfd, int sig);
int sl_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
// O_PATH for Swift (glibc hides it behind _GNU_SOURCE)
#define SL_O_PATH 010000000
// `sub` beneath the directory fd `base` (symlinks may not leave it), O_PATH; -errno on failure.
int sl_open_beneath(int base, const char *sub, int mkdirs);
// A sealed, executable in-memory copy of the file at `path` (memfd, close-on-exec; no write,
// grow, shrink or re-seal possible): what the monitor is executed from. Returns the fd or -errno.
int sl_sealed_copy(const char *path, const char *name);
// pipe2(O_CLOEXEC): both ends close-on-exec from birth.
int sl_pipe_cloexec(int fds[2]);
// memfd_create(MFD_CLOEXEC)
int sl_memfd(const char *name);
int sl_syncfs(int fd);
int sl_is_mount_point(const char *path);
int sl_write_proc_file(pid_t pid, const char *name, const char *content);

// Terminals for exec -t: a pty pair on a container's devpts, raw mode, window size.

int sl_pty_open(const char *ptmx_path, int *master_out, int *slave_out);
int sl_tty_raw(int fd, struct termios *saved);
int sl_tty_restore(int fd, const struct termios *saved);
long sl_tty_size(int fd);
int sl_tty_set_size(int fd, long size);
int sl_mkfifo(const char *path, unsigned int mode);
int sl_close_range_cloexec(unsigned int first);
// Forward INT/TERM/HUP/QUIT/USR1/USR2/WINCH received by this process to `pid`.
void sl_forward_signals_to(pid_t pid);

// Loads the device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the cgroup
// (fd opened O_RDONLY|O_DIRECTORY). Last matching rule wins; no match denies. 0 or -errno.
int sl_devfilter_attach(int cgroup_fd, const struct sl_devrule *rules, int n, char *err, size_t errlen);

// ---- rtnetlink (netlink.c) -----------------------------------------------------------------
// All return >= 0 on success, -errno on failure (with `err` filled where given).
// A NETLINK_ROUTE socket in the namespace at netns_path (NULL: the caller's namespace).
int sl_nl_socket_in(const char *netns_path, char *err, size_t errlen);
int sl_nl_ifindex(int fd, const char *name);
int sl_nl_link_up(int fd, int ifindex);
int sl_nl_link_del(int fd, const char *name);
// Creates the bridge if missing, adds the gateway address, sets it up; returns its ifindex.
int sl_nl_bridge_ensure(int fd, const char *name, uint32_t gw_be, int prefix, int mtu, char *err, size_t errlen);
// veth host_ifname <-> pod_ifname (created inside netns_path), host end on the bridge; address,
// lo/link up and default route inside.
// Returns 0; cleans up on failure.
int sl_pod_net_add(int host_fd, const char *netns_path, const char *host_ifname, const char *pod_ifname,
                   int bridge_index, int mtu, uint32_t addr_be, int prefix, uint32_t gw_be, char *err, size_t errlen);
// Pinned network namespaces (bind mount of the nsfs file, as `ip netns add`).
int sl_netns_create(const char *path, char *err, size_t errlen);
int sl_netns_remove(const char *path, char *err, size_t errlen);
enum { SL_SANDBOX_NET = 1, SL_SANDBOX_IPC = 2, SL_SANDBOX_UTS = 4, SL_SANDBOX_PID = 8,
       // not a namespace: net.ipv4.ip_unprivileged_port_start=0 in the new network namespace (pods
       // in their own user namespace, whose root has no CAP_NET_BIND_SERVICE over it)
       SL_SANDBOX_LOW_PORTS = 16 };
int sl_userns_create(const char *path, const char *uid_map, const char *gid_map, char *err, size_t errlen);
int sl_idmapped_bind(const char *src, const char *dst, const char *userns_path, char *err, size_t errlen);
int sl_sandbox_create(const char *dir, const char *hostname, int ns, int pause_fd, pid_t *pause_pid,
                      char *err, size_t errlen);

// ---- seccomp (parent side, libseccomp) -----------------------------------------------------
enum sl_scmp_action_kind {
    SL_SCMP_KILL_THREAD = 0, SL_SCMP_KILL_PROCESS, SL_SCMP_TRAP, SL_SCMP_ERRNO,
    SL_SCMP_TRACE, SL_SCMP_ALLOW, SL_SCMP_LOG
};
struct sl_scmp_arg {
    uint32_t index;
    uint32_t op;     // 1..7 = SCMP_CMP_NE .. SCMP_CMP_MASKED_EQ
    uint64_t value, value_two;
};
uint32_t sl_seccomp_action(int kind, uint32_t arg);
void *sl_seccomp_new(uint32_t default_action, int *err_out);
int sl_seccomp_add_arch(void *ctx, const char *arch_name); // 0, or -errno (-EINVAL: unknown arch)
// Returns 0 on success, 1 if the syscall is unknown on this system (ignored, like runc), -errno otherwise.
int sl_seccomp_add_rule(void *ctx, uint32_t action, const char *syscall,
                        const struct sl_scmp_arg *args, unsigned nargs);
// Exports BPF into a malloc'd buffer (free with free()). Returns 0 or -errno.
int sl_seccomp_export(void *ctx, uint8_t **out, size_t *len_out);
void sl_seccomp_free(void *ctx);
void sl_free(void *p);

// ---- layer unpack (libarchive) ------------------------------------------------------------
#define SL_UNPACK_OVERLAY_WHITEOUTS 1 // .wh.x -> 0:0 char device, .wh..wh..opq -> trusted.overlay.opaque
#define SL_UNPACK_KEEP_OWNERS 2       // chown entries to the uid/gid in the archive
struct sl_unpack_result {
    char diffid[72];   // "sha256:<hex>" of the uncompressed stream
    uint64_t size;     // uncompressed bytes
    uint64_t entries;
    uint64_t whiteouts;
    uint64_t skipped;  // entries not created (device nodes, unknown types)
    char warning[512]; // the first skipped entry, named
};
// Unpacks the layer read from in_fd into the directory dest_fd, writing at most max_bytes (file
// data plus a fixed cost per entry; -EFBIG past it). 0, or -errno with err set to a message
// naming the entry.
int sl_unpack_layer(int in_fd, int dest_fd, int flags, uint64_t max_bytes, struct sl_unpack_result *res, char *err, size_t errlen);

// zlib streams with a preset dictionary (SPDY/3 header blocks): deflating != 0 compresses.
void *sl_zstream_new(int deflating, const unsigned char *dict, unsigned dictlen);
void sl_zstream_free(void *z);
int sl_zstream_run(void *z, const unsigned char *in, size_t inlen, unsigned char **out, size_t *outlen);

#ifdef __cplusplus
}
#endif
#endif

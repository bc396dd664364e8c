import CShims
import LinuxSystem

public enum SeccompProfile {
    static let actions: [String: Int32] = [
        "SCMP_ACT_KILL": Int32(SL_SCMP_KILL_THREAD.rawValue), "SCMP_ACT_KILL_THREAD": Int32(SL_SCMP_KILL_THREAD.rawValue),
        "SCMP_ACT_KILL_PROCESS": Int32(SL_SCMP_KILL_PROCESS.rawValue), "SCMP_ACT_TRAP": Int32(SL_SCMP_TRAP.rawValue),
        "SCMP_ACT_ERRNO": Int32(SL_SCMP_ERRNO.rawValue), "SCMP_ACT_TRACE": Int32(SL_SCMP_TRACE.rawValue),
        "SCMP_ACT_ALLOW": Int32(SL_SCMP_ALLOW.rawValue), "SCMP_ACT_LOG": Int32(SL_SCMP_LOG.rawValue),
    ]
    static let ops: [String: UInt32] = [
        "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
    ]
    static let arches: Set<String> = [
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_RISCV64",
    ]
    static let EPERM: UInt32 = 1

    public static func validate(_ s: OCISpec.Seccomp) throws(SpecError) {
        guard actions[s.defaultAction] != nil else {
            throw SpecError("linux.seccomp.defaultAction", "unknown action \"\(s.defaultAction)\"")
        }
        for (i, a) in (s.architectures ?? []).enumerated() where !arches.contains(a) {
            throw SpecError("linux.seccomp.architectures[\(i)]", "unknown architecture \"\(a)\"")
        }
        for (i, rule) in (s.syscalls ?? []).enumerated() {
            guard actions[rule.action] != nil else { throw SpecError("linux.seccomp.syscalls[\(i)].action", "unknown action \"\(rule.action)\"") }
            guard !rule.names.isEmpty else { throw SpecError("linux.seccomp.syscalls[\(i)].names", "Required value") }
            for (j, a) in (rule.args ?? []).enumerated() {
                guard ops[a.op] != nil else { throw SpecError("linux.seccomp.syscalls[\(i)].args[\(j)].op", "unknown operator \"\(a.op)\"") }
                guard a.index < 6 else { throw SpecError("linux.seccomp.syscalls[\(i)].args[\(j)].index", "must be 0..5") }
            }
        }
    }

    static func action(_ name: String, errno: UInt32?, defaultErrno: UInt32) -> UInt32 {
        let kind = actions[name] ?? Int32(SL_SCMP_KILL_PROCESS.rawValue)
        let arg: UInt32 = kind == Int32(SL_SCMP_ERRNO.rawValue) ? (errno ?? defaultErrno) : (errno ?? 0)
        return sl_seccomp_action(kind, arg)
    }

    /// One libseccomp rule: what `compile` adds for a syscall entry.
    public struct Rule: Equatable, Sendable {
        public var action: UInt32
        public var syscall: String
        public var args: [OCISpec.SeccompArg]
    }

    /// Expands a profile into libseccomp rules (pure). Conditions on distinct argument indices
    /// are ANDed in one rule; several conditions on the same index become one rule each (OR),
    /// as runc does.
    public static func rules(_ s: OCISpec.Seccomp) -> [Rule] {
        var out: [Rule] = []
        for entry in s.syscalls ?? [] {
            let act = action(entry.action, errno: entry.errnoRet, defaultErrno: EPERM)
            let args = entry.args ?? []
            let distinct = Set(args.map(\.index)).count == args.count
            for name in entry.names {
                if args.isEmpty || distinct {
                    out.append(Rule(action: act, syscall: name, args: args))
                } else {
                    for a in args { out.append(Rule(action: act, syscall: name, args: [a])) }
                }
            }
        }
        return out
    }

    /// Compiles a profile to classic BPF with libseccomp (parent side).
    public static func compile(_ s: OCISpec.Seccomp) throws(SystemError) -> [UInt8] {
        let defaultAction = action(s.defaultAction, errno: s.defaultErrnoRet, defaultErrno: EPERM)
        var err: Int32 = 0
        guard let ctx = sl_seccomp_new(defaultAction, &err) else {
            throw SystemError(op: "seccomp_init", code: err, detail: s.defaultAction)
        }
        defer { sl_seccomp_free(ctx) }
        for a in s.architectures ?? [] {
            let rc = sl_seccomp_add_arch(ctx, a)
            if rc < 0 { throw SystemError(op: "seccomp_arch_add", code: -rc, detail: a) }
        }
        for rule in rules(s) {
            var cargs = rule.args.map { a in
                sl_scmp_arg(index: a.index, op: ops[a.op] ?? 4, value: a.value, value_two: a.valueTwo ?? 0)
            }
            let rc = cargs.withUnsafeMutableBufferPointer { buf in
                sl_seccomp_add_rule(ctx, rule.action, rule.syscall, buf.baseAddress, UInt32(buf.count))
            }
            if rc < 0 { throw SystemError(op: "seccomp_rule_add", code: -rc, detail: rule.syscall) }
        }
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        let rc = sl_seccomp_export(ctx, &out, &len)
        guard rc == 0, let out else { throw SystemError(op: "seccomp_export_bpf", code: -rc) }
        defer { sl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }

    // MARK: - RuntimeDefault

    /// Syscalls allowed for every container by the RuntimeDefault profile (the Docker/containerd
    /// default allow-list; unknown names on this kernel/libseccomp are ignored at compile time).
    static let allowed: [String] = [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
        "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
        "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
        "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
        "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
        "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
        "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
        "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
        "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
        "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
        "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
        "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
        "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
        "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
        "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
        "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
        "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
        "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
        "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
        "removexattr", "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
        "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
        "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
        "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
        "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
        "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
        "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
        "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
        "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
        "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
        "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
        "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
        "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
        "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
        "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe",
        "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
        "write", "writev",
        // x86-64 specific
        "arch_prctl", "modify_ldt",
    ]

    /// Extra syscalls granted when the container holds a capability (Docker/containerd semantics).
    static let byCapability: [(cap: String, syscalls: [String])] = [
        ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
        ("CAP_SYS_ADMIN", ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                           "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                           "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                           "umount2", "unshare"]),
        ("CAP_SYS_BOOT", ["reboot"]),
        ("CAP_SYS_CHROOT", ["chroot"]),
        ("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
        ("CAP_SYS_PACCT", ["acct"]),
        ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
        ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
        ("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
        ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
        ("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
        ("CAP_SYSLOG", ["syslog"]),
        ("CAP_BPF", ["bpf"]),
        ("CAP_PERFMON", ["perf_event_open"]),
    ]

    static let CLONE_NS_MASK: UInt64 = 0x0002_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x0200_0000

    /// The RuntimeDefault profile for a container whose bounding set is `capabilities`.
    public static func runtimeDefault(capabilities: [String]) -> OCISpec.Seccomp {
        let caps = Set(capabilities.map { $0.uppercased().hasPrefix("CAP_") ? $0.uppercased() : "CAP_" + $0.uppercased() })
        var rules: [OCISpec.Syscall] = [OCISpec.Syscall(names: allowed, action: "SCMP_ACT_ALLOW")]
        // personality: only the harmless personas
        for v: UInt64 in [0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff] {
            rules.append(.init(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: v, op: "SCMP_CMP_EQ")]))
        }
        // sockets: everything but AF_VSOCK (40)
        rules.append(.init(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [.init(index: 0, value: 40, op: "SCMP_CMP_NE")]))
        var extra: [String] = []
        for (cap, calls) in byCapability where caps.contains(cap) { extra += calls }
        if !extra.isEmpty {
            var seenNames = Set<String>()
            rules.append(.init(names: extra.filter { seenNames.insert($0).inserted }, action: "SCMP_ACT_ALLOW"))
        }
        if !caps.contains("CAP_SYS_ADMIN") {
            // clone without namespace flags; clone3 reports ENOSYS so libcs fall back to clone
            rules.append(.init(names: ["clone"], action: "SCMP_ACT_ALLOW",
                               args: [.init(index: 0, value: CLONE_NS_MASK, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]))
            rules.append(.init(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        }
        return OCISpec.Seccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: EPERM,
                               architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], syscalls: rules)
    }
}

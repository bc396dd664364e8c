/// The default security profile: what `swiftlet oci spec` writes and what pods get unless
/// their spec says otherwise.
public enum DefaultProfile {
    /// containerd's default capability set (oci/spec_opts defaultUnixCaps).
    public static let capabilities: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// containerd's masked paths.
    public static let maskedPaths: [String] = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]

    public static let readonlyPaths: [String] = [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ]

    public static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The standard mount list of a Linux container.
    public static let mounts: [OCISpec.Mount] = [
        .init(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
        .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        .init(destination: "/dev/pts", type: "devpts", source: "devpts",
              options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        .init(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        .init(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
        .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]

    /// A complete config.json for `swiftlet oci spec` (the shape `runc spec` produces, with
    /// Swiftlet's default security profile).
    public static func spec(args: [String] = ["sh"], rootfs: String = "rootfs") -> OCISpec {
        let caps = OCISpec.Capabilities(bounding: capabilities, effective: capabilities, inheritable: nil,
                                        permitted: capabilities, ambient: nil)
        let process = OCISpec.Process(terminal: false, user: .init(uid: 0, gid: 0), args: args,
                                      env: [defaultPath, "TERM=xterm"], cwd: "/", capabilities: caps,
                                      rlimits: [.init(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)],
                                      noNewPrivileges: true)
        let linux = OCISpec.Linux(
            namespaces: [.init(type: "pid"), .init(type: "network"), .init(type: "ipc"), .init(type: "uts"),
                         .init(type: "mount"), .init(type: "cgroup")],
            resources: OCISpec.Resources(devices: [.init(allow: false, type: nil, major: nil, minor: nil, access: "rwm")]),
            seccomp: SeccompProfile.runtimeDefault(capabilities: capabilities),
            maskedPaths: maskedPaths, readonlyPaths: readonlyPaths)
        return OCISpec(ociVersion: "1.0.2", process: process, root: .init(path: rootfs, readonly: true),
                       hostname: "swiftlet", mounts: mounts, linux: linux)
    }
}

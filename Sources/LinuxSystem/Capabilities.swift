/// Linux capability names and numbers (linux/capability.h), as used in OCI specs ("CAP_CHOWN").
public enum Capabilities {
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    private static let index: [String: Int] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })

    /// Number for a name; accepts the Kubernetes spelling without the prefix and any case.
    public static func number(_ name: String) -> Int? {
        let upper = name.uppercased()
        return index[upper.hasPrefix("CAP_") ? upper : "CAP_" + upper]
    }

    public static func name(_ number: Int) -> String? {
        number >= 0 && number < names.count ? names[number] : nil
    }

    public static let allMask: UInt64 = (1 << UInt64(names.count)) - 1

    /// Bit mask for a list of names; unknown names are returned separately.
    public static func mask(_ list: [String]) -> (mask: UInt64, unknown: [String]) {
        var m: UInt64 = 0
        var unknown: [String] = []
        for n in list {
            if let i = number(n) { m |= 1 << UInt64(i) } else { unknown.append(n) }
        }
        return (m, unknown)
    }

    public static func names(in mask: UInt64) -> [String] {
        names.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
    }

    /// The bounding set of the calling process (capabilities it can hand to a container).
    public static func currentBoundingSet() -> UInt64 {
        guard let status = try? Files.readString("/proc/self/status"),
              let m = ProcFS.capabilityMask(status: status, field: "CapBnd") else { return allMask }
        return m
    }
}

import CShims
import LinuxSystem

/// Invalid input (config.json, flags): names the field and what is wrong with it.
public struct SpecError: Error, Sendable, CustomStringConvertible, Equatable {
    public let field: String
    public let message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

public struct PlannedMount: Equatable, Sendable {
    public enum Kind: UInt32, Sendable { case fs = 0, bind = 1, sysfs = 2, cgroup = 3 }
    public var kind: Kind
    public var source: String
    public var destination: String
    public var fsType: String
    public var flags: UInt64
    public var propagation: UInt64
    public var data: String
    public var destinationIsFile: Bool = false
}

public struct PlannedDevice: Equatable, Sendable {
    public var type: Character   // c, b, p
    public var path: String
    public var major: UInt32
    public var minor: UInt32
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
}

public struct CapabilitySets: Equatable, Sendable {
    public var bounding: UInt64 = 0
    public var effective: UInt64 = 0
    public var permitted: UInt64 = 0
    public var inheritable: UInt64 = 0
    public var ambient: UInt64 = 0
}

/// One device cgroup rule (OCI linux.resources.devices): type a/c/b, major/minor -1 = any,
/// access bits 1 mknod, 2 read, 4 write.
public struct DeviceRule: Equatable, Sendable {
    public var allow: Bool
    public var type: Character
    public var major: Int64
    public var minor: Int64
    public var access: UInt32

    public init(allow: Bool, type: Character, major: Int64 = -1, minor: Int64 = -1, access: UInt32 = 7) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// "rwm" -> 2|4|1; nil for anything else.
    public static func accessMask(_ s: String) -> UInt32? {
        var m: UInt32 = 0
        for c in s {
            switch c {
            case "r": m |= 2
            case "w": m |= 4
            case "m": m |= 1
            default: return nil
            }
        }
        return m
    }
}

public struct SecurityLabel: Equatable, Sendable {
    public var attr: String
    public var value: String
}

public struct NamespaceJoin: Equatable, Sendable {
    public var type: UInt32
    public var path: String
}

public struct PlannedSymlink: Equatable, Sendable {
    public var target: String
    public var link: String
    public init(_ target: String, _ link: String) {
        self.target = target
        self.link = link
    }
}

public struct PlannedSysctl: Equatable, Sendable {
    public var key: String
    public var value: String
}

public struct PlannedRlimit: Equatable, Sendable {
    public var resource: UInt32
    public var soft: UInt64
    public var hard: UInt64
}

/// Everything the C child needs, decided in Swift. Pure data: built by `LaunchPlanner`,
/// serialised by `PlanEncoder`, executed by `sl_child_main`.
public struct LaunchPlan: Equatable, Sendable {
    public var cloneFlags: UInt64 = 0
    public var joins: [NamespaceJoin] = []
    public var rootfs: String = ""
    public var rootReadonly = false
    public var rootPropagation: UInt64 = 0
    /// No mount namespace in the spec: mounts go into the runtime's, under the rootfs (chroot).
    public var sharedMountNamespace = false
    /// process.apparmorProfile / selinuxLabel: the /proc attr file and what to write before execve.
    public var securityLabel: SecurityLabel?
    public var mounts: [PlannedMount] = []
    public var devices: [PlannedDevice] = []
    public var symlinks: [PlannedSymlink] = []
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    public var hostname: String?
    public var domainname: String?
    public var sysctls: [PlannedSysctl] = []
    public var rlimits: [PlannedRlimit] = []
    public var oomScoreAdj: Int32?
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var umask: UInt32?
    public var additionalGids: [UInt32] = []
    public var capabilities = CapabilitySets()
    public var noNewPrivileges = false
    public var seccomp: OCISpec.Seccomp?
    public var seccompBPF: [UInt8] = []
    public var cwd: String = "/"
    public var args: [String] = []
    public var env: [String] = []
    public var cgroupPath: String?
    public var execFifo: String?
    public var logPath: String?
    public var logMaxBytes: UInt64 = 0
    public var logMaxFiles: UInt32 = 0
    public var stateDir: String?
    public var uidMap: String?
    public var gidMap: String?
    public var hookBarrier = false
    public var preserveFds: UInt32 = 0
    public var detachStdio = false
    /// fd 0 is a terminal to become the process's controlling tty (exec -t).
    public var controllingTTY = false
    /// Device cgroup rules; nil = no device filter (the bundle asked for none).
    public var deviceRules: [DeviceRule]?
    /// Things that were relaxed, for the caller to log.
    public var warnings: [String] = []

    public init() {}
}

public enum Namespaces {
    public static let flags: [String: UInt64] = [
        "mount": 0x0002_0000, "uts": 0x0400_0000, "ipc": 0x0800_0000, "user": 0x1000_0000,
        "pid": 0x2000_0000, "network": 0x4000_0000, "cgroup": 0x0200_0000, "time": 0x0000_0080,
    ]
    /// /proc/<pid>/ns/<name> for each OCI namespace type.
    public static let procName: [String: String] = [
        "mount": "mnt", "uts": "uts", "ipc": "ipc", "user": "user", "pid": "pid", "network": "net",
        "cgroup": "cgroup", "time": "time",
    ]
}

public enum MountOptions {
    static let MS_RDONLY: UInt64 = 1, MS_NOSUID: UInt64 = 2, MS_NODEV: UInt64 = 4, MS_NOEXEC: UInt64 = 8
    static let MS_SYNCHRONOUS: UInt64 = 16, MS_REMOUNT: UInt64 = 32, MS_MANDLOCK: UInt64 = 64, MS_DIRSYNC: UInt64 = 128
    static let MS_NOATIME: UInt64 = 1024, MS_NODIRATIME: UInt64 = 2048, MS_BIND: UInt64 = 4096, MS_REC: UInt64 = 16384
    static let MS_UNBINDABLE: UInt64 = 1 << 17, MS_PRIVATE: UInt64 = 1 << 18, MS_SLAVE: UInt64 = 1 << 19, MS_SHARED: UInt64 = 1 << 20
    static let MS_RELATIME: UInt64 = 1 << 21, MS_STRICTATIME: UInt64 = 1 << 24, MS_LAZYTIME: UInt64 = 1 << 25

    /// option -> (set?, flag)
    static let flagTable: [String: (Bool, UInt64)] = [
        "ro": (true, MS_RDONLY), "rw": (false, MS_RDONLY), "nosuid": (true, MS_NOSUID), "suid": (false, MS_NOSUID),
        "nodev": (true, MS_NODEV), "dev": (false, MS_NODEV), "noexec": (true, MS_NOEXEC), "exec": (false, MS_NOEXEC),
        "sync": (true, MS_SYNCHRONOUS), "async": (false, MS_SYNCHRONOUS), "dirsync": (true, MS_DIRSYNC),
        "remount": (true, MS_REMOUNT), "mand": (true, MS_MANDLOCK), "nomand": (false, MS_MANDLOCK),
        "noatime": (true, MS_NOATIME), "atime": (false, MS_NOATIME), "nodiratime": (true, MS_NODIRATIME),
        "diratime": (false, MS_NODIRATIME), "relatime": (true, MS_RELATIME), "norelatime": (false, MS_RELATIME),
        "strictatime": (true, MS_STRICTATIME), "nostrictatime": (false, MS_STRICTATIME),
        "lazytime": (true, MS_LAZYTIME), "nolazytime": (false, MS_LAZYTIME),
        "bind": (true, MS_BIND), "rbind": (true, MS_BIND | MS_REC),
    ]
    static let propagationTable: [String: UInt64] = [
        "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
        "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC, "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
    ]

    /// Splits OCI mount options into mount flags, propagation flags and the fs data string.
    public static func parse(_ options: [String]) -> (flags: UInt64, propagation: UInt64, data: String) {
        var flags: UInt64 = 0, prop: UInt64 = 0
        var data: [String] = []
        for o in options {
            if let (set, f) = flagTable[o] {
                if set { flags |= f } else { flags &= ~f }
            } else if let p = propagationTable[o] {
                prop |= p
            } else if !o.isEmpty {
                data.append(o)
            }
        }
        return (flags, prop, data.joined(separator: ","))
    }
}

public enum Rlimits {
    public static let names: [String] = [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
        "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ]
}

/// Host facts the planner needs, injectable for tests.
public struct HostFacts: Sendable {
    public var boundingSet: UInt64
    public var isDirectory: @Sendable (String) -> Bool
    public var exists: @Sendable (String) -> Bool
    /// Security modules that are active ("apparmor", "selinux").
    public var securityModules: Set<String>

    public init(boundingSet: UInt64, isDirectory: @escaping @Sendable (String) -> Bool, exists: @escaping @Sendable (String) -> Bool,
                securityModules: Set<String> = []) {
        self.boundingSet = boundingSet
        self.isDirectory = isDirectory
        self.exists = exists
        self.securityModules = securityModules
    }

    public static func current() -> HostFacts {
        var lsms = Set<String>()
        if let list = try? Files.readString("/sys/kernel/security/lsm") {
            lsms = Set(list.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }).map(String.init))
        }
        if (try? Files.readString("/sys/module/apparmor/parameters/enabled"))?.hasPrefix("Y") != true { lsms.remove("apparmor") }
        else { lsms.insert("apparmor") }
        if !Files.exists("/sys/fs/selinux/enforce") { lsms.remove("selinux") }
        return HostFacts(boundingSet: Capabilities.currentBoundingSet(), isDirectory: { Files.isDirectory($0) },
                         exists: { Files.exists($0) }, securityModules: lsms)
    }
}

public enum LaunchPlanner {
    static let defaultDevices: [PlannedDevice] = [
        .init(type: "c", path: "/dev/null", major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0),
        .init(type: "c", path: "/dev/zero", major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0),
        .init(type: "c", path: "/dev/full", major: 1, minor: 7, mode: 0o666, uid: 0, gid: 0),
        .init(type: "c", path: "/dev/random", major: 1, minor: 8, mode: 0o666, uid: 0, gid: 0),
        .init(type: "c", path: "/dev/urandom", major: 1, minor: 9, mode: 0o666, uid: 0, gid: 0),
        .init(type: "c", path: "/dev/tty", major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0),
    ]

    /// Resolves `path` against `base` unless absolute; collapses "." and "..".
    public static func resolve(_ path: String, against base: String) -> String {
        let full = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for c in full.split(separator: "/") {
            if c == "." { continue }
            if c == ".." { _ = parts.popLast(); continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Builds the launch plan for an OCI spec. `bundle` is the bundle directory (absolute).
    public static func plan(spec: OCISpec, bundle: String, host: HostFacts) throws(SpecError) -> LaunchPlan {
        var p = LaunchPlan()
        guard !spec.ociVersion.isEmpty else { throw SpecError("ociVersion", "Required value") }
        guard spec.ociVersion.hasPrefix("1.") else {
            throw SpecError("ociVersion", "unsupported version \"\(spec.ociVersion)\" (1.x expected)")
        }
        guard let process = spec.process else { throw SpecError("process", "Required value") }
        guard let root = spec.root else { throw SpecError("root", "Required value") }
        guard !root.path.isEmpty else { throw SpecError("root.path", "Required value") }
        p.rootfs = resolve(root.path, against: bundle)
        guard host.isDirectory(p.rootfs) else {
            throw SpecError("root.path", "rootfs \(p.rootfs) does not exist or is not a directory")
        }
        p.rootReadonly = root.readonly ?? false

        // process
        if process.terminal == true {
            throw SpecError("process.terminal", "terminal: true is not supported yet (set it to false)")
        }
        guard let args = process.args, !args.isEmpty else { throw SpecError("process.args", "Required value: at least one argument") }
        guard !args[0].isEmpty else { throw SpecError("process.args[0]", "must not be empty") }
        p.args = args
        p.env = process.env ?? []
        for (i, e) in p.env.enumerated() where !e.contains("=") || e.hasPrefix("=") {
            throw SpecError("process.env[\(i)]", "\"\(e)\" is not of the form KEY=VALUE")
        }
        guard process.cwd.hasPrefix("/") else { throw SpecError("process.cwd", "must be an absolute path, got \"\(process.cwd)\"") }
        p.cwd = process.cwd
        p.uid = process.user.uid
        p.gid = process.user.gid
        p.umask = process.user.umask
        p.additionalGids = process.user.additionalGids ?? []
        p.noNewPrivileges = process.noNewPrivileges ?? false
        if let adj = process.oomScoreAdj {
            guard (-1000...1000).contains(adj) else { throw SpecError("process.oomScoreAdj", "\(adj) is outside -1000..1000") }
            p.oomScoreAdj = Int32(adj)
        }
        for (i, r) in (process.rlimits ?? []).enumerated() {
            guard let n = Rlimits.names.firstIndex(of: r.type) else {
                throw SpecError("process.rlimits[\(i)].type", "unknown rlimit \"\(r.type)\"")
            }
            guard r.soft <= r.hard else { throw SpecError("process.rlimits[\(i)]", "soft limit \(r.soft) exceeds hard limit \(r.hard)") }
            p.rlimits.append(PlannedRlimit(resource: UInt32(n), soft: r.soft, hard: r.hard))
        }

        // capabilities
        let caps = process.capabilities ?? OCISpec.Capabilities()
        func capMask(_ list: [String]?, _ field: String) throws(SpecError) -> UInt64 {
            let (m, unknown) = Capabilities.mask(list ?? [])
            if let u = unknown.first {
                let i = (list ?? []).firstIndex(of: u) ?? 0
                throw SpecError("process.capabilities.\(field)[\(i)]", "unknown capability \"\(u)\"")
            }
            return m
        }
        var sets = CapabilitySets(bounding: try capMask(caps.bounding, "bounding"),
                                  effective: try capMask(caps.effective, "effective"),
                                  permitted: try capMask(caps.permitted, "permitted"),
                                  inheritable: try capMask(caps.inheritable, "inheritable"),
                                  ambient: try capMask(caps.ambient, "ambient"))
        let requested = sets.bounding | sets.effective | sets.permitted | sets.inheritable | sets.ambient
        let unavailable = requested & ~host.boundingSet
        if unavailable != 0 {
            // as runc and crun: a capability the runtime does not hold cannot be granted
            throw SpecError("process.capabilities", "not available to this runtime (not in its bounding set): \(Capabilities.names(in: unavailable).joined(separator: ", "))")
        }
        // the kernel only keeps ambient capabilities that are permitted and inheritable
        sets.ambient &= sets.permitted & sets.inheritable
        p.capabilities = sets

        // a profile or label is applied, or the container is refused: never run unconfined
        // because the host cannot confine
        if let profile = process.apparmorProfile, !profile.isEmpty {
            guard host.securityModules.contains("apparmor") else {
                throw SpecError("process.apparmorProfile", "AppArmor is not enabled on this host; cannot apply profile \"\(profile)\"")
            }
            guard !profile.contains(where: { $0 == "\n" || $0 == "\0" }) else { throw SpecError("process.apparmorProfile", "invalid profile name") }
            let attr = host.exists("/proc/self/attr/apparmor/exec") ? "/proc/thread-self/attr/apparmor/exec" : "/proc/thread-self/attr/exec"
            p.securityLabel = SecurityLabel(attr: attr, value: "exec \(profile)")
        }
        if let label = process.selinuxLabel, !label.isEmpty {
            guard host.securityModules.contains("selinux") else {
                throw SpecError("process.selinuxLabel", "SELinux is not enabled on this host; cannot apply label \"\(label)\"")
            }
            guard p.securityLabel == nil else { throw SpecError("process.selinuxLabel", "cannot be combined with apparmorProfile") }
            p.securityLabel = SecurityLabel(attr: "/proc/thread-self/attr/exec", value: label)
        }

        // namespaces
        let linux = spec.linux ?? OCISpec.Linux()
        var seen = Set<String>()
        var hasUserNS = false
        for (i, ns) in (linux.namespaces ?? []).enumerated() {
            guard let flag = Namespaces.flags[ns.type] else {
                throw SpecError("linux.namespaces[\(i)].type", "unknown namespace type \"\(ns.type)\" (one of: cgroup, ipc, mount, network, pid, time, user, uts)")
            }
            guard seen.insert(ns.type).inserted else { throw SpecError("linux.namespaces[\(i)]", "duplicate namespace \"\(ns.type)\"") }
            if let path = ns.path, !path.isEmpty {
                guard host.exists(path) else { throw SpecError("linux.namespaces[\(i)].path", "\(path) does not exist") }
                p.joins.append(NamespaceJoin(type: UInt32(truncatingIfNeeded: flag), path: path))
            } else {
                p.cloneFlags |= flag
                if ns.type == "user" { hasUserNS = true }
            }
        }
        // no mount namespace listed: the container shares the runtime's (as the spec says for any
        // type left out); its mounts are made under its rootfs in that namespace, it is entered with
        // chroot, and `delete` takes those mounts down again. What would change the shared
        // namespace itself is refused.
        let sharedMounts = !seen.contains("mount")
        p.sharedMountNamespace = sharedMounts
        if sharedMounts {
            if spec.root?.readonly == true {
                throw SpecError("root.readonly", "needs a mount namespace of the container's own (it would remount the runtime's root)")
            }
            if let prop = linux.rootfsPropagation, !prop.isEmpty {
                throw SpecError("linux.rootfsPropagation", "needs a mount namespace of the container's own")
            }
        }
        if hasUserNS {
            guard let u = linux.uidMappings, !u.isEmpty else { throw SpecError("linux.uidMappings", "Required value with a user namespace") }
            guard let g = linux.gidMappings, !g.isEmpty else { throw SpecError("linux.gidMappings", "Required value with a user namespace") }
            p.uidMap = u.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
            p.gidMap = g.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
        } else if linux.uidMappings?.isEmpty == false {
            throw SpecError("linux.uidMappings", "mappings given without a user namespace")
        }

        // a new UTS namespace, or one joined by path (the caller's to name), never the runtime's own
        let ownUTS = p.cloneFlags & Namespaces.flags["uts"]! != 0 || p.joins.contains { UInt64($0.type) == Namespaces.flags["uts"]! }
        if let h = spec.hostname, !h.isEmpty {
            guard ownUTS else {
                throw SpecError("hostname", "cannot set a hostname without a private UTS namespace")
            }
            p.hostname = h
        }
        if let d = spec.domainname, !d.isEmpty {
            guard ownUTS else {
                throw SpecError("domainname", "cannot set a domainname without a private UTS namespace")
            }
            p.domainname = d
        }

        if let prop = linux.rootfsPropagation, !prop.isEmpty {
            guard let f = MountOptions.propagationTable[prop] else {
                throw SpecError("linux.rootfsPropagation", "unknown propagation \"\(prop)\"")
            }
            p.rootPropagation = f
        }

        // mounts
        var devIsBound = false
        var hasDevpts = false
        for (i, m) in (spec.mounts ?? []).enumerated() {
            guard !m.destination.isEmpty else { throw SpecError("mounts[\(i)].destination", "Required value") }
            let dest = resolve(m.destination, against: "/")
            guard dest != "/" else { throw SpecError("mounts[\(i)].destination", "cannot mount over /") }
            let opts = MountOptions.parse(m.options ?? [])
            let type = m.type ?? ""
            var kind: PlannedMount.Kind = .fs
            var fsType = type
            var source = m.source ?? ""
            if type == "bind" || opts.flags & MountOptions.MS_BIND != 0 {
                kind = .bind
                fsType = ""
                guard !source.isEmpty else { throw SpecError("mounts[\(i)].source", "Required value for a bind mount") }
                source = resolve(source, against: bundle)
                guard host.exists(source) else { throw SpecError("mounts[\(i)].source", "\(source) does not exist") }
                if dest == "/dev" { devIsBound = true }
            } else if type == "sysfs" {
                kind = .sysfs
            } else if type == "cgroup" || type == "cgroup2" {
                kind = .cgroup
                fsType = "cgroup2"
                source = "cgroup2"
            } else if type.isEmpty {
                throw SpecError("mounts[\(i)].type", "Required value for a non-bind mount")
            }
            if type == "devpts" && dest == "/dev/pts" { hasDevpts = true }
            if source.isEmpty { source = type }
            var pm = PlannedMount(kind: kind, source: source, destination: dest, fsType: fsType,
                                  flags: opts.flags, propagation: opts.propagation, data: opts.data)
            if kind == .bind { pm.destinationIsFile = !host.isDirectory(source) }
            p.mounts.append(pm)
        }

        // devices: the spec's defaults plus linux.devices (later entries win by path)
        if !devIsBound {
            var devices = defaultDevices
            for (i, d) in (linux.devices ?? []).enumerated() {
                let t: Character
                switch d.type {
                case "c", "u": t = "c"
                case "b": t = "b"
                case "p": t = "p"
                default: throw SpecError("linux.devices[\(i)].type", "unknown device type \"\(d.type)\" (c, b, u or p)")
                }
                guard d.path.hasPrefix("/dev/") else { throw SpecError("linux.devices[\(i)].path", "must be under /dev, got \"\(d.path)\"") }
                if t != "p" {
                    guard let major = d.major, let minor = d.minor, major >= 0, minor >= 0 else {
                        throw SpecError("linux.devices[\(i)]", "major and minor are required for device \(d.path)")
                    }
                    devices.removeAll { $0.path == d.path }
                    devices.append(.init(type: t, path: d.path, major: UInt32(major), minor: UInt32(minor),
                                         mode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0))
                } else {
                    devices.removeAll { $0.path == d.path }
                    devices.append(.init(type: t, path: d.path, major: 0, minor: 0, mode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0))
                }
            }
            p.devices = devices
            p.symlinks = [.init("/proc/self/fd", "/dev/fd"), .init("/proc/self/fd/0", "/dev/stdin"),
                          .init("/proc/self/fd/1", "/dev/stdout"), .init("/proc/self/fd/2", "/dev/stderr")]
            if hasDevpts { p.symlinks.append(.init("pts/ptmx", "/dev/ptmx")) }
            if host.exists("/proc/kcore") { p.symlinks.append(.init("/proc/kcore", "/dev/core")) }
        }

        for (i, path) in (linux.maskedPaths ?? []).enumerated() {
            guard path.hasPrefix("/") else { throw SpecError("linux.maskedPaths[\(i)]", "must be absolute, got \"\(path)\"") }
            p.maskedPaths.append(path)
        }
        for (i, path) in (linux.readonlyPaths ?? []).enumerated() {
            guard path.hasPrefix("/") else { throw SpecError("linux.readonlyPaths[\(i)]", "must be absolute, got \"\(path)\"") }
            p.readonlyPaths.append(path)
        }
        for (k, v) in (linux.sysctl ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !k.isEmpty, !k.contains("/"), !k.contains("..") else { throw SpecError("linux.sysctl", "invalid key \"\(k)\"") }
            p.sysctls.append(PlannedSysctl(key: k, value: v))
        }
        if let s = linux.seccomp {
            try SeccompProfile.validate(s)
            p.seccomp = s
        }

        // device cgroup: the spec's rules in order, then what the container was given (its device
        // nodes, /dev/pts, /dev/ptmx) so a deny-all in the spec does not break them; last match wins
        if let rules = linux.resources?.devices {
            var out: [DeviceRule] = []
            for (i, r) in rules.enumerated() {
                let t = Character(r.type ?? "a")
                guard ["a", "c", "b"].contains(t) else { throw SpecError("linux.resources.devices[\(i)].type", "must be a, c or b") }
                guard let access = DeviceRule.accessMask(r.access ?? "rwm") else {
                    throw SpecError("linux.resources.devices[\(i)].access", "\"\(r.access ?? "")\" is not a combination of r, w, m")
                }
                out.append(DeviceRule(allow: r.allow, type: t, major: r.major ?? -1, minor: r.minor ?? -1, access: access))
            }
            for d in p.devices where d.type != "p" {
                out.append(DeviceRule(allow: true, type: d.type, major: Int64(d.major), minor: Int64(d.minor), access: 7))
            }
            out.append(DeviceRule(allow: true, type: "c", major: 136, access: 7))        // /dev/pts/*
            out.append(DeviceRule(allow: true, type: "c", major: 5, minor: 2, access: 7)) // /dev/ptmx
            p.deviceRules = out
        }
        return p
    }
}

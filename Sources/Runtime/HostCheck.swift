import Cgroups
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// `swiftlet check`: what this host supports, item by item (like `k3s check-config`).
public enum HostCheck {
    public struct Facts: Sendable {
        public var kernelRelease: String
        public var cgroup2Mount: String?
        public var cgroup2Controllers: [String]
        public var cgroupV1Mounted: [String]
        public var filesystems: [String]
        public var seccompAvailable: Bool
        public var maxUserNamespaces: Int?
        public var cgroupKill: Bool
        public init(kernelRelease: String, cgroup2Mount: String?, cgroup2Controllers: [String], cgroupV1Mounted: [String],
                    filesystems: [String], seccompAvailable: Bool, maxUserNamespaces: Int?, cgroupKill: Bool) {
            self.kernelRelease = kernelRelease
            self.cgroup2Mount = cgroup2Mount
            self.cgroup2Controllers = cgroup2Controllers
            self.cgroupV1Mounted = cgroupV1Mounted
            self.filesystems = filesystems
            self.seccompAvailable = seccompAvailable
            self.maxUserNamespaces = maxUserNamespaces
            self.cgroupKill = cgroupKill
        }
    }

    public struct Item: Equatable, Sendable {
        public enum Status: String, Sendable { case ok, missing, warning }
        public var name: String
        public var status: Status
        public var detail: String
        public var required: Bool
    }

    /// Kernel version as (major, minor) from a release string like "6.1.0-57-cloud-amd64".
    public static func kernelVersion(_ release: String) -> (Int, Int)? {
        let parts = release.split(whereSeparator: { $0 == "." || $0 == "-" })
        guard parts.count >= 2, let a = Int(parts[0]), let b = Int(parts[1]) else { return nil }
        return (a, b)
    }

    public static func evaluate(_ f: Facts) -> [Item] {
        var items: [Item] = []
        let v = kernelVersion(f.kernelRelease)
        let kernelOK = v.map { $0.0 > 5 || ($0.0 == 5 && $0.1 >= 7) } ?? false
        items.append(Item(name: "kernel >= 5.7 (clone3 with CLONE_INTO_CGROUP, pidfd)", status: kernelOK ? .ok : .missing,
                          detail: f.kernelRelease, required: true))
        items.append(Item(name: "cgroup v2 mounted", status: f.cgroup2Mount != nil ? .ok : .missing,
                          detail: f.cgroup2Mount ?? "no cgroup2 entry in /proc/self/mountinfo", required: true))
        if !f.cgroupV1Mounted.isEmpty {
            items.append(Item(name: "pure cgroup v2 (no v1 controllers)", status: .warning,
                              detail: "hybrid host: v1 controllers mounted (\(f.cgroupV1Mounted.joined(separator: ", "))) are left to the host", required: false))
        }
        for c in ["cpu", "memory", "pids"] {
            items.append(Item(name: "cgroup v2 controller \(c)", status: f.cgroup2Controllers.contains(c) ? .ok : .missing,
                              detail: f.cgroup2Controllers.contains(c) ? "" : "needed to enforce pod/container limits", required: true))
        }
        for c in ["io", "cpuset", "hugetlb"] {
            items.append(Item(name: "cgroup v2 controller \(c)", status: f.cgroup2Controllers.contains(c) ? .ok : .warning,
                              detail: "", required: false))
        }
        items.append(Item(name: "cgroup.kill (kernel >= 5.14)", status: f.cgroupKill ? .ok : .warning,
                          detail: f.cgroupKill ? "" : "teardown falls back to signalling every pid", required: false))
        items.append(Item(name: "overlayfs", status: f.filesystems.contains("overlay") ? .ok : .missing,
                          detail: f.filesystems.contains("overlay") ? "" : "not in /proc/filesystems (modprobe overlay)", required: true))
        items.append(Item(name: "seccomp filters", status: f.seccompAvailable ? .ok : .missing, detail: "", required: true))
        let userns = (f.maxUserNamespaces ?? 0) > 0
        items.append(Item(name: "user namespaces", status: userns ? .ok : .warning,
                          detail: "max_user_namespaces=\(f.maxUserNamespaces.map(String.init) ?? "?")", required: false))
        return items
    }

    public static func gather() -> Facts {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let mounts = (try? ProcFS.mountInfo()) ?? []
        let h = CgroupHierarchy.find(in: mounts)
        let v1 = mounts.filter { $0.fsType == "cgroup" }.map { $0.superOptions.split(separator: ",").filter { $0 != "rw" && $0 != "ro" }.joined(separator: "+") }
        let fs = ((try? Files.readString("/proc/filesystems")) ?? "").split(separator: "\n").compactMap { $0.split(separator: "\t").last.map(String.init) }
        let status = (try? Files.readString("/proc/self/status")) ?? ""
        let maxUserNS = (try? Files.readString("/proc/sys/user/max_user_namespaces")).flatMap { Int($0.split(separator: "\n").first ?? "") }
        var cgroupKill = false
        if let h {
            // cgroup.kill exists in every non-root group; look at any child
            let children = (try? Files.list(h.mountPoint))?.filter { Files.isDirectory(h.mountPoint + "/" + $0) } ?? []
            cgroupKill = children.contains { Files.exists(h.mountPoint + "/" + $0 + "/cgroup.kill") }
            if children.isEmpty, let v = kernelVersion(release) { cgroupKill = v.0 > 5 || (v.0 == 5 && v.1 >= 14) }
        }
        return Facts(kernelRelease: release, cgroup2Mount: h?.mountPoint, cgroup2Controllers: h?.controllers() ?? [],
                     cgroupV1Mounted: v1, filesystems: fs, seccompAvailable: status.contains("\nSeccomp:"),
                     maxUserNamespaces: maxUserNS, cgroupKill: cgroupKill)
    }
}

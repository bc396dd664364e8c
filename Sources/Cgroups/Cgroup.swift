#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LinuxSystem

/// A cgroup v2 hierarchy found from /proc/self/mountinfo (never a hard-coded path).
public struct CgroupHierarchy: Sendable, Equatable {
    public let mountPoint: String

    public init(mountPoint: String) { self.mountPoint = mountPoint }

    /// The cgroup2 mount among the given mounts; on a hybrid host that is e.g. /sys/fs/cgroup/unified.
    public static func find(in mounts: [MountInfo]) -> CgroupHierarchy? {
        // prefer the canonical location if several exist, else the first
        let v2 = mounts.filter { $0.fsType == "cgroup2" }
        guard let m = v2.first(where: { $0.mountPoint == "/sys/fs/cgroup" }) ?? v2.first else { return nil }
        return CgroupHierarchy(mountPoint: m.mountPoint)
    }

    public static func discover() -> CgroupHierarchy? {
        guard let mounts = try? ProcFS.mountInfo(fsType: "cgroup2") else { return nil }
        return find(in: mounts)
    }

    /// Controllers available at the root of the hierarchy (cgroup.controllers).
    public func controllers(at relative: String = "") -> [String] {
        let path = relative.isEmpty ? mountPoint : absolute(relative)
        guard let s = try? Files.readString(path + "/cgroup.controllers") else { return [] }
        return s.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    /// Absolute directory of a group given relative to the hierarchy root ("/a/b" or "a/b").
    public func absolute(_ relative: String) -> String {
        let trimmed = relative.split(separator: "/").joined(separator: "/")
        return trimmed.isEmpty ? mountPoint : mountPoint + "/" + trimmed
    }
}

/// One cgroup directory we own.
public struct Cgroup: Sendable, Equatable {
    public let path: String

    public init(path: String) { self.path = path }

    /// mkdir -p inside the hierarchy; returns the directories that were newly created
    /// (innermost last), so a failed setup can remove exactly those.
    @discardableResult
    public func create() throws(SystemError) -> [String] {
        var created: [String] = []
        var attempt = 0
        var prefix = ""
        var comps = path.split(separator: "/")[...]
        while let comp = comps.first {
            prefix += "/" + comp
            comps = comps.dropFirst()
            if Files.isDirectory(prefix) { continue }
            if mkdir(prefix, 0o755) != 0 {
                let e = errno
                if e == EEXIST { continue }
                // a shared parent (e.g. <root>/swiftlet) removed by a concurrent delete: start over
                if e == ENOENT && attempt < 5 {
                    attempt += 1
                    prefix = ""
                    comps = path.split(separator: "/")[...]
                    continue
                }
                throw SystemError(op: "mkdir cgroup", code: e, detail: prefix)
            }
            created.append(prefix)
        }
        return created
    }

    public var exists: Bool { Files.isDirectory(path) }

    public func write(_ file: String, _ value: String) throws(SystemError) {
        try Files.writeExisting(path + "/" + file, value)
    }

    public func read(_ file: String) throws(SystemError) -> String {
        try Files.readString(path + "/" + file)
    }

    /// Pids in this group (cgroup.procs).
    public func processes() -> [Int32] {
        guard let s = try? read("cgroup.procs") else { return [] }
        return s.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Pids in this group and all descendants.
    public func allProcesses() -> [Int32] {
        var pids = processes()
        for child in children() { pids += Cgroup(path: path + "/" + child).allProcesses() }
        return pids
    }

    public func children() -> [String] {
        ((try? Files.list(path)) ?? []).filter { Files.isDirectory(path + "/" + $0) }
    }

    /// Kills every process in the subtree: cgroup.kill where the kernel has it (5.14+),
    /// else SIGKILL to each pid.
    public func kill() {
        if (try? write("cgroup.kill", "1")) != nil { return }
        for pid in allProcesses() { Glibc.kill(pid, SIGKILL) }
    }

    /// Removes the group and its children (deepest first), retrying EBUSY while dying
    /// processes leave. Returns quietly if the group is already gone.
    public func remove(timeoutMs: Int = 2000) throws(SystemError) {
        guard exists else { return }
        for child in children() { try Cgroup(path: path + "/" + child).remove(timeoutMs: timeoutMs) }
        var waited = 0
        while rmdir(path) != 0 {
            let e = errno
            if e == ENOENT { return }
            if e == EBUSY && waited < timeoutMs {
                usleep(5_000)
                waited += 5
                continue
            }
            throw SystemError(op: "rmdir cgroup", code: e, detail: path)
        }
    }
}

import CShims
import FoundationEssentials
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Host ID ranges of pods that run in their own user namespace (`hostUsers: false`): 65536 IDs
/// per pod, the first range starting at 65536 (the kubelet's layout), persisted under an flock so
/// the agent and `swiftlet run` instances never hand out the same range.
public struct UserNSAllocator: Sendable {
    public static let size: UInt32 = 65536
    /// Ranges 1..<maxRanges (range 0 is the host's own IDs).
    public static let maxRanges: UInt32 = 65535
    let file: String
    var lockFile: String { file + ".lock" }

    public init(directory: String) { file = directory + "/userns.json" }

    /// The lowest free range base, pure.
    public static func firstFree(_ used: Set<UInt32>) -> UInt32? {
        var n: UInt32 = 1
        while n < maxRanges {
            if !used.contains(n * size) { return n * size }
            n += 1
        }
        return nil
    }

    func withState<T>(_ body: (inout [String: UInt32]) throws -> T) throws -> T {
        try Files.makeDirectories(String(file[..<file.lastIndex(of: "/")!]), mode: 0o700)
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError(op: "open", code: errno, detail: lockFile) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 { if errno != EINTR { throw SystemError(op: "flock", code: errno, detail: lockFile) } }
        var state: [String: UInt32] = [:]
        if let bytes = try? Files.read(file), !bytes.isEmpty {
            state = (try? JSONDecoder().decode([String: UInt32].self, from: Data(bytes))) ?? [:]
        }
        let before = state
        let r = try body(&state)
        if state != before {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            try Files.write(file, Array(try enc.encode(state)), mode: 0o600, atomic: true)
        }
        return r
    }

    /// The owner's range (the same one again when it has one).
    public func allocate(owner: String) throws -> UInt32 {
        try withState { s in
            if let b = s[owner] { return b }
            guard let b = UserNSAllocator.firstFree(Set(s.values)) else { throw ConfigError("no free user namespace ID range left") }
            s[owner] = b
            return b
        }
    }

    public func release(owner: String) {
        _ = try? withState { s in s[owner] = nil }
    }

    /// Start-up reconciliation: ranges of owners neither live nor kept are released.
    @discardableResult
    public func reclaim(keeping live: Set<String>, alsoKeeping keep: (String) -> Bool) throws -> [String] {
        try withState { s in
            let stale = s.keys.filter { !live.contains($0) && !keep($0) }
            for k in stale { s[k] = nil }
            return stale.sorted()
        }
    }

    /// "0 <base> 65536\n": the map of a pod's user namespace.
    public static func map(base: UInt32) -> String { "0 \(base) \(size)\n" }
}

extension PodWorker {
    var hostUsers: Bool { pod.spec.hostUsers ?? true }
    var usernsPath: String { sandboxDir + "/user" }

    /// The pod's ID range and its pinned user namespace (the mapping idmapped mounts use).
    func ensureUserNamespace() throws {
        let base = try state.usernsBase ?? ctx.userns.allocate(owner: networkID)
        state.usernsBase = base
        if !ProcFS.isMountPoint(usernsPath) {
            unlink(usernsPath)
            let map = UserNSAllocator.map(base: base)
            var err = [CChar](repeating: 0, count: 512)
            if sl_userns_create(usernsPath, map, map, &err, 512) < 0 {
                throw ConfigError("user namespace: \(String(cString: err))")
            }
        }
    }

    /// `src` as the pod's user namespace sees it: an idmapped mount at `dst` (created).
    func idmapped(_ src: String, at dst: String) throws {
        if ProcFS.isMountPoint(dst) { return }
        try Files.makeDirectories(dst, mode: 0o755)
        var err = [CChar](repeating: 0, count: 512)
        let rc = sl_idmapped_bind(src, dst, usernsPath, &err, 512)
        if rc < 0 {
            rmdir(dst)
            throw ConfigError("\(String(cString: err)): \(SystemError.message(-rc))")
        }
    }

    /// An image layer idmapped for this pod (shared by its containers), under the sandbox dir.
    func idmappedLayer(_ layer: String) throws -> String {
        let key = String(layer.split(separator: "/").suffix(2).first ?? "").prefix(16)
        let dst = sandboxDir + "/l/" + key
        try idmapped(layer, at: dst)
        return dst
    }

    /// The container's setup runs as the pod's host IDs: every directory above the paths it
    /// bind-mounts must let others pass (o+x, as containerd's 0711 dirs); nothing else is opened up.
    static func makeTraversable(_ path: String) {
        var p = path
        while let slash = p.lastIndex(of: "/"), slash != p.startIndex {
            p = String(p[..<slash])
            var st = stat()
            guard stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            if st.st_mode & S_IXOTH == 0 { chmod(p, (st.st_mode & 0o7777) | S_IXOTH) }
        }
    }

    /// Files a pod's user namespace must own when the filesystem cannot be idmapped: host IDs
    /// shifted by the pod's base, recursively.
    static func shiftOwnership(_ path: String, base: UInt32) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        let uid = st.st_uid < UserNSAllocator.size ? st.st_uid + base : st.st_uid
        let gid = st.st_gid < UserNSAllocator.size ? st.st_gid + base : st.st_gid
        lchown(path, uid, gid)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? Files.list(path)) ?? [] { shiftOwnership(path + "/" + name, base: base) }
        }
    }

    /// Unmounts the idmapped rootfs and volume mounts kept under the sandbox dir.
    func unmountSandboxMounts() {
        // by listing the dirs (cheaper than the mount table with many pods)
        let names = (try? Files.list(sandboxDir)) ?? []
        var points = names.filter { $0.hasPrefix("vol-") }.map { sandboxDir + "/" + $0 }
        if names.contains("l") { points += ((try? Files.list(sandboxDir + "/l")) ?? []).map { sandboxDir + "/l/" + $0 } }
        for m in points {
            umount2(m, Int32(MNT_DETACH))
            rmdir(m)
        }
        rmdir(sandboxDir + "/l")
    }
}

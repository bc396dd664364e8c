import CShims
import KubeModel
import LinuxSystem
import Runtime
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// ConfigMaps and Secrets pods can refer to (static pods: files with those kinds in the
/// manifests dir; `swiftlet run`: documents of the same file).
public final class ObjectStore: Sendable {
    let objects = Mutex<[String: ConfigObject]>([:])
    public init() {}

    /// Replaces the set; true when it changed.
    @discardableResult
    public func replace(_ list: [ConfigObject]) -> Bool {
        let new = Dictionary(list.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        return objects.withLock { cur in
            if cur == new { return false }
            cur = new
            return true
        }
    }

    /// ConfigMaps and Secrets read from the master for its pods (they win over files).
    let fromAPI = Mutex<[String: ConfigObject]>([:])

    /// Replaces the master's set; true when it changed.
    @discardableResult
    public func replaceFromAPI(_ list: [ConfigObject]) -> Bool {
        let new = Dictionary(list.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        return fromAPI.withLock { cur in
            if cur == new { return false }
            cur = new
            return true
        }
    }

    public func get(_ kind: ConfigObject.Kind, namespace: String, name: String) -> ConfigObject? {
        let key = ConfigObject.key(kind, namespace, name)
        return fromAPI.withLock { $0[key] } ?? objects.withLock { $0[key] }
    }
}

/// A file of an atomically written volume (configMap, secret, downwardAPI, projected).
public struct VolumeFile: Sendable, Equatable {
    public var path: String
    public var bytes: [UInt8]
    public var mode: UInt32
}

public struct VolumeError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// A pod, container or instance the CLI asked about does not exist.
public struct AgentLookupError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// What goes into configMap/secret/downwardAPI/projected volumes: pure.
public enum VolumeContent {
    static func mode(_ m: Int32?, _ d: Int32?) -> UInt32 { UInt32(m ?? d ?? 0o644) & 0o7777 }

    /// Relative, no `..` element, not starting with `..` (the writer's own names).
    public static func validPath(_ p: String) -> Bool {
        !p.isEmpty && !p.hasPrefix("/") && !p.hasPrefix("..") && !p.split(separator: "/").contains("..")
    }

    /// Keys of an object as files: all keys, or the listed items (a missing key is an error
    /// unless optional).
    public static func files(of obj: ConfigObject?, kindName: String, name: String, items: [KeyToPath]?, defaultMode: Int32?,
                             optional: Bool) throws(VolumeError) -> [VolumeFile] {
        guard let obj else {
            if optional { return [] }
            throw VolumeError("\(kindName.lowercased()) \"\(name)\" not found")
        }
        if let items, !items.isEmpty {
            var out: [VolumeFile] = []
            for it in items {
                guard let v = obj.values[it.key] else {
                    if optional { continue }
                    throw VolumeError("configuration key \"\(it.key)\" not found in \(kindName) \(obj.namespace)/\(name)")
                }
                guard validPath(it.path) else { throw VolumeError("invalid path \"\(it.path)\" for key \"\(it.key)\"") }
                out.append(VolumeFile(path: it.path, bytes: v, mode: mode(it.mode, defaultMode)))
            }
            return out
        }
        return obj.values.keys.sorted().map { VolumeFile(path: $0, bytes: obj.values[$0]!, mode: mode(nil, defaultMode)) }
    }

    /// downwardAPI items: labels/annotations as `key="value"` lines (sorted), other fields as text.
    public static func downward(pod: Pod, items: [DownwardAPIVolumeFile], defaultMode: Int32?, podIP: String?) throws(VolumeError) -> [VolumeFile] {
        var out: [VolumeFile] = []
        for it in items {
            guard validPath(it.path) else { throw VolumeError("invalid downwardAPI path \"\(it.path)\"") }
            var text: String
            if let f = it.fieldRef {
                switch f.fieldPath {
                case "metadata.labels": text = mapText(pod.metadata.labels)
                case "metadata.annotations": text = mapText(pod.metadata.annotations)
                default:
                    guard let v = ContainerSpecBuilder.fieldValue(pod: pod, path: f.fieldPath, podIP: podIP) else {
                        throw VolumeError("downwardAPI \(it.path): unsupported fieldRef \(f.fieldPath)")
                    }
                    text = v
                }
            } else if let r = it.resourceFieldRef {
                guard let c = pod.spec.containers.first(where: { $0.name == r.containerName }) ?? (r.containerName == nil ? pod.spec.containers.first : nil) else {
                    throw VolumeError("downwardAPI \(it.path): container \"\(r.containerName ?? "")\" not found")
                }
                text = ContainerSpecBuilder.resourceValue(container: c, ref: r, nodeAllocatable: nil)
            } else {
                throw VolumeError("downwardAPI \(it.path): fieldRef or resourceFieldRef is required")
            }
            out.append(VolumeFile(path: it.path, bytes: Array(text.utf8), mode: mode(it.mode, defaultMode)))
        }
        return out
    }

    static func mapText(_ m: [String: String]?) -> String {
        (m ?? [:]).keys.sorted().map { k in
            let v = m![k]!.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
            return "\(k)=\"\(v)\""
        }.joined(separator: "\n")
    }
}

/// The kubelet's AtomicWriter layout: the files in a fresh `..<timestamp>` dir, `..data`
/// swapped to it with one rename, and each top-level name a symlink through `..data`. A reader
/// sees either the old set or the new one, never a mix.
public enum AtomicWriter {
    public static func write(dir: String, files: [VolumeFile], gid: UInt32?) throws {
        try Files.makeDirectories(dir, mode: 0o755)
        let old = Files.readLink(dir + "/..data")
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let stamp = "..\(ts.tv_sec)_\(ts.tv_nsec)"
        let target = dir + "/" + stamp
        try Files.makeDirectories(target, mode: 0o755)
        for f in files {
            let path = target + "/" + f.path
            if let slash = path.lastIndex(of: "/"), String(path[..<slash]) != target {
                try Files.makeDirectories(String(path[..<slash]), mode: 0o755)
            }
            try Files.write(path, f.bytes, mode: f.mode)
            chmod(path, mode_t(f.mode))
            if let gid { chown(path, UInt32.max, gid) }
        }
        if let gid { chown(target, UInt32.max, gid) }
        let tmpLink = dir + "/..data_tmp"
        unlink(tmpLink)
        guard symlink(stamp, tmpLink) == 0 else { throw SystemError(op: "symlink", code: errno, detail: tmpLink) }
        guard rename(tmpLink, dir + "/..data") == 0 else { throw SystemError(op: "rename", code: errno, detail: dir + "/..data") }
        // user-visible names: symlinks to ..data/<top-level name>
        let top = Set(files.map { String($0.path.split(separator: "/").first ?? "") })
        for name in top {
            let link = dir + "/" + name
            if Files.readLink(link) == "..data/" + name { continue }
            unlink(link)
            guard symlink("..data/" + name, link) == 0 else { throw SystemError(op: "symlink", code: errno, detail: link) }
        }
        for name in (try? Files.list(dir)) ?? [] where !name.hasPrefix("..") && !top.contains(name) {
            unlink(dir + "/" + name)
        }
        if let old, old != stamp { try? Files.removeTree(dir + "/" + old) }
    }
}

/// hostPath `type` checks (and creation for the *OrCreate types), as the kubelet does them.
public enum HostPathCheck {
    public static func check(path: String, type: String?) throws(VolumeError) {
        var st = stat()
        let exists = stat(path, &st) == 0
        let fmt = st.st_mode & S_IFMT
        func fail(_ what: String) -> VolumeError { VolumeError("hostPath type check failed: \(path) is not \(what)") }
        switch type ?? "" {
        case "":
            return
        case "DirectoryOrCreate":
            if !exists {
                do { try Files.makeDirectories(path, mode: 0o755) } catch { throw VolumeError("hostPath \(path): \(error)") }
                return
            }
            if fmt != S_IFDIR { throw fail("a directory") }
        case "Directory":
            if !exists || fmt != S_IFDIR { throw fail("a directory") }
        case "FileOrCreate":
            if !exists {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                if fd < 0 { throw VolumeError("hostPath \(path): create: \(SystemError.message(errno))") }
                close(fd)
                return
            }
            if fmt != S_IFREG { throw fail("a file") }
        case "File":
            if !exists || fmt != S_IFREG { throw fail("a file") }
        case "Socket":
            if !exists || fmt != S_IFSOCK { throw fail("a socket file") }
        case "CharDevice":
            if !exists || fmt != S_IFCHR { throw fail("a character device") }
        case "BlockDevice":
            if !exists || fmt != S_IFBLK { throw fail("a block device") }
        default:
            throw VolumeError("hostPath \(path): unknown type \"\(type!)\"")
        }
    }
}

/// A prepared volume: where its content is on the node, and whether mounts are forced read-only.
public struct PreparedVolume: Sendable, Equatable {
    public var path: String
    public var readOnly: Bool
    public init(path: String, readOnly: Bool) {
        self.path = path
        self.readOnly = readOnly
    }
}

/// A volumeMount's subPath to resolve inside its volume.
public struct SubPathRequest: Sendable, Equatable {
    public var volume: String
    public var base: String
    public var subPath: String
    public var container: String
    public var index: Int
}

/// volumeMounts → OCI bind mounts: pure except for resolving subPaths inside the volume.
public enum VolumeMounts {
    public static func propagation(_ p: String?) throws(VolumeError) -> String {
        switch p ?? "None" {
        case "None": return "rprivate"
        case "HostToContainer": return "rslave"
        case "Bidirectional": return "rshared"
        default: throw VolumeError("invalid mountPropagation \"\(p!)\"")
        }
    }

    /// The root filesystem propagation the container needs for its mounts' propagation.
    public static func rootPropagation(_ mounts: [VolumeMount]) -> String? {
        let kinds = Set(mounts.map { $0.mountPropagation ?? "None" })
        if kinds.contains("Bidirectional") { return "rshared" }
        if kinds.contains("HostToContainer") { return "rslave" }
        return nil
    }

    /// A subPath (already expanded) checked: relative, no `..`.
    public static func checkSubPath(_ sub: String) throws(VolumeError) {
        if sub.hasPrefix("/") { throw VolumeError("subPath \"\(sub)\" must be a relative path") }
        if sub.split(separator: "/").contains("..") { throw VolumeError("subPath \"\(sub)\" must not contain '..'") }
    }

    public static func mounts(container c: Container, volumes: [String: PreparedVolume], env: [String], privileged: Bool,
                              resolve: (SubPathRequest) throws -> String) throws -> [OCISpec.Mount] {
        let lookup: (String) -> String? = { name in env.last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) } }
        var out: [OCISpec.Mount] = []
        for (index, m) in (c.volumeMounts ?? []).enumerated() {
            guard let v = volumes[m.name] else { throw VolumeError("volumeMount \(m.name): no volume of that name") }
            if m.mountPropagation == "Bidirectional" && !privileged {
                throw VolumeError("volumeMount \(m.name): Bidirectional mount propagation is available only to privileged containers")
            }
            var source = v.path
            var sub = m.subPath ?? ""
            if let expr = m.subPathExpr, !expr.isEmpty { sub = VarExpansion.expand(expr, lookup) }
            if !sub.isEmpty {
                try checkSubPath(sub)
                source = try resolve(SubPathRequest(volume: m.name, base: v.path, subPath: sub, container: c.name, index: index))
            }
            var opts = ["rbind", try propagation(m.mountPropagation)]
            if v.readOnly || (m.readOnly ?? false) { opts.append("ro") }
            out.append(.init(destination: m.mountPath, type: "bind", source: source, options: opts))
        }
        return out
    }
}

extension PodWorker {
    var volumesDir: String { podDir + "/volumes" }

    func volumePath(_ v: Volume) -> String? {
        if let h = v.hostPath { return h.path }
        let plugin: String
        if v.emptyDir != nil { plugin = "kubernetes.io~empty-dir" }
        else if v.configMap != nil { plugin = "kubernetes.io~configmap" }
        else if v.secret != nil { plugin = "kubernetes.io~secret" }
        else if v.downwardAPI != nil { plugin = "kubernetes.io~downward-api" }
        else if v.projected != nil { plugin = "kubernetes.io~projected" }
        else { return nil }
        return volumesDir + "/" + plugin + "/" + v.name
    }

    var fsGroup: UInt32? { pod.spec.securityContext?.fsGroup.map { UInt32(truncatingIfNeeded: $0) } }

    /// Prepares every volume of the pod (idempotent: emptyDir content is kept, tmpfs mounted
    /// once, object volumes rewritten atomically).
    func ensureVolumes() throws -> [String: PreparedVolume] {
        var out = try prepareVolumes()
        guard !hostUsers, let base = state.usernsBase else { return out }
        // hostUsers: false: the pod's own volumes through idmapped mounts, so the user namespace
        // owns what the host's root made; where the filesystem cannot be idmapped, the files
        // are chowned into the pod's range instead. hostPath volumes stay as they are.
        for v in pod.spec.volumes ?? [] where v.hostPath == nil {
            guard let prepared = out[v.name] else { continue }
            let mapped = sandboxDir + "/vol-" + v.name
            do {
                try idmapped(prepared.path, at: mapped)
                out[v.name]?.path = mapped
            } catch {
                log.info("volume \(v.name): no idmapped mount (\(error)); shifting its ownership into the pod's range")
                PodWorker.shiftOwnership(prepared.path, base: base)
                shiftedVolumes.insert(v.name)
            }
        }
        return out
    }

    func prepareVolumes() throws -> [String: PreparedVolume] {
        var out: [String: PreparedVolume] = [:]
        let ns = pod.metadata.namespace ?? "default"
        for v in pod.spec.volumes ?? [] {
            guard let path = volumePath(v) else { throw VolumeError("volume \(v.name): no supported volume source") }
            if let h = v.hostPath {
                try HostPathCheck.check(path: h.path, type: h.type)
                out[v.name] = PreparedVolume(path: path, readOnly: false)
                continue
            }
            if let e = v.emptyDir {
                if !Files.isDirectory(path) { try Files.makeDirectories(path, mode: 0o777) }
                if e.medium == "Memory" && !ProcFS.isMountPoint(path) {
                    let size = e.sizeLimit?.value ?? podMemoryLimit ?? ctx.memoryCapacity
                    try mountTmpfs(path, options: "mode=0777,size=\(max(size, 4096))")
                }
                chmod(path, 0o777)
                if let g = fsGroup { chown(path, UInt32.max, g); chmod(path, 0o2777) }
                out[v.name] = PreparedVolume(path: path, readOnly: false)
                continue
            }
            // object-backed: secrets and projected volumes live on tmpfs (never on disk)
            try Files.makeDirectories(path, mode: 0o755)
            if (v.secret != nil || v.projected != nil) && !ProcFS.isMountPoint(path) {
                try mountTmpfs(path, options: "mode=0755")
            }
            try AtomicWriter.write(dir: path, files: try objectFiles(v, namespace: ns), gid: fsGroup)
            out[v.name] = PreparedVolume(path: path, readOnly: true)
        }
        return out
    }

    func objectFiles(_ v: Volume, namespace ns: String) throws -> [VolumeFile] {
        let store = ctx.objects
        if let c = v.configMap {
            let name = c.name ?? ""
            return try VolumeContent.files(of: store.get(.configMap, namespace: ns, name: name), kindName: "configmap", name: name,
                                           items: c.items, defaultMode: c.defaultMode, optional: c.optional ?? false)
        }
        if let s = v.secret {
            let name = s.secretName ?? ""
            return try VolumeContent.files(of: store.get(.secret, namespace: ns, name: name), kindName: "secret", name: name,
                                           items: s.items, defaultMode: s.defaultMode, optional: s.optional ?? false)
        }
        if let d = v.downwardAPI {
            return try VolumeContent.downward(pod: podView, items: d.items ?? [], defaultMode: d.defaultMode, podIP: state.podIP)
        }
        if let p = v.projected {
            var files: [VolumeFile] = []
            for src in p.sources ?? [] {
                if let c = src.configMap {
                    let name = c.name ?? ""
                    files += try VolumeContent.files(of: store.get(.configMap, namespace: ns, name: name), kindName: "configmap", name: name,
                                                     items: c.items, defaultMode: p.defaultMode, optional: c.optional ?? false)
                } else if let s = src.secret {
                    let name = s.name ?? ""
                    files += try VolumeContent.files(of: store.get(.secret, namespace: ns, name: name), kindName: "secret", name: name,
                                                     items: s.items, defaultMode: p.defaultMode, optional: s.optional ?? false)
                } else if let d = src.downwardAPI {
                    files += try VolumeContent.downward(pod: podView, items: d.items ?? [], defaultMode: p.defaultMode, podIP: state.podIP)
                }
            }
            return files
        }
        return []
    }

    /// Sum of the containers' memory limits when every container has one.
    var podMemoryLimit: Int64? {
        let limits = pod.spec.containers.map { $0.resources?.limits?["memory"]?.value }
        guard !limits.isEmpty, limits.allSatisfy({ $0 != nil }) else { return nil }
        return limits.reduce(0) { $0 + $1! }
    }

    func mountTmpfs(_ path: String, options: String) throws {
        guard mount("tmpfs", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
            throw SystemError(op: "mount tmpfs", code: errno, detail: path)
        }
    }

    /// Object-backed volumes rewritten after a ConfigMap/Secret changed (not subPath mounts,
    /// as with the kubelet: those were bound to the old files).
    func refreshVolumes() {
        guard state.sandboxReady, !terminating else { return }
        let ns = pod.metadata.namespace ?? "default"
        for v in pod.spec.volumes ?? [] where v.configMap != nil || v.secret != nil || v.projected != nil {
            guard let path = volumePath(v), Files.isDirectory(path), let files = try? objectFiles(v, namespace: ns) else { continue }
            try? AtomicWriter.write(dir: path, files: files, gid: fsGroup)
            if shiftedVolumes.contains(v.name), let base = state.usernsBase { PodWorker.shiftOwnership(path, base: base) }
        }
    }

    /// Unmounts the pod's tmpfs volumes (before its dir is removed).
    func unmountVolumes() {
        for plugin in (try? Files.list(volumesDir)) ?? [] {
            for name in (try? Files.list(volumesDir + "/" + plugin)) ?? [] {
                let m = volumesDir + "/" + plugin + "/" + name
                if ProcFS.isMountPoint(m) { umount2(m, Int32(MNT_DETACH)) }
            }
        }
    }

    var subPathsDir: String { podDir + "/volume-subpaths" }

    /// A subPath pinned for one volumeMount (the kubelet's CVE-2021-25741 fix, by fd): the path is
    /// resolved beneath the volume without ever following a symlink out of it (openat2
    /// RESOLVE_BENEATH, missing directories made one at a time relative to their resolved parent),
    /// and the resulting fd — not the path — is bind-mounted on
    /// `<podDir>/volume-subpaths/<volume>/<container>/<index>`, a place no container can change.
    /// The container's mount then binds that. Whatever the pod's processes rename or swap inside
    /// the volume afterwards, the mount stays on what was checked.
    static func bindSubPath(base: String, sub: String, target: String) throws -> String {
        let bfd = open(base, SL_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard bfd >= 0 else { throw VolumeError("subPath \"\(sub)\": open volume \(base): \(SystemError.message(errno))") }
        defer { close(bfd) }
        let fd = sl_open_beneath(bfd, sub, 1)
        guard fd >= 0 else {
            let e = -fd
            if e == EXDEV || e == ELOOP { throw VolumeError("subPath \"\(sub)\" leads outside the volume \(base)") }
            throw VolumeError("subPath \"\(sub)\" in \(base): \(SystemError.message(e))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw VolumeError("subPath \"\(sub)\": fstat: \(SystemError.message(errno))") }
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        guard isDir || (st.st_mode & S_IFMT) == S_IFREG else {
            throw VolumeError("subPath \"\(sub)\" in \(base) is neither a directory nor a regular file")
        }
        try unpinSubPath(target)
        let parent = String(target[..<target.lastIndex(of: "/")!])
        try Files.makeDirectories(parent, mode: 0o750)
        if isDir {
            guard mkdir(target, 0o750) == 0 else { throw SystemError(op: "mkdir", code: errno, detail: target) }
        } else {
            let f = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
            guard f >= 0 else { throw SystemError(op: "create", code: errno, detail: target) }
            close(f)
        }
        guard mount("/proc/self/fd/\(fd)", target, nil, UInt(MS_BIND), nil) == 0 else {
            let e = errno
            if isDir { rmdir(target) } else { unlink(target) }
            throw SystemError(op: "bind subPath", code: e, detail: "\(sub) of \(base) on \(target)")
        }
        return target
    }

    /// Removes a pinned subPath (unmounted first; never descends into what it pinned).
    static func unpinSubPath(_ target: String) throws {
        while sl_is_mount_point(target) == 1 {
            guard umount2(target, Int32(MNT_DETACH)) == 0 else { throw SystemError(op: "umount", code: errno, detail: target) }
        }
        var st = stat()
        guard lstat(target, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR { rmdir(target) } else { unlink(target) }
    }

    /// Every pinned subPath of the pod (at teardown), or of one container.
    func unpinSubPaths(container: String? = nil) {
        ProcFS.unmountAll(under: subPathsDir, matching: { path in
            container == nil || path.split(separator: "/").dropLast().last.map(String.init) == container
        })
    }

}

/// The node's device nodes, for privileged containers (runc/containerd give them all).
public enum HostDevices {
    static let skipDirs: Set<String> = ["pts", "shm", "mqueue", "fd", "char", "block", "disk", "bus", "hugepages", "net", "dri"]
    /// Created by the runtime in every container already.
    static let standard: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/console"]

    public static func list(root: String = "/dev") -> [OCISpec.Device] {
        var out: [OCISpec.Device] = []
        func walk(_ dir: String, depth: Int) {
            for name in (try? Files.list(dir)) ?? [] {
                let path = dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                let fmt = st.st_mode & S_IFMT
                if fmt == S_IFDIR {
                    if depth == 0 && !skipDirs.contains(name) { walk(path, depth: 1) }
                    continue
                }
                guard fmt == S_IFCHR || fmt == S_IFBLK, !standard.contains(path) else { continue }
                let dev = st.st_rdev
                let major = Int64((dev >> 8) & 0xfff) | Int64((dev >> 32) & ~0xfff)
                let minor = Int64(dev & 0xff) | Int64((dev >> 12) & ~0xff)
                out.append(OCISpec.Device(type: fmt == S_IFCHR ? "c" : "b", path: path, major: major, minor: minor,
                                          fileMode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid))
            }
        }
        walk(root, depth: 0)
        return out
    }
}

/// Sysctls a pod may set without node configuration (the kubelet's safe set); others need
/// `allowedUnsafeSysctls`. net.* ones are namespaced only with the pod's own network.
public enum SysctlPolicy {
    public static let safe: Set<String> = [
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    ]

    static func allowed(_ name: String, unsafe: [String]) -> Bool {
        if safe.contains(name) { return true }
        return unsafe.contains { pattern in
            pattern.hasSuffix("*") ? name.hasPrefix(String(pattern.dropLast())) : pattern == name
        }
    }

    /// nil when the pod may run; else the kubelet's SysctlForbidden message.
    public static func check(_ pod: Pod, unsafe: [String]) -> String? {
        let names = (pod.spec.securityContext?.sysctls ?? []).map(\.name)
        let forbidden = names.filter { !allowed($0, unsafe: unsafe) }
        if !forbidden.isEmpty { return "forbidden sysctl: \"\(forbidden.joined(separator: ", "))\" not allowlisted" }
        if pod.spec.hostNetwork ?? false, let n = names.first(where: { $0.hasPrefix("net.") }) {
            return "forbidden sysctl: \"\(n)\" not allowed with host net enabled"
        }
        if pod.spec.hostIPC ?? false, let n = names.first(where: { $0.hasPrefix("kernel.shm") || $0.hasPrefix("kernel.msg") || $0.hasPrefix("kernel.sem") || $0.hasPrefix("fs.mqueue.") }) {
            return "forbidden sysctl: \"\(n)\" not allowed with host ipc enabled"
        }
        return nil
    }
}

extension PodWorker {
    func admissionError() -> (reason: String, message: String)? {
        if let m = SysctlPolicy.check(pod, unsafe: ctx.config.allowedUnsafeSysctls) { return ("SysctlForbidden", "Pod " + m) }
        return nil
    }

    /// seccompProfile Localhost: a JSON file under the profiles root (relative path, no `..`).
    func loadLocalhostSeccomp(_ c: Container) throws -> OCISpec.Seccomp? {
        let profile = c.securityContext?.seccompProfile ?? pod.spec.securityContext?.seccompProfile
        guard profile?.type == "Localhost", !(c.securityContext?.privileged ?? false) else { return nil }
        let rel = profile?.localhostProfile ?? ""
        guard VolumeContent.validPath(rel) else {
            throw StartError(reason: "CreateContainerConfigError", message: "seccompProfile localhostProfile \"\(rel)\" must be a relative path inside \(ctx.config.seccompProfileRootPath)")
        }
        let path = ctx.config.seccompProfileRootPath + "/" + rel
        do { return try OCISpec.Seccomp.parse(try Files.read(path)) } catch {
            throw StartError(reason: "CreateContainerConfigError", message: "seccomp profile \(path): \(error)")
        }
    }
}

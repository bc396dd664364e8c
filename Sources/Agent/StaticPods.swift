import Crypto
import KubeModel
import LinuxSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One manifest file's outcome.
public enum ManifestResult: Sendable {
    case pod(Pod)
    case invalid(path: String, errors: [String])
    /// A file of ConfigMaps/Secrets (the kubelet has no such thing for static pods; Swiftlet
    /// reads them so configMap/secret volumes and env work without a master).
    case objects(path: String, [ConfigObject])
}

/// Static pods from a directory, the kubelet's file source: one pod per `.yaml`/`.yml`/`.json`
/// file (dotfiles ignored); name `<name>-<nodeName>`; UID from node, path and the whole file,
/// so any edit is a new pod.
public struct StaticPodSource: Sendable {
    public let directory: String
    public let nodeName: String

    /// Results by path, reused while a file's bytes are unchanged: a re-list then reads every
    /// file but decodes only what changed (YAML decoding dominates a re-list of 100 pods).
    final class Cache: Sendable {
        let entries = Mutex<[String: (bytes: [UInt8], result: ManifestResult)]>([:])
    }
    let cache = Cache()

    public init(directory: String, nodeName: String) {
        self.directory = directory
        self.nodeName = nodeName
    }

    public static func isManifestName(_ n: String) -> Bool {
        !n.hasPrefix(".") && (n.hasSuffix(".yaml") || n.hasSuffix(".yml") || n.hasSuffix(".json"))
    }

    public func list(objectsDir: String? = nil) -> [ManifestResult] {
        var out = list(in: directory)
        if let objectsDir {
            out += list(in: objectsDir).map { r in
                if case .pod(let p) = r {
                    return .invalid(path: p.metadata.annotations?["swiftlet.io/manifest"] ?? objectsDir, errors: ["only ConfigMap and Secret objects belong in the objects dir"])
                }
                return r
            }
        }
        return out
    }

    func list(in directory: String) -> [ManifestResult] {
        guard let names = try? Files.list(directory) else { return [] }
        let results: [ManifestResult] = names.filter(StaticPodSource.isManifestName).compactMap { name in
            let path = directory + "/" + name
            guard Files.isRegularFile(path) else { return nil }
            var st = stat()
            if stat(path, &st) == 0, Int(st.st_size) > PodManifest.maxBytes {
                return .invalid(path: path, errors: ["manifest is \(st.st_size) bytes; the limit is \(PodManifest.maxBytes)"])
            }
            guard let bytes = try? Files.read(path) else { return .invalid(path: path, errors: ["cannot read the file"]) }
            if let hit = cache.entries.withLock({ $0[path] }), hit.bytes == bytes { return hit.result }
            let r = load(path: path, bytes: bytes)
            cache.entries.withLock { $0[path] = (bytes, r) }
            return r
        }
        // forget files that are gone
        let present = Set(names.map { directory + "/" + $0 })
        cache.entries.withLock { e in
            for k in Array(e.keys) where k.hasPrefix(directory + "/") && !present.contains(k) { e[k] = nil }
        }
        return results
    }

    /// Decodes, names, identifies, defaults and validates one manifest.
    public func load(path: String, bytes: [UInt8]) -> ManifestResult {
        if let text = String(validating: bytes, as: UTF8.self), let first = ObjectManifest.split(text).first,
           let kind = ObjectManifest.kind(first), kind == "ConfigMap" || kind == "Secret" {
            do {
                var objects: [ConfigObject] = []
                for d in try ObjectManifest.decode(bytes) {
                    guard case .object(let o) = d else { return .invalid(path: path, errors: ["a file of ConfigMaps/Secrets cannot also hold a Pod"]) }
                    objects.append(o)
                }
                return .objects(path: path, objects)
            } catch {
                return .invalid(path: path, errors: [error.description])
            }
        }
        var pod: Pod
        do { pod = try PodManifest.decode(bytes) } catch { return .invalid(path: path, errors: [error.description]) }
        let errors = PodValidation.validate(pod)
        if !errors.isEmpty { return .invalid(path: path, errors: errors.map(\.description)) }
        let name = pod.metadata.name!
        pod.metadata.name = name + "-" + nodeName
        let uid = StaticPodSource.uid(nodeName: nodeName, path: path, content: bytes)
        pod.metadata.uid = uid
        var ann = pod.metadata.annotations ?? [:]
        ann["kubernetes.io/config.source"] = "file"
        ann["kubernetes.io/config.hash"] = uid.replacing("-", with: "")
        ann["swiftlet.io/manifest"] = path
        pod.metadata.annotations = ann
        pod.spec.nodeName = nodeName
        pod = PodDefaults.apply(pod)
        // a name that became too long with the node suffix
        let recheck = PodValidation.validate(pod).filter { $0.field == "metadata.name" }
        if !recheck.isEmpty { return .invalid(path: path, errors: recheck.map(\.description)) }
        return .pod(pod)
    }

    /// A UUID-shaped id from sha256(node, path, content).
    public static func uid(nodeName: String, path: String, content: [UInt8]) -> String {
        var h = SHA256()
        h.update(data: Array(nodeName.utf8) + [0] + Array(path.utf8) + [0])
        h.update(data: content)
        let hex = h.finalize().map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
        let c = Array(hex.prefix(32))
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

/// inotify on the manifests directory; `changed` is called (from a private thread) after a
/// burst of events settles. The periodic re-list is the caller's.
public final class DirectoryWatcher: @unchecked Sendable {
    let fd: Int32
    let changed: @Sendable () -> Void

    public init(directory: String, changed: @escaping @Sendable () -> Void) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { throw SystemError(op: "inotify_init1", code: errno, detail: directory) }
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            let e = errno
            close(fd)
            throw SystemError(op: "inotify_add_watch", code: e, detail: directory)
        }
        self.changed = changed
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        pthread_create(&thread, nil, { arg in
            let w = Unmanaged<DirectoryWatcher>.fromOpaque(arg!).takeRetainedValue()
            w.loop()
            return nil
        }, box.toOpaque())
        pthread_detach(thread)
    }

    func loop() {
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return }
            // let a burst (editor write + rename) settle
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&pfd, 1, 5) > 0 {
                _ = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            }
            changed()
        }
    }
}

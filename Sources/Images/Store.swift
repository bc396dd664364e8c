import CShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// What the store knows about one image name.
public struct ImageRecord: Sendable, Equatable {
    public var name: String               // normalised reference, e.g. docker.io/library/busybox:1.36
    public var digest: Digest             // the image manifest
    public var indexDigest: Digest?       // the index it was selected from, if any
    public var config: Digest
    public var layers: [Descriptor]       // compressed blobs, as in the manifest
    public var diffIDs: [Digest]
    public var chainIDs: [Digest]
    public var created: String            // when it was stored (RFC 3339)

    public var id: String { config.hex }
    public var size: Int64 { layers.reduce(0) { $0 + max($1.size, 0) } }

    var json: JSON {
        var o = JSONObject()
        o.set("name", name)
        o.set("digest", digest.description)
        o.set("indexDigest", indexDigest?.description)
        o.set("config", config.description)
        o.set("layers", .array(layers.map(\.json)))
        o.set("diffIDs", diffIDs.map(\.description))
        o.set("created", created)
        return o.json
    }

    static func read(_ r: JSONReader) throws -> ImageRecord {
        func digest(_ key: String) throws -> Digest { try Digest.parse(try r.required(key).string()) }
        let diffIDs = try (r.strings("diffIDs") ?? []).map { try Digest.parse($0) }
        return ImageRecord(
            name: try r.required("name").string(), digest: try digest("digest"),
            indexDigest: try r.string("indexDigest").map { try Digest.parse($0) }, config: try digest("config"),
            layers: try r.required("layers").array().map { try Descriptor.read($0) }, diffIDs: diffIDs,
            chainIDs: Images.chainIDs(diffIDs), created: try r.string("created") ?? "")
    }
}

public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The on-disk content store:
///   blobs/sha256/<hex>           manifests, configs, compressed layers (verified before rename)
///   layers/sha256/<chainID>/fs   unpacked layers, overlay lower dirs (whiteouts in overlay form)
///   l/<short>                    short links to layers/…/fs (keeps long overlay mount options small)
///   snapshots/<id>/{upper,work,rootfs,layers}  per-container overlay
///   images.json                  name → record; locks/ and tmp/ for coordination and staging
/// Everything is staged under tmp/ and renamed into place, so a crash never leaves a
/// half-visible blob or layer; tmp/ entries of dead processes are removed on open.
public final class ImageStore: Sendable {
    public let root: String
    /// The share of the image filesystem that must stay free (the kubelet's hard eviction
    /// threshold imagefs.available<15%): an unpack that would take it stops with an error.
    public let minFreeFraction: Double

    public init(root: String = "/var/lib/swiftlet/images", minFreeFraction: Double = 0.15) throws {
        self.root = root
        self.minFreeFraction = min(max(minFreeFraction, 0), 1)
        for d in ["blobs/sha256", "layers/sha256", "l", "snapshots", "locks", "tmp"] {
            try Files.makeDirectories(root + "/" + d, mode: 0o700)
        }
        cleanStaleTemporaries()
    }

    /// Total and available bytes of the filesystem holding the store.
    public func filesystem() -> (total: UInt64, available: UInt64)? {
        var v = statvfs()
        guard statvfs(root, &v) == 0 else { return nil }
        return (UInt64(v.f_blocks) * UInt64(v.f_frsize), UInt64(v.f_bavail) * UInt64(v.f_frsize))
    }

    /// Bytes an unpack may write before the filesystem drops under `minFreeFraction` free.
    public func unpackBudget(sharedBy n: Int = 1) throws(LayerError) -> UInt64 {
        guard let fs = filesystem() else { return .max }
        let reserve = UInt64(Double(fs.total) * minFreeFraction)
        guard fs.available > reserve else {
            throw LayerError(message: "the image filesystem of \(root) has \(fs.available >> 20) MiB free, below its threshold of \(Int(minFreeFraction * 100))% (\(reserve >> 20) MiB): nothing is unpacked")
        }
        return (fs.available - reserve) / UInt64(max(1, n))
    }

    public func blobPath(_ d: Digest) -> String { "\(root)/blobs/\(d.algorithm)/\(d.hex)" }
    public func layerDir(_ chain: Digest) -> String { "\(root)/layers/\(chain.algorithm)/\(chain.hex)" }
    public func layerFS(_ chain: Digest) -> String { layerDir(chain) + "/fs" }
    public func shortLink(_ chain: Digest) -> String { "\(root)/l/\(chain.hex.prefix(20))" }
    public func hasLayer(_ chain: Digest) -> Bool { Files.isDirectory(layerFS(chain)) }

    public func hasBlob(_ d: Descriptor) -> Bool {
        var st = stat()
        return stat(blobPath(d.digest), &st) == 0 && (d.size < 0 || Int64(st.st_size) == d.size)
    }

    /// A fresh staging path under tmp/ (the pid lets a later process know it is stale).
    public func temporaryPath(_ label: String) -> String {
        let rnd = UInt64.random(in: 0...UInt64.max)
        return "\(root)/tmp/\(getpid())-\(label)-\(String(rnd, radix: 36))"
    }

    func cleanStaleTemporaries() {
        guard let names = try? Files.list(root + "/tmp") else { return }
        for n in names {
            guard let pid = Int32(n.split(separator: "-").first ?? ""), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? Files.removeTree(root + "/tmp/" + n) }
        }
    }

    /// Writes a small blob (manifest, config) after checking its digest.
    public func putBlob(_ bytes: [UInt8], digest: Digest) throws {
        let actual = SHA256Hex.of(bytes)
        guard actual == digest.hex else {
            throw RegistryError.digestMismatch(what: "blob \(digest)", expected: digest, actual: actual)
        }
        if Files.exists(blobPath(digest)) { return }
        let tmp = temporaryPath("blob")
        try Files.write(tmp, bytes, mode: 0o600)
        let fd = open(tmp, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
        try sys("rename", "\(tmp) -> \(blobPath(digest))") { rename(tmp, blobPath(digest)) }
    }

    public func readBlob(_ d: Digest) throws -> [UInt8] { try Files.read(blobPath(d)) }

    // MARK: - locking

    /// Runs `body` holding an exclusive flock on locks/<name> (shared by every process using
    /// this store). Waits by polling so that no thread is parked in flock().
    public func withLock<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
        let path = root + "/locks/" + name
        let fd = try sys("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw SystemError(op: "flock", code: errno, detail: path) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await body()
    }

    public func withLockSync<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let path = root + "/locks/" + name
        let fd = try sys("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try sys("flock", path) { flock(fd, LOCK_EX) }
        return try body()
    }

    // MARK: - image records

    var recordsPath: String { root + "/images.json" }

    public func images() throws -> [ImageRecord] {
        guard Files.exists(recordsPath) else { return [] }
        let r = JSONReader(try JSON.parse(try Files.read(recordsPath)), path: recordsPath)
        return try (r.optional("images")?.array() ?? []).map { try ImageRecord.read($0) }
    }

    func saveImages(_ list: [ImageRecord]) throws {
        var o = JSONObject()
        o.set("images", .array(list.sorted { $0.name < $1.name }.map(\.json)))
        try Files.write(recordsPath, o.json.serialized(pretty: true) + "\n", mode: 0o600, atomic: true)
    }

    public func putImage(_ record: ImageRecord) throws {
        try withLockSync("images") {
            var list = try images().filter { $0.name != record.name }
            list.append(record)
            try saveImages(list)
        }
    }

    /// Finds an image by name (normalised), full or short id (config digest prefix), or manifest digest.
    public func image(_ query: String) throws -> ImageRecord? {
        let list = try images()
        if let ref = try? ImageReference.parse(query), let hit = list.first(where: { $0.name == ref.description }) { return hit }
        if let hit = list.first(where: { $0.name == query }) { return hit }
        let q = query.hasPrefix("sha256:") ? String(query.dropFirst(7)) : query
        guard q.count >= 4 else { return nil }
        let hits = list.filter { $0.config.hex.hasPrefix(q) || $0.digest.hex.hasPrefix(q) }
        if Set(hits.map(\.config)).count > 1 { throw StoreError("image id \(query) is ambiguous") }
        return hits.first
    }

    /// Removes the name (content is left to `prune`). Refuses when a snapshot uses it unless forced.
    public func removeImage(_ query: String, force: Bool = false) throws -> ImageRecord {
        try withLockSync("images") {
            guard let rec = try image(query) else { throw StoreError("image \(query) not found") }
            if !force {
                let users = try snapshots().filter { $0.image == rec.digest }.map(\.id)
                if !users.isEmpty {
                    throw StoreError("image \(rec.name) is in use by container(s) \(users.joined(separator: ", ")); stop them or use --force")
                }
            }
            try saveImages(try images().filter { $0.name != rec.name })
            return rec
        }
    }

    // MARK: - garbage collection

    public struct PruneResult: Sendable {
        public var blobs = 0
        public var layers = 0
        public var bytes: Int64 = 0
    }

    /// Removes blobs and unpacked layers that no image record and no snapshot references.
    public func prune() throws -> PruneResult {
        try withLockSync("images") {
            let records = try images()
            let snaps = try snapshots()
            var keepBlobs = Set<String>()
            var keepLayers = Set<String>()
            for r in records {
                keepBlobs.insert(r.digest.hex)
                if let i = r.indexDigest { keepBlobs.insert(i.hex) }
                keepBlobs.insert(r.config.hex)
                r.layers.forEach { keepBlobs.insert($0.digest.hex) }
                r.chainIDs.forEach { keepLayers.insert($0.hex) }
            }
            snaps.forEach { s in s.layers.forEach { keepLayers.insert($0.hex) } }
            var result = PruneResult()
            for hex in try Files.list(root + "/blobs/sha256") where !keepBlobs.contains(hex) {
                let p = root + "/blobs/sha256/" + hex
                // Another process may be pulling right now: skip content whose lock is held.
                guard tryLockFree("blob-" + hex) else { continue }
                var st = stat()
                if stat(p, &st) == 0 { result.bytes += Int64(st.st_size) }
                try Files.removeTree(p)
                result.blobs += 1
            }
            for hex in try Files.list(root + "/layers/sha256") where !keepLayers.contains(hex) {
                guard tryLockFree("layer-" + hex) else { continue }
                result.bytes += diskUsage(root + "/layers/sha256/" + hex)
                try? Files.removeTree(root + "/l/" + String(hex.prefix(20)))
                try Files.removeTree(root + "/layers/sha256/" + hex)
                result.layers += 1
            }
            return result
        }
    }

    func tryLockFree(_ name: String) -> Bool {
        let path = root + "/locks/" + name
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return true }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }

    // MARK: - snapshots

    public struct SnapshotInfo: Sendable {
        public var id: String
        public var image: Digest
        public var layers: [Digest]
    }

    public func snapshots() throws -> [SnapshotInfo] {
        var out: [SnapshotInfo] = []
        for id in try Files.list(root + "/snapshots") {
            let p = root + "/snapshots/" + id + "/snapshot.json"
            guard let bytes = try? Files.read(p), let json = try? JSON.parse(bytes) else { continue }
            let r = JSONReader(json, path: p)
            guard let img = try? r.string("image"), let d = try? Digest.parse(img ?? "") else { continue }
            let layers = ((try? r.strings("layers")) ?? nil)?.compactMap { try? Digest.parse($0) } ?? []
            out.append(SnapshotInfo(id: id, image: d, layers: layers))
        }
        return out
    }
}

public func diskUsage(_ path: String) -> Int64 {
    var st = stat()
    guard lstat(path, &st) == 0 else { return 0 }
    var total = Int64(st.st_blocks) * 512
    if (st.st_mode & S_IFMT) == S_IFDIR, let names = try? Files.list(path) {
        for n in names { total += diskUsage(path + "/" + n) }
    }
    return total
}

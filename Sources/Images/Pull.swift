import CShims
import LinuxSystem
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

public struct LayerError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Safe tar(+gzip/zstd/xz) extraction through the C shim (see CShims/src/unpack.c).
public enum LayerUnpacker {
    public struct Result: Sendable {
        public var diffID: String
        public var size: UInt64
        public var entries: UInt64
        public var whiteouts: UInt64
        public var skipped: UInt64
        public var warning: String
    }

    /// Unpacks the archive at `archive` into the existing directory `dir`, writing at most
    /// `maxBytes` (file data plus a small cost per entry).
    public static func unpack(archive: String, into dir: String, overlayWhiteouts: Bool = true,
                              keepOwners: Bool = true, maxBytes: UInt64 = .max) throws -> Result {
        let inFD = try sys("open", archive) { open(archive, O_RDONLY | O_CLOEXEC) }
        defer { close(inFD) }
        let dirFD = try sys("open", dir) { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(dirFD) }
        var res = sl_unpack_result()
        var err = [CChar](repeating: 0, count: 1024)
        let flags = (overlayWhiteouts ? SL_UNPACK_OVERLAY_WHITEOUTS : 0) | (keepOwners ? SL_UNPACK_KEEP_OWNERS : 0)
        let rc = sl_unpack_layer(inFD, dirFD, Int32(flags), maxBytes, &res, &err, err.count)
        if rc != 0 {
            let msg = String(cString: err)
            throw LayerError(message: msg.isEmpty ? "unpack \(archive): \(SystemError.message(-rc))" : msg)
        }
        func str<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        }
        return Result(diffID: str(res.diffid), size: res.size, entries: res.entries, whiteouts: res.whiteouts,
                      skipped: res.skipped, warning: str(res.warning))
    }
}

/// What a pull reports as it goes (the CLI renders it).
public enum PullEvent: Sendable {
    case resolved(manifest: Digest, layers: Int)
    case layerExists(index: Int, digest: Digest)
    case downloading(index: Int, digest: Digest, bytes: Int64, total: Int64)
    case extracting(index: Int, digest: Digest)
    case layerDone(index: Int, digest: Digest)
    case warning(String)
}

/// Pulls images into an ImageStore: manifest (index → this platform), config, then layers
/// concurrently; each layer is downloaded (verified), unpacked into a staging dir, checked
/// against the config's diffID, synced and renamed into place. Work on the same layer is done
/// once: in-process by sharing the task, across processes by a lock file.
public final class ImagePuller: Sendable {
    public let store: ImageStore
    public let client: RegistryClient
    public let platform: Platform
    public let concurrency: Int
    let inflight = InFlight()

    public init(store: ImageStore, client: RegistryClient, platform: Platform = .host, concurrency: Int = 3) {
        self.store = store
        self.client = client
        self.platform = platform
        self.concurrency = max(1, concurrency)
    }

    actor InFlight {
        var tasks: [String: Task<Void, Error>] = [:]
        func run(_ key: String, _ work: @escaping @Sendable () async throws -> Void) async throws {
            if let t = tasks[key] { return try await t.value }
            let t = Task { try await work() }
            tasks[key] = t
            defer { tasks[key] = nil }
            try await t.value
        }
    }

    public func pull(_ ref: ImageReference, progress: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> ImageRecord {
        var fetched = try await client.manifest(ref)
        var indexDigest: Digest?
        var doc = try ManifestParser.parse(fetched.bytes, contentType: fetched.contentType)
        if case .index(let list) = doc {
            guard let pick = ManifestParser.select(list, for: platform) else {
                let have = list.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw ManifestError(reason: "\(ref) has no image for \(platform) (index lists: \(have.isEmpty ? "none" : have))")
            }
            try store.putBlob(fetched.bytes, digest: fetched.digest)
            indexDigest = fetched.digest
            fetched = try await client.manifest(ref, reference: pick.digest.description)
            doc = try ManifestParser.parse(fetched.bytes, contentType: fetched.contentType)
        }
        guard case .image(let manifest) = doc else { throw ManifestError(reason: "\(ref): index inside an index") }
        progress(.resolved(manifest: fetched.digest, layers: manifest.layers.count))

        let configBytes: [UInt8]
        if store.hasBlob(manifest.config) {
            configBytes = try store.readBlob(manifest.config.digest)
        } else {
            configBytes = try await client.smallBlob(ref, manifest.config)
        }
        let config = try ImageConfig.parse(configBytes)
        guard config.diffIDs.count == manifest.layers.count else {
            throw ManifestError(reason: "\(ref): manifest has \(manifest.layers.count) layers but the config lists \(config.diffIDs.count) diff_ids")
        }
        if !config.os.isEmpty && config.os != platform.os || !config.architecture.isEmpty && config.architecture != platform.architecture {
            progress(.warning("\(ref) is built for \(config.os)/\(config.architecture), this node is \(platform)"))
        }
        let chains = chainIDs(config.diffIDs)
        try await ensureLayers(manifest.layers, diffIDs: config.diffIDs, chains: chains, progress: progress) { d, fd, p in
            try await self.client.blob(ref, d, into: fd, progress: p)
        }
        try store.putBlob(configBytes, digest: manifest.config.digest)
        try store.putBlob(fetched.bytes, digest: fetched.digest)
        let record = ImageRecord(name: ref.description, digest: fetched.digest, indexDigest: indexDigest,
                                 config: manifest.config.digest, layers: manifest.layers, diffIDs: config.diffIDs,
                                 chainIDs: chains, created: Timestamp.now().rfc3339Nano)
        try store.putImage(record)
        return record
    }

    /// Makes every layer present, at most `concurrency` at a time. `fetch` writes the blob
    /// into the given fd (a registry download, or a copy from an import source).
    func ensureLayers(_ layers: [Descriptor], diffIDs: [Digest], chains: [Digest],
                      progress: @escaping @Sendable (PullEvent) -> Void,
                      fetch: @escaping @Sendable (Descriptor, Int32, (@Sendable (Int64) -> Void)?) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add(_ i: Int) {
                group.addTask {
                    try await self.ensureLayer(index: i, layers[i], diffID: diffIDs[i], chain: chains[i], progress: progress, fetch: fetch)
                }
            }
            while next < min(concurrency, layers.count) { add(next); next += 1 }
            while try await group.next() != nil {
                if next < layers.count { add(next); next += 1 }
            }
        }
    }

    func ensureLayer(index: Int, _ d: Descriptor, diffID: Digest, chain: Digest,
                     progress: @escaping @Sendable (PullEvent) -> Void,
                     fetch: @escaping @Sendable (Descriptor, Int32, (@Sendable (Int64) -> Void)?) async throws -> Void) async throws {
        if store.hasLayer(chain) { progress(.layerExists(index: index, digest: d.digest)); return }
        try await inflight.run("layer-" + chain.hex) {
            try await self.store.withLock("layer-" + chain.hex) {
                if self.store.hasLayer(chain) { progress(.layerExists(index: index, digest: d.digest)); return }
                try await self.ensureBlob(index: index, d, progress: progress, fetch: fetch)
                progress(.extracting(index: index, digest: d.digest))
                try await self.unpack(blob: d, diffID: diffID, chain: chain, progress: progress)
                progress(.layerDone(index: index, digest: d.digest))
            }
        }
    }

    func ensureBlob(index: Int, _ d: Descriptor, progress: @escaping @Sendable (PullEvent) -> Void,
                    fetch: @escaping @Sendable (Descriptor, Int32, (@Sendable (Int64) -> Void)?) async throws -> Void) async throws {
        if store.hasBlob(d) { return }
        try await inflight.run("blob-" + d.digest.hex) {
            try await self.store.withLock("blob-" + d.digest.hex) {
                if self.store.hasBlob(d) { return }
                let tmp = self.store.temporaryPath("blob")
                let fd = try sys("open", tmp) { open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
                do {
                    defer { close(fd) }
                    try await fetch(d, fd) { bytes in progress(.downloading(index: index, digest: d.digest, bytes: bytes, total: d.size)) }
                    try sys("fsync", tmp) { fsync(fd) }
                    try sys("rename", "\(tmp) -> \(self.store.blobPath(d.digest))") { rename(tmp, self.store.blobPath(d.digest)) }
                } catch {
                    unlink(tmp)
                    throw error
                }
            }
        }
    }

    func unpack(blob d: Descriptor, diffID: Digest, chain: Digest, progress: @escaping @Sendable (PullEvent) -> Void) async throws {
        let store = self.store
        let staging = store.temporaryPath("layer")
        do {
            try Files.makeDirectories(staging + "/fs", mode: 0o755)
            // concurrent unpacks share what may still be written
            let budget = try store.unpackBudget(sharedBy: concurrency)
            let result: LayerUnpacker.Result
            do {
                result = try await NIOThreadPool.singleton.runIfActive {
                    try LayerUnpacker.unpack(archive: store.blobPath(d.digest), into: staging + "/fs", maxBytes: budget)
                }
            } catch let e as LayerError where e.message.contains("unpacking stopped after") {
                throw LayerError(message: "layer \(d.digest): \(e.message) (\(Int(store.minFreeFraction * 100))% of \(store.root)'s filesystem stays free); the layer was discarded")
            }
            guard result.diffID == diffID.description else {
                throw LayerError(message: "layer \(d.digest): uncompressed content is \(result.diffID) but the image config says \(diffID); the layer was discarded")
            }
            if result.skipped > 0 { progress(.warning("layer \(d.digest): \(result.warning) (\(result.skipped) entries skipped)")) }
            try Files.write(staging + "/diffid", diffID.description + "\n", mode: 0o600)
            try Files.write(staging + "/size", String(result.size) + "\n", mode: 0o600)
            let fd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { sl_syncfs(fd); close(fd) }
            let dest = store.layerDir(chain)
            try sys("rename", "\(staging) -> \(dest)") { rename(staging, dest) }
            let link = store.shortLink(chain)
            unlink(link)
            try sys("symlink", link) { symlink("../layers/\(chain.algorithm)/\(chain.hex)/fs", link) }
        } catch {
            try? Files.removeTree(staging)
            throw error
        }
    }
}

import Crypto
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// `images import`: an OCI image layout (directory or tar) or a `docker save` tar.
public struct ImageImporter: Sendable {
    public let puller: ImagePuller
    public var store: ImageStore { puller.store }

    public init(puller: ImagePuller) { self.puller = puller }

    public func importPath(_ path: String, name: String? = nil,
                           progress: @escaping @Sendable (PullEvent) -> Void = { _ in }) async throws -> [ImageRecord] {
        if Files.isDirectory(path) { return try await importLayout(path, name: name, progress: progress) }
        guard Files.isRegularFile(path) else { throw StoreError("import \(path): no such file or directory") }
        let staging = store.temporaryPath("import")
        defer { try? Files.removeTree(staging) }
        try Files.makeDirectories(staging, mode: 0o700)
        do {
            _ = try LayerUnpacker.unpack(archive: path, into: staging, overlayWhiteouts: false, keepOwners: false, maxBytes: try store.unpackBudget())
        } catch {
            throw StoreError("import \(path): not a readable tar archive: \(error)")
        }
        return try await importLayout(staging, name: name, progress: progress)
    }

    func importLayout(_ dir: String, name: String?, progress: @escaping @Sendable (PullEvent) -> Void) async throws -> [ImageRecord] {
        if Files.exists(dir + "/index.json") { return try await importOCI(dir, name: name, progress: progress) }
        if Files.exists(dir + "/manifest.json") { return try await importDockerSave(dir, name: name, progress: progress) }
        throw StoreError("import: \(dir) is neither an OCI image layout (index.json) nor a docker save archive (manifest.json)")
    }

    func blobFile(_ dir: String, _ d: Digest) -> String { "\(dir)/blobs/\(d.algorithm)/\(d.hex)" }

    func importOCI(_ dir: String, name: String?, progress: @escaping @Sendable (PullEvent) -> Void) async throws -> [ImageRecord] {
        let indexBytes = try Files.read(dir + "/index.json")
        guard case .index(let entries) = try ManifestParser.parse(indexBytes, contentType: MediaType.ociIndex) else {
            throw StoreError("import: \(dir)/index.json is not an image index")
        }
        if name != nil && entries.count > 1 { throw StoreError("import: --name given but the layout holds \(entries.count) images") }
        var out: [ImageRecord] = []
        for entry in entries {
            let refName = name ?? entry.annotations["io.containerd.image.name"] ?? entry.annotations["org.opencontainers.image.ref.name"]
            guard let refName, let ref = try? ImageReference.parse(refName), refName.contains("/") || refName.contains(":") || name != nil else {
                throw StoreError("import: image \(entry.digest) has no full name (annotation org.opencontainers.image.ref.name is \(entry.annotations["org.opencontainers.image.ref.name"] ?? "missing")); pass --name")
            }
            var manifestDigest = entry.digest
            var indexDigest: Digest?
            var bytes = try readVerified(dir, manifestDigest)
            var doc = try ManifestParser.parse(bytes, contentType: entry.mediaType)
            if case .index(let list) = doc {
                guard let pick = ManifestParser.select(list, for: puller.platform) else {
                    throw StoreError("import: \(refName) has no image for \(puller.platform)")
                }
                try store.putBlob(bytes, digest: manifestDigest)
                indexDigest = manifestDigest
                manifestDigest = pick.digest
                bytes = try readVerified(dir, manifestDigest)
                doc = try ManifestParser.parse(bytes, contentType: pick.mediaType)
            }
            guard case .image(let manifest) = doc else { throw StoreError("import: \(refName): nested index") }
            out.append(try await finish(ref: ref, manifest: manifest, manifestBytes: bytes, manifestDigest: manifestDigest,
                                        indexDigest: indexDigest, configBytes: try readVerified(dir, manifest.config.digest),
                                        source: { self.blobFile(dir, $0.digest) }, progress: progress))
        }
        return out
    }

    func importDockerSave(_ dir: String, name: String?, progress: @escaping @Sendable (PullEvent) -> Void) async throws -> [ImageRecord] {
        let r = JSONReader(try JSON.parse(try Files.read(dir + "/manifest.json")), path: "manifest.json")
        var out: [ImageRecord] = []
        for item in try r.array() {
            let configPath = try item.required("Config").string()
            let configBytes = try Files.read(try inside(dir, configPath))
            let configDigest = Digest(sha256Hex: SHA256Hex.of(configBytes))
            var layers: [Descriptor] = []
            var paths: [Digest: String] = [:]
            for l in try item.required("Layers").strings() {
                let p = try inside(dir, l)
                let (hex, size) = try hashFile(p)
                let d = Descriptor(mediaType: "application/vnd.docker.image.rootfs.diff.tar", digest: Digest(sha256Hex: hex), size: size)
                layers.append(d)
                paths[d.digest] = p
            }
            let manifest = ImageManifest(mediaType: MediaType.dockerManifest,
                                         config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(configBytes.count)),
                                         layers: layers)
            let manifestBytes = Array(manifest.json.serialized().utf8)
            let repoTags = try item.strings("RepoTags") ?? []
            let tags = name.map { [$0] } ?? repoTags
            let layerPaths = paths
            if tags.isEmpty { throw StoreError("import: an image in manifest.json has no RepoTags; pass --name") }
            for tag in tags {
                let ref = try ImageReference.parse(tag)
                out.append(try await finish(ref: ref, manifest: manifest, manifestBytes: manifestBytes,
                                            manifestDigest: Digest(sha256Hex: SHA256Hex.of(manifestBytes)), indexDigest: nil,
                                            configBytes: configBytes, source: { layerPaths[$0.digest]! }, progress: progress))
            }
        }
        return out
    }

    func finish(ref: ImageReference, manifest: ImageManifest, manifestBytes: [UInt8], manifestDigest: Digest,
                indexDigest: Digest?, configBytes: [UInt8], source: @escaping @Sendable (Descriptor) -> String,
                progress: @escaping @Sendable (PullEvent) -> Void) async throws -> ImageRecord {
        let config = try ImageConfig.parse(configBytes)
        guard config.diffIDs.count == manifest.layers.count else {
            throw ManifestError(reason: "\(ref): \(manifest.layers.count) layers but \(config.diffIDs.count) diff_ids")
        }
        let chains = chainIDs(config.diffIDs)
        progress(.resolved(manifest: manifestDigest, layers: manifest.layers.count))
        try await puller.ensureLayers(manifest.layers, diffIDs: config.diffIDs, chains: chains, progress: progress) { d, fd, _ in
            try copyVerified(source(d), to: fd, d)
        }
        try store.putBlob(configBytes, digest: manifest.config.digest)
        try store.putBlob(manifestBytes, digest: manifestDigest)
        let record = ImageRecord(name: ref.description, digest: manifestDigest, indexDigest: indexDigest,
                                 config: manifest.config.digest, layers: manifest.layers, diffIDs: config.diffIDs,
                                 chainIDs: chains, created: Timestamp.now().rfc3339Nano)
        try store.putImage(record)
        return record
    }

    func readVerified(_ dir: String, _ d: Digest) throws -> [UInt8] {
        let bytes = try Files.read(blobFile(dir, d))
        let actual = SHA256Hex.of(bytes)
        guard actual == d.hex else { throw RegistryError.digestMismatch(what: "blob \(d) in \(dir)", expected: d, actual: actual) }
        return bytes
    }

    /// A path from manifest.json, refused if it leaves the archive.
    func inside(_ dir: String, _ rel: String) throws -> String {
        if rel.hasPrefix("/") || rel.split(separator: "/").contains("..") {
            throw StoreError("import: path \(rel) in manifest.json leaves the archive")
        }
        return dir + "/" + rel
    }
}

/// sha256 and size of a file, optionally copying it into `out` on the way.
func hashFile(_ path: String, copyTo out: Int32? = nil) throws -> (String, Int64) {
    let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    var hasher = SHA256()
    var total: Int64 = 0
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = try sys("read", path) { buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
        if n == 0 { break }
        buf.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        var off = 0
        while let out, off < n {
            let w = buf.withUnsafeBytes { write(out, $0.baseAddress! + off, n - off) }
            if w < 0 {
                if errno == EINTR { continue }
                throw SystemError(op: "write", code: errno, detail: path)
            }
            off += w
        }
        total += Int64(n)
    }
    return (SHA256Hex.hex(hasher.finalize()), total)
}

/// Copies a local blob into fd, checking digest and size.
func copyVerified(_ path: String, to out: Int32, _ d: Descriptor) throws {
    let (actual, total) = try hashFile(path, copyTo: out)
    guard actual == d.digest.hex else { throw RegistryError.digestMismatch(what: "blob \(d.digest) (\(path))", expected: d.digest, actual: actual) }
    if d.size >= 0 && total != d.size { throw RegistryError.sizeMismatch(what: "blob \(d.digest)", expected: d.size, actual: total) }
}

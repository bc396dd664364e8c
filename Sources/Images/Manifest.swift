import LinuxSystem

public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// What a pull asks registries for, most preferred first.
    public static let acceptManifests = [ociIndex, dockerManifestList, ociManifest, dockerManifest]
    public static let layerTypes: Set<String> = [ociLayer, ociLayerGzip, ociLayerZstd, dockerLayer, dockerForeignLayer,
                                                 "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                                                 "application/vnd.docker.image.rootfs.diff.tar"]
}

public struct Platform: Sendable, Hashable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?
    public var description: String { os + "/" + architecture + (variant.map { "/" + $0 } ?? "") }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// The platform this agent runs containers for.
    public static var host: Platform {
        #if arch(x86_64)
        return Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        return Platform(os: "linux", architecture: "arm64", variant: "v8")
        #else
        return Platform(os: "linux", architecture: "unknown")
        #endif
    }
}

public struct Descriptor: Sendable, Hashable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]

    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String] = [:]) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }

    static func read(_ r: JSONReader) throws(JSONReader.FieldError) -> Descriptor {
        let d = try r.required("digest")
        let digest: Digest
        do { digest = try Digest.parse(try d.string()) } catch let e as Digest.Invalid { throw d.fail(e.reason) } catch { throw error as! JSONReader.FieldError }
        var platform: Platform?
        if let p = try r.optional("platform") {
            platform = Platform(os: try p.string("os") ?? "", architecture: try p.string("architecture") ?? "",
                                variant: try p.string("variant"))
        }
        let size: Int64 = try r.integer("size") ?? -1
        if size < 0 { throw (try r.required("size")).fail("must be a non-negative integer") }
        return Descriptor(mediaType: try r.string("mediaType") ?? "", digest: digest, size: size, platform: platform,
                          annotations: try r.stringMap("annotations") ?? [:])
    }

    var json: JSON {
        var o = JSONObject()
        o.set("mediaType", mediaType)
        o.set("digest", digest.description)
        o.set("size", size)
        if !annotations.isEmpty { o.set("annotations", .object(annotations.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })) }
        return o.json
    }
}

public struct ImageManifest: Sendable, Equatable {
    public var mediaType: String
    public var config: Descriptor
    public var layers: [Descriptor]

    public init(mediaType: String, config: Descriptor, layers: [Descriptor]) {
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
    }

    public var json: JSON {
        var o = JSONObject()
        o.set("schemaVersion", 2)
        o.set("mediaType", mediaType)
        o.set("config", config.json)
        o.set("layers", .array(layers.map(\.json)))
        return o.json
    }
}

public enum ManifestDocument: Sendable, Equatable {
    case image(ImageManifest)
    case index([Descriptor])
}

public struct ManifestError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "invalid manifest: \(reason)" }
}

public enum ManifestParser {
    /// Parses a manifest or index. `contentType` is the registry's Content-Type (may be empty);
    /// the document's own mediaType wins when present.
    public static func parse(_ bytes: [UInt8], contentType: String = "") throws(ManifestError) -> ManifestDocument {
        let json: JSON
        do { json = try JSON.parse(bytes) } catch { throw ManifestError(reason: error.description) }
        let r = JSONReader(json)
        do {
            let declared = try r.string("mediaType") ?? ""
            let ct = contentType.split(separator: ";").first.map { String($0).trimmingSpaces } ?? ""
            var type = declared.isEmpty ? ct : declared
            if try r.integer("schemaVersion", Int.self) == 1 || type == MediaType.dockerSchema1 || type.hasPrefix("application/vnd.docker.distribution.manifest.v1") {
                throw ManifestError(reason: "Docker schema 1 manifests are not supported (deprecated since 2017); push the image again with a current client")
            }
            if type.isEmpty || type == "application/json" || type == "application/octet-stream" {
                type = try r.optional("manifests") != nil ? MediaType.ociIndex : MediaType.ociManifest
            }
            switch type {
            case MediaType.ociIndex, MediaType.dockerManifestList:
                let list = try r.required("manifests").array().map { m throws(JSONReader.FieldError) in try Descriptor.read(m) }
                return .index(list)
            case MediaType.ociManifest, MediaType.dockerManifest:
                let config = try Descriptor.read(try r.required("config"))
                let layers = try r.required("layers").array().map { m throws(JSONReader.FieldError) in try Descriptor.read(m) }
                for (i, l) in layers.enumerated() where !l.mediaType.isEmpty && !MediaType.layerTypes.contains(l.mediaType) {
                    throw ManifestError(reason: "layers[\(i)]: unsupported layer media type \(l.mediaType)")
                }
                return .image(ImageManifest(mediaType: type, config: config, layers: layers))
            default:
                throw ManifestError(reason: "unsupported media type \"\(type)\"")
            }
        } catch let e as ManifestError {
            throw e
        } catch {
            throw ManifestError(reason: "\(error)")
        }
    }

    /// Picks the entry for `platform` from an index (a missing variant matches any).
    public static func select(_ list: [Descriptor], for platform: Platform) -> Descriptor? {
        let candidates = list.filter { d in
            guard let p = d.platform else { return false }
            return p.os == platform.os && p.architecture == platform.architecture
        }
        if let exact = candidates.first(where: { $0.platform?.variant == platform.variant }) { return exact }
        return candidates.first
    }
}

/// The parts of an image config a runtime uses.
public struct ImageConfig: Sendable, Equatable {
    public var architecture: String = ""
    public var os: String = ""
    public var user: String = ""
    public var env: [String] = []
    public var entrypoint: [String] = []
    public var cmd: [String] = []
    public var workingDir: String = ""
    public var stopSignal: String = ""
    public var labels: [String: String] = [:]
    public var exposedPorts: [String] = []
    public var diffIDs: [Digest] = []
    public var created: String = ""

    public init() {}

    public static func parse(_ bytes: [UInt8]) throws(ManifestError) -> ImageConfig {
        let json: JSON
        do { json = try JSON.parse(bytes) } catch { throw ManifestError(reason: "image config: \(error.description)") }
        let r = JSONReader(json)
        var c = ImageConfig()
        do {
            c.architecture = try r.string("architecture") ?? ""
            c.os = try r.string("os") ?? ""
            c.created = try r.string("created") ?? ""
            if let cfg = try r.optional("config") {
                c.user = try cfg.string("User") ?? ""
                c.env = try cfg.strings("Env") ?? []
                c.entrypoint = try cfg.strings("Entrypoint") ?? []
                c.cmd = try cfg.strings("Cmd") ?? []
                c.workingDir = try cfg.string("WorkingDir") ?? ""
                c.stopSignal = try cfg.string("StopSignal") ?? ""
                c.labels = try cfg.stringMap("Labels") ?? [:]
                if let p = try cfg.optional("ExposedPorts") { c.exposedPorts = try p.members().map(\.0).sorted() }
            }
            let rootfs = try r.required("rootfs")
            for d in try rootfs.required("diff_ids").array() {
                do { c.diffIDs.append(try Digest.parse(try d.string())) } catch let e as Digest.Invalid { throw d.fail(e.reason) }
            }
        } catch let e as ManifestError {
            throw e
        } catch {
            throw ManifestError(reason: "image config: \(error)")
        }
        return c
    }
}

/// chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
public func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
    var out: [Digest] = []
    for d in diffIDs {
        if let prev = out.last {
            out.append(Digest(sha256Hex: SHA256Hex.of(Array((prev.description + " " + d.description).utf8))))
        } else {
            out.append(d)
        }
    }
    return out
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

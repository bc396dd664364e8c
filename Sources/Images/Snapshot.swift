import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Per-container root filesystems: an overlay of the image's unpacked layers with the
/// container's own upper and work dirs under snapshots/<id>/.
public struct Snapshotter: Sendable {
    public let store: ImageStore
    /// The kernel takes mount options in one page.
    public static let optionLimit = 4095

    public init(store: ImageStore) { self.store = store }

    public func directory(_ id: String) -> String { store.root + "/snapshots/" + id }
    public func rootfs(_ id: String) -> String { directory(id) + "/rootfs" }

    /// overlay options with the topmost layer first. Full paths when they fit in a page, else
    /// the short l/ links (as Docker's overlay2 does); nil when even those do not fit.
    public static func mountOptions(layerPaths: [String], shortPaths: [String], upper: String, work: String) -> String? {
        func build(_ lowers: [String]) -> String {
            "lowerdir=" + lowers.reversed().joined(separator: ":") + ",upperdir=" + upper + ",workdir=" + work
        }
        let full = build(layerPaths)
        if full.utf8.count <= optionLimit { return full }
        let short = build(shortPaths)
        return short.utf8.count <= optionLimit ? short : nil
    }

    /// Creates and mounts the snapshot; returns the rootfs path. On failure nothing is left.
    @discardableResult
    /// `layerPath` substitutes each layer's directory (hostUsers: false pods pass idmapped clones:
    /// overlayfs takes idmapped layers, not an idmapped overlay); `upperOwner` owns the new
    /// writable layer's root (the pod's root in its user namespace).
    public func prepare(id: String, image: ImageRecord, layerPath: ((String) throws -> String)? = nil,
                        upperOwner: (uid: UInt32, gid: UInt32)? = nil) throws -> String {
        guard !id.isEmpty, !id.contains("/"), id != ".", id != ".." else { throw StoreError("invalid snapshot id \"\(id)\"") }
        let dir = directory(id)
        guard !Files.exists(dir) else { throw StoreError("snapshot \(id) already exists") }
        for chain in image.chainIDs where !store.hasLayer(chain) {
            throw StoreError("image \(image.name): layer \(chain) is not unpacked (pull the image again)")
        }
        do {
            for sub in ["upper", "work", "rootfs"] { try Files.makeDirectories(dir + "/" + sub, mode: 0o755) }
            if let o = upperOwner { chown(dir + "/upper", o.uid, o.gid) }
            var o = JSONObject()
            o.set("image", image.digest.description)
            o.set("name", image.name)
            o.set("layers", image.chainIDs.map(\.description))
            try Files.write(dir + "/snapshot.json", o.json.serialized() + "\n", mode: 0o600, atomic: true)
            let target = dir + "/rootfs"
            if image.chainIDs.isEmpty {
                try sys("bind mount", target) { mount(dir + "/upper", target, nil, UInt(MS_BIND), nil) }
                return target
            }
            let layers = try image.chainIDs.map { try layerPath?(store.layerFS($0)) ?? store.layerFS($0) }
            let shorts = layerPath == nil ? image.chainIDs.map { store.shortLink($0) } : layers
            guard let options = Snapshotter.mountOptions(layerPaths: layers, shortPaths: shorts, upper: dir + "/upper", work: dir + "/work") else {
                throw StoreError("image \(image.name) has \(image.chainIDs.count) layers: too many for one overlay mount")
            }
            try sys("mount overlay", target) { mount("overlay", target, "overlay", 0, options) }
            return target
        } catch {
            try? remove(id: id)
            throw error
        }
    }

    /// Unmounts and deletes the snapshot (no error if it does not exist).
    public func remove(id: String) throws {
        let dir = directory(id)
        guard Files.exists(dir) else { return }
        let target = dir + "/rootfs"
        while umount2(target, Int32(MNT_DETACH)) == 0 {}
        if errno != EINVAL && errno != ENOENT { throw SystemError(op: "umount", code: errno, detail: target) }
        try Files.removeTree(dir)
    }

    public func exists(_ id: String) -> Bool { Files.exists(directory(id) + "/snapshot.json") }
}

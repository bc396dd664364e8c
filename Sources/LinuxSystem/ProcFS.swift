import CShims
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One line of /proc/<pid>/mountinfo.
public struct MountInfo: Equatable, Sendable {
    public var mountID: Int
    public var parentID: Int
    public var root: String
    public var mountPoint: String
    public var options: String
    public var optionalFields: [String]
    public var fsType: String
    public var source: String
    public var superOptions: String
}

public enum ProcFS {
    /// Parses mountinfo text (pure). Octal escapes (\040 etc.) are decoded. With `fsType`, only
    /// lines of that filesystem type are decoded (the rest are skipped at byte level).
    public static func parseMountInfo(_ text: String, fsType: String? = nil) -> [MountInfo] {
        var out: [MountInfo] = []
        let needle = fsType.map { Array(" - \($0) ".utf8) }
        var utf8 = text.utf8[...]
        while !utf8.isEmpty {
            let end = utf8.firstIndex(of: 10) ?? utf8.endIndex
            let lineBytes = utf8[..<end]
            utf8 = end == utf8.endIndex ? utf8[end...] : utf8[utf8.index(after: end)...]
            if let needle, !contains(lineBytes, needle) { continue }
            let line = Substring(lineBytes)
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 10, let sep = f.firstIndex(of: "-"), sep >= 6, sep + 3 < f.count + 1 else { continue }
            guard let id = Int(f[0]), let parent = Int(f[1]), sep + 2 < f.count else { continue }
            out.append(MountInfo(mountID: id, parentID: parent, root: unescape(f[3]), mountPoint: unescape(f[4]),
                                 options: f[5], optionalFields: Array(f[6..<sep]), fsType: f[sep + 1],
                                 source: unescape(f[sep + 2]), superOptions: sep + 3 < f.count ? f[sep + 3] : ""))
        }
        return out
    }

    static func contains(_ hay: Substring.UTF8View, _ needle: [UInt8]) -> Bool {
        let h = Array(hay)
        guard h.count >= needle.count else { return false }
        var i = 0
        while i + needle.count <= h.count {
            if h[i] == needle[0] && Array(h[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count,
               let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(v)
                i += 4
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func mountInfo(pid: String = "self", fsType: String? = nil) throws(SystemError) -> [MountInfo] {
        parseMountInfo(try Files.readString("/proc/\(pid)/mountinfo"), fsType: fsType)
    }

    /// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), used with the pid to
    /// recognise a process again after pid reuse. The comm field may contain spaces and ')'.
    /// Detaches every mount strictly below `dir` (symlinks in `dir` resolved) that `matching`
    /// selects, deepest first; returns the ones that failed with their errno.
    @discardableResult
    public static func unmountAll(under dir: String, matching: (String) -> Bool = { _ in true }) -> [(path: String, errno: Int32)] {
        guard !dir.isEmpty, let mounts = try? mountInfo() else { return [] }
        let base = Files.realPath(dir) ?? dir
        var failed: [(path: String, errno: Int32)] = []
        for m in Set(mounts.map(\.mountPoint).filter { $0.hasPrefix(base + "/") && matching($0) }).sorted(by: >) {
            if umount2(m, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT { failed.append((m, errno)) }
        }
        return failed
    }

    /// True when `path` is a mount point (or a bind-mounted file) in this mount namespace.
    public static func isMountPoint(_ path: String) -> Bool {
        // statx's STATX_ATTR_MOUNT_ROOT (5.8+) answers without reading the whole mount table
        switch sl_is_mount_point(path) {
        case 1: return true
        case 0: return false
        default: break
        }
        guard let mounts = try? mountInfo() else { return false }
        return mounts.contains { $0.mountPoint == path }
    }

    public static func parseStartTime(stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); field 22 is rest[19]
        guard rest.count > 19 else { return nil }
        return UInt64(rest[19])
    }

    public static func startTime(pid: Int32) -> UInt64? {
        guard let s = try? Files.readString("/proc/\(pid)/stat") else { return nil }
        return parseStartTime(stat: s)
    }

    /// State letter of a process (R, S, D, Z, T ...), nil if gone.
    public static func state(pid: Int32) -> Character? {
        guard let s = try? Files.readString("/proc/\(pid)/stat"), let close = s.lastIndex(of: ")") else { return nil }
        let rest = s[s.index(after: close)...].drop(while: { $0 == " " })
        return rest.first
    }

    /// Parses a hex capability mask line value from /proc/<pid>/status ("CapBnd:\t000001ffffffffff").
    public static func capabilityMask(status: String, field: String) -> UInt64? {
        let key = Array("\n\(field):".utf8)
        let b = Array(("\n" + status).utf8)
        var i = 0
        while i + key.count <= b.count {
            if b[i] == 10, Array(b[i..<(i + key.count)]) == key {
                var j = i + key.count
                while j < b.count, b[j] == 32 || b[j] == 9 { j += 1 }
                var v: UInt64 = 0
                var n = 0
                while j < b.count, n < 16 {
                    let c = b[j]
                    let d: UInt64
                    switch c {
                    case 48...57: d = UInt64(c - 48)
                    case 97...102: d = UInt64(c - 87)
                    case 65...70: d = UInt64(c - 55)
                    default: return n > 0 ? v : nil
                    }
                    v = v << 4 | d
                    n += 1
                    j += 1
                }
                return n > 0 ? v : nil
            }
            i += 1
        }
        return nil
    }
}

extension Substring {
    /// The substring without leading and trailing characters from `set`.
    public func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

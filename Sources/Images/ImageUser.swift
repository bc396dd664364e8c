import CShims
#if canImport(Glibc)
import Glibc
#endif

/// Resolution of an image's USER ("name", "uid", "name:group", "uid:gid") against the
/// image's /etc/passwd and /etc/group, as runc/containerd do.
public struct ResolvedUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public var home: String?
    public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32], home: String?) {
        self.uid = uid
        self.gid = gid
        self.additionalGids = additionalGids
        self.home = home
    }
}

public struct UserError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

public struct PasswdEntry: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
}

public struct GroupEntry: Sendable, Equatable {
    public var name: String
    public var gid: UInt32
    public var members: [String]
}

public enum UserDatabase {
    public static func parsePasswd(_ text: String) -> [PasswdEntry] {
        text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: f.count > 5 ? String(f[5]) : "")
        }
    }

    public static func parseGroup(_ text: String) -> [GroupEntry] {
        text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, let gid = UInt32(f[2]) else { return nil }
            let members = f.count > 3 ? f[3].split(separator: ",").map(String.init) : []
            return GroupEntry(name: String(f[0]), gid: gid, members: members)
        }
    }

    /// `spec` empty means root. Numeric ids need no database entry; names must exist.
    public static func resolve(_ spec: String, passwd: [PasswdEntry], group: [GroupEntry]) throws(UserError) -> ResolvedUser {
        if spec.isEmpty { return ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: passwd.first { $0.uid == 0 }?.home) }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0]
        var entry: PasswdEntry?
        let uid: UInt32
        if let n = UInt32(userPart) {
            uid = n
            entry = passwd.first { $0.uid == n }
        } else {
            guard let e = passwd.first(where: { $0.name == userPart }) else {
                throw UserError(message: "unable to find user \(userPart): no matching entries in passwd file")
            }
            entry = e
            uid = e.uid
        }
        var gid = entry?.gid ?? 0
        var explicitGroup = false
        if parts.count == 2 {
            explicitGroup = true
            if let n = UInt32(parts[1]) { gid = n } else {
                guard let g = group.first(where: { $0.name == parts[1] }) else {
                    throw UserError(message: "unable to find group \(parts[1]): no matching entries in group file")
                }
                gid = g.gid
            }
        }
        var extra: [UInt32] = []
        if !explicitGroup, let name = entry?.name {
            for g in group where g.members.contains(name) && g.gid != gid && !extra.contains(g.gid) { extra.append(g.gid) }
        }
        return ResolvedUser(uid: uid, gid: gid, additionalGids: extra, home: entry?.home)
    }
}

/// The process a container runs, from the image config and the Kubernetes-style overrides.
public struct ProcessDefaults: Sendable, Equatable {
    public var args: [String]
    public var env: [String]
    public var workingDir: String
    public var user: String
    public var stopSignal: String

    /// command replaces ENTRYPOINT (and drops CMD); args replaces CMD; neither → ENTRYPOINT+CMD.
    /// Image env comes first, overrides replace same-named variables.
    public static func resolve(image: ImageConfig, command: [String]? = nil, args: [String]? = nil,
                               env: [String] = [], workingDir: String? = nil, user: String? = nil) -> ProcessDefaults {
        let cmd = command ?? []
        let a = args ?? []
        let argv: [String]
        if !cmd.isEmpty { argv = cmd + a }
        else if !a.isEmpty { argv = image.entrypoint + a }
        else { argv = image.entrypoint + image.cmd }
        return ProcessDefaults(args: argv, env: mergeEnv(image.env, env),
                               workingDir: (workingDir?.isEmpty == false ? workingDir! : image.workingDir.isEmpty ? "/" : image.workingDir),
                               user: user ?? image.user, stopSignal: image.stopSignal.isEmpty ? "SIGTERM" : image.stopSignal)
    }

    public static func mergeEnv(_ base: [String], _ overrides: [String]) -> [String] {
        var out = base
        func key(_ s: String) -> Substring { s.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        for o in overrides {
            if let i = out.firstIndex(where: { key($0) == key(o) }) { out[i] = o } else { out.append(o) }
        }
        if !out.contains(where: { key($0) == "PATH" }) {
            out.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0)
        }
        return out
    }
}

/// Reads a file of a container root filesystem (at most 16 MiB), resolving symlinks and ".."
/// inside it; "" when missing.
public func readFileInRoot(_ root: String, _ path: String) -> String {
    let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard rootFD >= 0 else { return "" }
    defer { close(rootFD) }
    let fd = sl_openat2(rootFD, path, UInt64(O_RDONLY | O_CLOEXEC), 0, 0x10 /* RESOLVE_IN_ROOT */)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while out.count < 16 << 20 {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

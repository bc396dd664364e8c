import CShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small POSIX file helpers. Every descriptor is opened close-on-exec.
public enum Files {
    public static func read(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try sys("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try sys("read", path) { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    public static func readString(_ path: String) throws(SystemError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// Writes a whole file; with `atomic`, via a temporary file and rename (readers see the old or
    /// the new content, never a torn file); `durable` adds an fsync before the rename, for state
    /// that must survive power loss (not for per-boot state under /run).
    public static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, atomic: Bool = false,
                             durable: Bool = false) throws(SystemError) {
        let target = atomic ? path + ".tmp.\(getpid())" : path
        let fd = try sys("open", target) { open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        var ok = false
        defer {
            close(fd)
            if atomic && !ok { unlink(target) }
        }
        var off = 0
        while off < bytes.count {
            let n = try sys("write", target) { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) } }
            off += n
        }
        if durable { try sys("fsync", target) { fsync(fd) } }
        if atomic { try sys("rename", "\(target) -> \(path)") { rename(target, path) } }
        ok = true
    }

    public static func write(_ path: String, _ string: String, mode: mode_t = 0o644, atomic: Bool = false,
                             durable: Bool = false) throws(SystemError) {
        try write(path, Array(string.utf8), mode: mode, atomic: atomic, durable: durable)
    }

    /// Writes to an existing file (cgroup, /proc), never creating it.
    public static func writeExisting(_ path: String, _ string: String) throws(SystemError) {
        let fd = try sys("open", path) { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        let bytes = Array(string.utf8)
        _ = try sys("write", "\(path) value \(string)") { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    /// An anonymous close-on-exec memory file holding `bytes`, positioned at 0.
    public static func memfd(name: String, _ bytes: [UInt8]) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(try sys("memfd_create", name) { sl_memfd(name) })
        var off = 0
        while off < bytes.count {
            let n = try sys("write", "memfd \(name)") { bytes.withUnsafeBytes { Glibc.write(fd.raw, $0.baseAddress! + off, $0.count - off) } }
            off += n
        }
        return fd
    }

    /// The canonical path (symlinks resolved), nil if it does not resolve.
    public static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// mkdir -p. Existing directories are fine.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for comp in path.split(separator: "/") {
            prefix += "/" + comp
            if mkdir(prefix, mode) != 0 {
                let e = errno
                if e == EEXIST, isDirectory(prefix) { continue }
                throw SystemError(op: "mkdir", code: e, detail: prefix)
            }
        }
    }

    /// rm -rf without following symlinks and without crossing into mounts' contents
    /// beyond what unlink/rmdir can do (mount points give EBUSY, reported).
    /// Removes `path` and everything below it, never crossing into a mount: a mount point found
    /// on the way (a bind of a volume, a host path) fails the removal with EBUSY rather than have
    /// its contents deleted.
    public static func removeTree(_ path: String) throws(SystemError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw SystemError(op: "lstat", code: errno, detail: path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR || (st.st_mode & S_IFMT) == S_IFREG {
            if sl_is_mount_point(path) == 1 { throw SystemError(op: "remove", code: EBUSY, detail: "\(path) (a mount point)") }
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree(path + "/" + name) }
            try sys("rmdir", path) { rmdir(path) }
        } else {
            try sys("unlink", path) { unlink(path) }
        }
    }

    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let d = opendir(path) else { throw SystemError(op: "opendir", code: errno, detail: path) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted()
    }

    public static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Directory holding the running executable (for finding `swiftlet-monitor` beside it).
    public static func executableDirectory() -> String {
        let exe = readLink("/proc/self/exe") ?? CommandLine.arguments[0]
        guard let slash = exe.lastIndex(of: "/") else { return "." }
        return String(exe[..<slash])
    }
}

/// An owned file descriptor, closed on deinit.
public final class FileDescriptor: @unchecked Sendable {
    public private(set) var raw: Int32
    public init(_ raw: Int32) { self.raw = raw }
    deinit { if raw >= 0 { Glibc.close(raw) } }
    public func close() { if raw >= 0 { Glibc.close(raw); raw = -1 } }
    /// Gives up ownership.
    public func take() -> Int32 { let r = raw; raw = -1; return r }
}

public enum Pipes {
    /// A close-on-exec pipe: (read, write).
    public static func make() throws(SystemError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        try sys("pipe2") { fds.withUnsafeMutableBufferPointer { sl_pipe_cloexec($0.baseAddress) } }
        return (FileDescriptor(fds[0]), FileDescriptor(fds[1]))
    }
}

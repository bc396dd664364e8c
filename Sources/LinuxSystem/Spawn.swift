import CShims

#if canImport(Glibc)
import Glibc
#endif

/// Process spawning without running Swift in a forked child: posix_spawn (vfork+exec in glibc).
public enum Spawn {
    /// Spawns `path` with `args` (args[0] included). `fds` maps parent fds to child fd numbers;
    /// every other descriptor is expected to be close-on-exec. `env` nil = inherit.
    public static func spawn(_ path: String, args: [String], env: [String]? = nil,
                             fds: [(parent: Int32, child: Int32)] = [], setsid: Bool = false) throws(SystemError) -> pid_t {
        let cargs = args.map { strdup($0) } + [nil]
        let cenv: [UnsafeMutablePointer<CChar>?]? = env.map { $0.map { strdup($0) } + [nil] }
        defer {
            cargs.forEach { free($0) }
            cenv?.forEach { free($0) }
        }
        let src = fds.map(\.parent), dst = fds.map(\.child)
        var pid: pid_t = 0
        let rc: Int32 = cargs.withUnsafeBufferPointer { a in
            src.withUnsafeBufferPointer { s in
                dst.withUnsafeBufferPointer { d in
                    if let cenv {
                        return cenv.withUnsafeBufferPointer { e in
                            sl_spawn(path, a.baseAddress, e.baseAddress, s.baseAddress, d.baseAddress, Int32(fds.count), setsid ? 1 : 0, &pid)
                        }
                    }
                    return sl_spawn(path, a.baseAddress, environ, s.baseAddress, d.baseAddress, Int32(fds.count), setsid ? 1 : 0, &pid)
                }
            }
        }
        if rc != 0 { throw SystemError(op: "spawn", code: rc, detail: path) }
        return pid
    }

    /// waitpid, returning the shell-style status (exit code, or 128+signal).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return decode(status)
    }

    /// Non-blocking wait; nil while the process runs.
    public static func tryWait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == 0 { return nil }
        if r < 0 { return -1 }
        return decode(status)
    }

    static func decode(_ status: Int32) -> Int32 {
        let sig = status & 0x7f
        if sig == 0 { return (status >> 8) & 0xff }
        return 128 + sig
    }
}

/// Reads newline-terminated lines from a blocking descriptor.
public struct LineReader {
    let fd: Int32
    var buffer: [UInt8] = []
    var eof = false

    public init(fd: Int32) { self.fd = fd }

    public mutating func next() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if eof {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { eof = true; continue }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// What `GET /containerLogs/{ns}/{pod}/{container}` (and the master's `pods/{name}/log`) asks
/// for; the kubelet's query names.
public struct LogOptions: Sendable, Equatable {
    public var follow = false
    public var previous = false
    public var timestamps = false
    public var tailLines: Int?
    public var limitBytes: Int?
    /// Lines written before this are left out (`sinceSeconds` is turned into a time by the caller).
    public var since: Timestamp?

    public init() {}

    /// Parses the query; `now` turns `sinceSeconds` into a time. Errors name the parameter.
    public static func parse(_ query: [(String, String)], now: Timestamp) throws(KubeletAPIError) -> LogOptions {
        var o = LogOptions()
        func flag(_ v: String, _ name: String) throws(KubeletAPIError) -> Bool {
            switch v {
            case "", "true", "1": return true
            case "false", "0": return false
            default: throw .badRequest("\(name): not a boolean: \(v)")
            }
        }
        func positive(_ v: String, _ name: String, allowZero: Bool) throws(KubeletAPIError) -> Int {
            guard let n = Int(v), n > 0 || (allowZero && n == 0) else {
                throw .badRequest("\(name): must be \(allowZero ? "zero or more" : "greater than zero"), got \(v)")
            }
            return n
        }
        for (k, v) in query {
            switch k {
            case "follow": o.follow = try flag(v, k)
            case "previous": o.previous = try flag(v, k)
            case "timestamps": o.timestamps = try flag(v, k)
            case "tailLines": o.tailLines = try positive(v, k, allowZero: true)
            case "limitBytes": o.limitBytes = try positive(v, k, allowZero: false)
            case "sinceSeconds":
                let s = try positive(v, k, allowZero: false)
                o.since = Timestamp(seconds: now.seconds - s, nanoseconds: now.nanoseconds)
            case "sinceTime":
                guard let t = Timestamp.parse(v) else { throw .badRequest("sinceTime: not an RFC 3339 time: \(v)") }
                o.since = t
            default: break
            }
        }
        if o.previous && o.follow { o.follow = false }   // a terminated container's log does not grow
        return o
    }
}

/// One line of a CRI log file: `<RFC3339Nano> <stdout|stderr> <P|F> <text>`.
public struct CRILogLine: Equatable, Sendable {
    public var time: Substring
    public var stream: Substring
    public var partial: Bool
    public var message: Substring

    public init?(_ line: Substring) {
        let f = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard f.count >= 3 else { return nil }
        time = f[0]
        stream = f[1]
        partial = f[2] == "P"
        message = f.count == 4 ? f[3] : ""
    }

    /// What the container wrote: the text, and the newline unless the line was cut (P).
    public func output(timestamps: Bool) -> String {
        (timestamps ? time + " " : "") + message + (partial ? "" : "\n")
    }

    /// CRI log text back to the container's lines (the CLI's `swiftlet logs`): partial lines joined.
    public static func render(_ text: String, timestamps: Bool) -> [String] {
        var out: [String] = []
        var pending = ""
        var pendingTime = ""
        for line in text.split(separator: "\n") {
            guard let l = CRILogLine(line) else { continue }
            if pending.isEmpty { pendingTime = String(l.time) }
            pending += l.message
            if !l.partial {
                out.append(timestamps ? pendingTime + " " + pending : pending)
                pending = ""
            }
        }
        if !pending.isEmpty { out.append(timestamps ? pendingTime + " " + pending : pending) }
        return out
    }
}

/// Turns CRI log text into the bytes the kubelet answers with, applying `since`, `tailLines`
/// (counted in log lines, over the whole history) and `limitBytes` (over everything sent,
/// following included). Pure: the server feeds it file contents.
public struct LogFilter: Sendable {
    let options: LogOptions
    /// Bytes sent so far (limitBytes).
    public private(set) var sent = 0
    /// A line that has not ended yet in what was fed (a writer mid-line).
    var carry = ""

    public init(_ options: LogOptions) { self.options = options }

    public var done: Bool { options.limitBytes.map { sent >= $0 } ?? false }

    /// The initial answer from the whole of the existing text (all files, oldest first).
    public mutating func initial(_ text: String) -> [UInt8] {
        var lines = complete(text)
        if let n = options.tailLines { lines = Array(lines.suffix(n)) }
        return emit(lines)
    }

    /// What a following reader sends for text appended since.
    public mutating func more(_ text: String) -> [UInt8] { emit(complete(text)) }

    mutating func complete(_ text: String) -> [CRILogLine] {
        var all = carry + text
        carry = ""
        if let last = all.lastIndex(of: "\n"), all.index(after: last) != all.endIndex {
            carry = String(all[all.index(after: last)...])
            all = String(all[...last])
        } else if !all.contains("\n") {
            carry = all
            return []
        }
        var out: [CRILogLine] = []
        for raw in all.split(separator: "\n") {
            guard let l = CRILogLine(raw) else { continue }
            if let since = options.since, let t = Timestamp.parse(String(l.time)), t < since { continue }
            out.append(l)
        }
        return out
    }

    mutating func emit(_ lines: [CRILogLine]) -> [UInt8] {
        var bytes: [UInt8] = []
        for l in lines {
            if done { break }
            bytes += Array(l.output(timestamps: options.timestamps).utf8)
            if let limit = options.limitBytes, sent + bytes.count >= limit {
                bytes.removeLast(sent + bytes.count - limit)
                sent = limit
                return bytes
            }
        }
        sent += bytes.count
        return bytes
    }
}

/// Reads a live CRI log file as it grows and across rotation (the agent renames `N.log` to
/// `N.log.<time>` and starts a new `N.log`): what is left of the renamed file is read before the
/// new one.
public final class LogFollower {
    let path: String
    var fd: Int32 = -1
    var inode: UInt64 = 0

    /// Opens `path` at its current end (what is there was sent by the initial read).
    public init(path: String, from offset: Int64) {
        self.path = path
        open(at: offset)
    }

    deinit { if fd >= 0 { close(fd) } }

    func open(at offset: Int64) {
        if fd >= 0 { close(fd) }
        fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        var st = Glibc.stat()
        if fd >= 0, fstat(fd, &st) == 0 {
            inode = UInt64(st.st_ino)
            lseek(fd, off_t(min(offset, Int64(st.st_size))), SEEK_SET)
        }
    }

    /// What was appended since the last call ("" if nothing).
    public func read() -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        func drain() {
            guard fd >= 0 else { return }
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                out += buf[0..<n]
            }
        }
        drain()
        var st = Glibc.stat()
        if fstatat(AT_FDCWD, path, &st, 0) == 0, UInt64(st.st_ino) != inode || fd < 0 {
            drain()   // the rest of the rotated file, then the new one from its start
            open(at: 0)
            drain()
        }
        return String(decoding: out, as: UTF8.self)
    }
}

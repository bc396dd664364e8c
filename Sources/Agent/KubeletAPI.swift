import LinuxSystem

/// A kubelet API answer that is not a success: its HTTP status and a message (sent as a
/// `metav1.Status` so the master and kubectl show it).
public struct KubeletAPIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String

    public init(code: Int, reason: String, message: String) {
        self.code = code
        self.reason = reason
        self.message = message
    }

    public static func badRequest(_ m: String) -> KubeletAPIError { .init(code: 400, reason: "BadRequest", message: m) }
    public static func notFound(_ m: String) -> KubeletAPIError { .init(code: 404, reason: "NotFound", message: m) }
    public static let unauthorized = KubeletAPIError(code: 401, reason: "Unauthorized", message: "Unauthorized")
    public static func forbidden(_ m: String) -> KubeletAPIError { .init(code: 403, reason: "Forbidden", message: m) }

    public var description: String { message }

    public var statusJSON: String {
        JSON.object([("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])),
                     ("status", .string("Failure")), ("message", .string(message)), ("reason", .string(reason)),
                     ("code", .number(String(code)))]).serialized()
    }
}

/// The kubelet API's routes (the ones served here) as values.
public enum KubeletRoute: Equatable, Sendable {
    case healthz
    case pods
    case containerLogs(namespace: String, pod: String, container: String)
    case exec(namespace: String, pod: String, container: String)

    /// Splits the path (already percent-decoded segments are not expected: names are DNS labels).
    public static func parse(path: String) throws(KubeletAPIError) -> KubeletRoute {
        let segs = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        for s in segs where s == "." || s == ".." || s.contains("%") || s.contains("\0") {
            throw .badRequest("invalid path segment \"\(s)\"")
        }
        switch segs.first {
        case "healthz" where segs.count == 1: return .healthz
        case "pods" where segs.count == 1 || (segs.count == 2 && segs[1].isEmpty): return .pods
        case "containerLogs" where segs.count == 4 && !segs[1...].contains(""):
            return .containerLogs(namespace: segs[1], pod: segs[2], container: segs[3])
        case "exec" where segs.count == 4 && !segs[1...].contains(""):
            return .exec(namespace: segs[1], pod: segs[2], container: segs[3])
        default:
            throw .notFound("the kubelet API has no \(path)")
        }
    }

    /// What authorizing the request asks the master (the kubelet's mapping): the Node resource,
    /// with a subresource per path; `/healthz` needs none.
    public func authorization(method: String, node: String) -> (verb: String, subresource: String)? {
        let verb: String
        switch method {
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = "delete"
        default: verb = "get"
        }
        switch self {
        case .healthz: return nil
        case .pods, .containerLogs, .exec: return (verb, "proxy")
        }
    }
}

/// Splits a query into name/value pairs, percent-decoding both (`+` is a space); a name may repeat.
public func parseQuery(_ query: Substring) -> [(String, String)] {
    func decode(_ s: Substring) -> String {
        var out: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let c = u.popFirst() {
            if c == UInt8(ascii: "+") { out.append(32); continue }
            if c == UInt8(ascii: "%"), u.count >= 2, let v = UInt8(String(decoding: u.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                u = u.dropFirst(2)
                continue
            }
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }
    return query.split(separator: "&").map { kv in
        let p = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        return (decode(p[0]), p.count > 1 ? decode(p[1]) : "")
    }
}

/// What `/exec` asks for. The kubelet's names are `input`/`output`/`error`/`tty`; the API
/// server's (`stdin`/`stdout`/`stderr`) are accepted as well.
public struct ExecRequest: Equatable, Sendable {
    public var command: [String] = []
    public var stdin = false
    public var stdout = false
    public var stderr = false
    public var tty = false

    public init(command: [String] = [], stdin: Bool = false, stdout: Bool = false, stderr: Bool = false, tty: Bool = false) {
        self.command = command
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
    }

    public static func parse(_ query: [(String, String)]) throws(KubeletAPIError) -> ExecRequest {
        var r = ExecRequest()
        for (k, v) in query {
            let on = v == "1" || v == "true"
            switch k {
            case "command": r.command.append(v)
            case "input", "stdin": r.stdin = on
            case "output", "stdout": r.stdout = on
            case "error", "stderr": r.stderr = on
            case "tty": r.tty = on
            default: break
            }
        }
        guard !r.command.isEmpty else { throw .badRequest("exec: a command is required (query parameter command)") }
        guard r.stdin || r.stdout || r.stderr else { throw .badRequest("you must specify at least 1 of stdin, stdout, stderr") }
        // a terminal has one output: stderr goes where stdout goes
        if r.tty { r.stderr = false }
        return r
    }

    /// The query the kubelet takes, from the API server's (for the master's proxy).
    public var kubeletQuery: String {
        var q = command.map { "command=" + percentEncode($0) }
        if stdin { q.append("input=1") }
        if stdout { q.append("output=1") }
        if stderr { q.append("error=1") }
        if tty { q.append("tty=1") }
        return q.joined(separator: "&")
    }
}


/// The remote-command stream protocol over WebSocket (`v4.channel.k8s.io`, `v5.channel.k8s.io`):
/// every binary message starts with its channel number. v5 adds a close message (255, channel)
/// by which the client ends its stdin.
public enum ExecChannel: UInt8, Sendable {
    case stdin = 0, stdout = 1, stderr = 2, error = 3, resize = 4, close = 255

    /// The subprotocols served, best first.
    public static let protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]

    /// The one to answer with from the client's `Sec-WebSocket-Protocol` list (nil: none shared).
    public static func negotiate(_ offered: [String]) -> String? {
        let want = Set(offered.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces })
        return protocols.first { want.contains($0) }
    }

    /// The final Status on the error channel: Success, or the exit code as kubectl reads it.
    public static func exitStatus(_ status: Int32) -> String {
        guard status != 0 else { return #"{"metadata":{},"status":"Success"}"# }
        let code = status
        return JSON.object([
            ("metadata", .object([])), ("status", .string("Failure")),
            ("message", .string("command terminated with non-zero exit code: exit status \(code)")),
            ("reason", .string("NonZeroExitCode")),
            ("details", .object([("causes", .array([.object([("reason", .string("ExitCode")), ("message", .string(String(code)))])]))])),
        ]).serialized()
    }

    /// A failure that is not an exit code (the command could not be started).
    public static func failure(_ message: String) -> String {
        JSON.object([("metadata", .object([])), ("status", .string("Failure")), ("message", .string(message)),
                     ("reason", .string("InternalError"))]).serialized()
    }

    /// `{"Width":80,"Height":24}` from the resize channel.
    public static func parseResize(_ bytes: [UInt8]) -> (width: UInt16, height: UInt16)? {
        guard let j = try? JSON.parse(bytes),
              let w = try? JSONReader(j).integer("Width", UInt16.self), let h = try? JSONReader(j).integer("Height", UInt16.self) else { return nil }
        return (w, h)
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

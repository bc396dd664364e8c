import APIMachinery
import Auth
import LinuxSystem
import Yams

/// One HTTP request as the REST layer sees it (independent of the HTTP server, so the whole API
/// can be driven in unit tests).
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [(String, String)]
    /// Lower-cased names.
    public var headers: [String: String]
    public var body: [UInt8]
    /// The path as sent, before percent-decoding (checked for encoded slashes and dot segments).
    public var rawPath: String
    /// The identity of a client certificate the TLS layer verified against the cluster CA.
    public var peerUser: UserInfo?
    /// Who the request runs as, once authenticated (nil on an `--insecure-http` server).
    public var user: UserInfo?

    public init(method: String, path: String, query: [(String, String)] = [], headers: [String: String] = [:], body: [UInt8] = [],
                rawPath: String? = nil, peerUser: UserInfo? = nil) {
        self.method = method.uppercased()
        self.path = path
        self.rawPath = rawPath ?? path
        self.peerUser = peerUser
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// Splits `path?query` (percent-decoding the query).
    public init(method: String, target: String, headers: [String: String] = [:], body: [UInt8] = [], peerUser: UserInfo? = nil) {
        var path = target
        var query: [(String, String)] = []
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = Self.parseQuery(String(target[target.index(after: q)...]))
        }
        self.init(method: method, path: Self.percentDecode(path, plus: false), query: query, headers: headers, body: body, rawPath: path, peerUser: peerUser)
    }

    public static func parseQuery(_ q: String) -> [(String, String)] {
        q.split(separator: "&", omittingEmptySubsequences: true).map { part in
            if let eq = part.firstIndex(of: "=") {
                return (percentDecode(String(part[..<eq]), plus: true), percentDecode(String(part[part.index(after: eq)...]), plus: true))
            }
            return (percentDecode(String(part), plus: true), "")
        }
    }

    public static func percentDecode(_ s: String, plus: Bool) -> String {
        var out: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while i < u.count {
            if u[i] == 0x25, i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(plus && u[i] == 0x2b ? 0x20 : u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public func q(_ name: String) -> String? { query.last(where: { $0.0 == name })?.1 }
    func flag(_ name: String) -> Bool { q(name).map { $0 == "true" || $0 == "1" } ?? false }
    func header(_ name: String) -> String? { headers[name] }

    /// The media type of the body, without parameters (missing means JSON, as kube-apiserver
    /// takes it: `kubectl create namespace` 1.20 sends none).
    var contentType: String {
        let raw = headers["content-type"] ?? "application/json"
        return raw.split(separator: ";").first.map { $0.trimmingCharacters(in: " ") }?.lowercased() ?? "application/json"
    }

    var fieldManager: String {
        if let m = q("fieldManager"), !m.isEmpty { return m }
        // the User-Agent's program name, as the API server defaults it
        let ua = headers["user-agent"] ?? ""
        return String(ua.split(separator: "/").first ?? "unknown")
    }

    var dryRun: Bool { query.contains { $0.0 == "dryRun" && $0.1 == "All" } }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// A response: bytes, or a stream of chunks (watch).
public struct APIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var stream: AsyncStream<[UInt8]>?
    /// An authorized exec/attach: the HTTP layer hands the connection to this kubelet endpoint.
    public var upgrade: KubeletTarget?

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], stream: AsyncStream<[UInt8]>? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }

    static func json(_ status: Int, _ value: JSON, contentType: String = "application/json") -> APIResponse {
        APIResponse(status: status, headers: [("Content-Type", contentType)], body: Array((value.serialized(htmlSafe: true) + "\n").utf8))
    }

    static func error(_ s: APIStatus) -> APIResponse { json(s.code, s.json) }

    /// One RFC 7234 `Warning: 299 - "…"` header per message, as kube-apiserver sends them.
    func warning(_ messages: [String]) -> APIResponse {
        var r = self
        for m in messages {
            var text = ""
            for c in m { if c == "\"" || c == "\\" { text.append("\\") }; text.append(c) }
            r.headers.append(("Warning", "299 - \"" + text + "\""))
        }
        return r
    }

    public var bodyJSON: JSON? { try? JSON.parse(body) }
}

/// Request bodies: JSON, YAML (converted with member order kept), size-limited.
enum Body {
    static let maxBytes = 3 * 1024 * 1024

    static func decode(_ req: APIRequest, kindForErrors kind: String) throws -> JSON {
        if req.body.count > maxBytes {
            throw APIStatus(code: 413, reason: "RequestEntityTooLarge", message: "the request is too large: \(req.body.count) bytes, the limit is \(maxBytes)", hasDetails: false)
        }
        let ct = req.contentType
        if ct.hasSuffix("yaml") {
            return try yaml(req.body, kind: kind)
        }
        do {
            return try JSON.parse(req.body)
        } catch {
            let head = String(decoding: req.body.prefix(30), as: UTF8.self)
            throw APIStatus.badRequest("the object provided is unrecognized (must be of type \(kind)): couldn't get version/kind; json parse error: \(error.message) (\(head) ...)")
        }
    }

    static func yaml(_ bytes: [UInt8], kind: String) throws -> JSON {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw APIStatus.badRequest("the request body is not UTF-8") }
        do {
            guard let node = try Yams.compose(yaml: text) else { return .null }
            return try json(node, depth: 0)
        } catch let s as APIStatus {
            throw s
        } catch {
            throw APIStatus.badRequest("the object provided is unrecognized (must be of type \(kind)): yaml: \("\(error)".replacing("\n", with: " "))")
        }
    }

    static func json(_ node: Node, depth: Int) throws -> JSON {
        if depth > 200 { throw APIStatus.badRequest("yaml: exceeded max depth of 200") }
        switch node {
        case .scalar(let s):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return .bool(Bool.construct(from: s) ?? false)
            case Tag.Name.int.rawValue: return Int64.construct(from: s).map { .number(String($0)) } ?? .string(s.string)
            case Tag.Name.float.rawValue:
                if let d = Double.construct(from: s), d.isFinite { return .number(d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)) }
                return .string(s.string)
            default: return .string(s.string)
            }
        case .sequence(let seq):
            return .array(try seq.map { try json($0, depth: depth + 1) })
        case .mapping(let m):
            var members: [(String, JSON)] = []
            for (k, v) in m {
                guard case .scalar(let ks) = k else { throw APIStatus.badRequest("yaml: mapping keys must be scalars") }
                members.append((ks.string, try json(v, depth: depth + 1)))
            }
            return .object(members)
        case .alias:
            throw APIStatus.badRequest("yaml: aliases are not supported")
        }
    }
}

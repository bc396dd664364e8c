import APIMachinery
import Foundation
import LinuxSystem

public enum KubeError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The server answered with a Status: its code, reason and message.
    case status(code: Int, reason: String, message: String)
    /// The request never got an answer (connection, TLS, a cut stream).
    case transport(String)
    /// An answer that is not what the API sends.
    case decoding(String)

    public var description: String {
        switch self {
        case let .status(code, reason, message): return "\(message) (\(code) \(reason))"
        case .transport(let m): return m
        case .decoding(let m): return m
        }
    }

    public var code: Int? { if case .status(let c, _, _) = self { return c }; return nil }
    public var isNotFound: Bool { code == 404 }
    public var isConflict: Bool { code == 409 }
    /// 410 Gone: a resourceVersion older than the server keeps (relist).
    public var isExpired: Bool { code == 410 }
}

/// One kind of the API, as a path: `/api/v1` or `/apis/<group>/<version>`, the plural, its scope.
public struct Resource: Sendable, Hashable {
    public var group: String
    public var version: String
    public var resource: String
    public var namespaced: Bool

    public init(group: String = "", version: String = "v1", resource: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.namespaced = namespaced
    }

    public static let pods = Resource(resource: "pods", namespaced: true)
    public static let nodes = Resource(resource: "nodes", namespaced: false)
    public static let namespaces = Resource(resource: "namespaces", namespaced: false)
    public static let configMaps = Resource(resource: "configmaps", namespaced: true)
    public static let secrets = Resource(resource: "secrets", namespaced: true)
    public static let services = Resource(resource: "services", namespaced: true)
    public static let endpoints = Resource(resource: "endpoints", namespaced: true)
    public static let events = Resource(resource: "events", namespaced: true)
    public static let serviceAccounts = Resource(resource: "serviceaccounts", namespaced: true)
    public static let leases = Resource(group: "coordination.k8s.io", resource: "leases", namespaced: true)
    public static let deployments = Resource(group: "apps", resource: "deployments", namespaced: true)
    public static let replicaSets = Resource(group: "apps", resource: "replicasets", namespaced: true)
    public static let csrs = Resource(group: "certificates.k8s.io", resource: "certificatesigningrequests", namespaced: false)

    /// `…/namespaces/<ns>/<resource>[/<name>[/<subresource>]]`; a nil namespace of a namespaced
    /// kind is the all-namespaces collection.
    public func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var p = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { p += "/namespaces/" + Self.escape(namespace) }
        p += "/" + resource
        if let name { p += "/" + Self.escape(name) }
        if let subresource { p += "/" + subresource }
        return p
    }

    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
    /// Percent-encodes everything but RFC 3986 unreserved characters (a name never adds a path segment).
    public static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if unreserved.contains(b) { out.unicodeScalars.append(UnicodeScalar(b)) } else { out += String(format: "%%%02X", b) }
        }
        return out
    }
}

/// What a list answered: the items and the collection's resourceVersion (the point to watch from).
public struct ObjectList: Sendable {
    public var items: [JSON]
    public var resourceVersion: String
    public var continueToken: String?
}

public enum PatchType: String, Sendable {
    case json = "application/json-patch+json"
    case merge = "application/merge-patch+json"
    case strategic = "application/strategic-merge-patch+json"
    case apply = "application/apply-patch+yaml"
}

/// A typed-on-JSON client of one API server (the agent's, the scheduler's and the controllers'
/// only way to the cluster, as client-go is for their upstream peers).
public struct KubeClient: Sendable {
    public let transport: any KubeTransport
    public let userAgent: String

    public init(transport: any KubeTransport, userAgent: String = "swiftlet") {
        self.transport = transport
        self.userAgent = userAgent
    }

    public init(config: KubeConfig, userAgent: String = "swiftlet") throws {
        self.init(transport: try HTTPTransport(config), userAgent: userAgent)
    }

    public func shutdown() async { await transport.shutdown() }

    static func query(_ q: [(String, String)]) -> String {
        q.isEmpty ? "" : "?" + q.map { Resource.escape($0.0) + "=" + Resource.escape($0.1) }.joined(separator: "&")
    }

    /// One request whose answer is a JSON object; a non-2xx answer is thrown as its Status.
    public func request(_ method: String, _ path: String, query: [(String, String)] = [], body: JSON? = nil,
                        contentType: String = "application/json") async throws -> JSON {
        var headers = [("Accept", "application/json"), ("User-Agent", userAgent)]
        var bytes: [UInt8] = []
        if let body {
            headers.append(("Content-Type", contentType))
            bytes = Array(body.serialized().utf8)
        }
        let r = try await transport.send(KubeHTTPRequest(method: method, target: path + Self.query(query), headers: headers, body: bytes))
        let data = try await r.collect()
        guard (200..<300).contains(r.status) else { throw Self.statusError(r.status, data, "\(method) \(path)") }
        do { return try JSON.parse(data) } catch {
            throw KubeError.decoding("\(method) \(path): the answer is not JSON: \(error)")
        }
    }

    static func statusError(_ code: Int, _ body: [UInt8], _ what: String) -> KubeError {
        if let s = try? JSON.parse(body), case .string(let kind)? = s["kind"], kind == "Status" {
            let reason: String = if case .string(let r)? = s["reason"] { r } else { "" }
            let message: String = if case .string(let m)? = s["message"] { m } else { "" }
            return .status(code: code, reason: reason, message: message.isEmpty ? "\(what): \(code)" : message)
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return .status(code: code, reason: "", message: "\(what): \(code) \(text)")
    }

    public func get(_ r: Resource, namespace: String? = nil, name: String) async throws -> JSON {
        try await request("GET", r.path(namespace: namespace, name: name))
    }

    /// One page (`limit` > 0) or the whole collection; the informer pages through with `continue`.
    public func list(_ r: Resource, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                     limit: Int = 0, continueToken: String? = nil, resourceVersion: String? = nil) async throws -> ObjectList {
        var q: [(String, String)] = []
        if let labelSelector, !labelSelector.isEmpty { q.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { q.append(("fieldSelector", fieldSelector)) }
        if limit > 0 { q.append(("limit", String(limit))) }
        if let continueToken { q.append(("continue", continueToken)) }
        if let resourceVersion { q.append(("resourceVersion", resourceVersion)) }
        let o = try await request("GET", r.path(namespace: namespace), query: q)
        guard case .array(let items)? = o["items"] else { throw KubeError.decoding("list \(r.resource): no items in the answer") }
        let meta = o["metadata"]
        let rv: String = if case .string(let v)? = meta?["resourceVersion"] { v } else { "" }
        let cont: String? = if case .string(let c)? = meta?["continue"], !c.isEmpty { c } else { nil }
        return ObjectList(items: items, resourceVersion: rv, continueToken: cont)
    }

    public func create(_ r: Resource, namespace: String? = nil, _ object: JSON, subresource: String? = nil, name: String? = nil) async throws -> JSON {
        try await request("POST", r.path(namespace: namespace, name: name, subresource: subresource), body: object)
    }

    public func update(_ r: Resource, namespace: String? = nil, name: String, _ object: JSON, subresource: String? = nil) async throws -> JSON {
        try await request("PUT", r.path(namespace: namespace, name: name, subresource: subresource), body: object)
    }

    public func patch(_ r: Resource, namespace: String? = nil, name: String, type: PatchType, _ patch: JSON,
                      subresource: String? = nil, fieldManager: String? = nil, force: Bool = false) async throws -> JSON {
        var q: [(String, String)] = []
        if let fieldManager { q.append(("fieldManager", fieldManager)) }
        if force { q.append(("force", "true")) }
        return try await request("PATCH", r.path(namespace: namespace, name: name, subresource: subresource), query: q,
                                 body: patch, contentType: type.rawValue)
    }

    /// DELETE with DeleteOptions: a grace period and a UID precondition (delete exactly this object,
    /// not one re-created under the same name meanwhile).
    public func delete(_ r: Resource, namespace: String? = nil, name: String, gracePeriodSeconds: Int? = nil,
                       uid: String? = nil, propagation: String? = nil) async throws -> JSON {
        var o = JSONObject()
        o.set("kind", "DeleteOptions")
        o.set("apiVersion", "v1")
        o.set("gracePeriodSeconds", gracePeriodSeconds)
        if let uid { o.set("preconditions", JSON.object([("uid", .string(uid))])) }
        o.set("propagationPolicy", propagation)
        return try await request("DELETE", r.path(namespace: namespace, name: name), body: .object(o.members))
    }

    /// `?watch=1` from `resourceVersion`: the events as they arrive. The stream ends when the server
    /// ends the watch (its timeout) and throws when the connection breaks; an ERROR event (410 when
    /// the version is too old) is delivered as such, for the caller to relist.
    public func watch(_ r: Resource, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                      resourceVersion: String, timeoutSeconds: Int = 300, bookmarks: Bool = true) async throws -> AsyncThrowingStream<WatchEvent, any Error> {
        var q: [(String, String)] = [("watch", "1"), ("resourceVersion", resourceVersion), ("timeoutSeconds", String(timeoutSeconds))]
        if bookmarks { q.append(("allowWatchBookmarks", "true")) }
        if let labelSelector, !labelSelector.isEmpty { q.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { q.append(("fieldSelector", fieldSelector)) }
        let target = r.path(namespace: namespace) + Self.query(q)
        let resp = try await transport.send(KubeHTTPRequest(method: "GET", target: target,
                                                            headers: [("Accept", "application/json"), ("User-Agent", userAgent)]))
        guard resp.status == 200 else {
            throw Self.statusError(resp.status, try await resp.collect(limit: 1 << 20), "watch \(r.resource)")
        }
        let body = resp.body
        return AsyncThrowingStream { c in
            let task = Task {
                var buf: [UInt8] = []
                do {
                    for try await chunk in body {
                        buf += chunk
                        while let nl = buf.firstIndex(of: 0x0A) {
                            let line = Array(buf[..<nl])
                            buf.removeSubrange(...nl)
                            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                            c.yield(try Self.event(line))
                        }
                        if buf.count > 64 << 20 { throw KubeError.decoding("watch \(r.resource): a line longer than 64 MiB") }
                    }
                    if !buf.isEmpty, !buf.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { c.yield(try Self.event(buf)) }
                    c.finish()
                } catch {
                    c.finish(throwing: error)
                }
            }
            c.onTermination = { _ in task.cancel() }
        }
    }

    static func event(_ line: [UInt8]) throws -> WatchEvent {
        let o: JSON
        do { o = try JSON.parse(line) } catch { throw KubeError.decoding("a watch line is not JSON: \(error)") }
        guard case .string(let t)? = o["type"], let kind = WatchEvent.Kind(rawValue: t), let obj = o["object"] else {
            throw KubeError.decoding("a watch line is not an event: \(String(decoding: line.prefix(120), as: UTF8.self))")
        }
        return WatchEvent(kind, obj)
    }
}

extension JSON {
    /// `metadata.<field>` as a string ("" when absent).
    public func meta(_ field: String) -> String {
        if case .string(let s)? = self["metadata"]?[field] { return s }
        return ""
    }

    /// `namespace/name` (or `name` for cluster-scoped objects): the informer's cache key.
    public var objectKey: String {
        let ns = meta("namespace")
        return ns.isEmpty ? meta("name") : ns + "/" + meta("name")
    }
}

import LinuxSystem

/// metav1.Status as kube-apiserver answers every error: `{kind, apiVersion, metadata, status,
/// message, reason, details?, code}` in that order, `details.kind` the resource (plural) name or,
/// for Invalid, the Kind. Constructors carry the API server's wording for each reason.
public struct APIStatus: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Cause: Sendable, Equatable {
        public var reason: String
        public var message: String
        public var field: String
        public init(reason: String, message: String, field: String) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }

    public var code: Int
    public var reason: String
    public var message: String
    public var name: String?
    public var group: String?
    public var kind: String?
    public var causes: [Cause] = []
    public var retryAfterSeconds: Int?
    /// metadata.continue (a fresh token for an expired one).
    public var continueToken: String?
    /// Whether `details` is written at all (a 404 for an unknown resource writes `{}`).
    public var hasDetails: Bool

    public init(code: Int, reason: String, message: String, name: String? = nil, group: String? = nil, kind: String? = nil,
                causes: [Cause] = [], hasDetails: Bool? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.group = group.flatMap { $0.isEmpty ? nil : $0 }
        self.kind = kind
        self.causes = causes
        self.hasDetails = hasDetails ?? (name != nil || kind != nil || !causes.isEmpty)
    }

    public var description: String { message }

    /// `pods` or `deployments.apps`, as messages name a resource.
    static func qualified(_ resource: String, _ group: String?) -> String {
        guard let g = group, !g.isEmpty else { return resource }
        return resource + "." + g
    }

    public static func notFound(resource: String, group: String? = nil, name: String) -> APIStatus {
        APIStatus(code: 404, reason: "NotFound", message: "\(qualified(resource, group)) \"\(name)\" not found",
                  name: name, group: group, kind: resource)
    }

    /// A path no registered resource serves.
    public static let unknownResource = APIStatus(code: 404, reason: "NotFound", message: "the server could not find the requested resource",
                                                 hasDetails: true)

    public static func alreadyExists(resource: String, group: String? = nil, name: String) -> APIStatus {
        APIStatus(code: 409, reason: "AlreadyExists", message: "\(qualified(resource, group)) \"\(name)\" already exists",
                  name: name, group: group, kind: resource)
    }

    /// A stale resourceVersion on update/delete.
    public static func conflict(resource: String, group: String? = nil, name: String) -> APIStatus {
        APIStatus(code: 409, reason: "Conflict",
                  message: "Operation cannot be fulfilled on \(qualified(resource, group)) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                  name: name, group: group, kind: resource)
    }

    /// 422: `Pod "x" is invalid: [cause, cause]` (one cause: no brackets).
    public static func invalid(kind: String, group: String? = nil, name: String, causes: [Cause]) -> APIStatus {
        let parts = causes.map { "\($0.field): \($0.message)" }
        let joined = parts.count == 1 ? parts[0] : "[" + parts.joined(separator: ", ") + "]"
        let what = group.flatMap { $0.isEmpty ? nil : "\(kind).\($0)" } ?? kind
        return APIStatus(code: 422, reason: "Invalid", message: "\(what) \"\(name)\" is invalid: \(joined)",
                         name: name, group: group, kind: kind, causes: causes)
    }

    public static func badRequest(_ message: String) -> APIStatus {
        APIStatus(code: 400, reason: "BadRequest", message: message, hasDetails: false)
    }

    public static let unsupportedMediaType = APIStatus(
        code: 415, reason: "UnsupportedMediaType",
        message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        hasDetails: false)

    public static let methodNotAllowed = APIStatus(code: 405, reason: "MethodNotAllowed",
                                                  message: "the server does not allow this method on the requested resource",
                                                  hasDetails: true)

    /// A list at a compacted resourceVersion.
    public static let listTooOld = APIStatus(code: 410, reason: "Expired", message: "The resourceVersion for the provided list is too old.",
                                            hasDetails: false)

    /// A watch from a revision no longer kept (sent as an ERROR event; `oldest` in parentheses).
    public static func watchTooOld(requested: Int64, oldest: Int64) -> APIStatus {
        APIStatus(code: 410, reason: "Expired", message: "too old resource version: \(requested) (\(oldest))", hasDetails: false)
    }

    /// The body, in the API server's member order.
    public var json: JSON {
        var meta = JSONObject()
        meta.set("continue", continueToken)
        var o = JSONObject()
        o.set("kind", "Status")
        o.set("apiVersion", "v1")
        o.set("metadata", meta.json)
        o.set("status", "Failure")
        o.set("message", message)
        o.set("reason", reason)
        if hasDetails {
            var d = JSONObject()
            d.set("name", name)
            d.set("group", group)
            d.set("kind", kind)
            if !causes.isEmpty {
                d.set("causes", JSON.array(causes.map { c in
                    var x = JSONObject()
                    x.set("reason", c.reason)
                    x.set("message", c.message)
                    x.set("field", c.field)
                    return x.json
                }))
            }
            d.set("retryAfterSeconds", retryAfterSeconds)
            o.set("details", d.json)
        }
        o.set("code", code)
        return o.json
    }
}

import LinuxSystem

/// One line of a watch stream (`?watch=1`, newline-delimited JSON as kube-apiserver writes it).
public struct WatchEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
    }
    public var type: Kind
    public var object: JSON

    public init(_ type: Kind, _ object: JSON) {
        self.type = type
        self.object = object
    }

    public var json: JSON { .object([("type", .string(type.rawValue)), ("object", object)]) }

    /// The bytes on the wire: compact, HTML-safe, one event per line.
    public var line: String { json.serialized(htmlSafe: true) + "\n" }

    /// `allowWatchBookmarks`: an empty object of the kind carrying only the resourceVersion (for
    /// pods exactly what the API server sends: the Go zero value of a Pod).
    public static func bookmark(kind: String, apiVersion: String, resourceVersion: Int64) -> WatchEvent {
        var o: [(String, JSON)] = [("kind", .string(kind)), ("apiVersion", .string(apiVersion)),
                                   ("metadata", .object([("resourceVersion", .string(String(resourceVersion))), ("creationTimestamp", .null)]))]
        if kind == "Pod" { o += [("spec", .object([("containers", .null)])), ("status", .object([]))] }
        return WatchEvent(.bookmark, .object(o))
    }

    /// A watch from a revision that is gone: one ERROR event with a 410 Expired Status.
    public static func expired(requested: Int64, oldest: Int64) -> WatchEvent {
        WatchEvent(.error, APIStatus.watchTooOld(requested: requested, oldest: oldest).json)
    }
}

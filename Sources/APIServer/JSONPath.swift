import LinuxSystem

/// Small in-place edits of stored JSON objects (member order kept, unknown fields untouched).
extension JSON {
    var objectMembers: [(String, JSON)]? { if case .object(let m) = self { return m }; return nil }
    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    /// nil for a non-number and for one no Int64 holds (1e30 must not trap the server)
    var int64Value: Int64? { if case .number(let n) = self { return Int64(n) ?? Double(n).flatMap { Int64(exactly: $0.rounded(.towardZero)) } }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }

    subscript(path path: [String]) -> JSON? {
        var cur: JSON? = self
        for p in path { cur = cur?[p] }
        return cur
    }

    /// Sets (or, with nil, removes) a member; missing or non-object parents become objects.
    mutating func set(_ path: [String], _ value: JSON?) {
        guard let first = path.first else {
            if let value { self = value }
            return
        }
        var members = objectMembers ?? []
        if path.count == 1 {
            if let i = members.firstIndex(where: { $0.0 == first }) {
                if let value { members[i].1 = value } else { members.remove(at: i) }
            } else if let value {
                members.append((first, value))
            }
        } else {
            var child = members.first(where: { $0.0 == first })?.1 ?? .object([])
            if child.objectMembers == nil { child = .object([]) }
            child.set(Array(path.dropFirst()), value)
            if let i = members.firstIndex(where: { $0.0 == first }) { members[i].1 = child } else { members.append((first, child)) }
        }
        self = .object(members)
    }

    mutating func setDefault(_ path: [String], _ value: JSON) {
        if let v = self[path: path], !v.isNull { return }
        set(path, value)
    }

    /// A string map member (`metadata.labels`), nil when absent or not a map of strings.
    func stringMap(_ path: [String]) -> [String: String] {
        guard let m = self[path: path]?.objectMembers else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in m { if let s = v.stringValue { out[k] = s } }
        return out
    }

    /// Object members ordered as the API server writes them: kind, apiVersion, metadata first.
    func withTypeMetaFirst() -> JSON {
        guard var m = objectMembers else { return self }
        var head: [(String, JSON)] = []
        for k in ["kind", "apiVersion", "metadata"] {
            if let i = m.firstIndex(where: { $0.0 == k }) { head.append(m.remove(at: i)) }
        }
        return .object(head + m)
    }

    static func int(_ v: Int64) -> JSON { .number(String(v)) }
    static func int(_ v: Int) -> JSON { .number(String(v)) }
}

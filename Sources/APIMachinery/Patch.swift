import LinuxSystem

/// Why a patch could not be applied (the API server answers 422, or 400 for a malformed patch).
public struct PatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge member by member,
/// `null` removes a member, anything else (arrays included) replaces.
public enum MergePatch {
    public static func apply(_ patch: JSON, to target: JSON) -> JSON {
        guard case .object(let pm) = patch else { return patch }
        var members: [(String, JSON)]
        if case .object(let tm) = target { members = tm } else { members = [] }
        for (k, v) in pm {
            let i = members.firstIndex { $0.0 == k }
            if v == .null {
                if let i { members.remove(at: i) }
            } else if let i {
                members[i].1 = apply(v, to: members[i].1)
            } else {
                members.append((k, apply(v, to: .null)))
            }
        }
        return .object(members)
    }

    /// The merge patch that turns `from` into `to` (what `kubectl apply` and `edit` compute).
    public static func diff(from: JSON, to: JSON) -> JSON {
        guard case .object(let fm) = from, case .object(let tm) = to else { return to }
        var out: [(String, JSON)] = []
        for (k, _) in fm where to[k] == nil { out.append((k, .null)) }
        for (k, v) in tm {
            if let old = from[k] {
                if old == v { continue }
                if case .object = old, case .object = v { out.append((k, diff(from: old, to: v))) } else { out.append((k, v)) }
            } else {
                out.append((k, v))
            }
        }
        return .object(out)
    }
}

/// JSON patch (RFC 6902, `application/json-patch+json`): add, remove, replace, move, copy and
/// test, addressed by JSON pointers (RFC 6901). All or nothing: a failing operation leaves the
/// document as it was.
public enum JSONPatch {
    public static func apply(_ patch: JSON, to document: JSON) throws(PatchError) -> JSON {
        guard case .array(let ops) = patch else { throw PatchError("json patch must be an array of operations, got \(patch.typeName)") }
        var doc = document
        for (i, op) in ops.enumerated() {
            guard case .object = op, case .string(let name)? = op["op"] else {
                throw PatchError("operation \(i): missing \"op\"")
            }
            guard case .string(let path)? = op["path"] else { throw PatchError("operation \(i) (\(name)): missing \"path\"") }
            let ptr = try Pointer(path)
            switch name {
            case "add":
                guard let v = op["value"] else { throw PatchError("operation \(i) (add): missing \"value\"") }
                doc = try add(v, at: ptr, in: doc)
            case "remove":
                doc = try remove(at: ptr, in: doc).doc
            case "replace":
                guard let v = op["value"] else { throw PatchError("operation \(i) (replace): missing \"value\"") }
                _ = try get(ptr, in: doc)
                doc = try modify(doc, ptr.tokens[...], path: ptr.tokens) { parent, last throws(PatchError) in
                    switch parent {
                    case .object(var m):
                        m[m.firstIndex { $0.0 == last }!].1 = v
                        return .object(m)
                    case .array(var a):
                        a[try index(last, count: a.count, allowEnd: false, path: ptr.tokens)] = v
                        return .array(a)
                    default:
                        throw PatchError("path \(path) does not exist")
                    }
                } whole: { v }
            case "move", "copy":
                guard case .string(let f)? = op["from"] else { throw PatchError("operation \(i) (\(name)): missing \"from\"") }
                let from = try Pointer(f)
                if name == "move" {
                    if ptr.tokens.count > from.tokens.count && Array(ptr.tokens.prefix(from.tokens.count)) == from.tokens {
                        throw PatchError("operation \(i) (move): cannot move \"\(f)\" into its own child \"\(path)\"")
                    }
                    let (d, v) = try remove(at: from, in: doc)
                    doc = try add(v, at: ptr, in: d)
                } else {
                    doc = try add(try get(from, in: doc), at: ptr, in: doc)
                }
            case "test":
                guard let v = op["value"] else { throw PatchError("operation \(i) (test): missing \"value\"") }
                let have = try get(ptr, in: doc)
                guard equal(have, v) else { throw PatchError("testing value \(path) failed") }
            default:
                throw PatchError("operation \(i): unknown op \"\(name)\"")
            }
        }
        return doc
    }

    /// RFC 6902 §4.6: numbers are equal by value, objects regardless of member order.
    static func equal(_ a: JSON, _ b: JSON) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)):
            if x == y { return true }
            if let dx = Double(x), let dy = Double(y) { return dx == dy }
            return false
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return false }
            return x.allSatisfy { k, v in b[k].map { equal(v, $0) } ?? false }
        default: return a == b
        }
    }

    public struct Pointer: Sendable, Equatable {
        public var tokens: [String]
        public init(_ text: String) throws(PatchError) {
            if text.isEmpty { tokens = []; return }
            guard text.hasPrefix("/") else { throw PatchError("invalid JSON pointer \"\(text)\": must start with /") }
            var out: [String] = []
            for raw in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                var t = ""
                var it = raw.makeIterator()
                while let c = it.next() {
                    if c == "~" {
                        switch it.next() {
                        case "0": t.append("~")
                        case "1": t.append("/")
                        default: throw PatchError("invalid JSON pointer \"\(text)\": ~ must be followed by 0 or 1")
                        }
                    } else {
                        t.append(c)
                    }
                }
                out.append(t)
            }
            tokens = out
        }
    }

    static func index(_ t: String, count: Int, allowEnd: Bool, path: [String]) throws(PatchError) -> Int {
        if allowEnd && t == "-" { return count }
        guard let i = Int(t), String(i) == t, i >= 0 else { throw PatchError("invalid array index \"\(t)\" in /\(path.joined(separator: "/"))") }
        guard i < count || (allowEnd && i == count) else { throw PatchError("array index \(i) out of bounds in /\(path.joined(separator: "/"))") }
        return i
    }

    static func get(_ p: Pointer, in doc: JSON) throws(PatchError) -> JSON {
        var cur = doc
        for (n, t) in p.tokens.enumerated() {
            switch cur {
            case .object:
                guard let v = cur[t] else { throw PatchError("path /\(p.tokens[...n].joined(separator: "/")) does not exist") }
                cur = v
            case .array(let a):
                cur = a[try index(t, count: a.count, allowEnd: false, path: Array(p.tokens[...n]))]
            default:
                throw PatchError("path /\(p.tokens[...n].joined(separator: "/")) does not exist")
            }
        }
        return cur
    }

    static func add(_ value: JSON, at p: Pointer, in doc: JSON) throws(PatchError) -> JSON {
        try modify(doc, p.tokens[...], path: p.tokens) { parent, last throws(PatchError) in
            switch parent {
            case .object(var m):
                if let i = m.firstIndex(where: { $0.0 == last }) { m[i].1 = value } else { m.append((last, value)) }
                return .object(m)
            case .array(var a):
                a.insert(value, at: try index(last, count: a.count, allowEnd: true, path: p.tokens))
                return .array(a)
            default:
                throw PatchError("cannot add to /\(p.tokens.dropLast().joined(separator: "/")): not an object or array")
            }
        } whole: { value }
    }

    static func remove(at p: Pointer, in doc: JSON) throws(PatchError) -> (doc: JSON, removed: JSON) {
        guard !p.tokens.isEmpty else { throw PatchError("cannot remove the whole document") }
        let removed = try get(p, in: doc)
        let d = try modify(doc, p.tokens[...], path: p.tokens) { parent, last throws(PatchError) in
            switch parent {
            case .object(var m):
                m.removeAll { $0.0 == last }
                return .object(m)
            case .array(var a):
                a.remove(at: try index(last, count: a.count, allowEnd: false, path: p.tokens))
                return .array(a)
            default:
                throw PatchError("path /\(p.tokens.joined(separator: "/")) does not exist")
            }
        } whole: { .null }
        return (d, removed)
    }

    /// Walks to the parent of the last token and lets `edit` change it.
    static func modify(_ cur: JSON, _ tokens: ArraySlice<String>, path: [String],
                       edit: (JSON, String) throws(PatchError) -> JSON, whole: () -> JSON) throws(PatchError) -> JSON {
        guard let first = tokens.first else { return whole() }
        if tokens.count == 1 { return try edit(cur, first) }
        let depth = path.count - tokens.count
        switch cur {
        case .object(var m):
            guard let i = m.firstIndex(where: { $0.0 == first }) else {
                throw PatchError("path /\(path[...depth].joined(separator: "/")) does not exist")
            }
            m[i].1 = try modify(m[i].1, tokens.dropFirst(), path: path, edit: edit, whole: whole)
            return .object(m)
        case .array(var a):
            let i = try index(first, count: a.count, allowEnd: false, path: Array(path[...depth]))
            a[i] = try modify(a[i], tokens.dropFirst(), path: path, edit: edit, whole: whole)
            return .array(a)
        default:
            throw PatchError("path /\(path[...depth].joined(separator: "/")) does not exist")
        }
    }
}

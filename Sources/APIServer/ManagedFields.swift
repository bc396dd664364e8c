import APIMachinery
import LinuxSystem

/// `metadata.managedFields`: which manager set which fields (FieldsV1: `f:<field>` for a member,
/// `k:{"name":"c"}` for a list element with a merge key, `.` for the element itself), and
/// server-side apply's ownership rules on top of it.
enum ManagedFields {
    typealias Path = [String]

    /// The field paths an object sets (metadata only labels/annotations/finalizers/ownerReferences;
    /// no status), as FieldsV1 tokens.
    static func paths(_ obj: JSON, schema: PatchSchema = .generic) -> Set<Path> {
        var out = Set<Path>()
        for (k, v) in obj.objectMembers ?? [] {
            switch k {
            case "apiVersion", "kind", "status": continue
            case "metadata":
                for (mk, mv) in v.objectMembers ?? [] where ["labels", "annotations", "finalizers", "ownerReferences"].contains(mk) {
                    walk(mv, ["f:metadata", "f:" + mk], schema.child("metadata").child(mk), &out)
                }
            default:
                walk(v, ["f:" + k], schema.child(k), &out)
            }
        }
        return out
    }

    static func walk(_ v: JSON, _ path: Path, _ schema: PatchSchema, _ out: inout Set<Path>) {
        switch v {
        case .object(let m) where !m.isEmpty:
            for (k, x) in m { walk(x, path + ["f:" + k], schema.child(k), &out) }
        case .array(let items):
            if case .merge(let key?) = schema.strategy {
                var any = false
                for item in items {
                    guard let kv = item[key] else { continue }
                    any = true
                    let tok = "k:" + JSON.object([(key, kv)]).serialized()
                    out.insert(path + [tok, "."])
                    for (k, x) in item.objectMembers ?? [] { walk(x, path + [tok, "f:" + k], schema.child(k), &out) }
                }
                if !any { out.insert(path) }
            } else {
                out.insert(path)
            }
        default:
            out.insert(path)
        }
    }

    /// The value at a FieldsV1 path (nil when absent).
    static func value(_ obj: JSON, _ path: Path) -> JSON? {
        var cur: JSON? = obj
        for t in path {
            guard let c = cur else { return nil }
            if t == "." { continue }
            if t.hasPrefix("f:") { cur = c[String(t.dropFirst(2))]; continue }
            if t.hasPrefix("k:"), let sel = try? JSON.parse(String(t.dropFirst(2))), let (k, kv) = sel.objectMembers?.first {
                cur = c.arrayValue?.first { $0[k] == kv }
                continue
            }
            return nil
        }
        return cur
    }

    /// Removes the member or list element a path names.
    static func remove(_ obj: JSON, _ path: Path) -> JSON {
        guard let t = path.first else { return obj }
        let rest = Array(path.dropFirst())
        if t.hasPrefix("f:"), var m = obj.objectMembers {
            let k = String(t.dropFirst(2))
            guard let i = m.firstIndex(where: { $0.0 == k }) else { return obj }
            if rest.isEmpty { m.remove(at: i) } else { m[i].1 = remove(m[i].1, rest) }
            return .object(m)
        }
        if t.hasPrefix("k:"), var a = obj.arrayValue, let sel = try? JSON.parse(String(t.dropFirst(2))), let (k, kv) = sel.objectMembers?.first,
           let i = a.firstIndex(where: { $0[k] == kv }) {
            if rest == ["."] || rest.isEmpty { a.remove(at: i) } else { a[i] = remove(a[i], rest) }
            return .array(a)
        }
        return obj
    }

    static func toFieldsV1(_ paths: Set<Path>) -> JSON {
        var root = JSON.object([])
        for p in paths.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            if root[path: p] == nil { root.set(p, .object([])) }
        }
        return sortKeys(root)
    }

    static func sortKeys(_ v: JSON) -> JSON {
        guard let m = v.objectMembers else { return v }
        return .object(m.sorted { $0.0 < $1.0 }.map { ($0.0, sortKeys($0.1)) })
    }

    static func fromFieldsV1(_ v: JSON?, prefix: Path = []) -> Set<Path> {
        guard let m = v?.objectMembers else { return [] }
        if m.isEmpty { return prefix.isEmpty ? [] : [prefix] }
        var out = Set<Path>()
        for (k, x) in m {
            if k == "." { out.insert(prefix + ["."]); continue }
            out.formUnion(fromFieldsV1(x, prefix: prefix + [k]))
        }
        return out
    }

    struct Entry {
        var manager: String
        var operation: String
        var apiVersion: String
        var time: String
        var subresource: String?
        var fields: Set<Path>
        var json: JSON {
            var o = JSONObject()
            o.set("manager", manager)
            o.set("operation", operation)
            o.set("apiVersion", apiVersion)
            o.set("time", time)
            o.set("fieldsType", "FieldsV1")
            o.set("fieldsV1", toFieldsV1(fields))
            o.set("subresource", subresource)
            return o.json
        }
    }

    static func entries(_ obj: JSON) -> [Entry] {
        (obj["metadata"]?["managedFields"]?.arrayValue ?? []).map { e in
            Entry(manager: e["manager"]?.stringValue ?? "", operation: e["operation"]?.stringValue ?? "Update",
                  apiVersion: e["apiVersion"]?.stringValue ?? "", time: e["time"]?.stringValue ?? "",
                  subresource: e["subresource"]?.stringValue, fields: fromFieldsV1(e["fieldsV1"]))
        }
    }

    static func store(_ obj: JSON, _ es: [Entry]) -> JSON {
        var o = obj
        let kept = es.filter { !$0.fields.isEmpty }
        o.set(["metadata", "managedFields"], kept.isEmpty ? nil : .array(kept.map(\.json)))
        return o
    }

    static func withoutTimes(_ v: JSON?) -> JSON? {
        guard let a = v?.arrayValue else { return v }
        return .array(a.map { e in var e = e; e.set(["time"], nil); return e })
    }

    static func schema(_ obj: JSON) -> PatchSchema { PatchSchema.forKind(obj["kind"]?.stringValue ?? "") }

    /// An Update by `manager`: it now owns every field it changed, which others lose.
    static func record(_ new: JSON, old: JSON?, manager: String, operation: String, apiVersion: String, time: String, subresource: String?) -> JSON {
        let sch = schema(new)
        let newPaths = subresource == "status" ? Set<Path>() : paths(new, schema: sch)
        let changed: Set<Path> = old.map { o in newPaths.filter { value(o, $0) != value(new, $0) } } ?? newPaths
        var es = entries(new)
        if changed.isEmpty { return new }
        for i in es.indices where !(es[i].manager == manager && es[i].operation == operation) {
            es[i].fields = es[i].fields.subtracting(changed).intersection(newPaths.union(es[i].fields.filter { $0.first == "f:status" }))
        }
        if let i = es.firstIndex(where: { $0.manager == manager && $0.operation == operation && $0.subresource == subresource }) {
            es[i].fields = es[i].fields.union(changed).intersection(newPaths)
            es[i].time = time
        } else {
            es.append(Entry(manager: manager, operation: operation, apiVersion: apiVersion, time: time, subresource: subresource, fields: changed))
        }
        return store(new, es)
    }

    struct Conflict { var manager: String; var path: String }

    static func readable(_ p: Path) -> String {
        var s = ""
        for t in p where t != "." {
            if t.hasPrefix("f:") { s += "." + t.dropFirst(2) } else if t.hasPrefix("k:") { s += "[" + t.dropFirst(2) + "]" }
        }
        return s
    }

    /// Fields of the configuration another manager owns with a different value.
    static func conflicts(applying config: JSON, to live: JSON, manager: String) -> [Conflict]? {
        let cfgPaths = paths(config, schema: schema(live))
        var out: [Conflict] = []
        for e in entries(live) where e.manager != manager {
            // a list element's own marker (`.`) names the element, not a value: only leaves conflict
            for p in cfgPaths.intersection(e.fields).sorted(by: { $0.lexicographicallyPrecedes($1) }) where p.last != "." && value(live, p) != value(config, p) {
                out.append(Conflict(manager: e.manager, path: readable(p)))
            }
        }
        return out
    }

    static func withoutRemovals(_ config: JSON) -> JSON {
        var c = config
        c.set(["metadata", "resourceVersion"], nil)
        return c
    }

    static func appliedFields(_ obj: JSON, manager: String) -> Set<Path> {
        entries(obj).first { $0.manager == manager && $0.operation == "Apply" }?.fields ?? []
    }

    /// Fields this manager applied before and no longer applies, owned by nobody else, go.
    static func removeDropped(_ merged: JSON, manager: String, previousApply: Set<Path>, config: JSON) -> JSON {
        let now = paths(config, schema: schema(merged))
        let others = entries(merged).filter { !($0.manager == manager && $0.operation == "Apply") }.reduce(into: Set<Path>()) { $0.formUnion($1.fields) }
        var o = merged
        for p in previousApply.subtracting(now).subtracting(others).sorted(by: { $0.count > $1.count }) where p.last != "." || !now.contains(where: { Array($0.prefix(p.count - 1)) == Array(p.dropLast()) }) {
            o = remove(o, p.last == "." ? Array(p.dropLast()) : p)
        }
        return o
    }

    /// Records an Apply by `manager` owning exactly the configuration's fields.
    static func markApply(_ obj: JSON, manager: String, config: JSON? = nil) -> JSON {
        let cfgPaths = config.map { paths($0, schema: schema(obj)) } ?? paths(obj, schema: schema(obj))
        var es = entries(obj).filter { !($0.manager == manager && $0.operation == "Update") || config != nil }
        for i in es.indices where es[i].manager != manager {
            es[i].fields = es[i].fields.filter { !cfgPaths.contains($0) || $0.last == "." || value(obj, $0) == value(config ?? obj, $0) }
        }
        let time = Timestamp(seconds: Timestamp.now().seconds, nanoseconds: 0).rfc3339Nano
        if let i = es.firstIndex(where: { $0.manager == manager && $0.operation == "Apply" }) {
            es[i].fields = cfgPaths
            es[i].time = time
        } else {
            es.append(Entry(manager: manager, operation: "Apply", apiVersion: obj["apiVersion"]?.stringValue ?? "", time: time, subresource: nil, fields: cfgPaths))
        }
        if config == nil { es.removeAll { $0.manager == manager && $0.operation == "Update" } }
        return store(obj, es)
    }
}

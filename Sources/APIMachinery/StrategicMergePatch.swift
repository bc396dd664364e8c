import LinuxSystem

/// How a field's value is patched: the `patchStrategy` / `patchMergeKey` tags of the API types,
/// as a tree from a kind's root. Fields without an entry merge as maps (objects) or are replaced
/// (lists and scalars), as in a JSON merge patch.
public final class PatchSchema: Sendable {
    public enum ListStrategy: Sendable, Equatable {
        case replace
        /// Elements are matched by `key`; a primitive list (key nil) becomes a set union.
        case merge(key: String?)
        /// `$retainKeys`: the patch may name the keys of this map to keep (union types).
        case retainKeys
    }

    public let strategy: ListStrategy
    public let fields: [String: PatchSchema]

    public init(_ strategy: ListStrategy = .replace, _ fields: [String: PatchSchema] = [:]) {
        self.strategy = strategy
        self.fields = fields
    }

    public func child(_ name: String) -> PatchSchema { fields[name] ?? .opaque }

    public static let opaque = PatchSchema()

    static func mergeList(_ key: String, _ fields: [String: PatchSchema] = [:]) -> PatchSchema { PatchSchema(.merge(key: key), fields) }
    static let primitiveSet = PatchSchema(.merge(key: nil))
    static let conditions = mergeList("type")

    // MARK: the served kinds (the merge keys of k8s.io/api at v1.32)

    public static let objectMeta = PatchSchema(.replace, [
        "finalizers": primitiveSet,
        "ownerReferences": mergeList("uid"),
    ])

    static let container = PatchSchema(.replace, [
        "ports": mergeList("containerPort"),
        "env": mergeList("name"),
        "volumeMounts": mergeList("mountPath"),
        "volumeDevices": mergeList("devicePath"),
        "resizePolicy": PatchSchema(.replace),
    ])

    public static let podSpec = PatchSchema(.replace, [
        "containers": mergeList("name", container.fields),
        "initContainers": mergeList("name", container.fields),
        "ephemeralContainers": mergeList("name", container.fields),
        "volumes": PatchSchema(.merge(key: "name"), [:]),
        "imagePullSecrets": mergeList("name"),
        "hostAliases": mergeList("ip"),
        "topologySpreadConstraints": mergeList("topologyKey"),
        "resourceClaims": mergeList("name"),
        "schedulingGates": mergeList("name"),
    ])

    public static let podStatus = PatchSchema(.replace, [
        "conditions": conditions,
        "podIPs": mergeList("ip"),
        "hostIPs": mergeList("ip"),
        "ephemeralContainerStatuses": PatchSchema(.replace),
    ])

    public static let podTemplate = PatchSchema(.replace, ["metadata": objectMeta, "spec": podSpec])

    static func root(spec: PatchSchema = .opaque, status: PatchSchema = PatchSchema(.replace, ["conditions": conditions])) -> PatchSchema {
        PatchSchema(.replace, ["metadata": objectMeta, "spec": spec, "status": status])
    }

    public static let pod = root(spec: podSpec, status: podStatus)
    public static let node = root(spec: PatchSchema(.replace, ["podCIDRs": primitiveSet]),
                                  status: PatchSchema(.replace, ["conditions": conditions, "addresses": mergeList("type"),
                                                                 "images": PatchSchema(.replace)]))
    public static let service = root(spec: PatchSchema(.replace, ["ports": mergeList("port")]),
                                     status: PatchSchema(.replace, ["conditions": conditions]))
    public static let workload = root(spec: PatchSchema(.replace, ["template": podTemplate]))
    public static let job = root(spec: PatchSchema(.replace, ["template": podTemplate]))
    public static let cronJob = root(spec: PatchSchema(.replace, ["jobTemplate": PatchSchema(.replace, ["metadata": objectMeta, "spec": PatchSchema(.replace, ["template": podTemplate])])]))
    public static let generic = root()

    /// The schema for a kind; kinds without list merge keys patch as `generic`.
    public static func forKind(_ kind: String) -> PatchSchema {
        switch kind {
        case "Pod": return pod
        case "PodTemplate": return PatchSchema(.replace, ["metadata": objectMeta, "template": podTemplate])
        case "Node": return node
        case "Service": return service
        case "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "ReplicationController": return workload
        case "Job": return job
        case "CronJob": return cronJob
        default: return generic
        }
    }
}

/// Strategic merge patch (`application/strategic-merge-patch+json`, what `kubectl apply`, `edit`,
/// `patch` and `label` send): a merge patch in which lists with a merge key merge element by
/// element, with the directives `$patch: replace|delete|merge`, `$setElementOrder/<list>`,
/// `$retainKeys` and `$deleteFromPrimitiveList/<list>`.
public enum StrategicMergePatch {
    public static func apply(_ patch: JSON, to original: JSON, schema: PatchSchema) throws(PatchError) -> JSON {
        guard case .object = patch else {
            throw PatchError("strategic merge patch must be a JSON object, got \(patch.typeName)")
        }
        return try mergeMap(patch, into: original, schema: schema)
    }

    static func members(_ v: JSON) -> [(String, JSON)] {
        if case .object(let m) = v { return m }
        return []
    }

    static func mergeMap(_ patch: JSON, into original: JSON, schema: PatchSchema) throws(PatchError) -> JSON {
        var pm = members(patch)
        // $patch: replace — the map becomes the patch (without its directives)
        if let d = pm.first(where: { $0.0 == "$patch" }) {
            guard case .string(let s) = d.1 else { throw PatchError("$patch must be a string, got \(d.1.typeName)") }
            pm.removeAll { $0.0 == "$patch" }
            switch s {
            case "replace": return stripDirectives(.object(pm))
            case "delete": return .object([])
            case "merge": break
            default: throw PatchError("unknown patch type \"\(s)\" in \"$patch\"")
            }
        }
        var out: [(String, JSON)] = members(original)
        // $retainKeys: every key not listed is cleared first
        if let r = pm.first(where: { $0.0 == "$retainKeys" }) {
            guard case .array(let keys) = r.1 else { throw PatchError("$retainKeys must be a list of strings") }
            var keep = Set<String>()
            for k in keys {
                guard case .string(let s) = k else { throw PatchError("$retainKeys must be a list of strings") }
                keep.insert(s)
            }
            out.removeAll { !keep.contains($0.0) }
            pm.removeAll { $0.0 == "$retainKeys" }
        }
        var orders: [String: [JSON]] = [:]
        var deletions: [String: [JSON]] = [:]
        for (k, v) in pm {
            if k.hasPrefix("$setElementOrder/") {
                guard case .array(let a) = v else { throw PatchError("\(k) must be a list") }
                orders[String(k.dropFirst("$setElementOrder/".count))] = a
            } else if k.hasPrefix("$deleteFromPrimitiveList/") {
                guard case .array(let a) = v else { throw PatchError("\(k) must be a list") }
                deletions[String(k.dropFirst("$deleteFromPrimitiveList/".count))] = a
            }
        }
        for (k, v) in pm where !k.hasPrefix("$") {
            let sub = schema.child(k)
            let i = out.firstIndex { $0.0 == k }
            if v == .null {
                if let i { out.remove(at: i) }
                continue
            }
            let current = i.map { out[$0].1 }
            let merged: JSON
            if case .object = v {
                if let cur = current, case .object = cur { merged = try mergeMap(v, into: cur, schema: sub) }
                else { merged = try mergeMap(v, into: .object([]), schema: sub) }
            } else if case .array(let items) = v {
                merged = try mergeList(items, into: current, schema: sub, field: k)
            } else {
                merged = v
            }
            if let i { out[i].1 = merged } else { out.append((k, merged)) }
        }
        for (field, values) in deletions {
            guard let i = out.firstIndex(where: { $0.0 == field }), case .array(let a) = out[i].1 else { continue }
            out[i].1 = .array(a.filter { !values.contains($0) })
        }
        for (field, order) in orders {
            guard let i = out.firstIndex(where: { $0.0 == field }), case .array(let a) = out[i].1 else { continue }
            out[i].1 = .array(reorder(a, by: order, schema: schema.child(field)))
        }
        return .object(out)
    }

    static func mergeList(_ items: [JSON], into current: JSON?, schema: PatchSchema, field: String) throws(PatchError) -> JSON {
        // a `{"$patch": "replace"}` element replaces the whole list with the other elements
        if items.contains(where: { if case .string("replace")? = $0["$patch"] { return true }; return false }) {
            return .array(items.filter { if case .string("replace")? = $0["$patch"] { return false }; return true }.map(stripDirectives))
        }
        guard case .merge(let key) = schema.strategy else { return .array(items.map(stripDirectives)) }
        var out: [JSON]
        if case .array(let a)? = current { out = a } else { out = [] }
        guard let key else {
            // a primitive list with the merge strategy: a set union, in order
            for v in items where !out.contains(v) { out.append(v) }
            return .array(out)
        }
        for item in items {
            guard case .object = item else { throw PatchError("\(field): expected a list of objects merged by \"\(key)\", got \(item.typeName)") }
            guard let kv = item[key] else { throw PatchError("\(field): an element has no merge key \"\(key)\"") }
            let i = out.firstIndex { $0[key] == kv }
            if case .string("delete")? = item["$patch"] {
                if let i { out.remove(at: i) }
                continue
            }
            if let i {
                out[i] = try mergeMap(item, into: out[i], schema: PatchSchema(.replace, schema.fields))
            } else {
                out.append(try mergeMap(item, into: .object([]), schema: PatchSchema(.replace, schema.fields)))
            }
        }
        return .array(out)
    }

    /// `$setElementOrder`: the listed elements (by merge key, or value) first in that order, the
    /// others after them in their current order.
    static func reorder(_ items: [JSON], by order: [JSON], schema: PatchSchema) -> [JSON] {
        let key: String?
        if case .merge(let k) = schema.strategy { key = k } else { key = nil }
        func id(_ v: JSON) -> JSON { key.flatMap { v[$0] } ?? v }
        var rest = items
        var out: [JSON] = []
        for o in order {
            let want = key.flatMap { o[$0] } ?? o
            if let i = rest.firstIndex(where: { id($0) == want }) { out.append(rest.remove(at: i)) }
        }
        return out + rest
    }

    static func stripDirectives(_ v: JSON) -> JSON {
        switch v {
        case .object(let m): return .object(m.filter { !$0.0.hasPrefix("$") }.map { ($0.0, stripDirectives($0.1)) })
        case .array(let a): return .array(a.map(stripDirectives))
        default: return v
        }
    }
}

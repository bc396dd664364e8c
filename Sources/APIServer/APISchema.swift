import LinuxSystem

/// The field schema of the served kinds (generated into `APISchemaData`): which fields exist, their types
/// and which are required. It decides unknown fields for `fieldValidation` (kube-apiserver's strict
/// decoding: reported with JSON paths, dropped from what is stored) and is what `/openapi/v2` and
/// `/openapi/v3` publish, so `kubectl explain` can walk it.
public struct APISchema: Sendable {
    public indirect enum FieldType: Sendable, Equatable {
        case string, integer, boolean, number, dateTime, byte, any
        case ref(String)
        case array(FieldType)
        case map(FieldType)

        init(_ s: Substring) {
            if s.hasPrefix("[]") { self = .array(FieldType(s.dropFirst(2))); return }
            if s.hasPrefix("{}") { self = .map(FieldType(s.dropFirst(2))); return }
            if s.hasPrefix("#") { self = .ref(String(s.dropFirst())); return }
            switch s {
            case "string": self = .string
            case "integer": self = .integer
            case "boolean": self = .boolean
            case "number": self = .number
            case "date-time": self = .dateTime
            case "byte": self = .byte
            default: self = .any
            }
        }
    }

    public struct Definition: Sendable {
        public var properties: [(name: String, type: FieldType)]
        public var index: [String: FieldType]
        public var required: [String]
    }

    public let definitions: [String: Definition]
    /// `apiVersion/Kind` → definition name.
    public let roots: [String: String]
    public let source: String

    public static let builtIn: APISchema = {
        guard let s = try? APISchema(json: APISchemaData.json) else { fatalError("APISchemaData.json does not parse") }
        return s
    }()

    public init(json text: String) throws {
        let doc = try JSON.parse(text)
        var defs: [String: Definition] = [:]
        for (name, d) in doc["definitions"]?.objectMembers ?? [] {
            let props = (d["p"]?.objectMembers ?? []).map { (name: $0.0, type: FieldType(Substring($0.1.stringValue ?? "any"))) }
            defs[name] = Definition(properties: props, index: Dictionary(props.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a }),
                                    required: (d["r"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
        definitions = defs
        var r: [String: String] = [:]
        for (k, v) in doc["roots"]?.objectMembers ?? [] { r[k] = v.stringValue }
        roots = r
        source = doc["source"]?.stringValue ?? ""
    }

    public func root(apiVersion: String, kind: String) -> String? { roots[apiVersion + "/" + kind] }

    // MARK: unknown fields

    /// The object with every field the schema does not know removed and repeated fields reduced to
    /// the last one, and what was found, in kube-apiserver's words and paths
    /// (`duplicate field "data"`, `unknown field "spec.containers[0].foo"`), repeated fields first.
    public func prune(_ obj: JSON, root: String) -> (object: JSON, problems: [String]) {
        var unknown: [String] = []
        var duplicate: [String] = []
        let out = prune(obj, .ref(root), path: "", unknown: &unknown, duplicate: &duplicate)
        return (out, duplicate.map { "duplicate field \"\($0)\"" } + unknown.map { "unknown field \"\($0)\"" })
    }

    func prune(_ v: JSON, _ type: FieldType, path: String, unknown: inout [String], duplicate: inout [String]) -> JSON {
        switch (type, v) {
        case (.ref(let name), .object(let members)):
            guard let def = definitions[name] else { return v }
            var kept: [(String, JSON)] = []
            kept.reserveCapacity(members.count)
            var at: [String: Int] = [:]
            for (k, x) in members {
                let p = path.isEmpty ? k : path + "." + k
                guard let t = def.index[k] else { unknown.append(p); continue }
                let value = prune(x, t, path: p, unknown: &unknown, duplicate: &duplicate)
                if let i = at[k] { duplicate.append(p); kept[i].1 = value } else { at[k] = kept.count; kept.append((k, value)) }
            }
            return .object(kept)
        case (.array(let t), .array(let items)):
            guard needsWalk(t) else { return v }
            return .array(items.enumerated().map { prune($0.element, t, path: "\(path)[\($0.offset)]", unknown: &unknown, duplicate: &duplicate) })
        case (.map(let t), .object(let members)):
            var kept: [(String, JSON)] = []
            var at: [String: Int] = [:]
            for (k, x) in members {
                let p = path + "." + k
                let value = needsWalk(t) ? prune(x, t, path: p, unknown: &unknown, duplicate: &duplicate) : x
                if let i = at[k] { duplicate.append(p); kept[i].1 = value } else { at[k] = kept.count; kept.append((k, value)) }
            }
            return .object(kept)
        default:
            return v
        }
    }

    func needsWalk(_ t: FieldType) -> Bool {
        switch t {
        case .ref, .array, .map: return true
        default: return false
        }
    }

    // MARK: OpenAPI

    static let metaPrefix = "io.k8s.apimachinery.pkg.apis.meta.v1."

    /// The definitions reachable from these roots.
    func closure(_ names: [String]) -> [String] {
        var seen = Set<String>()
        var order: [String] = []
        var queue = names
        while let n = queue.popLast() {
            guard seen.insert(n).inserted, let d = definitions[n] else { continue }
            order.append(n)
            for p in d.properties { queue.append(contentsOf: Self.refs(p.type)) }
        }
        return order.sorted()
    }

    static func refs(_ t: FieldType) -> [String] {
        switch t {
        case .ref(let n): return [n]
        case .array(let x), .map(let x): return refs(x)
        default: return []
        }
    }

    /// One property's schema; `refPrefix` is `#/definitions/` (v2) or `#/components/schemas/` (v3).
    func openAPIType(_ t: FieldType, refPrefix: String, top: Bool) -> JSON {
        switch t {
        case .string: return .object([("type", .string("string"))])
        case .integer: return .object([("type", .string("integer")), ("format", .string("int64"))])
        case .boolean: return .object([("type", .string("boolean"))])
        case .number: return .object([("type", .string("number")), ("format", .string("double"))])
        case .dateTime: return .object([("type", .string("string")), ("format", .string("date-time"))])
        case .byte: return .object([("type", .string("string")), ("format", .string("byte"))])
        case .any: return .object([("type", .string("object")), ("x-kubernetes-preserve-unknown-fields", .bool(true))])
        case .ref(let n):
            let r: JSON = .object([("$ref", .string(refPrefix + n))])
            return top ? .object([("allOf", .array([r]))]) : r
        case .array(let x): return .object([("type", .string("array")), ("items", openAPIType(x, refPrefix: refPrefix, top: false))])
        case .map(let x): return .object([("type", .string("object")), ("additionalProperties", openAPIType(x, refPrefix: refPrefix, top: false))])
        }
    }

    /// `x-kubernetes-group-version-kind` of the definitions that are served kinds.
    func gvks() -> [String: [JSON]] {
        var out: [String: [JSON]] = [:]
        for (key, def) in roots {
            let parts = key.split(separator: "/").map(String.init)
            let (group, version, kind) = parts.count == 3 ? (parts[0], parts[1], parts[2]) : ("", parts[0], parts[1])
            out[def, default: []].append(.object([("group", .string(group)), ("kind", .string(kind)), ("version", .string(version))]))
        }
        return out
    }

    func schemas(_ names: [String], refPrefix: String) -> JSON {
        let gvk = gvks()
        return .object(names.compactMap { n in
            guard let d = definitions[n] else { return nil }
            var m: [(String, JSON)] = [("type", .string("object"))]
            if !d.required.isEmpty { m.append(("required", .array(d.required.map { .string($0) }))) }
            m.append(("properties", .object(d.properties.map { ($0.name, openAPIType($0.type, refPrefix: refPrefix, top: true)) })))
            if let g = gvk[n] { m.append(("x-kubernetes-group-version-kind", .array(g))) }
            return (n, .object(m))
        })
    }

    /// The PATCH operation of each served kind's item path, which is where kubectl looks for the
    /// `fieldValidation` parameter (server-side validation). The request body lists the patch types
    /// without strategic merge, so kubectl computes apply patches from its compiled-in patch metadata
    /// rather than from this schema (which carries no merge keys).
    func paths(_ infos: [ResourceInfo]) -> JSON {
        .object(infos.filter { root(apiVersion: $0.apiVersion, kind: $0.kind) != nil }.map { info in
            let base = info.group.isEmpty ? "/api/\(info.version)" : "/apis/\(info.group)/\(info.version)"
            let path = base + (info.namespaced ? "/namespaces/{namespace}" : "") + "/\(info.resource)/{name}"
            let gvk: JSON = .object([("group", .string(info.group)), ("kind", .string(info.kind)), ("version", .string(info.version))])
            let params: [JSON] = ["dryRun", "fieldManager", "fieldValidation", "force"].map {
                .object([("name", .string($0)), ("in", .string("query")), ("schema", .object([("type", .string($0 == "force" ? "boolean" : "string"))]))])
            }
            let body: JSON = .object([("content", .object(["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"].map {
                ($0, .object([("schema", .object([("type", .string("object"))]))]))
            }))])
            let op: JSON = .object([("operationId", .string("patch\(info.kind)")), ("parameters", .array(params)), ("requestBody", body),
                                    ("responses", .object([("200", .object([("description", .string("OK"))]))])),
                                    ("x-kubernetes-action", .string("patch")), ("x-kubernetes-group-version-kind", gvk)])
            return (path, .object([("patch", op)]))
        })
    }

    /// The OpenAPI v3 document of one group version.
    public func openAPIv3(group: String, version: String, registry: ResourceRegistry) -> JSON? {
        let infos = registry.resources.filter { $0.group == group && $0.version == version }
        guard !infos.isEmpty else { return nil }
        let apiVersion = group.isEmpty ? version : group + "/" + version
        let rootNames = roots.filter { $0.key.hasPrefix(apiVersion + "/") && $0.key.split(separator: "/").count == (group.isEmpty ? 2 : 3) }.map(\.value)
        return .object([
            ("openapi", .string("3.0.0")),
            ("info", .object([("title", .string("Kubernetes")), ("version", .string(ServerVersion.gitVersion))])),
            ("paths", paths(infos)),
            ("components", .object([("schemas", schemas(closure(rootNames), refPrefix: "#/components/schemas/"))])),
        ])
    }

    /// The OpenAPI v2 (Swagger) document of everything served, in JSON.
    public func openAPIv2() -> JSON {
        .object([
            ("swagger", .string("2.0")),
            ("info", .object([("title", .string("Kubernetes")), ("version", .string(ServerVersion.gitVersion))])),
            ("paths", .object([])),
            ("definitions", schemas(closure(Array(Set(roots.values))), refPrefix: "#/definitions/")),
        ])
    }
}

/// The OpenAPI documents, built once per server: v3 per group version (content-addressed, as
/// kube-apiserver's `?hash=` URLs are) and v2 in JSON.
final class OpenAPIDocuments: Sendable {
    struct Document: Sendable {
        var body: [UInt8]
        var hash: String
    }

    let v3: [String: Document]
    let v3Index: [UInt8]
    let v2: [UInt8]

    init(registry: ResourceRegistry, schema: APISchema = .builtIn) {
        var docs: [String: Document] = [:]
        for gv in registry.groupVersions {
            guard let doc = schema.openAPIv3(group: gv.group, version: gv.version, registry: registry) else { continue }
            let body = Array(doc.serialized().utf8)
            docs[gv.group.isEmpty ? "api/\(gv.version)" : "apis/\(gv.group)/\(gv.version)"] = Document(body: body, hash: Self.hash(body))
        }
        v3 = docs
        let index: JSON = .object([("paths", .object(docs.keys.sorted().map {
            ($0, .object([("serverRelativeURL", .string("/openapi/v3/\($0)?hash=\(docs[$0]!.hash)"))]))
        }))])
        v3Index = Array(index.serialized().utf8)
        v2 = Array(schema.openAPIv2().serialized().utf8)
    }

    /// Two FNV-1a rounds, 128 bits in upper-case hex: an opaque content address.
    static func hash(_ bytes: [UInt8]) -> String {
        var out = ""
        for seed: UInt64 in [0xcbf2_9ce4_8422_2325, 0x84222325_cbf29ce4] {
            var h = seed
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            let hex = String(h, radix: 16, uppercase: true)
            out += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return out
    }
}

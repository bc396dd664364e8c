import APIMachinery
import Auth
import Foundation
import LinuxSystem
import Storage

/// The version `/version` reports: the API level served (kubectl's dispatcher picks its minor).
public struct ServerVersion: Sendable {
    public static let major = "1"
    public static let minor = "32"
    public static let gitVersion = "v1.32.0-swiftlet"
    public static var json: JSON {
        .object([("major", .string(major)), ("minor", .string(minor)), ("gitVersion", .string(gitVersion)),
                 ("gitCommit", .string("")), ("gitTreeState", .string("clean")), ("buildDate", .string("")),
                 ("goVersion", .string("swift")), ("compiler", .string("swiftc")), ("platform", .string("linux/amd64"))])
    }
}

/// The REST layer of `swiftlet master`: generic handlers over the resource registry and a
/// revisioned store, with watches served from the store's revision stream (WatchHub).
public final class APIServer: Sendable {
    public let registry: ResourceRegistry
    public let store: any RevisionedStore
    public let hub: WatchHub
    let serverAddress: String
    let openAPIDocuments: OpenAPIDocuments
    public let metrics: MasterMetrics
    /// nil: `--insecure-http`, every caller is an administrator.
    public let security: SecurityConfig?
    let rbac = RBACCache()
    let kubeletConnector: KubeletConnector?

    public init(store: any RevisionedStore, hub: WatchHub, registry: ResourceRegistry = .standard, serverAddress: String,
                security: SecurityConfig? = nil) {
        self.security = security
        self.kubeletConnector = security?.kubeletClient.flatMap { try? KubeletConnector(tls: $0) }
        self.store = store
        self.hub = hub
        self.registry = registry
        self.serverAddress = serverAddress
        self.openAPIDocuments = OpenAPIDocuments(registry: registry)
        self.metrics = MasterMetrics(storageBackend: store is any ChangeFeedStore ? "etcd" : "sqlite")
    }

    /// One store call, timed into the storage latency metric.
    func timed<T>(_ operation: String, _ info: ResourceInfo, _ call: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer { metrics.observeStorage(operation: operation, type: info.qualifiedName, elapsed: ContinuousClock.now - start) }
        return try await call()
    }

    /// Request metrics for one answered request (the front end calls this).
    public func observe(_ req: APIRequest, status: Int, elapsed: Duration) {
        metrics.observe(RequestClass(req, registry: registry), code: status, elapsed: elapsed)
    }

    /// `/metrics`: the object counts are taken from the store now, one count per stored resource.
    func metricsResponse() async throws -> APIResponse {
        for info in registry.storedOnce where info.kind != "Binding" {
            metrics.setStoredObjects(resource: info.qualifiedName, count: try await store.count(prefix: info.prefix(namespace: nil)))
        }
        return APIResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: metrics.exposition())
    }

    /// The namespaces every cluster has.
    public func bootstrap() async throws {
        let ns = registry.lookup(group: "", version: "v1", resource: "namespaces")!
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] where try await store.get(ns.key(namespace: nil, name: name)) == nil {
            do {
                _ = try await create(ns, namespace: nil, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                                  ("metadata", .object([("name", .string(name))]))]),
                                     manager: "swiftlet-master", dryRun: false)
            } catch let s as APIStatus where s.code == 409 {
                // another master sharing the store created it first
            }
        }
        try await bootstrapPolicy()
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] { await ensureDefaultServiceAccount(name) }
    }

    // MARK: routing

    public func handle(_ req: APIRequest) async -> APIResponse {
        let start = ContinuousClock.now
        let res: APIResponse
        if let problem = req.pathProblem {
            res = .error(APIStatus.badRequest(problem))
        } else if let sec = security {
            res = await secured(req, sec)
        } else {
            res = await answer(req)
        }
        observe(req, status: res.status, elapsed: ContinuousClock.now - start)
        return res
    }

    func answer(_ req: APIRequest) async -> APIResponse {
        do {
            return try await route(req)
        } catch let s as APIStatus {
            return .error(s)
        } catch let e as StorageError {
            return .error(APIStatus(code: 500, reason: "InternalError", message: "storage: \(e)", hasDetails: false))
        } catch {
            return .error(APIStatus(code: 500, reason: "InternalError", message: "\(error)", hasDetails: false))
        }
    }

    func route(_ req: APIRequest) async throws -> APIResponse {
        let segs = req.path.split(separator: "/").map(String.init)
        let accept = req.header("accept") ?? ""
        switch segs.first {
        case "version" where segs.count == 1:
            return APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(ServerVersion.json.serialized(pretty: true).utf8))
        case "healthz", "livez", "readyz":
            _ = try await store.currentRevision()
            return APIResponse(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("ok".utf8))
        case "openapi":
            return try openAPI(segs, req)
        case "metrics" where segs.count == 1:
            return try await metricsResponse()
        case "api" where segs.count == 1:
            if accept.contains("as=APIGroupDiscoveryList") { return aggregated(legacy: true, accept: accept) }
            return .json(200, Discovery.apiVersions(serverAddress: serverAddress))
        case "apis" where segs.count == 1:
            if accept.contains("as=APIGroupDiscoveryList") { return aggregated(legacy: false, accept: accept) }
            return .json(200, Discovery.groupList(registry))
        case "api" where segs.count == 2:
            guard let doc = Discovery.resourceList(registry, group: "", version: segs[1]) else { throw APIStatus.unknownResource }
            return .json(200, doc)
        case "apis" where segs.count == 2:
            guard let doc = Discovery.group(registry, segs[1]) else { throw APIStatus.unknownResource }
            return .json(200, doc)
        case "apis" where segs.count == 3:
            guard let doc = Discovery.resourceList(registry, group: segs[1], version: segs[2]) else { throw APIStatus.unknownResource }
            return .json(200, doc)
        case "api", "apis":
            let (group, version, rest) = segs[0] == "api" ? ("", segs[1], Array(segs[2...])) : (segs[1], segs[2], Array(segs[3...]))
            return try await resourceRequest(req, group: group, version: version, rest: rest)
        default:
            throw APIStatus.unknownResource
        }
    }

    /// `/openapi/v2`: kubectl (1.20 and 1.32) asks for the gnostic protobuf, and gets an empty one — a
    /// valid empty Document, so client-side validation and apply's patch computation fall back to what
    /// kubectl has compiled in (the server validates); JSON when asked for JSON. `/openapi/v3`: the index
    /// (text/plain, as kube-apiserver serves it) and one document per group version.
    func openAPI(_ segs: [String], _ req: APIRequest) throws -> APIResponse {
        let accept = req.header("accept") ?? ""
        if segs.count == 2 && segs[1] == "v2" {
            if accept.contains("application/json") && !accept.contains("protobuf") {
                return APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: openAPIDocuments.v2)
            }
            return APIResponse(status: 200, headers: [("Content-Type", "application/octet-stream")])
        }
        guard segs.count >= 2, segs[1] == "v3" else { throw APIStatus.unknownResource }
        if segs.count == 2 {
            return APIResponse(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: openAPIDocuments.v3Index)
        }
        guard let doc = openAPIDocuments.v3[segs[2...].joined(separator: "/")] else { throw APIStatus.unknownResource }
        let immutable = req.q("hash") == doc.hash
        return APIResponse(status: 200, headers: [("Content-Type", "application/json"), ("Etag", "\"\(doc.hash)\""),
                                                  ("Cache-Control", immutable ? "public, immutable" : "no-cache, private")], body: doc.body)
    }

    func aggregated(legacy: Bool, accept: String) -> APIResponse {
        let v = accept.contains("v=v2;") || accept.hasSuffix("v=v2") ? "v2" : "v2beta1"
        return .json(200, Discovery.aggregated(registry, legacy: legacy, version: v),
                     contentType: "application/json;g=apidiscovery.k8s.io;v=\(v);as=APIGroupDiscoveryList")
    }

    func resourceRequest(_ req: APIRequest, group: String, version: String, rest: [String]) async throws -> APIResponse {
        var rest = rest
        var watchPath = false
        if rest.first == "watch" { watchPath = true; rest.removeFirst() }
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces", registry.lookup(group: group, version: version, resource: rest[2])?.namespaced == true {
            namespace = rest[1]
            rest.removeFirst(2)
        }
        guard let first = rest.first, let info = registry.lookup(group: group, version: version, resource: first), rest.count <= 3 else {
            throw APIStatus.unknownResource
        }
        let name = rest.count > 1 ? rest[1] : nil
        let sub = rest.count > 2 ? rest[2] : nil
        if let sub, info.subresource(sub) == nil { throw APIStatus.unknownResource }
        if info.namespaced && namespace == nil && name != nil { throw APIStatus.unknownResource }
        let table = (req.header("accept") ?? "").contains("as=Table")

        switch (req.method, name, sub) {
        case ("GET", nil, _):
            if watchPath || req.flag("watch") { return try await watch(info, namespace: namespace, req, table: table) }
            return try await list(info, namespace: namespace, req, table: table)
        case ("GET", let n?, nil), ("GET", let n?, "status"):
            let (obj, _) = try await get(info, namespace: namespace, name: n)
            return table ? .json(200, tableFor(info, [obj], rv: obj["metadata"]?["resourceVersion"]?.stringValue, req: req)) : .json(200, obj)
        case ("GET", let n?, "log") where info.resource == "pods":
            return try await podLog(namespace: namespace ?? "", name: n, req)
        case (let m, let n?, let s?) where (m == "GET" || m == "POST") && info.resource == "pods" && ["exec", "attach", "portforward"].contains(s):
            return try await streamUpgrade(namespace: namespace ?? "", name: n, sub: s, req)
        case ("POST", nil, nil) where info.virtual:
            guard info.namespaced == false || namespace != nil else { throw APIStatus.methodNotAllowed }
            if info.kind == "Binding" {
                let b = try Body.decode(req, kindForErrors: "Binding")
                guard let n = b["metadata"]?["name"]?.stringValue, !n.isEmpty else {
                    throw APIStatus.invalid(kind: "Binding", name: "", causes: [.init(reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name")])
                }
                return try await bind(registry.lookup(group: "", version: "v1", resource: "pods")!, namespace: namespace, name: n, req)
            }
            return try await review(info, namespace: namespace, req)
        case (_, _, _) where info.virtual:
            throw APIStatus.methodNotAllowed
        case ("POST", let n?, "token") where info.resource == "serviceaccounts":
            return try await tokenRequest(info, namespace: namespace ?? "", name: n, req)
        case ("POST", nil, nil):
            guard info.namespaced == false || namespace != nil else { throw APIStatus.methodNotAllowed }
            var warnings: [String] = []
            let obj = try checkFields(decodeObject(req, info), info, req, warnings: &warnings)
            let created = try await create(info, namespace: namespace, obj, manager: req.fieldManager, dryRun: req.dryRun)
            return .json(201, created).warning(warnings)
        case ("POST", let n?, "binding"):
            return try await bind(info, namespace: namespace, name: n, req)
        case ("POST", let n?, "eviction"):
            return try await evict(info, namespace: namespace, name: n, req)
        case (_, let n?, "scale") where info.subresource("scale") != nil:
            return try await scale(info, namespace: namespace, name: n, req)
        case ("PUT", let n?, let s) where s == nil || s == "status" || s == "finalize" || (s == "approval" && info.resource == "certificatesigningrequests"):
            var warnings: [String] = []
            let obj = try checkFields(decodeObject(req, info), info, req, warnings: &warnings)
            if let bn = obj["metadata"]?["name"]?.stringValue, bn != n {
                throw APIStatus.badRequest("the name of the object (\(bn)) does not match the name on the URL (\(n))")
            }
            return .json(200, try await update(info, namespace: namespace, name: n, sub: s, manager: req.fieldManager, dryRun: req.dryRun) { _ in obj }).warning(warnings)
        case ("PATCH", let n?, let s) where s == nil || s == "status" || (s == "approval" && info.resource == "certificatesigningrequests"):
            var warnings: [String] = []
            let patched = try await patch(info, namespace: namespace, name: n, sub: s, req, warnings: &warnings)
            return .json(200, patched).warning(warnings)
        case ("DELETE", let n?, nil):
            let opts = req.body.isEmpty ? JSON.object([]) : try Body.decode(req, kindForErrors: "DeleteOptions")
            let (obj, _) = try await delete(info, namespace: namespace, name: n, options: opts, dryRun: req.dryRun)
            return .json(200, obj)
        case ("DELETE", nil, nil):
            return try await deleteCollection(info, namespace: namespace, req)
        case ("GET", _, _), ("POST", _, _), ("PUT", _, _), ("PATCH", _, _), ("DELETE", _, _):
            throw APIStatus.methodNotAllowed
        default:
            throw APIStatus.methodNotAllowed
        }
    }

    // MARK: objects

    static func statusFromStorage(_ e: StorageError, _ info: ResourceInfo, name: String) -> APIStatus {
        switch e {
        case .keyExists: return .alreadyExists(resource: info.resource, group: info.group, name: name)
        case .notFound: return .notFound(resource: info.resource, group: info.group, name: name)
        case .conflict: return .conflict(resource: info.resource, group: info.group, name: name)
        case .compacted(let r, let o): return .watchTooOld(requested: r, oldest: o)
        case .backend(let m): return APIStatus(code: 500, reason: "InternalError", message: "storage: \(m)", hasDetails: false)
        }
    }

    /// The stored bytes as the API object: resourceVersion set, apiVersion of the served version.
    func object(_ info: ResourceInfo, _ bytes: [UInt8], revision: Int64) throws -> JSON {
        var o = Conversion.fromStorage(info, try JSON.parse(bytes))
        o.set(["metadata", "resourceVersion"], .string(String(revision)))
        o.set(["apiVersion"], .string(info.apiVersion))
        o.set(["kind"], .string(info.kind))
        return o.withTypeMetaFirst()
    }

    /// The object as stored: at the resource's storage version, without its resourceVersion.
    func encode(_ info: ResourceInfo, _ obj: JSON) -> [UInt8] {
        var o = Conversion.toStorage(info, obj)
        o.set(["metadata", "resourceVersion"], nil)
        return Array(o.serialized().utf8)
    }

    func get(_ info: ResourceInfo, namespace: String?, name: String) async throws -> (JSON, Int64) {
        guard let v = try await timed("get", info, { try await store.get(info.key(namespace: namespace, name: name)) }) else {
            throw APIStatus.notFound(resource: info.resource, group: info.group, name: name)
        }
        return (try object(info, v.value, revision: v.modRevision), v.modRevision)
    }

    func decodeObject(_ req: APIRequest, _ info: ResourceInfo) throws -> JSON {
        let ct = req.contentType
        let obj: JSON
        if ct == "application/vnd.kubernetes.protobuf" {
            if req.body.count > Body.maxBytes {
                throw APIStatus(code: 413, reason: "RequestEntityTooLarge", message: "the request is too large: \(req.body.count) bytes, the limit is \(Body.maxBytes)", hasDetails: false)
            }
            do { obj = try KubeProtobuf.decode(req.body) } catch let e as KubeProtobuf.DecodeError {
                throw APIStatus(code: 415, reason: "UnsupportedMediaType", message: e.message, hasDetails: false)
            }
        } else {
            guard ct == "application/json" || ct.hasSuffix("yaml") else { throw APIStatus.unsupportedMediaType }
            obj = try Body.decode(req, kindForErrors: info.kind)
        }
        guard obj.objectMembers != nil else { throw APIStatus.badRequest("the object provided is unrecognized (must be of type \(info.kind)): not a JSON object") }
        if let k = obj["kind"]?.stringValue, k != info.kind {
            throw APIStatus.badRequest("\(k) in version \"\(obj["apiVersion"]?.stringValue ?? "")\" cannot be handled as a \(info.kind): no kind \"\(k)\" is registered for the endpoint")
        }
        if let v = obj["apiVersion"]?.stringValue, v != info.apiVersion {
            throw APIStatus.badRequest("\(info.kind) in version \"\(v)\" cannot be handled as a \(info.kind): the endpoint serves \(info.apiVersion)")
        }
        return obj
    }

    /// `fieldValidation` (kube-apiserver's default is Warn): fields the schema does not know and repeated
    /// fields are refused under Strict; under Warn and Ignore they are dropped (the last of repeated
    /// ones kept), Warn saying so in one `Warning` header each.
    func checkFields(_ obj: JSON, _ info: ResourceInfo, _ req: APIRequest, warnings: inout [String]) throws -> JSON {
        let mode = req.q("fieldValidation") ?? "Warn"
        guard ["Strict", "Warn", "Ignore"].contains(mode) else {
            throw APIStatus.badRequest("fieldValidation: Unsupported value: \"\(mode)\": supported values: \"Ignore\", \"Strict\", \"Warn\"")
        }
        guard let root = APISchema.builtIn.root(apiVersion: info.apiVersion, kind: info.kind) else { return obj }
        let checked = APISchema.builtIn.prune(obj, root: root)
        if mode == "Ignore" || checked.problems.isEmpty { return checked.object }
        if mode == "Strict" {
            throw APIStatus.badRequest("\(info.kind) in version \"\(info.version)\" cannot be handled as a \(info.kind): strict decoding error: " + checked.problems.joined(separator: ", "))
        }
        warnings += checked.problems
        return checked.object
    }

    static let nameChars = Array("bcdfghjklmnpqrstvwxz2456789")

    /// `generateName` plus kube-apiserver's five random characters.
    static func generatedName(_ prefix: String) -> String {
        prefix + String((0..<5).map { _ in nameChars.randomElement()! })
    }

    func checkNamespace(_ info: ResourceInfo, _ namespace: String?) async throws {
        guard info.namespaced, let ns = namespace else { return }
        let nsInfo = registry.lookup(group: "", version: "v1", resource: "namespaces")!
        guard let v = try await store.get(nsInfo.key(namespace: nil, name: ns)) else {
            throw APIStatus.notFound(resource: "namespaces", name: ns)
        }
        let o = try JSON.parse(v.value)
        if o["status"]?["phase"]?.stringValue == "Terminating" {
            throw APIStatus(code: 403, reason: "Forbidden", message: "\(info.resource) \"\(o["metadata"]?["name"]?.stringValue ?? "")\" is forbidden: unable to create new content in namespace \(ns) because it is being terminated",
                            name: ns, group: info.group, kind: info.resource)
        }
    }

    /// `applied`: the configuration of a server-side apply that creates the object (its manager
    /// then owns exactly those fields, as an Apply).
    func create(_ info: ResourceInfo, namespace: String?, _ input: JSON, manager: String, dryRun: Bool, applied: JSON? = nil) async throws -> JSON {
        var obj = input
        obj.set(["apiVersion"], .string(info.apiVersion))
        obj.set(["kind"], .string(info.kind))
        if info.namespaced {
            if let bodyNS = obj["metadata"]?["namespace"]?.stringValue, !bodyNS.isEmpty, bodyNS != namespace {
                throw APIStatus.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            obj.set(["metadata", "namespace"], namespace.map { .string($0) })
        } else {
            obj.set(["metadata", "namespace"], nil)
        }
        var name = obj["metadata"]?["name"]?.stringValue ?? ""
        var generated: String?
        if name.isEmpty, let gen = obj["metadata"]?["generateName"]?.stringValue, !gen.isEmpty {
            generated = gen
            name = Self.generatedName(gen)
            obj.set(["metadata", "name"], .string(name))
        }
        try await checkNamespace(info, namespace)
        let now = Timestamp(seconds: Timestamp.now().seconds, nanoseconds: 0).rfc3339Nano
        for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] { obj.set(["metadata", f], nil) }
        obj.set(["metadata", "uid"], .string(UUID().uuidString.lowercased()))
        obj.set(["metadata", "creationTimestamp"], .string(now))
        Strategy.prepareForCreate(info, &obj)
        Strategy.defaults(info, &obj)
        if info.kind == "CertificateSigningRequest" { try CSRStrategy.prepareForCreate(&obj, caller: Caller.current?.user) }
        let causes = Strategy.validate(info, obj, old: nil)
        if !causes.isEmpty { throw APIStatus.invalid(kind: info.kind, group: info.group, name: name, causes: causes) }
        if let applied {
            obj.set(["metadata", "managedFields"], nil)
            obj = ManagedFields.markApply(obj, manager: manager, config: applied)
        } else {
            obj = ManagedFields.record(obj, old: nil, manager: manager, operation: "Update", apiVersion: info.apiVersion, time: now, subresource: nil)
        }
        obj = obj.withTypeMetaFirst()
        try admit(info, new: obj, old: nil)
        if dryRun { return obj }
        // a generated name that is taken gets another suffix (kube-apiserver 1.32 retries 7 times)
        for attempt in 0...7 {
            do {
                let v = try await timed("create", info) { try await hub.create(info.key(namespace: namespace, name: name), value: encode(info, obj)) }
                if info.kind == "Namespace" { await ensureDefaultServiceAccount(name) }
                return try object(info, v.value, revision: v.modRevision)
            } catch StorageError.keyExists(_) where generated != nil && attempt < 7 {
                name = Self.generatedName(generated!)
                obj.set(["metadata", "name"], .string(name))
            } catch let e as StorageError {
                throw Self.statusFromStorage(e, info, name: name)
            }
        }
        throw APIStatus.alreadyExists(resource: info.resource, group: info.group, name: name)
    }

    /// Read-modify-write with optimistic concurrency: `change` gets the current object and
    /// returns the new one; a resourceVersion in it must match, otherwise 409. Retried on a
    /// concurrent write when the caller gave no resourceVersion.
    /// `applying`: the change is a server-side apply that set managedFields itself.
    func update(_ info: ResourceInfo, namespace: String?, name: String, sub: String?, manager: String, dryRun: Bool, applying: Bool = false,
                _ change: (JSON) throws -> JSON) async throws -> JSON {
        let key = info.key(namespace: namespace, name: name)
        for _ in 0..<16 {
            let (old, rev) = try await get(info, namespace: namespace, name: name)
            var new = try change(old)
            let given = new["metadata"]?["resourceVersion"]?.stringValue
            if let given, !given.isEmpty, given != String(rev) { throw APIStatus.conflict(resource: info.resource, group: info.group, name: name) }
            if let uid = new["metadata"]?["uid"]?.stringValue, uid != old["metadata"]?["uid"]?.stringValue {
                throw APIStatus(code: 409, reason: "Conflict",
                                message: "Operation cannot be fulfilled on \(info.qualifiedName) \"\(name)\": Precondition failed: UID in precondition: \(uid), UID in object meta: \(old["metadata"]?["uid"]?.stringValue ?? "")",
                                name: name, group: info.group, kind: info.resource)
            }
            new.set(["apiVersion"], .string(info.apiVersion))
            new.set(["kind"], .string(info.kind))
            for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace"] {
                new.set(["metadata", f], old["metadata"]?[f])
            }
            if new["metadata"]?["managedFields"] == nil { new.set(["metadata", "managedFields"], old["metadata"]?["managedFields"]) }
            Strategy.prepareForUpdate(info, new: &new, old: old, subresource: sub)
            if sub == nil { Strategy.defaults(info, &new) }
            // a binding is the one write allowed to set a pod's nodeName
            let causes = Strategy.validate(info, new, old: sub == "binding" ? nil : old)
            if !causes.isEmpty { throw APIStatus.invalid(kind: info.kind, group: info.group, name: name, causes: causes) }
            try admit(info, new: new, old: old)
            let now = Timestamp(seconds: Timestamp.now().seconds, nanoseconds: 0).rfc3339Nano
            var probe = new
            probe.set(["metadata", "resourceVersion"], old["metadata"]?["resourceVersion"])
            if applying {
                // an apply that changes neither a value nor an owner is a no-op (only its timestamp would move)
                probe.set(["metadata", "managedFields"], ManagedFields.withoutTimes(new["metadata"]?["managedFields"]))
                var was = old
                was.set(["metadata", "managedFields"], ManagedFields.withoutTimes(old["metadata"]?["managedFields"]))
                if probe == was { return old }
            } else {
                probe.set(["metadata", "managedFields"], old["metadata"]?["managedFields"])
                if probe == old { return old }  // no change: no write, same resourceVersion
                new = ManagedFields.record(new, old: old, manager: manager, operation: "Update", apiVersion: info.apiVersion, time: now, subresource: sub)
            }
            new = new.withTypeMetaFirst()
            if dryRun { return new }
            do {
                // the last finalizer removed from an object being deleted: it goes
                let finalizers = new["metadata"]?["finalizers"]?.arrayValue ?? []
                if new["metadata"]?["deletionTimestamp"] != nil && finalizers.isEmpty && !(info.kind == "Pod" && (new["metadata"]?["deletionGracePeriodSeconds"]?.int64Value ?? 0) > 0) {
                    let v = try await timed("delete", info) { try await hub.delete(key, expectedRevision: rev) }
                    return try object(info, v.value, revision: v.modRevision)
                }
                let v = try await timed("update", info) { try await hub.update(key, value: encode(info, new), expectedRevision: rev) }
                return try object(info, v.value, revision: v.modRevision)
            } catch StorageError.conflict(_, _, _) where given == nil || given!.isEmpty {
                continue
            } catch let e as StorageError {
                throw Self.statusFromStorage(e, info, name: name)
            }
        }
        throw APIStatus.conflict(resource: info.resource, group: info.group, name: name)
    }

    func patch(_ info: ResourceInfo, namespace: String?, name: String, sub: String?, _ req: APIRequest, warnings: inout [String]) async throws -> JSON {
        let ct = req.contentType
        let kinds = ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
        guard kinds.contains(ct) else {
            throw APIStatus(code: 415, reason: "UnsupportedMediaType",
                            message: "the body of the request was in an unknown format - accepted media types include: " + kinds.joined(separator: ", "), hasDetails: false)
        }
        let patch = try Body.decode(req, kindForErrors: info.kind)
        if ct == "application/apply-patch+yaml" {
            return try await apply(info, namespace: namespace, name: name, sub: sub, checkFields(patch, info, req, warnings: &warnings), req)
        }
        var found: [String] = []
        let result = try await update(info, namespace: namespace, name: name, sub: sub, manager: req.fieldManager, dryRun: req.dryRun) { old in
            var base = old
            base.set(["metadata", "resourceVersion"], nil)  // only a resourceVersion in the patch is a precondition
            let patched: JSON
            do {
                switch ct {
                case "application/json-patch+json":
                    var o = old
                    o = try JSONPatch.apply(patch, to: o)
                    if o["metadata"]?["resourceVersion"] == old["metadata"]?["resourceVersion"] { o.set(["metadata", "resourceVersion"], nil) }
                    patched = o
                case "application/merge-patch+json":
                    patched = MergePatch.apply(patch, to: base)
                default:
                    patched = try StrategicMergePatch.apply(patch, to: base, schema: info.patchSchema)
                }
            } catch let e as PatchError {
                throw APIStatus(code: 422, reason: "Invalid", message: e.message, hasDetails: false)
            }
            found = []  // a retried write reports its last attempt only
            return try checkFields(patched, info, req, warnings: &found)
        }
        warnings += found
        return result
    }

    /// Server-side apply: create from the configuration, or merge it into the live object
    /// (fields owned by other managers with other values conflict unless `force=true`).
    func apply(_ info: ResourceInfo, namespace: String?, name: String, sub: String?, _ config: JSON, _ req: APIRequest) async throws -> JSON {
        guard let manager = req.q("fieldManager"), !manager.isEmpty else {
            throw APIStatus.badRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
        }
        var cfg = config
        if cfg["metadata"]?["name"] == nil { cfg.set(["metadata", "name"], .string(name)) }
        if try await store.get(info.key(namespace: namespace, name: name)) == nil {
            return try await create(info, namespace: namespace, cfg, manager: manager, dryRun: req.dryRun, applied: cfg)
        }
        let force = req.flag("force")
        return try await update(info, namespace: namespace, name: name, sub: sub, manager: manager, dryRun: req.dryRun, applying: true) { old in
            if !force, let conflicts = ManagedFields.conflicts(applying: cfg, to: old, manager: manager), !conflicts.isEmpty {
                throw APIStatus(code: 409, reason: "Conflict",
                                message: "Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): " + conflicts.map { "conflict with \"\($0.manager)\": \($0.path)" }.joined(separator: "\n"),
                                name: name, group: info.group, kind: info.resource,
                                causes: conflicts.map { APIStatus.Cause(reason: "FieldManagerConflict", message: "conflict with \"\($0.manager)\"", field: $0.path) })
            }
            var base = old
            base.set(["metadata", "resourceVersion"], nil)
            var merged = try StrategicMergePatch.apply(ManagedFields.withoutRemovals(cfg), to: base, schema: info.patchSchema)
            merged = ManagedFields.removeDropped(merged, manager: manager, previousApply: ManagedFields.appliedFields(old, manager: manager), config: cfg)
            return ManagedFields.markApply(merged, manager: manager, config: cfg)
        }
    }

    func delete(_ info: ResourceInfo, namespace: String?, name: String, options: JSON, dryRun: Bool) async throws -> (JSON, Bool) {
        let key = info.key(namespace: namespace, name: name)
        for _ in 0..<16 {
            let (old, rev) = try await get(info, namespace: namespace, name: name)
            if let uid = options["preconditions"]?["uid"]?.stringValue, uid != old["metadata"]?["uid"]?.stringValue {
                throw APIStatus(code: 409, reason: "Conflict",
                                message: "Operation cannot be fulfilled on \(info.qualifiedName) \"\(name)\": Precondition failed: UID in precondition: \(uid), UID in object meta: \(old["metadata"]?["uid"]?.stringValue ?? "")",
                                name: name, group: info.group, kind: info.resource)
            }
            if let prv = options["preconditions"]?["resourceVersion"]?.stringValue, prv != String(rev) {
                throw APIStatus.conflict(resource: info.resource, group: info.group, name: name)
            }
            var obj = old
            var finalizers = (old["metadata"]?["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue)
            switch options["propagationPolicy"]?.stringValue ?? (options["orphanDependents"] == .bool(true) ? "Orphan" : "") {
            case "Foreground" where !finalizers.contains("foregroundDeletion"): finalizers.append("foregroundDeletion")
            case "Orphan" where !finalizers.contains("orphan"): finalizers.append("orphan")
            default: break
            }
            var grace: Int64 = 0
            if info.kind == "Pod" {
                let bound = !(old["spec"]?["nodeName"]?.stringValue ?? "").isEmpty
                let phase = old["status"]?["phase"]?.stringValue ?? ""
                grace = options["gracePeriodSeconds"]?.int64Value ?? old["spec"]?["terminationGracePeriodSeconds"]?.int64Value ?? 30
                if !bound || phase == "Succeeded" || phase == "Failed" { grace = 0 }
                if let cur = old["metadata"]?["deletionGracePeriodSeconds"]?.int64Value { grace = min(grace, cur) }
            }
            var graceful = grace > 0 || !finalizers.isEmpty
            if info.kind == "Namespace" { graceful = true }
            if !graceful {
                if dryRun { return (old, true) }
                do {
                    let v = try await timed("delete", info) { try await hub.delete(key, expectedRevision: rev) }
                    return (try object(info, v.value, revision: v.modRevision), true)
                } catch StorageError.conflict(_, _, _) { continue } catch let e as StorageError { throw Self.statusFromStorage(e, info, name: name) }
            }
            let now = Timestamp.now().seconds
            if old["metadata"]?["deletionTimestamp"] == nil || info.kind == "Pod" {
                obj.set(["metadata", "deletionTimestamp"], .string(Timestamp(seconds: now + Int(grace), nanoseconds: 0).rfc3339Nano))
                obj.set(["metadata", "deletionGracePeriodSeconds"], .int(grace))
            }
            obj.set(["metadata", "finalizers"], finalizers.isEmpty ? nil : .array(finalizers.map { .string($0) }))
            if info.kind == "Namespace" { obj.set(["status", "phase"], .string("Terminating")) }
            if obj == old { return (old, false) }
            if dryRun { return (obj, false) }
            do {
                let v = try await timed("update", info) { try await hub.update(key, value: encode(info, obj), expectedRevision: rev) }
                if info.kind == "Namespace" { startNamespaceCleanup(name) }
                return (try object(info, v.value, revision: v.modRevision), false)
            } catch StorageError.conflict(_, _, _) { continue } catch let e as StorageError { throw Self.statusFromStorage(e, info, name: name) }
        }
        throw APIStatus.conflict(resource: info.resource, group: info.group, name: name)
    }

    func deleteCollection(_ info: ResourceInfo, namespace: String?, _ req: APIRequest) async throws -> APIResponse {
        let opts = req.body.isEmpty ? JSON.object([]) : try Body.decode(req, kindForErrors: "DeleteOptions")
        let (items, rev, _) = try await listMatching(info, namespace: namespace, req, limit: nil, continueAfter: nil)
        var deleted: [JSON] = []
        for o in items {
            guard let n = o["metadata"]?["name"]?.stringValue else { continue }
            let ns = o["metadata"]?["namespace"]?.stringValue
            if let (d, _) = try? await delete(info, namespace: ns, name: n, options: opts, dryRun: req.dryRun) { deleted.append(d) }
        }
        return .json(200, listJSON(info, deleted, rv: String(rev), continueToken: nil))
    }

    /// Namespace deletion: everything in it is deleted, then the `kubernetes` finalizer removed
    /// and the namespace with it (kube-controller-manager's namespace controller does this
    /// through the API; here the master runs it in-process through the same REST operations).
    func startNamespaceCleanup(_ ns: String) {
        Task {
            for _ in 0..<600 {
                var remaining = 0
                for info in registry.storedOnce where info.namespaced {
                    guard let list = try? await store.list(prefix: info.prefix(namespace: ns), limit: nil, continueAfter: nil) else { continue }
                    for item in list.items {
                        remaining += 1
                        let name = String(item.key.split(separator: "/").last ?? "")
                        _ = try? await delete(info, namespace: ns, name: name, options: .object([("gracePeriodSeconds", info.kind == "Pod" ? .int(0) : .null)]), dryRun: false)
                    }
                }
                if remaining == 0 {
                    let nsInfo = registry.lookup(group: "", version: "v1", resource: "namespaces")!
                    _ = try? await update(nsInfo, namespace: nil, name: ns, sub: "finalize", manager: "swiftlet-namespace-controller", dryRun: false) { old in
                        var o = old
                        o.set(["spec", "finalizers"], .array([]))
                        return o
                    }
                    if let (o, _) = try? await get(nsInfo, namespace: nil, name: ns), (o["metadata"]?["finalizers"]?.arrayValue ?? []).isEmpty {
                        _ = try? await hub.delete(nsInfo.key(namespace: nil, name: ns), expectedRevision: nil)
                    }
                    return
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// `pods/<name>/eviction` (policy/v1 or v1beta1 Eviction): a delete with the eviction's
    /// `deleteOptions`, as `kubectl drain` sends it. PodDisruptionBudgets are not served, so none
    /// can refuse it (kube-apiserver answers 429 when one would).
    func evict(_ info: ResourceInfo, namespace: String?, name: String, _ req: APIRequest) async throws -> APIResponse {
        let e = try Body.decode(req, kindForErrors: "Eviction")
        if let k = e["kind"]?.stringValue, k != "Eviction" {
            throw APIStatus.badRequest("eviction: kind \"\(k)\" is not Eviction")
        }
        if let av = e["apiVersion"]?.stringValue, !["policy/v1", "policy/v1beta1"].contains(av) {
            throw APIStatus.badRequest("eviction: apiVersion \"\(av)\" is not policy/v1 or policy/v1beta1")
        }
        if let en = e["metadata"]?["name"]?.stringValue, en != name {
            throw APIStatus.badRequest("name in URL does not match name in Eviction object")
        }
        let opts = e["deleteOptions"] ?? .object([])
        if case .object = opts {} else { throw APIStatus.badRequest("eviction: deleteOptions must be an object") }
        let (pod, _) = try await get(info, namespace: namespace, name: name)
        if pod["metadata"]?["deletionTimestamp"] == nil {
            _ = try await delete(info, namespace: namespace, name: name, options: opts, dryRun: req.dryRun)
        }
        return .json(201, .object([("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])),
                                   ("status", .string("Success")), ("code", .int(201))]))
    }

    func bind(_ info: ResourceInfo, namespace: String?, name: String, _ req: APIRequest) async throws -> APIResponse {
        let b = try Body.decode(req, kindForErrors: "Binding")
        guard let node = b["target"]?["name"]?.stringValue, !node.isEmpty else {
            throw APIStatus.invalid(kind: "Binding", name: name, causes: [.init(reason: "FieldValueRequired", message: "Required value", field: "target.name")])
        }
        _ = try await update(info, namespace: namespace, name: name, sub: "binding", manager: req.fieldManager, dryRun: req.dryRun) { old in
            if let cur = old["spec"]?["nodeName"]?.stringValue, !cur.isEmpty {
                throw APIStatus(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is already assigned to node \"\(cur)\"",
                                name: name, kind: "pods/binding")
            }
            if old["metadata"]?["deletionTimestamp"] != nil {
                throw APIStatus(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is being deleted, cannot be assigned to a host", name: name, kind: "pods/binding")
            }
            var o = old
            o.set(["spec", "nodeName"], .string(node))
            var conds = o["status"]?["conditions"]?.arrayValue ?? []
            conds.removeAll { $0["type"]?.stringValue == "PodScheduled" }
            conds.append(.object([("type", .string("PodScheduled")), ("status", .string("True")), ("lastProbeTime", .null),
                                  ("lastTransitionTime", .string(Timestamp(seconds: Timestamp.now().seconds, nanoseconds: 0).rfc3339Nano))]))
            o.set(["status", "conditions"], .array(conds))
            return o
        }
        return .json(201, .object([("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object([])),
                                   ("status", .string("Success")), ("code", .int(201))]))
    }

    // MARK: scale

    /// autoscaling/v1 Scale of a workload: spec.replicas, status.replicas and the selector as a string.
    func scaleOf(_ info: ResourceInfo, _ o: JSON) -> JSON {
        var meta = JSONObject()
        for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] { meta.set(f, o["metadata"]?[f]) }
        var sel = o["spec"]?["selector"]
        if info.kind == "ReplicationController", let m = sel { sel = .object([("matchLabels", m)]) }
        let selector = Printer.selector(sel)
        var status = JSONObject()
        status.set("replicas", .int(o["status"]?["replicas"]?.int64Value ?? 0))
        if selector != "<none>" { status.set("selector", .string(selector.replacingOccurrences(of: ", ", with: ","))) }
        return .object([("kind", .string("Scale")), ("apiVersion", .string("autoscaling/v1")), ("metadata", meta.json),
                        ("spec", .object([("replicas", .int(o["spec"]?["replicas"]?.int64Value ?? 1))])), ("status", status.json)])
    }

    func scale(_ info: ResourceInfo, namespace: String?, name: String, _ req: APIRequest) async throws -> APIResponse {
        if req.method == "GET" {
            let (obj, _) = try await get(info, namespace: namespace, name: name)
            return .json(200, scaleOf(info, obj))
        }
        guard req.method == "PUT" || req.method == "PATCH" else { throw APIStatus.methodNotAllowed }
        let ct = req.contentType
        let body = try Body.decode(req, kindForErrors: "Scale")
        let updated = try await update(info, namespace: namespace, name: name, sub: "scale", manager: req.fieldManager, dryRun: req.dryRun) { old in
            let current = self.scaleOf(info, old)
            var wanted: JSON
            do {
                switch (req.method, ct) {
                case ("PUT", _): wanted = body
                case (_, "application/json-patch+json"): wanted = try JSONPatch.apply(body, to: current)
                case (_, "application/merge-patch+json"), (_, "application/strategic-merge-patch+json"), (_, "application/apply-patch+yaml"):
                    var base = current
                    base.set(["metadata", "resourceVersion"], nil)
                    wanted = MergePatch.apply(body, to: base)
                default: throw APIStatus.unsupportedMediaType
                }
            } catch let e as PatchError {
                throw APIStatus(code: 422, reason: "Invalid", message: e.message, hasDetails: false)
            }
            guard let replicas = wanted["spec"]?["replicas"]?.int64Value ?? (wanted["spec"]?["replicas"] == nil ? 0 : nil), replicas >= 0, replicas <= Int64(Int32.max) else {
                let shown = wanted["spec"]?["replicas"]?.serialized() ?? "null"
                throw APIStatus.invalid(kind: "Scale", group: "autoscaling", name: name,
                                        causes: [.init(reason: "FieldValueInvalid", message: "Invalid value: \(shown): must be greater than or equal to 0", field: "spec.replicas")])
            }
            var o = old
            o.set(["spec", "replicas"], .int(replicas))
            o.set(["metadata", "resourceVersion"], wanted["metadata"]?["resourceVersion"])
            return o
        }
        return .json(200, scaleOf(info, updated))
    }

    // MARK: lists

    static let commonFields: Set<String> = ["metadata.name", "metadata.namespace"]
    static func fieldSet(_ kind: String) -> Set<String> {
        switch kind {
        case "Pod": return commonFields.union(["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                                               "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"])
        case "Event": return commonFields.union(["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                                                 "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                                                 "reason", "reportingComponent", "source", "type"])
        case "Node": return commonFields.union(["spec.unschedulable"])
        case "Secret": return commonFields.union(["type"])
        case "Namespace": return commonFields.union(["status.phase"])
        case "ReplicaSet", "ReplicationController": return commonFields.union(["status.replicas"])
        case "Job": return commonFields.union(["status.successful"])
        default: return commonFields
        }
    }

    static func fields(_ o: JSON, _ names: Set<String>) -> [String: String] {
        var out: [String: String] = [:]
        for n in names {
            let v = o[path: n.split(separator: ".").map(String.init)]
            switch v {
            case .string(let s)?: out[n] = s
            case .bool(let b)?: out[n] = b ? "true" : "false"
            case .number(let x)?: out[n] = x
            default: out[n] = n == "spec.hostNetwork" || n == "spec.unschedulable" ? "false" : ""
            }
        }
        if names.contains("source") { out["source"] = o["source"]?["component"]?.stringValue ?? "" }
        return out
    }

    func selectors(_ info: ResourceInfo, _ req: APIRequest) throws -> (LabelSelector, FieldSelector) {
        let ls: LabelSelector
        let fs: FieldSelector
        do {
            ls = try LabelSelector.parse(req.q("labelSelector") ?? "")
            fs = try FieldSelector.parse(req.q("fieldSelector") ?? "")
        } catch {
            throw APIStatus.badRequest(error.description)
        }
        let bad = fs.unsupported(allowed: Self.fieldSet(info.kind))
        if let f = bad.first { throw APIStatus.badRequest("field label not supported: \(f)") }
        return (ls, fs)
    }

    func matches(_ o: JSON, _ ls: LabelSelector, _ fs: FieldSelector, _ info: ResourceInfo) -> Bool {
        (ls.isEmpty || ls.matches(o.stringMap(["metadata", "labels"]))) && (fs.isEmpty || fs.matches(Self.fields(o, Self.fieldSet(info.kind))))
    }

    func listMatching(_ info: ResourceInfo, namespace: String?, _ req: APIRequest, limit: Int?, continueAfter: String?) async throws -> ([JSON], Int64, String?) {
        let (ls, fs) = try selectors(info, req)
        var out: [JSON] = []
        var after = continueAfter
        var revision: Int64 = 0
        while true {
            let chunk = limit.map { max($0 - out.count, 1) }
            let r = try await timed("list", info) { try await store.list(prefix: info.prefix(namespace: namespace), limit: chunk, continueAfter: after) }
            if revision == 0 { revision = r.revision }
            for item in r.items {
                let o = try object(info, item.value, revision: item.modRevision)
                if matches(o, ls, fs, info) { out.append(o) }
            }
            guard let next = r.continueAfter else { return (out, revision, nil) }
            after = next
            if let limit, out.count >= limit { return (out, revision, next) }
        }
    }

    func list(_ info: ResourceInfo, namespace: String?, _ req: APIRequest, table: Bool) async throws -> APIResponse {
        var limit = req.q("limit").flatMap { Int($0) }
        if let l = limit, l <= 0 { limit = nil }
        var after: String?
        var tokenRV: Int64?
        if let c = req.q("continue"), !c.isEmpty {
            let tok = try ContinueToken.decode(c)
            after = info.prefix(namespace: namespace) + tok.lastKey
            tokenRV = tok.resourceVersion
            let oldest = try await store.oldestRetainedRevision()
            if tok.resourceVersion < oldest - 1 {
                throw APIStatus(code: 410, reason: "Expired", message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.", hasDetails: false)
            }
        }
        if req.q("resourceVersionMatch") == "Exact", let rv = req.q("resourceVersion").flatMap({ Int64($0) }) {
            let current = try await store.currentRevision()
            let oldest = try await store.oldestRetainedRevision()
            if rv < oldest - 1 { throw APIStatus.listTooOld }
            if rv != current { throw APIStatus(code: 410, reason: "Expired", message: "resourceVersion \(rv) is not the current revision \(current); historical lists are not kept", hasDetails: false) }
        }
        let (items, rev, next) = try await listMatching(info, namespace: namespace, req, limit: limit, continueAfter: after)
        let rv = String(tokenRV ?? rev)
        let token = next.map { ContinueToken(resourceVersion: tokenRV ?? rev, lastKey: String($0.dropFirst(info.prefix(namespace: namespace).count))).encoded }
        if table { return .json(200, tableFor(info, items, rv: rv, req: req, continueToken: token)) }
        return .json(200, listJSON(info, items, rv: rv, continueToken: token))
    }

    func listJSON(_ info: ResourceInfo, _ items: [JSON], rv: String, continueToken: String?) -> JSON {
        var meta = JSONObject()
        meta.set("resourceVersion", rv)
        meta.set("continue", continueToken)
        let stripped: [JSON] = items.map { var o = $0; o.set(["kind"], nil); o.set(["apiVersion"], nil); return o }
        return .object([("kind", .string(info.listKind)), ("apiVersion", .string(info.apiVersion)), ("metadata", meta.json), ("items", .array(stripped))])
    }

    func tableFor(_ info: ResourceInfo, _ items: [JSON], rv: String?, req: APIRequest, continueToken: String? = nil, noHeaders: Bool = false) -> JSON {
        let p = info.printer
        let now = Int64(Timestamp.now().seconds)
        let include = req.q("includeObject") ?? "Metadata"
        let rows: [(cells: [JSON], object: JSON?)] = items.map { o in
            (p.cells(o, now), include == "None" ? nil : include == "Object" ? o : Table.partialMetadata(o))
        }
        var t = Table.json(columns: noHeaders ? [] : p.columns, rows: rows, resourceVersion: rv, continueToken: continueToken)
        if noHeaders { t.set(["columnDefinitions"], .null) }
        return t
    }

    // MARK: watch

    enum WatchItem: Sendable { case event(StorageEvent), tick, end, failed(String) }

    func watch(_ info: ResourceInfo, namespace: String?, _ req: APIRequest, table: Bool) async throws -> APIResponse {
        let (ls, fs) = try selectors(info, req)
        let rvParam = req.q("resourceVersion") ?? ""
        let bookmarks = req.flag("allowWatchBookmarks")
        let timeout = req.q("timeoutSeconds").flatMap { Int($0) }.map { max($0, 1) } ?? Int.random(in: 1800...3600)
        let prefix = info.prefix(namespace: namespace)
        var initial: [JSON] = []
        var start: Int64
        var known = Set<String>()
        if rvParam.isEmpty || rvParam == "0" {
            let r = try await store.list(prefix: prefix, limit: nil, continueAfter: nil)
            start = r.revision
            for item in r.items {
                let o = try object(info, item.value, revision: item.modRevision)
                if matches(o, ls, fs, info) { initial.append(o); known.insert(item.key) }
            }
        } else {
            guard let n = Int64(rvParam) else { throw APIStatus.badRequest("invalid resource version \"\(rvParam)\"") }
            start = n
            if !ls.isEmpty || !fs.isEmpty {
                // which objects the watcher may already hold (so one that stops matching is DELETED)
                for item in try await store.list(prefix: prefix, limit: nil, continueAfter: nil).items {
                    if let o = try? object(info, item.value, revision: item.modRevision), matches(o, ls, fs, info) { known.insert(item.key) }
                }
            }
        }
        let events: AsyncThrowingStream<StorageEvent, any Error>
        var expired: JSON?
        do {
            events = try await hub.watch(prefix: prefix, after: start)
        } catch StorageError.compacted(let r, let o) {
            expired = WatchEvent.expired(requested: r, oldest: o).json
            events = AsyncThrowingStream { $0.finish() }
        }
        let (merged, input) = AsyncStream<WatchItem>.makeStream()
        let pump = Task {
            do {
                for try await e in events { input.yield(.event(e)) }
                input.yield(.end)
            } catch StorageError.compacted(let r, let o) {
                input.yield(.failed(WatchEvent.expired(requested: r, oldest: o).line))
            } catch {
                input.yield(.end)
            }
        }
        let ticker = Task {
            let deadline = ContinuousClock.now + .seconds(timeout)
            while ContinuousClock.now < deadline {
                try? await Task.sleep(for: min(.seconds(bookmarks ? 5 : 60), deadline - ContinuousClock.now))
                if Task.isCancelled { return }
                input.yield(.tick)
            }
            input.yield(.end)
        }
        let (out, output) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .unbounded)
        let this = self
        let writer = Task {
            var first = true
            var last = start
            var known = known
            func send(_ type: WatchEvent.Kind, _ o: JSON) {
                let obj = table ? this.tableFor(info, [o], rv: o["metadata"]?["resourceVersion"]?.stringValue, req: req, noHeaders: !first) : o
                first = false
                output.yield(Array(WatchEvent(type, obj).line.utf8))
            }
            if let expired {
                output.yield(Array((expired.serialized(htmlSafe: true) + "\n").utf8))
                output.finish()
                return
            }
            for o in initial { send(.added, o) }
            loop: for await item in merged {
                switch item {
                case .event(let e):
                    last = e.revision
                    guard let o = try? this.object(info, e.value, revision: e.revision) else { continue }
                    let match = this.matches(o, ls, fs, info)
                    switch e.kind {
                    case .deleted:
                        if match || known.contains(e.key) { send(.deleted, o) }
                        known.remove(e.key)
                    case .added, .modified:
                        if match {
                            send(known.contains(e.key) || (e.kind == .modified && ls.isEmpty && fs.isEmpty) ? .modified : .added, o)
                            known.insert(e.key)
                        } else if known.remove(e.key) != nil {
                            send(.deleted, o)
                        }
                    }
                case .tick:
                    if bookmarks {
                        output.yield(Array(WatchEvent.bookmark(kind: info.kind, apiVersion: info.apiVersion, resourceVersion: last).line.utf8))
                    }
                case .end:
                    break loop
                case .failed(let line):
                    output.yield(Array(line.utf8))
                    break loop
                }
            }
            output.finish()
        }
        output.onTermination = { _ in
            pump.cancel()
            ticker.cancel()
            writer.cancel()
            input.finish()
        }
        return APIResponse(status: 200, headers: [("Content-Type", "application/json")], stream: out)
    }
}

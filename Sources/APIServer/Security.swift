import APIMachinery
import Auth
import Foundation
import LinuxSystem
import Storage

/// What the master trusts: the service-account signing key, the audiences its tokens carry, the
/// static tokens of `--token-auth-file`, and the CA (its PEM goes into service-account volumes).
/// A server without one (`--insecure-http`) treats every caller as `system:masters`.
public struct SecurityConfig: Sendable {
    public var serviceAccountTokens: ServiceAccountTokens
    public var audiences: [String]
    public var staticTokens: [String: UserInfo]
    public var caPEM: String
    /// The master's credentials toward node agents (logs, exec); nil: those are unavailable.
    public var kubeletClient: KubeletClientTLS?

    public init(serviceAccountTokens: ServiceAccountTokens, audiences: [String] = [ServiceAccountTokens.defaultIssuer],
                staticTokens: [String: UserInfo] = [:], caPEM: String = "", kubeletClient: KubeletClientTLS? = nil) {
        self.kubeletClient = kubeletClient
        self.serviceAccountTokens = serviceAccountTokens
        self.audiences = audiences
        self.staticTokens = staticTokens
        self.caPEM = caPEM
    }
}

/// Who a request runs as, for the admission checks inside create/update (NodeRestriction, RBAC
/// escalation): set for the duration of one request.
struct Caller: Sendable {
    var user: UserInfo
    /// The RBAC policy the request was authorized against (the escalation check compares with it).
    var policy: RBACPolicy?

    @TaskLocal static var current: Caller?
}

/// The RBAC objects as the authorizer reads them: listed from the store, re-read after any
/// change the store's watch reports (and once more before a denial, for a write this server
/// has just acknowledged but whose event has not arrived yet).
actor RBACCache {
    private var policy: RBACPolicy?
    private var watching = false
    static let prefixes = ["/registry/clusterroles/", "/registry/roles/", "/registry/clusterrolebindings/", "/registry/rolebindings/"]

    func current(_ store: any RevisionedStore, _ hub: WatchHub, fresh: Bool = false) async throws -> RBACPolicy {
        if !watching { watching = true; startWatching(store, hub) }
        if let policy, !fresh { return policy }
        let p = try await Self.load(store)
        policy = p
        return p
    }

    func invalidate() { policy = nil }

    private func startWatching(_ store: any RevisionedStore, _ hub: WatchHub) {
        for prefix in Self.prefixes {
            Task { [weak self] in
                while self != nil {
                    do {
                        let rev = try await store.currentRevision()
                        let events = try await hub.watch(prefix: prefix, after: rev)
                        await self?.invalidate()
                        for try await _ in events { await self?.invalidate() }
                    } catch {}
                    await self?.invalidate()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    static func load(_ store: any RevisionedStore) async throws -> RBACPolicy {
        func all(_ prefix: String) async throws -> [JSON] {
            var out: [JSON] = []
            var after: String?
            repeat {
                let page = try await store.list(prefix: prefix, limit: 1000, continueAfter: after)
                out += page.items.compactMap { try? JSON.parse($0.value) }
                after = page.continueAfter
            } while after != nil
            return out
        }
        var clusterRoles: [String: [PolicyRule]] = [:]
        for o in try await all(prefixes[0]) { clusterRoles[o["metadata"]?["name"]?.stringValue ?? ""] = RBACObjects.rules(o) }
        var roles: [String: [String: [PolicyRule]]] = [:]
        for o in try await all(prefixes[1]) {
            roles[o["metadata"]?["namespace"]?.stringValue ?? "", default: [:]][o["metadata"]?["name"]?.stringValue ?? ""] = RBACObjects.rules(o)
        }
        return RBACPolicy(clusterRoles: clusterRoles, roles: roles,
                          clusterRoleBindings: try await all(prefixes[2]).map(RBACObjects.binding),
                          roleBindings: try await all(prefixes[3]).map(RBACObjects.binding))
    }
}

/// RBAC objects ↔ the authorizer's values.
enum RBACObjects {
    static func strings(_ v: JSON?) -> [String] { (v?.arrayValue ?? []).compactMap(\.stringValue) }

    static func rules(_ o: JSON) -> [PolicyRule] {
        (o["rules"]?.arrayValue ?? []).map { r in
            PolicyRule(verbs: strings(r["verbs"]), apiGroups: strings(r["apiGroups"]), resources: strings(r["resources"]),
                       resourceNames: strings(r["resourceNames"]), nonResourceURLs: strings(r["nonResourceURLs"]))
        }
    }

    static func binding(_ o: JSON) -> RoleBinding {
        let ref = RoleRef(kind: o["roleRef"]?["kind"]?.stringValue ?? "", name: o["roleRef"]?["name"]?.stringValue ?? "")
        let subjects = (o["subjects"]?.arrayValue ?? []).map {
            Subject(kind: $0["kind"]?.stringValue ?? "", name: $0["name"]?.stringValue ?? "", namespace: $0["namespace"]?.stringValue ?? "")
        }
        return RoleBinding(name: o["metadata"]?["name"]?.stringValue ?? "", namespace: o["metadata"]?["namespace"]?.stringValue ?? "",
                           roleRef: ref, subjects: subjects)
    }

    static func json(_ r: PolicyRule) -> JSON {
        var o = JSONObject()
        o.set("verbs", r.verbs)
        if !r.apiGroups.isEmpty { o.set("apiGroups", r.apiGroups) }
        if !r.resources.isEmpty { o.set("resources", r.resources) }
        if !r.resourceNames.isEmpty { o.set("resourceNames", r.resourceNames) }
        if !r.nonResourceURLs.isEmpty { o.set("nonResourceURLs", r.nonResourceURLs) }
        return o.json
    }

    static func userJSON(_ u: UserInfo) -> JSON {
        var o = JSONObject()
        o.set("username", u.name)
        if !u.uid.isEmpty { o.set("uid", u.uid) }
        o.set("groups", u.groups)
        if !u.extra.isEmpty { o.set("extra", .object(u.extra.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .string($0) })) })) }
        return o.json
    }
}

/// The objects a pod uses by name: what the Node authorizer lets the pod's node read.
struct PodReferences {
    var serviceAccount = "default"
    var secrets: Set<String> = []
    var configMaps: Set<String> = []
    var claims: Set<String> = []

    init(_ pod: JSON) {
        let spec = pod["spec"]
        if let sa = spec?["serviceAccountName"]?.stringValue, !sa.isEmpty { serviceAccount = sa }
        for s in spec?["imagePullSecrets"]?.arrayValue ?? [] { if let n = s["name"]?.stringValue { secrets.insert(n) } }
        for v in spec?["volumes"]?.arrayValue ?? [] {
            if let n = v["secret"]?["secretName"]?.stringValue { secrets.insert(n) }
            if let n = v["configMap"]?["name"]?.stringValue { configMaps.insert(n) }
            if let n = v["persistentVolumeClaim"]?["claimName"]?.stringValue { claims.insert(n) }
            for src in v["projected"]?["sources"]?.arrayValue ?? [] {
                if let n = src["secret"]?["name"]?.stringValue { secrets.insert(n) }
                if let n = src["configMap"]?["name"]?.stringValue { configMaps.insert(n) }
            }
        }
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec?[list]?.arrayValue ?? [] {
                for e in c["env"]?.arrayValue ?? [] {
                    if let n = e["valueFrom"]?["secretKeyRef"]?["name"]?.stringValue { secrets.insert(n) }
                    if let n = e["valueFrom"]?["configMapKeyRef"]?["name"]?.stringValue { configMaps.insert(n) }
                }
                for e in c["envFrom"]?.arrayValue ?? [] {
                    if let n = e["secretRef"]?["name"]?.stringValue { secrets.insert(n) }
                    if let n = e["configMapRef"]?["name"]?.stringValue { configMaps.insert(n) }
                }
            }
        }
    }

    func references(_ resource: String, _ name: String) -> Bool {
        NodeAuthorizer.podReferences(serviceAccount: serviceAccount, secrets: secrets, configMaps: configMaps, claims: claims,
                                     resource: resource, name: name)
    }
}

extension APIRequest {
    /// A path the router must not guess at: encoded slashes, `.`/`..` or empty segments (kube-
    /// apiserver's Go mux would redirect; here it is refused outright).
    var pathProblem: String? {
        let raw = rawPath
        if raw.lowercased().contains("%2f") || raw.contains("%00") { return "the request path \(raw) contains an encoded slash or NUL" }
        let segs = raw.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (i, s) in segs.enumerated() {
            let d = APIRequest.percentDecode(String(s), plus: false)
            if d == "." || d == ".." { return "the request path \(raw) contains a \"\(d)\" segment" }
            if d.isEmpty && i != segs.count - 1 { return "the request path \(raw) contains an empty segment" }
        }
        return nil
    }

    /// The node name a pod list/watch is restricted to by `fieldSelector=spec.nodeName=<n>`.
    var nodeNameSelector: String? {
        guard let fs = q("fieldSelector") else { return nil }
        for term in fs.split(separator: ",") {
            let t = term.replacingOccurrences(of: "==", with: "=")
            if t.hasPrefix("spec.nodeName=") { return String(t.dropFirst("spec.nodeName=".count)) }
        }
        return nil
    }

    /// The bearer token, if the request carries one.
    var bearerToken: String? {
        guard let h = headers["authorization"] else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let t = parts[1].trimmingCharacters(in: " \t")
        return t.isEmpty ? nil : t
    }
}

extension APIServer {
    static let publicPaths: Set<String> = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

    static func unauthorized() -> APIResponse {
        .error(APIStatus(code: 401, reason: "Unauthorized", message: "Unauthorized", hasDetails: false))
    }

    static func forbidden(_ a: RequestAttributes, _ user: UserInfo, reason: String) -> APIResponse {
        .error(forbiddenStatus(a, message: a.forbiddenMessage(user, reason: reason)))
    }

    static func forbiddenStatus(_ a: RequestAttributes, message: String) -> APIStatus {
        guard a.isResourceRequest else { return APIStatus(code: 403, reason: "Forbidden", message: message, hasDetails: false) }
        return APIStatus(code: 403, reason: "Forbidden", message: message, name: a.name.isEmpty ? nil : a.name,
                         group: a.apiGroup.isEmpty ? nil : a.apiGroup, kind: a.resource)
    }

    // MARK: authentication

    enum Authentication {
        case user(UserInfo)
        case anonymous
        case invalid
    }

    /// Client certificate (verified by the TLS layer against the cluster CA), then a bearer token:
    /// static, bootstrap, service account. A token that is present and wrong is a 401, also on
    /// public paths (as kube-apiserver answers).
    func authenticate(_ req: APIRequest, _ sec: SecurityConfig) async -> Authentication {
        if let u = req.peerUser { return .user(u.authenticated()) }
        guard let token = req.bearerToken else { return .anonymous }
        if let u = await authenticateToken(token, sec, audiences: sec.audiences) { return .user(u) }
        return .invalid
    }

    func authenticateToken(_ token: String, _ sec: SecurityConfig, audiences: [String]) async -> UserInfo? {
        if let u = sec.staticTokens[token] { return u.authenticated() }
        if let (id, secret) = BootstrapToken.parse(token) { return await bootstrapUser(id: id, secret: secret) }
        if token.split(separator: ".", omittingEmptySubsequences: false).count == 3 {
            return try? await serviceAccountUser(token, sec, audiences: audiences)
        }
        return nil
    }

    func bootstrapUser(id: String, secret: String) async -> UserInfo? {
        guard let v = try? await store.get("/registry/secrets/kube-system/bootstrap-token-" + id),
              let o = try? JSON.parse(v.value), o["type"]?.stringValue == "bootstrap.kubernetes.io/token",
              o["metadata"]?["deletionTimestamp"] == nil else { return nil }
        var data: [String: String] = [:]
        for (k, val) in o["data"]?.objectMembers ?? [] {
            if let s = val.stringValue, let d = Data(base64Encoded: s), let text = String(data: d, encoding: .utf8) { data[k] = text }
        }
        return BootstrapToken.user(id: id, secret: secret, data: data, now: Date())?.authenticated()
    }

    /// A signed, unexpired token whose service account (and bound pod) still exist with the
    /// uids it names; a pod being deleted invalidates its tokens 60 s after deletion started.
    func serviceAccountUser(_ token: String, _ sec: SecurityConfig, audiences: [String]) async throws -> UserInfo? {
        let claims = try sec.serviceAccountTokens.validate(token, now: Int64(Timestamp.now().seconds), audiences: audiences)
        guard let v = try await store.get("/registry/serviceaccounts/\(claims.namespace)/\(claims.name)"),
              let sa = try? JSON.parse(v.value), sa["metadata"]?["deletionTimestamp"] == nil else { return nil }
        if !claims.uid.isEmpty && sa["metadata"]?["uid"]?.stringValue != claims.uid { return nil }
        if let pod = claims.pod {
            guard let pv = try await store.get("/registry/pods/\(claims.namespace)/\(pod.name)"), let p = try? JSON.parse(pv.value),
                  p["metadata"]?["uid"]?.stringValue == pod.uid else { return nil }
            if let del = p["metadata"]?["deletionTimestamp"]?.stringValue, let t = Timestamp.parse(del), Timestamp.now().seconds > t.seconds + 60 {
                return nil
            }
        }
        return claims.user.authenticated()
    }

    // MARK: authorization

    /// kube-apiserver's request info: verb, resource, namespace, name, subresource (or a
    /// non-resource path).
    func attributes(_ req: APIRequest) -> RequestAttributes {
        let segs = req.path.split(separator: "/").map(String.init)
        let method = req.method
        guard let first = segs.first, (first == "api" && segs.count >= 3) || (first == "apis" && segs.count >= 4) else {
            return .nonResource(method == "HEAD" ? "get" : method.lowercased(), req.path)
        }
        let group = first == "api" ? "" : segs[1]
        let version = first == "api" ? segs[1] : segs[2]
        var rest = Array(segs[(first == "api" ? 2 : 3)...])
        var watch = req.flag("watch")
        if rest.first == "watch" { watch = true; rest.removeFirst() }
        var a = RequestAttributes(verb: "", apiGroup: group, apiVersion: version)
        if rest.count >= 2, rest[0] == "namespaces" {
            a.namespace = rest[1]
            if rest.count > 2 && !["status", "finalize"].contains(rest[2]) {
                rest.removeFirst(2)
            } else {
                rest = ["namespaces"] + rest.dropFirst()
            }
        }
        if let r = rest.first { a.resource = r }
        if rest.count > 1 { a.name = rest[1] }
        if rest.count > 2 { a.subresource = rest[2...].joined(separator: "/") }
        switch method {
        case "GET", "HEAD": a.verb = a.name.isEmpty ? (watch ? "watch" : "list") : (watch ? "watch" : "get")
        case "POST": a.verb = "create"
        case "PUT": a.verb = "update"
        case "PATCH": a.verb = "patch"
        case "DELETE": a.verb = a.name.isEmpty ? "deletecollection" : "delete"
        default: a.verb = method.lowercased()
        }
        // a WebSocket exec/attach/port-forward is a GET, but it creates a session: `create` as
        // kube-apiserver asks since 1.31 (a `get`-only role must not open a shell)
        if ["exec", "attach", "portforward"].contains(a.subresource) && a.resource == "pods" { a.verb = "create" }
        // a list or watch of one object by `metadata.name=` is a request for that object (what
        // kube-apiserver's request info does since 1.17: the Node authorizer lets a kubelet watch
        // the Secret a pod of its uses)
        if (a.verb == "list" || a.verb == "watch"), a.name.isEmpty, let fs = req.q("fieldSelector") {
            for prefix in ["metadata.name==", "metadata.name="] where fs.hasPrefix(prefix) {
                let n = String(fs.dropFirst(prefix.count))
                if !n.isEmpty && !n.contains(",") { a.name = n }
                break
            }
        }
        return a
    }

    /// Node authorizer, then RBAC. nil: allowed; otherwise the reason for the 403.
    func authorize(_ user: UserInfo, _ a: RequestAttributes, nodeNameSelector: String?) async throws -> (allowed: Bool, reason: String, policy: RBACPolicy?) {
        if user.groups.contains("system:masters") { return (true, "", nil) }
        var reason = ""
        if let node = user.nodeName {
            switch NodeAuthorizer.decide(node: node, a, nodeNameSelector: nodeNameSelector) {
            case .allow: return (true, "", nil)
            case .noOpinion(let r): reason = r
            case .ifPodBound(let ns, let name):
                if let v = try await store.get("/registry/pods/\(ns)/\(name)"), let p = try? JSON.parse(v.value),
                   p["spec"]?["nodeName"]?.stringValue == node { return (true, "", nil) }
                reason = "no relationship found between node '\(node)' and this object"
            case .ifReferenced(let resource, let ns, let name):
                var after: String?
                repeat {
                    let page = try await store.list(prefix: "/registry/pods/\(ns)/", limit: 500, continueAfter: after)
                    for item in page.items {
                        guard let p = try? JSON.parse(item.value), p["spec"]?["nodeName"]?.stringValue == node else { continue }
                        if PodReferences(p).references(resource, name) { return (true, "", nil) }
                    }
                    after = page.continueAfter
                } while after != nil
                reason = "no relationship found between node '\(node)' and this object"
            }
        }
        var policy = try await rbac.current(store, hub)
        if case .allow = policy.authorize(user, a) { return (true, "", policy) }
        policy = try await rbac.current(store, hub, fresh: true)
        if case .allow = policy.authorize(user, a) { return (true, "", policy) }
        return (false, reason, policy)
    }

    /// Authentication and authorization in front of `route`.
    func secured(_ req: APIRequest, _ sec: SecurityConfig) async -> APIResponse {
        var req = req
        let user: UserInfo
        switch await authenticate(req, sec) {
        case .invalid: return Self.unauthorized()
        case .anonymous:
            guard Self.publicPaths.contains(req.path) else { return Self.unauthorized() }
            user = .anonymous
        case .user(let u): user = u
        }
        req.user = user
        let a = attributes(req)
        do {
            let decision = try await authorize(user, a, nodeNameSelector: a.resource == "pods" ? req.nodeNameSelector : nil)
            guard decision.allowed else { return Self.forbidden(a, user, reason: decision.reason) }
            if let node = user.nodeName, let denial = try nodeRestriction(node, a, req) { return .error(denial) }
            var policy = decision.policy
            if policy == nil, a.apiGroup == "rbac.authorization.k8s.io", ["create", "update", "patch"].contains(a.verb) {
                policy = try await rbac.current(store, hub, fresh: true)
            }
            let caller = Caller(user: user, policy: policy)
            return await Caller.$current.withValue(caller) { await answer(req) }
        } catch {
            return .error(APIStatus(code: 500, reason: "InternalError", message: "authorization: \(error)", hasDetails: false))
        }
    }

    // MARK: admission

    /// NodeRestriction before the handler: a node creates only its own Node, Lease and mirror pods.
    func nodeRestriction(_ node: String, _ a: RequestAttributes, _ req: APIRequest) throws -> APIStatus? {
        guard a.isResourceRequest, a.apiGroup == "" || a.apiGroup == "coordination.k8s.io" else { return nil }
        if a.resource == "nodes" && a.apiGroup == "" {
            var name = a.name
            if a.verb == "create", let info = registry.lookup(group: "", version: a.apiVersion, resource: "nodes") {
                name = (try? decodeObject(req, info))?["metadata"]?["name"]?.stringValue ?? ""
            }
            if ["create", "update", "patch", "delete"].contains(a.verb) && name != node {
                var b = a
                b.name = name
                return Self.forbiddenStatus(b, message: "nodes \"\(name)\" is forbidden: node \"\(node)\" is not allowed to modify node \"\(name)\"")
            }
        }
        if a.resource == "leases" && a.verb == "create", let info = registry.lookup(group: "coordination.k8s.io", version: a.apiVersion, resource: "leases") {
            let name = (try? decodeObject(req, info))?["metadata"]?["name"]?.stringValue ?? ""
            if name != node {
                var b = a
                b.name = name
                return Self.forbiddenStatus(b, message: "leases.coordination.k8s.io \"\(name)\" is forbidden: can only access node lease with the same name as the requesting node")
            }
        }
        if a.resource == "pods" && a.subresource.isEmpty && a.verb == "create", let info = registry.lookup(group: "", version: a.apiVersion, resource: "pods") {
            let pod = (try? decodeObject(req, info)) ?? .object([])
            let name = pod["metadata"]?["name"]?.stringValue ?? ""
            let message: String?
            if pod["metadata"]?["annotations"]?["kubernetes.io/config.mirror"] == nil {
                message = "pod does not have \"kubernetes.io/config.mirror\" annotation, node \"\(node)\" can only create mirror pods"
            } else if pod["spec"]?["nodeName"]?.stringValue != node {
                message = "node \"\(node)\" can only create pods with spec.nodeName set to itself"
            } else {
                let refs = PodReferences(pod)
                if !refs.secrets.isEmpty || !refs.configMaps.isEmpty || !refs.claims.isEmpty || pod["spec"]?["serviceAccountName"]?.stringValue.map({ !$0.isEmpty }) == true {
                    message = "node \"\(node)\" can not create pods that reference secrets, configmaps, persistentvolumeclaims or service accounts"
                } else {
                    message = nil
                }
            }
            if let message {
                var b = a
                b.name = name
                return Self.forbiddenStatus(b, message: "pods \"\(name)\" is forbidden: " + message)
            }
        }
        return nil
    }

    /// Admission on the final object of a create or update (inside the store's retry loop, so it
    /// sees what is written): NodeRestriction's label rule and RBAC's escalation check.
    func admit(_ info: ResourceInfo, new: JSON, old: JSON?) throws {
        guard let caller = Caller.current, !caller.user.groups.contains("system:masters") else { return }
        let name = new["metadata"]?["name"]?.stringValue ?? ""
        let ns = new["metadata"]?["namespace"]?.stringValue ?? ""
        let a = RequestAttributes(verb: old == nil ? "create" : "update", apiGroup: info.group, apiVersion: info.version,
                                  resource: info.resource, namespace: ns, name: name)
        if caller.user.nodeName != nil, info.kind == "Node" {
            func restricted(_ o: JSON?) -> [String: String] {
                var out: [String: String] = [:]
                for (k, v) in o?["metadata"]?["labels"]?.objectMembers ?? [] where k.hasPrefix("node-restriction.kubernetes.io/") { out[k] = v.stringValue ?? "" }
                return out
            }
            let was = restricted(old), now = restricted(new)
            let changed = Set(was.keys).union(now.keys).filter { was[$0] != now[$0] }.sorted()
            if !changed.isEmpty {
                throw Self.forbiddenStatus(a, message: "nodes \"\(name)\" is forbidden: is not allowed to modify labels: " + changed.joined(separator: ", "))
            }
        }
        if info.kind == "CertificateSigningRequest", let old {
            try CSRStrategy.admitSigners(new: new, old: old, user: caller.user, policy: caller.policy, attributes: a)
        }
        guard info.group == "rbac.authorization.k8s.io", let policy = caller.policy else { return }
        let held = policy.rules(for: caller.user, namespace: ns)
        func may(_ verb: String, _ resource: String, _ object: String) -> Bool {
            policy.authorize(caller.user, RequestAttributes(verb: verb, apiGroup: "rbac.authorization.k8s.io", apiVersion: "v1",
                                                            resource: resource, namespace: ns, name: object)) == .allow
        }
        let requested: [PolicyRule]
        switch info.kind {
        case "Role", "ClusterRole":
            if may("escalate", info.resource, name) { return }
            requested = RBACObjects.rules(new)
        case "RoleBinding", "ClusterRoleBinding":
            let ref = RBACObjects.binding(new).roleRef
            if old != nil, RBACObjects.binding(old!).roleRef == ref, RBACObjects.binding(old!).subjects == RBACObjects.binding(new).subjects { return }
            if may("bind", ref.kind == "ClusterRole" ? "clusterroles" : "roles", ref.name) { return }
            requested = ref.kind == "ClusterRole" ? policy.clusterRoles[ref.name] ?? [] : policy.roles[ns]?[ref.name] ?? []
        default:
            return
        }
        let missing = RBACPolicy.uncovered(requested, by: held)
        guard !missing.isEmpty else { return }
        let groups = caller.user.groups.map { "\"\($0)\"" }.joined(separator: " ")
        throw Self.forbiddenStatus(a, message: "\(info.qualifiedName) \"\(name)\" is forbidden: user \"\(caller.user.name)\" (groups=[\(groups)]) is attempting to grant RBAC permissions not currently held:\n"
                                   + missing.map { RBACObjects.json($0).serialized() }.joined(separator: "\n"))
    }

    // MARK: reviews and tokens

    /// The create-only review resources: access reviews, rules reviews, token and self reviews.
    func review(_ info: ResourceInfo, namespace: String?, _ req: APIRequest) async throws -> APIResponse {
        let body = try decodeObject(req, info)
        let spec = body["spec"] ?? .object([])
        let caller = req.user ?? UserInfo(name: "system:admin", groups: ["system:masters", "system:authenticated"])
        var status = JSONObject()
        switch info.kind {
        case "SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview":
            var subject = caller
            if info.kind != "SelfSubjectAccessReview" {
                guard let name = spec["user"]?.stringValue ?? spec["uid"]?.stringValue, !name.isEmpty || !(spec["groups"]?.arrayValue ?? []).isEmpty else {
                    throw APIStatus.invalid(kind: info.kind, group: info.group, name: "", causes: [.init(reason: "FieldValueRequired", message: "Required value: at least one of user or group must be specified", field: "spec.user")])
                }
                var extra: [String: [String]] = [:]
                for (k, v) in spec["extra"]?.objectMembers ?? [] { extra[k] = RBACObjects.strings(v) }
                subject = UserInfo(name: spec["user"]?.stringValue ?? "", uid: spec["uid"]?.stringValue ?? "",
                                   groups: RBACObjects.strings(spec["groups"]), extra: extra)
            }
            let a: RequestAttributes
            if let r = spec["resourceAttributes"] {
                a = RequestAttributes(verb: r["verb"]?.stringValue ?? "", apiGroup: r["group"]?.stringValue ?? "", apiVersion: r["version"]?.stringValue ?? "",
                                      resource: r["resource"]?.stringValue ?? "", subresource: r["subresource"]?.stringValue ?? "",
                                      namespace: r["namespace"]?.stringValue ?? "", name: r["name"]?.stringValue ?? "")
                if info.kind == "LocalSubjectAccessReview", a.namespace != (namespace ?? "") {
                    throw APIStatus.badRequest("spec.resourceAttributes.namespace must match namespace: \(namespace ?? "")")
                }
            } else if let n = spec["nonResourceAttributes"] {
                a = .nonResource(n["verb"]?.stringValue ?? "", n["path"]?.stringValue ?? "")
            } else {
                throw APIStatus.invalid(kind: info.kind, group: info.group, name: "", causes: [.init(reason: "FieldValueRequired", message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified", field: "spec.resourceAttributes")])
            }
            let d: (allowed: Bool, reason: String, policy: RBACPolicy?)
            if security == nil {
                d = (true, "", nil)
            } else {
                d = try await authorize(subject, a, nodeNameSelector: nil)
            }
            status.set("allowed", .bool(d.allowed))
            if d.allowed { status.set("reason", subject.groups.contains("system:masters") ? "" : "RBAC: allowed") } else if !d.reason.isEmpty { status.set("reason", d.reason) }
        case "SelfSubjectRulesReview":
            let ns = spec["namespace"]?.stringValue ?? ""
            let policy = try await rbac.current(store, hub)
            var rules = policy.rules(for: caller, namespace: ns)
            if caller.groups.contains("system:masters") { rules = [PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]), PolicyRule(verbs: ["*"], nonResourceURLs: ["*"])] + rules }
            status.set("resourceRules", .array(rules.filter { $0.nonResourceURLs.isEmpty }.map(RBACObjects.json)))
            status.set("nonResourceRules", .array(rules.filter { !$0.nonResourceURLs.isEmpty }.map(RBACObjects.json)))
            status.set("incomplete", .bool(caller.nodeName != nil))
            if caller.nodeName != nil { status.set("evaluationError", "node authorizer does not support user rule resolution") }
        case "TokenReview":
            guard let token = spec["token"]?.stringValue, !token.isEmpty else {
                throw APIStatus.invalid(kind: info.kind, group: info.group, name: "", causes: [.init(reason: "FieldValueRequired", message: "Required value", field: "spec.token")])
            }
            let audiences = RBACObjects.strings(spec["audiences"])
            if let sec = security, let u = await authenticateToken(token, sec, audiences: audiences.isEmpty ? sec.audiences : audiences) {
                status.set("authenticated", .bool(true))
                status.set("user", RBACObjects.userJSON(u))
                status.set("audiences", audiences.isEmpty ? sec.audiences : audiences)
            } else {
                status.set("authenticated", .bool(false))
                status.set("user", .object([]))
                status.set("error", "invalid bearer token")
            }
        case "SelfSubjectReview":
            status.set("userInfo", RBACObjects.userJSON(caller))
        default:
            throw APIStatus.methodNotAllowed
        }
        var out = body
        out.set(["apiVersion"], .string(info.apiVersion))
        out.set(["kind"], .string(info.kind))
        if out["metadata"] == nil { out.set(["metadata"], .object([])) }
        if out["metadata"]?["creationTimestamp"] == nil { out.set(["metadata", "creationTimestamp"], .null) }
        if out["spec"] == nil && info.kind != "SelfSubjectReview" { out.set(["spec"], .object([])) }
        out.set(["status"], status.json)
        return .json(201, out.withTypeMetaFirst())
    }

    /// `POST serviceaccounts/<name>/token`: a TokenRequest, answered with a signed token bound to
    /// the service account (and to a pod or secret when `boundObjectRef` names one).
    func tokenRequest(_ info: ResourceInfo, namespace: String, name: String, _ req: APIRequest) async throws -> APIResponse {
        guard let sec = security else {
            throw APIStatus(code: 503, reason: "ServiceUnavailable", message: "service account tokens are not issued by an --insecure-http master", hasDetails: false)
        }
        var body = try decodeBody(req, kind: "TokenRequest")
        let (sa, _) = try await get(info, namespace: namespace, name: name)
        let spec = body["spec"] ?? .object([])
        var audiences = RBACObjects.strings(spec["audiences"])
        if audiences.isEmpty { audiences = sec.audiences }
        let seconds = spec["expirationSeconds"]?.int64Value ?? 3600
        guard seconds >= 600, seconds <= 1 << 32 else {
            throw APIStatus.invalid(kind: "TokenRequest", group: "authentication.k8s.io", name: name,
                                    causes: [.init(reason: "FieldValueInvalid", message: "Invalid value: \(seconds): may not specify a duration less than 10 minutes", field: "spec.expirationSeconds")])
        }
        var pod: (String, String)?
        if let ref = spec["boundObjectRef"], let kind = ref["kind"]?.stringValue {
            let refName = ref["name"]?.stringValue ?? ""
            guard kind == "Pod" else {
                throw APIStatus.invalid(kind: "TokenRequest", group: "authentication.k8s.io", name: name,
                                        causes: [.init(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(kind)\": supported values: \"Pod\"", field: "spec.boundObjectRef.kind")])
            }
            let podInfo = registry.lookup(group: "", version: "v1", resource: "pods")!
            let (p, _) = try await get(podInfo, namespace: namespace, name: refName)
            let uid = p["metadata"]?["uid"]?.stringValue ?? ""
            if let want = ref["uid"]?.stringValue, !want.isEmpty, want != uid {
                throw APIStatus(code: 409, reason: "Conflict", message: "the UID in the bound object reference (\(want)) does not match the UID in record. The object might have been deleted and then recreated", hasDetails: false)
            }
            let podSA = p["spec"]?["serviceAccountName"]?.stringValue ?? "default"
            guard podSA == name else {
                throw APIStatus.badRequest("cannot bind token for serviceaccount \"\(name)\" to pod \"\(refName)\" that uses serviceaccount \"\(podSA)\"")
            }
            pod = (refName, uid)
        }
        // a node asks only for the service accounts of its own pods, bound to them
        if let node = req.user?.nodeName {
            guard let (podName, _) = pod, let v = try await store.get("/registry/pods/\(namespace)/\(podName)"), let p = try? JSON.parse(v.value),
                  p["spec"]?["nodeName"]?.stringValue == node else {
                throw APIStatus(code: 403, reason: "Forbidden", message: "serviceaccounts \"\(name)\" is forbidden: node requested token not bound to a pod scheduled on the same node",
                                name: name, kind: "serviceaccounts")
            }
        }
        let now = Int64(Timestamp.now().seconds)
        let claims = ServiceAccountClaims(namespace: namespace, name: name, uid: sa["metadata"]?["uid"]?.stringValue ?? "", pod: pod,
                                          audiences: audiences, expiration: now + seconds, issuedAt: now, tokenID: UUID().uuidString.lowercased())
        let token = try sec.serviceAccountTokens.issue(claims)
        body.set(["apiVersion"], .string("authentication.k8s.io/v1"))
        body.set(["kind"], .string("TokenRequest"))
        body.set(["metadata", "name"], .string(name))
        body.set(["metadata", "namespace"], .string(namespace))
        body.set(["metadata", "creationTimestamp"], .null)
        body.set(["spec", "audiences"], .array(audiences.map { .string($0) }))
        body.set(["spec", "expirationSeconds"], .number(String(seconds)))
        if body["spec"]?["boundObjectRef"] == nil { body.set(["spec", "boundObjectRef"], .null) }
        body.set(["status"], .object([("token", .string(token)),
                                      ("expirationTimestamp", .string(Timestamp(seconds: Int(now + seconds), nanoseconds: 0).rfc3339Nano))]))
        return .json(201, body.withTypeMetaFirst())
    }

    // MARK: bootstrap objects

    /// The default roles and bindings (labelled as kube-apiserver labels its bootstrap policy);
    /// existing ones are left as the admin changed them.
    func bootstrapPolicy() async throws {
        guard let cr = registry.lookup(group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles"),
              let crb = registry.lookup(group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterrolebindings") else { return }
        func meta(_ name: String) -> JSON {
            .object([("name", .string(name)), ("labels", .object([("kubernetes.io/bootstrapping", .string("rbac-defaults"))])),
                     ("annotations", .object([("rbac.authorization.kubernetes.io/autoupdate", .string("true"))]))])
        }
        var objects: [(ResourceInfo, String, JSON)] = []
        for (name, rules) in DefaultPolicy.clusterRoles {
            objects.append((cr, name, .object([("apiVersion", .string("rbac.authorization.k8s.io/v1")), ("kind", .string("ClusterRole")),
                                               ("metadata", meta(name)), ("rules", .array(rules.map(RBACObjects.json)))])))
        }
        for b in DefaultPolicy.clusterRoleBindings {
            let subjects: [JSON] = b.subjects.map {
                var o = JSONObject()
                o.set("kind", $0.kind)
                if $0.kind != "ServiceAccount" { o.set("apiGroup", "rbac.authorization.k8s.io") }
                o.set("name", $0.name)
                if !$0.namespace.isEmpty { o.set("namespace", $0.namespace) }
                return o.json
            }
            objects.append((crb, b.name, .object([("apiVersion", .string("rbac.authorization.k8s.io/v1")), ("kind", .string("ClusterRoleBinding")),
                                                  ("metadata", meta(b.name)),
                                                  ("roleRef", .object([("apiGroup", .string("rbac.authorization.k8s.io")), ("kind", .string(b.roleRef.kind)), ("name", .string(b.roleRef.name))])),
                                                  ("subjects", .array(subjects))])))
        }
        for (info, name, obj) in objects where try await store.get(info.key(namespace: nil, name: name)) == nil {
            do {
                _ = try await create(info, namespace: nil, obj, manager: "swiftlet-master", dryRun: false)
            } catch let s as APIStatus where s.code == 409 {}
        }
    }

    /// Every namespace has a `default` service account (the service-account controller's job
    /// upstream; here the master makes it with the namespace).
    func ensureDefaultServiceAccount(_ namespace: String) async {
        guard let sa = registry.lookup(group: "", version: "v1", resource: "serviceaccounts"),
              (try? await store.get(sa.key(namespace: namespace, name: "default"))) == nil else { return }
        _ = try? await create(sa, namespace: namespace, .object([("apiVersion", .string("v1")), ("kind", .string("ServiceAccount")),
                                                                  ("metadata", .object([("name", .string("default"))]))]),
                              manager: "swiftlet-master", dryRun: false)
    }
}

extension APIServer {
    /// A subresource's request body (JSON, YAML or protobuf), which is not a stored kind.
    func decodeBody(_ req: APIRequest, kind: String) throws -> JSON {
        guard req.contentType == "application/vnd.kubernetes.protobuf" else { return try Body.decode(req, kindForErrors: kind) }
        if req.body.count > Body.maxBytes {
            throw APIStatus(code: 413, reason: "RequestEntityTooLarge", message: "the request is too large: \(req.body.count) bytes, the limit is \(Body.maxBytes)", hasDetails: false)
        }
        do { return try KubeProtobuf.decode(req.body) } catch let e as KubeProtobuf.DecodeError {
            throw APIStatus(code: 415, reason: "UnsupportedMediaType", message: e.message, hasDetails: false)
        }
    }
}

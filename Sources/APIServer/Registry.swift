import APIMachinery
import LinuxSystem

/// What the server knows about one served resource: its name in URLs, its kind, its scope, how
/// it is printed, patched, defaulted and validated, and which subresources it has.
public struct ResourceInfo: Sendable {
    public var group: String
    public var version: String
    /// Plural, lower case: `pods`.
    public var resource: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var categories: [String]
    /// Subresources served with the generic machinery (`status`, `scale`) or by name (`binding`,
    /// `eviction`, `log`, …).
    public var subresources: [Subresource]
    /// Where the objects are stored (kube-apiserver's etcd layout: `/registry/<resource>/`).
    public var storagePrefix: String
    /// What discovery lists; virtual resources (reviews) take `create` only and are never stored.
    public var verbs: [String]
    public var virtual: Bool { !verbs.contains("get") }

    public struct Subresource: Sendable {
        public var name: String
        public var kind: String
        public var verbs: [String]
        public var group: String?
        public var version: String?
    }

    public init(group: String, version: String, resource: String, kind: String, namespaced: Bool,
                shortNames: [String] = [], categories: [String] = [], subresources: [Subresource] = [],
                storage: String? = nil, verbs: [String] = ResourceInfo.verbs) {
        self.group = group
        self.verbs = verbs
        self.version = version
        self.resource = resource
        self.singular = kind.lowercased()
        self.kind = kind
        self.namespaced = namespaced
        self.shortNames = shortNames
        self.categories = categories
        self.subresources = subresources
        let g = group.isEmpty ? "" : group + "/"
        self.storagePrefix = "/registry/" + (storage ?? (group.isEmpty || Self.kubeStoredBare.contains(group) ? resource : g + resource)) + "/"
    }

    /// Groups whose resources kube-apiserver stores under `/registry/<resource>/` (the rest go
    /// under `/registry/<group>/<resource>/`).
    static let kubeStoredBare: Set<String> = ["apps", "rbac.authorization.k8s.io", "certificates.k8s.io", "batch", "coordination.k8s.io", "discovery.k8s.io", "autoscaling", "events.k8s.io"]

    public var apiVersion: String { group.isEmpty ? version : group + "/" + version }
    public var groupVersion: String { apiVersion }
    /// `pods`, `deployments.apps` (as errors and RBAC name a resource).
    public var qualifiedName: String { group.isEmpty ? resource : resource + "." + group }
    public var listKind: String { kind + "List" }
    public static let verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    public var patchSchema: PatchSchema { PatchSchema.forKind(kind) }
    public var printer: Printer { Printer.forKind(kind) }

    public func subresource(_ name: String) -> Subresource? { subresources.first { $0.name == name } }

    /// The storage key of one object.
    public func key(namespace: String?, name: String) -> String {
        namespaced ? storagePrefix + (namespace ?? "") + "/" + name : storagePrefix + name
    }

    /// The prefix a list or watch reads: one namespace or all.
    public func prefix(namespace: String?) -> String {
        if namespaced, let ns = namespace { return storagePrefix + ns + "/" }
        return storagePrefix
    }
}

extension ResourceInfo.Subresource {
    static func status(_ kind: String) -> ResourceInfo.Subresource { ResourceInfo.Subresource(name: "status", kind: kind, verbs: ["get", "patch", "update"]) }
    static let scale = ResourceInfo.Subresource(name: "scale", kind: "Scale", verbs: ["get", "patch", "update"], group: "autoscaling", version: "v1")
}

/// Every served resource, grouped by group/version in the order discovery lists them.
public struct ResourceRegistry: Sendable {
    public var resources: [ResourceInfo]

    public init(_ resources: [ResourceInfo]) { self.resources = resources }

    /// `(group, version)` pairs in first-seen order.
    public var groupVersions: [(group: String, version: String)] {
        var seen = Set<String>()
        var out: [(String, String)] = []
        for r in resources where seen.insert(r.apiVersion).inserted { out.append((r.group, r.version)) }
        return out
    }

    /// The groups other than core with their versions, preferred (first listed) first.
    public var groups: [(name: String, versions: [String])] {
        var order: [String] = []
        var versions: [String: [String]] = [:]
        for (g, v) in groupVersions where !g.isEmpty {
            if versions[g] == nil { order.append(g); versions[g] = [] }
            versions[g]!.append(v)
        }
        return order.map { ($0, versions[$0]!) }
    }

    public func lookup(group: String, version: String, resource: String) -> ResourceInfo? {
        resources.first { $0.group == group && $0.version == version && $0.resource == resource }
    }

    public func lookup(apiVersion: String, kind: String) -> ResourceInfo? {
        resources.first { $0.apiVersion == apiVersion && $0.kind == kind }
    }

    /// Every resource stored under `storagePrefix` once (for namespace cleanup).
    public var storedOnce: [ResourceInfo] {
        var seen = Set<String>()
        return resources.filter { !$0.virtual && seen.insert($0.storagePrefix).inserted }
    }

    /// The resources kube-apiserver 1.28 serves for the kinds this project uses.
    public static let standard: ResourceRegistry = {
        typealias S = ResourceInfo.Subresource
        let core: [ResourceInfo] = [
            ResourceInfo(group: "", version: "v1", resource: "bindings", kind: "Binding", namespaced: true, verbs: ["create"]),
            ResourceInfo(group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true, shortNames: ["cm"]),
            ResourceInfo(group: "", version: "v1", resource: "endpoints", kind: "Endpoints", namespaced: true, shortNames: ["ep"],
                         storage: "services/endpoints"),
            ResourceInfo(group: "", version: "v1", resource: "events", kind: "Event", namespaced: true, shortNames: ["ev"]),
            ResourceInfo(group: "", version: "v1", resource: "limitranges", kind: "LimitRange", namespaced: true, shortNames: ["limits"]),
            ResourceInfo(group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false, shortNames: ["ns"],
                         subresources: [S(name: "finalize", kind: "Namespace", verbs: ["update"]), .status("Namespace")]),
            ResourceInfo(group: "", version: "v1", resource: "nodes", kind: "Node", namespaced: false, shortNames: ["no"],
                         subresources: [S(name: "proxy", kind: "NodeProxyOptions", verbs: ["create", "delete", "get", "patch", "update"]), .status("Node")],
                         storage: "minions"),
            ResourceInfo(group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true, shortNames: ["po"], categories: ["all"],
                         subresources: [
                            S(name: "attach", kind: "PodAttachOptions", verbs: ["create", "get"]),
                            S(name: "binding", kind: "Binding", verbs: ["create"]),
                            S(name: "ephemeralcontainers", kind: "Pod", verbs: ["get", "patch", "update"]),
                            S(name: "eviction", kind: "Eviction", verbs: ["create"], group: "policy", version: "v1"),
                            S(name: "exec", kind: "PodExecOptions", verbs: ["create", "get"]),
                            S(name: "log", kind: "Pod", verbs: ["get"]),
                            S(name: "portforward", kind: "PodPortForwardOptions", verbs: ["create", "get"]),
                            S(name: "proxy", kind: "PodProxyOptions", verbs: ["create", "delete", "get", "patch", "update"]),
                            .status("Pod"),
                         ]),
            ResourceInfo(group: "", version: "v1", resource: "podtemplates", kind: "PodTemplate", namespaced: true),
            ResourceInfo(group: "", version: "v1", resource: "replicationcontrollers", kind: "ReplicationController", namespaced: true,
                         shortNames: ["rc"], categories: ["all"], subresources: [.scale, .status("ReplicationController")],
                         storage: "controllers"),
            ResourceInfo(group: "", version: "v1", resource: "resourcequotas", kind: "ResourceQuota", namespaced: true, shortNames: ["quota"],
                         subresources: [.status("ResourceQuota")]),
            ResourceInfo(group: "", version: "v1", resource: "secrets", kind: "Secret", namespaced: true),
            ResourceInfo(group: "", version: "v1", resource: "serviceaccounts", kind: "ServiceAccount", namespaced: true, shortNames: ["sa"],
                         subresources: [S(name: "token", kind: "TokenRequest", verbs: ["create"], group: "authentication.k8s.io", version: "v1")]),
            ResourceInfo(group: "", version: "v1", resource: "services", kind: "Service", namespaced: true, shortNames: ["svc"], categories: ["all"],
                         subresources: [S(name: "proxy", kind: "ServiceProxyOptions", verbs: ["create", "delete", "get", "patch", "update"]), .status("Service")],
                         storage: "services/specs"),
        ]
        let apps: [ResourceInfo] = [
            ResourceInfo(group: "apps", version: "v1", resource: "controllerrevisions", kind: "ControllerRevision", namespaced: true),
            ResourceInfo(group: "apps", version: "v1", resource: "daemonsets", kind: "DaemonSet", namespaced: true, shortNames: ["ds"], categories: ["all"],
                         subresources: [.status("DaemonSet")]),
            ResourceInfo(group: "apps", version: "v1", resource: "deployments", kind: "Deployment", namespaced: true, shortNames: ["deploy"], categories: ["all"],
                         subresources: [.scale, .status("Deployment")]),
            ResourceInfo(group: "apps", version: "v1", resource: "replicasets", kind: "ReplicaSet", namespaced: true, shortNames: ["rs"], categories: ["all"],
                         subresources: [.scale, .status("ReplicaSet")]),
            ResourceInfo(group: "apps", version: "v1", resource: "statefulsets", kind: "StatefulSet", namespaced: true, shortNames: ["sts"], categories: ["all"],
                         subresources: [.scale, .status("StatefulSet")]),
        ]
        let others: [ResourceInfo] = [
            ResourceInfo(group: "events.k8s.io", version: "v1", resource: "events", kind: "Event", namespaced: true, shortNames: ["ev"],
                         storage: "events"),
            ResourceInfo(group: "autoscaling", version: "v2", resource: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true,
                         shortNames: ["hpa"], categories: ["all"], subresources: [.status("HorizontalPodAutoscaler")]),
            ResourceInfo(group: "autoscaling", version: "v1", resource: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler", namespaced: true,
                         shortNames: ["hpa"], categories: ["all"], subresources: [.status("HorizontalPodAutoscaler")]),
            ResourceInfo(group: "batch", version: "v1", resource: "cronjobs", kind: "CronJob", namespaced: true, shortNames: ["cj"], categories: ["all"],
                         subresources: [.status("CronJob")]),
            ResourceInfo(group: "batch", version: "v1", resource: "jobs", kind: "Job", namespaced: true, categories: ["all"],
                         subresources: [.status("Job")]),
            ResourceInfo(group: "certificates.k8s.io", version: "v1", resource: "certificatesigningrequests", kind: "CertificateSigningRequest",
                         namespaced: false, shortNames: ["csr"],
                         subresources: [S(name: "approval", kind: "CertificateSigningRequest", verbs: ["get", "patch", "update"]),
                                        .status("CertificateSigningRequest")]),
            ResourceInfo(group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true),
            ResourceInfo(group: "discovery.k8s.io", version: "v1", resource: "endpointslices", kind: "EndpointSlice", namespaced: true),
            ResourceInfo(group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false),
            ResourceInfo(group: "rbac.authorization.k8s.io", version: "v1", resource: "clusterroles", kind: "ClusterRole", namespaced: false),
            ResourceInfo(group: "rbac.authorization.k8s.io", version: "v1", resource: "rolebindings", kind: "RoleBinding", namespaced: true),
            ResourceInfo(group: "rbac.authorization.k8s.io", version: "v1", resource: "roles", kind: "Role", namespaced: true),
            ResourceInfo(group: "authentication.k8s.io", version: "v1", resource: "selfsubjectreviews", kind: "SelfSubjectReview", namespaced: false, verbs: ["create"]),
            ResourceInfo(group: "authentication.k8s.io", version: "v1", resource: "tokenreviews", kind: "TokenReview", namespaced: false, verbs: ["create"]),
            ResourceInfo(group: "authorization.k8s.io", version: "v1", resource: "localsubjectaccessreviews", kind: "LocalSubjectAccessReview", namespaced: true, verbs: ["create"]),
            ResourceInfo(group: "authorization.k8s.io", version: "v1", resource: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview", namespaced: false, verbs: ["create"]),
            ResourceInfo(group: "authorization.k8s.io", version: "v1", resource: "selfsubjectrulesreviews", kind: "SelfSubjectRulesReview", namespaced: false, verbs: ["create"]),
            ResourceInfo(group: "authorization.k8s.io", version: "v1", resource: "subjectaccessreviews", kind: "SubjectAccessReview", namespaced: false, verbs: ["create"]),
        ]
        return ResourceRegistry(core + apps + others)
    }()
}

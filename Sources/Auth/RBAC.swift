/// Role-based access control as `rbac.authorization.k8s.io/v1` defines it: rules granted by Roles
/// and ClusterRoles, handed to users, groups and service accounts by (Cluster)RoleBindings.
/// Everything here is a value: the API server feeds it the stored objects.
public struct PolicyRule: Sendable, Equatable {
    public var verbs: [String]
    public var apiGroups: [String]
    public var resources: [String]
    public var resourceNames: [String]
    public var nonResourceURLs: [String]

    public init(verbs: [String], apiGroups: [String] = [], resources: [String] = [], resourceNames: [String] = [], nonResourceURLs: [String] = []) {
        self.verbs = verbs
        self.apiGroups = apiGroups
        self.resources = resources
        self.resourceNames = resourceNames
        self.nonResourceURLs = nonResourceURLs
    }

    /// Does this rule allow the request? (upstream's `RuleAllows`)
    public func allows(_ a: RequestAttributes) -> Bool {
        guard verbs.contains("*") || verbs.contains(a.verb) else { return false }
        if !a.isResourceRequest {
            return nonResourceURLs.contains { u in
                u == "*" || u == a.path || (u.hasSuffix("*") && a.path.hasPrefix(String(u.dropLast())))
            }
        }
        guard apiGroups.contains("*") || apiGroups.contains(a.apiGroup) else { return false }
        let combined = a.subresource.isEmpty ? a.resource : a.resource + "/" + a.subresource
        let resourceMatch = resources.contains { r in
            r == "*" || r == combined
                || (!a.subresource.isEmpty && (r == "*/" + a.subresource || r == a.resource + "/*"))
        }
        guard resourceMatch else { return false }
        return resourceNames.isEmpty || (!a.name.isEmpty && resourceNames.contains(a.name))
    }

    /// The rule split into single-valued rules (one verb, group, resource, name or URL each), as
    /// the escalation check compares them.
    func atoms() -> [PolicyRule] {
        var out: [PolicyRule] = []
        for v in verbs {
            for u in nonResourceURLs { out.append(PolicyRule(verbs: [v], nonResourceURLs: [u])) }
            for g in apiGroups {
                for r in resources {
                    if resourceNames.isEmpty {
                        out.append(PolicyRule(verbs: [v], apiGroups: [g], resources: [r]))
                    } else {
                        for n in resourceNames { out.append(PolicyRule(verbs: [v], apiGroups: [g], resources: [r], resourceNames: [n])) }
                    }
                }
            }
        }
        return out
    }

    /// Does this rule grant at least what the single-valued `atom` grants? A wildcard in the
    /// atom is covered only by a wildcard.
    func covers(_ atom: PolicyRule) -> Bool {
        func has(_ list: [String], _ v: String) -> Bool { list.contains("*") || list.contains(v) }
        guard let verb = atom.verbs.first, has(verbs, verb) else { return false }
        if let url = atom.nonResourceURLs.first {
            return nonResourceURLs.contains { u in
                u == "*" || u == url || (u.hasSuffix("*") && url.hasPrefix(String(u.dropLast())))
            }
        }
        guard let g = atom.apiGroups.first, let r = atom.resources.first, has(apiGroups, g) else { return false }
        let resourceOK = resources.contains { mine in
            if mine == "*" || mine == r { return true }
            // "pods/*" covers "pods/log"; "*/scale" covers "deployments/scale"
            let parts = r.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return false }
            return (mine == parts[0] + "/*" && parts[1] != "*") || (mine == "*/" + parts[1] && parts[0] != "*")
        }
        guard resourceOK else { return false }
        if resourceNames.isEmpty { return true }
        guard let n = atom.resourceNames.first else { return false }
        return resourceNames.contains(n)
    }
}

public struct RoleRef: Sendable, Equatable {
    /// `Role` or `ClusterRole`.
    public var kind: String
    public var name: String
    public init(kind: String, name: String) { self.kind = kind; self.name = name }
}

public struct Subject: Sendable, Equatable {
    /// `User`, `Group` or `ServiceAccount`.
    public var kind: String
    public var name: String
    public var namespace: String
    public init(kind: String, name: String, namespace: String = "") { self.kind = kind; self.name = name; self.namespace = namespace }

    /// `bindingNamespace`: a RoleBinding's namespace, where a service-account subject without one lives.
    public func matches(_ user: UserInfo, bindingNamespace: String) -> Bool {
        switch kind {
        case "User": return user.name == name
        case "Group": return user.groups.contains(name)
        case "ServiceAccount":
            let ns = namespace.isEmpty ? bindingNamespace : namespace
            return !ns.isEmpty && user.name == "system:serviceaccount:\(ns):\(name)"
        default: return false
        }
    }
}

public struct RoleBinding: Sendable, Equatable {
    public var name: String
    /// Empty for a ClusterRoleBinding.
    public var namespace: String
    public var roleRef: RoleRef
    public var subjects: [Subject]
    public init(name: String, namespace: String = "", roleRef: RoleRef, subjects: [Subject]) {
        self.name = name
        self.namespace = namespace
        self.roleRef = roleRef
        self.subjects = subjects
    }
}

/// Every role and binding at one point in time: the authorizer's view.
public struct RBACPolicy: Sendable {
    public var clusterRoles: [String: [PolicyRule]]
    /// namespace → role name → rules
    public var roles: [String: [String: [PolicyRule]]]
    public var clusterRoleBindings: [RoleBinding]
    /// namespace → bindings
    public var roleBindings: [String: [RoleBinding]]

    public init(clusterRoles: [String: [PolicyRule]] = [:], roles: [String: [String: [PolicyRule]]] = [:],
                clusterRoleBindings: [RoleBinding] = [], roleBindings: [RoleBinding] = []) {
        self.clusterRoles = clusterRoles
        self.roles = roles
        self.clusterRoleBindings = clusterRoleBindings
        self.roleBindings = Dictionary(grouping: roleBindings, by: \.namespace)
    }

    func rules(of ref: RoleRef, namespace: String) -> [PolicyRule] {
        ref.kind == "ClusterRole" ? clusterRoles[ref.name] ?? [] : roles[namespace]?[ref.name] ?? []
    }

    /// Allowed, or denied with the reason (no binding grants it).
    public func authorize(_ user: UserInfo, _ a: RequestAttributes) -> Decision {
        for b in clusterRoleBindings where b.subjects.contains(where: { $0.matches(user, bindingNamespace: "") }) {
            if rules(of: b.roleRef, namespace: "").contains(where: { $0.allows(a) }) { return .allow }
        }
        if a.isResourceRequest, !a.namespace.isEmpty {
            for b in roleBindings[a.namespace] ?? [] where b.subjects.contains(where: { $0.matches(user, bindingNamespace: a.namespace) }) {
                if rules(of: b.roleRef, namespace: a.namespace).contains(where: { $0.allows(a) }) { return .allow }
            }
        }
        return .noOpinion
    }

    /// Every rule the user holds in a namespace (cluster-wide ones included): what
    /// SelfSubjectRulesReview reports and what the escalation check compares against.
    public func rules(for user: UserInfo, namespace: String) -> [PolicyRule] {
        var out: [PolicyRule] = []
        for b in clusterRoleBindings where b.subjects.contains(where: { $0.matches(user, bindingNamespace: "") }) {
            out += rules(of: b.roleRef, namespace: "")
        }
        if !namespace.isEmpty {
            for b in roleBindings[namespace] ?? [] where b.subjects.contains(where: { $0.matches(user, bindingNamespace: namespace) }) {
                out += rules(of: b.roleRef, namespace: namespace)
            }
        }
        return out
    }

    /// RBAC's escalation prevention: the rules `held` must cover every rule `requested` (a user may
    /// grant only what they have). Returns the rules not covered.
    public static func uncovered(_ requested: [PolicyRule], by held: [PolicyRule]) -> [PolicyRule] {
        var missing: [PolicyRule] = []
        for rule in requested {
            for atom in rule.atoms() where !held.contains(where: { $0.covers(atom) }) { missing.append(atom) }
        }
        return missing
    }
}

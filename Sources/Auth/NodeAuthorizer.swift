/// The Node authorizer's decisions for a `system:node:<name>` identity: a node may read only the
/// pods bound to it and the secrets, configmaps, claims and service accounts those pods use; it
/// may write its own Node and Lease, the status of its pods, events and CSRs. Decisions that
/// depend on which pods are bound where come back as a question for the caller (who has the store).
public enum NodeAuthorizer {
    public enum Verdict: Sendable, Equatable {
        case allow
        /// Not this authorizer's to grant: RBAC decides (nothing is bound for nodes by default).
        case noOpinion(String)
        /// Allowed when some pod bound to the node references this object (`resource` is
        /// `secrets`, `configmaps`, `persistentvolumeclaims` or `serviceaccounts`).
        case ifReferenced(resource: String, namespace: String, name: String)
        /// Allowed when the pod `namespace/name` is bound to the node.
        case ifPodBound(namespace: String, name: String)
    }

    /// `nodeNameSelector`: the value a list/watch of pods restricts `spec.nodeName` to, if it does.
    public static func decide(node: String, _ a: RequestAttributes, nodeNameSelector: String?) -> Verdict {
        guard a.isResourceRequest else { return .noOpinion("") }
        let read = ["get", "list", "watch"]
        switch (a.apiGroup, a.resource, a.subresource) {
        case ("", "secrets", ""), ("", "configmaps", ""), ("", "persistentvolumeclaims", ""), ("", "serviceaccounts", ""):
            guard read.contains(a.verb), !a.name.isEmpty else {
                return .noOpinion("can only get individual resources of this type")
            }
            return .ifReferenced(resource: a.resource, namespace: a.namespace, name: a.name)
        case ("", "serviceaccounts", "token"):
            guard a.verb == "create" else { return .noOpinion("can only create tokens for individual service accounts") }
            return .ifReferenced(resource: "serviceaccounts", namespace: a.namespace, name: a.name)
        case ("", "pods", ""):
            switch a.verb {
            case "get" where !a.name.isEmpty, "delete" where !a.name.isEmpty:
                return .ifPodBound(namespace: a.namespace, name: a.name)
            case "list", "watch":
                return nodeNameSelector == node ? .allow : .noOpinion("can only list/watch pods with spec.nodeName=\(node) field selector")
            case "create":
                return .allow  // mirror pods only: NodeRestriction checks the object
            default:
                return .noOpinion("")
            }
        case ("", "pods", "status") where ["get", "update", "patch"].contains(a.verb),
             ("", "pods", "eviction") where a.verb == "create":
            return .ifPodBound(namespace: a.namespace, name: a.name)
        case ("", "nodes", ""), ("", "nodes", "status"):
            if read.contains(a.verb) || a.verb == "create" { return .allow }
            if ["update", "patch", "delete"].contains(a.verb) {
                return a.name == node ? .allow : .noOpinion("node \"\(node)\" is not allowed to modify node \"\(a.name)\"")
            }
            return .noOpinion("")
        case ("coordination.k8s.io", "leases", ""):
            guard a.namespace == "kube-node-lease" else { return .noOpinion("can only access leases in the kube-node-lease namespace") }
            if a.verb == "create" { return .allow }  // NodeRestriction checks the name
            if ["get", "update", "patch", "delete"].contains(a.verb) {
                return a.name == node ? .allow : .noOpinion("can only access node lease with the same name as the requesting node")
            }
            return .noOpinion("")
        case ("", "events", ""), ("events.k8s.io", "events", ""):
            return ["create", "update", "patch"].contains(a.verb) ? .allow : .noOpinion("")
        case ("", "services", ""), ("", "endpoints", ""), ("discovery.k8s.io", "endpointslices", ""), ("node.k8s.io", "runtimeclasses", ""):
            return read.contains(a.verb) ? .allow : .noOpinion("")
        case ("certificates.k8s.io", "certificatesigningrequests", ""):
            return (read + ["create"]).contains(a.verb) ? .allow : .noOpinion("")
        case ("authentication.k8s.io", "tokenreviews", ""), ("authorization.k8s.io", "subjectaccessreviews", ""):
            return a.verb == "create" ? .allow : .noOpinion("")
        default:
            return .noOpinion("")
        }
    }

    /// Does the pod spec reference `resource/name` (volumes, env, envFrom, image pull secrets, its
    /// service account)? `spec` is the decoded pod spec.
    public static func podReferences(serviceAccount: String, secrets: Set<String>, configMaps: Set<String>, claims: Set<String>,
                                     resource: String, name: String) -> Bool {
        switch resource {
        case "secrets": return secrets.contains(name)
        case "configmaps": return configMaps.contains(name)
        case "persistentvolumeclaims": return claims.contains(name)
        case "serviceaccounts": return serviceAccount == name
        default: return false
        }
    }
}

/// Who is asking (kube-apiserver's `user.Info`): a name, an optional uid, groups, extra values.
public struct UserInfo: Sendable, Equatable {
    public var name: String
    public var uid: String
    public var groups: [String]
    public var extra: [String: [String]]

    public init(name: String, uid: String = "", groups: [String] = [], extra: [String: [String]] = [:]) {
        self.name = name
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }

    public static let anonymous = UserInfo(name: "system:anonymous", groups: ["system:unauthenticated"])

    /// `system:authenticated` added, as every authenticator's result gets it.
    public func authenticated() -> UserInfo {
        var u = self
        if !u.groups.contains("system:authenticated") { u.groups.append("system:authenticated") }
        return u
    }

    /// The node a `system:node:<name>` identity in `system:nodes` speaks for.
    public var nodeName: String? {
        guard groups.contains("system:nodes"), name.hasPrefix("system:node:") else { return nil }
        let n = String(name.dropFirst("system:node:".count))
        return n.isEmpty ? nil : n
    }

    /// `(namespace, name)` of a `system:serviceaccount:<ns>:<name>` identity.
    public var serviceAccount: (namespace: String, name: String)? {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount", !parts[2].isEmpty, !parts[3].isEmpty else { return nil }
        return (String(parts[2]), String(parts[3]))
    }
}

/// What a request does, as authorizers see it (kube-apiserver's `authorizer.Attributes`).
public struct RequestAttributes: Sendable, Equatable {
    public var verb: String
    public var isResourceRequest: Bool
    /// Non-resource requests: the path (`/healthz`).
    public var path: String
    public var apiGroup: String
    public var apiVersion: String
    public var resource: String
    public var subresource: String
    public var namespace: String
    public var name: String

    public init(verb: String, isResourceRequest: Bool = true, path: String = "", apiGroup: String = "", apiVersion: String = "",
                resource: String = "", subresource: String = "", namespace: String = "", name: String = "") {
        self.verb = verb
        self.isResourceRequest = isResourceRequest
        self.path = path
        self.apiGroup = apiGroup
        self.apiVersion = apiVersion
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
    }

    public static func nonResource(_ verb: String, _ path: String) -> RequestAttributes {
        RequestAttributes(verb: verb, isResourceRequest: false, path: path)
    }

    /// kube-apiserver's 403 message: `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"`.
    public func forbiddenMessage(_ user: UserInfo, reason: String) -> String {
        let tail = reason.isEmpty ? "" : ": " + reason
        guard isResourceRequest else {
            return "forbidden: User \"\(user.name)\" cannot \(verb) path \"\(path)\"" + tail
        }
        let res = subresource.isEmpty ? resource : resource + "/" + subresource
        let qualified = apiGroup.isEmpty ? res : resource + "." + apiGroup + (subresource.isEmpty ? "" : "/" + subresource)
        let object = name.isEmpty ? qualified : "\(qualified) \"\(name)\""
        let scope = namespace.isEmpty ? "at the cluster scope" : "in the namespace \"\(namespace)\""
        return "\(object) is forbidden: User \"\(user.name)\" cannot \(verb) resource \"\(res)\" in API group \"\(apiGroup)\" \(scope)" + tail
    }
}

public enum Decision: Sendable, Equatable {
    case allow
    case deny(String)
    case noOpinion
}

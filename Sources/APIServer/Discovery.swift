import APIMachinery
import LinuxSystem

/// Discovery documents: legacy (`/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`) and aggregated
/// (`apidiscovery.k8s.io` v2 and v2beta1, what kubectl ≥ 1.30 asks for first).
public enum Discovery {
    static func strings(_ a: [String]) -> JSON { .array(a.map { .string($0) }) }

    public static func apiVersions(serverAddress: String) -> JSON {
        .object([("kind", .string("APIVersions")), ("versions", strings(["v1"])),
                 ("serverAddressByClientCIDRs", .array([.object([("clientCIDR", .string("0.0.0.0/0")), ("serverAddress", .string(serverAddress))])]))])
    }

    static func groupJSON(_ name: String, _ versions: [String]) -> JSON {
        let vs: [JSON] = versions.map { .object([("groupVersion", .string(name + "/" + $0)), ("version", .string($0))]) }
        return .object([("name", .string(name)), ("versions", .array(vs)), ("preferredVersion", vs[0])])
    }

    public static func groupList(_ registry: ResourceRegistry) -> JSON {
        .object([("kind", .string("APIGroupList")), ("apiVersion", .string("v1")),
                 ("groups", .array(registry.groups.map { groupJSON($0.name, $0.versions) }))])
    }

    public static func group(_ registry: ResourceRegistry, _ name: String) -> JSON? {
        guard let g = registry.groups.first(where: { $0.name == name }) else { return nil }
        var o = groupJSON(g.name, g.versions).objectMembers!
        o.insert(("kind", .string("APIGroup")), at: 0)
        o.insert(("apiVersion", .string("v1")), at: 1)
        return .object(o)
    }

    public static func resourceList(_ registry: ResourceRegistry, group: String, version: String) -> JSON? {
        let rs = registry.resources.filter { $0.group == group && $0.version == version }
        guard !rs.isEmpty else { return nil }
        var out: [JSON] = []
        for r in rs {
            var o = JSONObject()
            o.set("name", r.resource)
            o.set("singularName", r.singular)
            o.set("namespaced", .bool(r.namespaced))
            o.set("kind", r.kind)
            o.set("verbs", strings(r.verbs))
            if !r.shortNames.isEmpty { o.set("shortNames", strings(r.shortNames)) }
            if !r.categories.isEmpty { o.set("categories", strings(r.categories)) }
            out.append(o.json)
            for s in r.subresources {
                var x = JSONObject()
                x.set("name", r.resource + "/" + s.name)
                x.set("singularName", "")
                x.set("namespaced", .bool(r.namespaced))
                if let g = s.group { x.set("group", g) }
                if let v = s.version { x.set("version", v) }
                x.set("kind", s.kind)
                x.set("verbs", strings(s.verbs))
                out.append(x.json)
            }
        }
        return .object([("kind", .string("APIResourceList")), ("apiVersion", .string("v1")),
                        ("groupVersion", .string(group.isEmpty ? version : group + "/" + version)), ("resources", .array(out))])
    }

    /// `application/json;g=apidiscovery.k8s.io;v=<v2|v2beta1>;as=APIGroupDiscoveryList` for the core
    /// group (`legacy`) or every other group.
    public static func aggregated(_ registry: ResourceRegistry, legacy: Bool, version: String) -> JSON {
        func kindRef(_ g: String, _ v: String, _ k: String) -> JSON {
            .object([("group", .string(g)), ("version", .string(v)), ("kind", .string(k))])
        }
        func versionDoc(_ group: String, _ v: String) -> JSON {
            let rs = registry.resources.filter { $0.group == group && $0.version == v && $0.kind != "Binding" }
            let resources: [JSON] = rs.map { r in
                var o = JSONObject()
                o.set("resource", r.resource)
                o.set("responseKind", kindRef("", "", r.kind))
                o.set("scope", r.namespaced ? "Namespaced" : "Cluster")
                o.set("singularResource", r.singular)
                o.set("verbs", strings(r.verbs))
                if !r.shortNames.isEmpty { o.set("shortNames", strings(r.shortNames)) }
                if !r.categories.isEmpty { o.set("categories", strings(r.categories)) }
                if !r.subresources.isEmpty {
                    o.set("subresources", .array(r.subresources.map { s in
                        var x = JSONObject()
                        x.set("subresource", s.name)
                        x.set("responseKind", kindRef(s.group ?? "", s.version ?? "", s.kind))
                        x.set("verbs", strings(s.verbs))
                        return x.json
                    }))
                }
                return o.json
            }
            return .object([("version", .string(v)), ("resources", .array(resources)), ("freshness", .string("Current"))])
        }
        var items: [JSON] = []
        if legacy {
            items.append(.object([("metadata", .object([("creationTimestamp", .null)])), ("versions", .array([versionDoc("", "v1")]))]))
        } else {
            for g in registry.groups {
                items.append(.object([("metadata", .object([("name", .string(g.name)), ("creationTimestamp", .null)])),
                                      ("versions", .array(g.versions.map { versionDoc(g.name, $0) }))]))
            }
        }
        return .object([("kind", .string("APIGroupDiscoveryList")), ("apiVersion", .string("apidiscovery.k8s.io/" + version)),
                        ("metadata", .object([])), ("items", .array(items))])
    }
}

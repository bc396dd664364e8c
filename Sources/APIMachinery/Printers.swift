import LinuxSystem

/// kubectl's columns for the other served kinds (kube-apiserver's printers at 1.28), on the
/// stored JSON. Integer columns are JSON numbers, as the API server sends them.
public struct Printer: Sendable {
    public var columns: [TableColumn]
    public var cells: @Sendable (JSON, Int64) -> [JSON]

    /// The printer for a kind; kinds without one get NAME and AGE (the API server's default).
    public static func forKind(_ kind: String) -> Printer {
        switch kind {
        case "Pod": return Printer(columns: PodTable.columns, cells: PodTable.cells)
        case "Deployment": return deployment
        case "ReplicaSet", "ReplicationController": return replicaSet
        case "Service": return service
        case "ConfigMap": return configMap
        case "Secret": return secret
        case "Namespace": return namespace
        case "Node": return node
        case "Job": return job
        case "CronJob": return cronJob
        case "DaemonSet": return daemonSet
        case "StatefulSet": return statefulSet
        case "ServiceAccount": return serviceAccount
        case "HorizontalPodAutoscaler": return autoscaler
        default: return generic
        }
    }

    static func s(_ v: JSON?) -> String? { if case .string(let x)? = v { return x }; return nil }
    static func n(_ v: JSON?) -> Int64 { if case .number(let x)? = v { return Int64(x) ?? 0 }; return 0 }
    static func a(_ v: JSON?) -> [JSON] { if case .array(let x)? = v { return x }; return [] }
    static func members(_ v: JSON?) -> [(String, JSON)] { if case .object(let m)? = v { return m }; return [] }
    static func name(_ o: JSON) -> JSON { .string(s(o["metadata"]?["name"]) ?? "") }
    static func age(_ o: JSON, _ now: Int64) -> JSON { .string(HumanDuration.since(s(o["metadata"]?["creationTimestamp"]), now: now)) }
    static func none(_ v: String?) -> JSON { .string((v?.isEmpty ?? true) ? "<none>" : v!) }
    static let nameColumn = TableColumn("Name", format: "name", "The object's name.")
    static let ageColumn = TableColumn("Age", "Time since the object was created.")

    /// metav1.LabelSelector as kubectl prints it (`app=web`, `env in (a,b)`), `<none>` if empty.
    public static func selector(_ sel: JSON?) -> String {
        guard let sel, sel != .null else { return "<none>" }
        var labels: [String: String] = [:]
        for (k, v) in members(sel["matchLabels"]) { labels[k] = s(v) ?? "" }
        let exprs = a(sel["matchExpressions"]).map { e in (key: s(e["key"]) ?? "", op: s(e["operator"]) ?? "", values: a(e["values"]).compactMap { s($0) }) }
        guard let parsed = try? LabelSelector.from(matchLabels: labels, matchExpressions: exprs) else { return "<error>" }
        return parsed.isEmpty ? "<none>" : parsed.description
    }

    static func podSpec(_ template: JSON?) -> (containers: String, images: String) {
        let cs = a(template?["spec"]?["containers"])
        return (cs.compactMap { s($0["name"]) }.joined(separator: ","), cs.compactMap { s($0["image"]) }.joined(separator: ","))
    }

    public static let generic = Printer(columns: [nameColumn, ageColumn]) { o, now in [name(o), age(o, now)] }

    public static let deployment = Printer(columns: [
        nameColumn, TableColumn("Ready", "Ready pods out of the desired number."),
        TableColumn("Up-to-date", "Pods at the current template."), TableColumn("Available", "Pods available to serve."),
        ageColumn, TableColumn("Containers", priority: 1, "The template's containers."),
        TableColumn("Images", priority: 1, "The template's images."), TableColumn("Selector", priority: 1, "The pods it manages."),
    ]) { o, now in
        let st = o["status"], spec = o["spec"]
        let desired = spec?["replicas"] == nil ? 1 : n(spec?["replicas"])
        let t = podSpec(spec?["template"])
        return [name(o), .string("\(n(st?["readyReplicas"]))/\(desired)"), .number(String(n(st?["updatedReplicas"]))),
                .number(String(n(st?["availableReplicas"]))), age(o, now), .string(t.containers), .string(t.images), .string(selector(spec?["selector"]))]
    }

    public static let replicaSet = Printer(columns: [
        nameColumn, TableColumn("Desired", type: "integer", "Desired pods."), TableColumn("Current", type: "integer", "Pods that exist."),
        TableColumn("Ready", type: "integer", "Ready pods."), ageColumn,
        TableColumn("Containers", priority: 1, "The template's containers."), TableColumn("Images", priority: 1, "The template's images."),
        TableColumn("Selector", priority: 1, "The pods it manages."),
    ]) { o, now in
        let st = o["status"], spec = o["spec"]
        let desired = spec?["replicas"] == nil ? 1 : n(spec?["replicas"])
        let t = podSpec(spec?["template"])
        // a ReplicationController's selector is a plain map
        var sel = spec?["selector"]
        if let m = sel, m["matchLabels"] == nil, m["matchExpressions"] == nil, case .object(let kv) = m, !kv.isEmpty { sel = .object([("matchLabels", m)]) }
        return [name(o), .number(String(desired)), .number(String(n(st?["replicas"]))), .number(String(n(st?["readyReplicas"]))),
                age(o, now), .string(t.containers), .string(t.images), .string(selector(sel))]
    }

    public static let service = Printer(columns: [
        nameColumn, TableColumn("Type", "How the service is exposed."), TableColumn("Cluster-IP", "The virtual IP in the cluster."),
        TableColumn("External-IP", "Addresses outside the cluster."), TableColumn("Port(s)", "Ports, with node ports."), ageColumn,
        TableColumn("Selector", priority: 1, "The pods it routes to."),
    ]) { o, now in
        let spec = o["spec"]
        let type = s(spec?["type"]) ?? "ClusterIP"
        var external: [String] = []
        switch type {
        case "LoadBalancer":
            let ingress = a(o["status"]?["loadBalancer"]?["ingress"]).compactMap { s($0["ip"]) ?? s($0["hostname"]) }
            external = ingress
            external += a(spec?["externalIPs"]).compactMap { s($0) }
            if external.isEmpty { external = ["<pending>"] }
        case "ExternalName":
            external = [s(spec?["externalName"]) ?? ""]
        default:
            external = a(spec?["externalIPs"]).compactMap { s($0) }
        }
        let ports = a(spec?["ports"]).map { p -> String in
            let proto = s(p["protocol"]) ?? "TCP"
            let np = n(p["nodePort"])
            return np > 0 ? "\(n(p["port"])):\(np)/\(proto)" : "\(n(p["port"]))/\(proto)"
        }
        var labels: [String] = []
        for (k, v) in members(spec?["selector"]) { labels.append("\(k)=\(s(v) ?? "")") }
        return [name(o), .string(type), none(s(spec?["clusterIP"])), none(external.joined(separator: ",")),
                none(ports.joined(separator: ",")), age(o, now), none(labels.sorted().joined(separator: ","))]
    }

    static let wideTemplateColumns = [
        TableColumn("Containers", priority: 1, "The template's containers."), TableColumn("Images", priority: 1, "The template's images."),
        TableColumn("Selector", priority: 1, "The pods it manages."),
    ]

    static func conditionTrue(_ o: JSON, _ type: String) -> Bool {
        a(o["status"]?["conditions"]).contains { s($0["type"]) == type && s($0["status"]) == "True" }
    }

    public static let job = Printer(columns: [
        nameColumn, TableColumn("Status", "Complete, Failed, Suspended, Terminating or Running."),
        TableColumn("Completions", "Succeeded pods out of the desired completions."), TableColumn("Duration", "Time the job ran."), ageColumn,
    ] + wideTemplateColumns) { o, now in
        let st = o["status"], spec = o["spec"]
        let status = conditionTrue(o, "Complete") ? "Complete" : conditionTrue(o, "Failed") ? "Failed"
            : o["metadata"]?["deletionTimestamp"] != nil ? "Terminating" : conditionTrue(o, "Suspended") ? "Suspended" : "Running"
        let succeeded = n(st?["succeeded"])
        let completions: String
        if spec?["completions"] != nil { completions = "\(succeeded)/\(n(spec?["completions"]))" } else if n(spec?["parallelism"]) > 1 {
            completions = "\(succeeded)/1 of \(n(spec?["parallelism"]))"
        } else { completions = "\(succeeded)/1" }
        var duration = ""
        if let start = s(st?["startTime"]).flatMap(RFC3339.seconds) {
            let end = s(st?["completionTime"]).flatMap(RFC3339.seconds) ?? now
            duration = HumanDuration.format(seconds: max(end - start, 0))
        }
        let t = podSpec(spec?["template"])
        return [name(o), .string(status), .string(completions), .string(duration), age(o, now), .string(t.containers), .string(t.images), .string(selector(spec?["selector"]))]
    }

    public static let cronJob = Printer(columns: [
        nameColumn, TableColumn("Schedule", "The cron schedule."), TableColumn("Timezone", "The schedule's time zone."),
        TableColumn("Suspend", type: "boolean", "Whether new runs are suspended."), TableColumn("Active", type: "integer", "Running jobs."),
        TableColumn("Last Schedule", "Time since the last run was scheduled."), ageColumn,
    ] + wideTemplateColumns) { o, now in
        let st = o["status"], spec = o["spec"]
        let last = s(st?["lastScheduleTime"]).map { HumanDuration.since($0, now: now) } ?? "<none>"
        let t = podSpec(spec?["jobTemplate"]?["spec"]?["template"])
        return [name(o), .string(s(spec?["schedule"]) ?? ""), none(s(spec?["timeZone"])), .string(spec?["suspend"] == .bool(true) ? "True" : "False"),
                .number(String(a(st?["active"]).count)), .string(last), age(o, now), .string(t.containers), .string(t.images),
                .string(selector(spec?["jobTemplate"]?["spec"]?["selector"]))]
    }

    public static let daemonSet = Printer(columns: [
        nameColumn, TableColumn("Desired", type: "integer", "Nodes that should run the pod."), TableColumn("Current", type: "integer", "Nodes running it."),
        TableColumn("Ready", type: "integer", "Nodes with it ready."), TableColumn("Up-to-date", type: "integer", "Nodes at the current template."),
        TableColumn("Available", type: "integer", "Nodes with it available."), TableColumn("Node Selector", "The template's node selector."), ageColumn,
    ] + wideTemplateColumns) { o, now in
        let st = o["status"], spec = o["spec"]
        let sel = members(spec?["template"]?["spec"]?["nodeSelector"]).map { "\($0.0)=\(s($0.1) ?? "")" }.joined(separator: ",")
        let t = podSpec(spec?["template"])
        return [name(o), .number(String(n(st?["desiredNumberScheduled"]))), .number(String(n(st?["currentNumberScheduled"]))),
                .number(String(n(st?["numberReady"]))), .number(String(n(st?["updatedNumberScheduled"]))), .number(String(n(st?["numberAvailable"]))),
                none(sel), age(o, now), .string(t.containers), .string(t.images), .string(selector(spec?["selector"]))]
    }

    public static let statefulSet = Printer(columns: [
        nameColumn, TableColumn("Ready", "Ready pods out of the desired number."), ageColumn,
        TableColumn("Containers", priority: 1, "The template's containers."), TableColumn("Images", priority: 1, "The template's images."),
    ]) { o, now in
        let desired = o["spec"]?["replicas"] == nil ? 1 : n(o["spec"]?["replicas"])
        let t = podSpec(o["spec"]?["template"])
        return [name(o), .string("\(n(o["status"]?["readyReplicas"]))/\(desired)"), age(o, now), .string(t.containers), .string(t.images)]
    }

    public static let serviceAccount = Printer(columns: [nameColumn, TableColumn("Secrets", type: "integer", "Secrets of the account."), ageColumn]) { o, now in
        [name(o), .number(String(a(o["secrets"]).count)), age(o, now)]
    }

    /// `NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE`; autoscaling/v2's metrics, or v1's CPU
    /// target (both versions print the same, as kube-apiserver prints its internal object).
    public static let autoscaler = Printer(columns: [
        nameColumn, TableColumn("Reference", "The scaled object."), TableColumn("Targets", "Current and target of each metric."),
        TableColumn("MinPods", "Lower limit of replicas."), TableColumn("MaxPods", type: "integer", "Upper limit of replicas."),
        TableColumn("Replicas", type: "integer", "Current replicas."), ageColumn,
    ]) { o, now in
        let ref = o["spec"]?["scaleTargetRef"]
        let min = o["spec"]?["minReplicas"].map { String(n($0)) } ?? "<unset>"
        return [name(o), .string("\(s(ref?["kind"]) ?? "")/\(s(ref?["name"]) ?? "")"), .string(autoscalerTargets(o)), .string(min),
                .number(String(n(o["spec"]?["maxReplicas"]))), .number(String(n(o["status"]?["currentReplicas"]))), age(o, now)]
    }

    static func autoscalerTargets(_ o: JSON) -> String {
        var specs = a(o["spec"]?["metrics"])
        var current = a(o["status"]?["currentMetrics"])
        if let t = o["spec"]?["targetCPUUtilizationPercentage"] {   // autoscaling/v1
            specs.insert(.object([("type", .string("Resource")), ("resource", .object([("name", .string("cpu")),
                ("target", .object([("type", .string("Utilization")), ("averageUtilization", t)]))]))]), at: 0)
            if let c = o["status"]?["currentCPUUtilizationPercentage"] {
                current.insert(.object([("type", .string("Resource")), ("resource", .object([("name", .string("cpu")),
                    ("current", .object([("averageUtilization", c)]))]))]), at: 0)
            }
        }
        if specs.isEmpty { return "<none>" }
        func quantity(_ v: JSON?) -> String? {
            switch v { case .string(let x)?: return x; case .number(let x)?: return x; default: return nil }
        }
        var parts: [String] = []
        for m in specs.prefix(3) {
            let type = s(m["type"]) ?? ""
            let key: String
            switch type {
            case "Resource": key = "resource"
            case "ContainerResource": key = "containerResource"
            case "Pods": key = "pods"
            case "Object": key = "object"
            case "External": key = "external"
            default: parts.append("<unknown>"); continue
            }
            let spec = m[key]
            let cur = current.first { s($0["type"]) == type && (type == "Resource" || type == "ContainerResource" ? s($0[key]?["name"]) == s(spec?["name"]) : s($0[key]?["metric"]?["name"]) == s(spec?["metric"]?["name"])) }?[key]?["current"]
            let target = spec?["target"]
            let label = type == "Resource" || type == "ContainerResource" ? (s(spec?["name"]) ?? "") : (s(spec?["metric"]?["name"]) ?? "")
            var text: String
            switch s(target?["type"]) {
            case "Utilization":
                let c = cur?["averageUtilization"].map { "\(n($0))%" } ?? "<unknown>"
                text = "\(c)/\(n(target?["averageUtilization"]))%"
            case "AverageValue":
                text = "\(quantity(cur?["averageValue"]) ?? "<unknown>")/\(quantity(target?["averageValue"]) ?? "<unknown>")"
                if type == "Object" || type == "External" { text += " (avg)" }
            default:
                text = "\(quantity(cur?["value"]) ?? "<unknown>")/\(quantity(target?["value"]) ?? "<unknown>")"
            }
            parts.append("\(label): \(text)")
        }
        var out = parts.joined(separator: ", ")
        if specs.count > 3 { out += " + \(specs.count - 3) more..." }
        return out
    }

    public static let configMap = Printer(columns: [nameColumn, TableColumn("Data", "Number of keys."), ageColumn]) { o, now in
        [name(o), .number(String(members(o["data"]).count + members(o["binaryData"]).count)), age(o, now)]
    }

    public static let secret = Printer(columns: [nameColumn, TableColumn("Type", "The secret's type."), TableColumn("Data", "Number of keys."), ageColumn]) { o, now in
        [name(o), .string(s(o["type"]) ?? "Opaque"), .number(String(members(o["data"]).count)), age(o, now)]
    }

    public static let namespace = Printer(columns: [nameColumn, TableColumn("Status", "Active or Terminating."), ageColumn]) { o, now in
        [name(o), .string(s(o["status"]?["phase"]) ?? ""), age(o, now)]
    }

    public static let node = Printer(columns: [
        nameColumn, TableColumn("Status", "Ready, NotReady or Unknown, and SchedulingDisabled."), TableColumn("Roles", "node-role labels."),
        ageColumn, TableColumn("Version", "The kubelet's version."),
        TableColumn("Internal-IP", priority: 1, "The first InternalIP."), TableColumn("External-IP", priority: 1, "The first ExternalIP."),
        TableColumn("OS-Image", priority: 1, "The OS image."), TableColumn("Kernel-Version", priority: 1, "The kernel version."),
        TableColumn("Container-Runtime", priority: 1, "Runtime and version."),
    ]) { o, now in
        let st = o["status"], info = o["status"]?["nodeInfo"]
        var status = "Unknown"
        if let ready = a(st?["conditions"]).first(where: { s($0["type"]) == "Ready" }) {
            status = s(ready["status"]) == "True" ? "Ready" : "NotReady"
        }
        if case .bool(true)? = o["spec"]?["unschedulable"] { status += ",SchedulingDisabled" }
        var roles = Set<String>()
        for (k, v) in members(o["metadata"]?["labels"]) {
            if k.hasPrefix("node-role.kubernetes.io/") { let r = String(k.dropFirst("node-role.kubernetes.io/".count)); if !r.isEmpty { roles.insert(r) } }
            else if k == "kubernetes.io/role", let r = s(v), !r.isEmpty { roles.insert(r) }
        }
        func address(_ t: String) -> String? { a(st?["addresses"]).first { s($0["type"]) == t }.flatMap { s($0["address"]) } }
        func unknown(_ v: String?) -> JSON { .string((v?.isEmpty ?? true) ? "<unknown>" : v!) }
        return [name(o), .string(status), none(roles.sorted().joined(separator: ",")), age(o, now), .string(s(info?["kubeletVersion"]) ?? ""),
                none(address("InternalIP")), none(address("ExternalIP")), unknown(s(info?["osImage"])), unknown(s(info?["kernelVersion"])),
                unknown(s(info?["containerRuntimeVersion"]))]
    }
}

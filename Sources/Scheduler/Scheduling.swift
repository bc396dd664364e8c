import KubeModel
import LinuxSystem

/// CPU (millicores), memory (bytes) and pod count: what a pod asks and a node offers.
public struct Resources: Sendable, Equatable {
    public var milliCPU: Int64 = 0
    public var memory: Int64 = 0
    public var pods: Int64 = 0

    public init(milliCPU: Int64 = 0, memory: Int64 = 0, pods: Int64 = 0) {
        self.milliCPU = milliCPU
        self.memory = memory
        self.pods = pods
    }

    static func + (a: Resources, b: Resources) -> Resources {
        Resources(milliCPU: a.milliCPU + b.milliCPU, memory: a.memory + b.memory, pods: a.pods + b.pods)
    }

    /// From a `{cpu: "500m", memory: "64Mi", pods: "110"}` map.
    init(_ m: JSON?) {
        func q(_ k: String) -> Quantity? {
            if case .string(let s)? = m?[k] { return try? Quantity(parsing: s) }
            if case .number(let s)? = m?[k] { return try? Quantity(parsing: s) }
            return nil
        }
        milliCPU = q("cpu")?.milliValue ?? 0
        memory = q("memory")?.scaledValue(0) ?? 0
        pods = q("pods")?.scaledValue(0) ?? 0
    }
}

/// A node as the scheduler sees it: its labels, taints and room, and what the pods bound to it
/// take.
public struct NodeInfo: Sendable {
    public var name: String
    public var labels: [String: String]
    public var taints: [(key: String, value: String, effect: String)]
    public var unschedulable: Bool
    public var ready: Bool
    public var allocatable: Resources
    public var requested = Resources()
    public var usedPorts: Set<String> = []

    public init(_ node: JSON) {
        name = node.string("metadata", "name")
        labels = node.stringMap("metadata", "labels")
        var t: [(key: String, value: String, effect: String)] = []
        for x in node.array("spec", "taints") { t.append((x.string("key"), x.string("value"), x.string("effect"))) }
        taints = t
        unschedulable = node["spec"]?["unschedulable"] == .bool(true)
        ready = node.array("status", "conditions").contains { $0.string("type") == "Ready" && $0.string("status") == "True" }
        allocatable = Resources(node["status"]?["allocatable"])
    }

    /// Counts a pod bound here.
    public mutating func add(_ pod: PodInfo) {
        requested = requested + pod.requests
        usedPorts.formUnion(pod.hostPorts)
    }
}

/// What about a pod decides where it may go.
public struct PodInfo: Sendable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var nodeName: String
    public var schedulerName: String
    public var requests: Resources
    public var hostPorts: Set<String>
    public var nodeSelector: [String: String]
    public var tolerations: [JSON]
    /// requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms (OR of ANDs).
    public var requiredTerms: [JSON]
    public var terminated: Bool

    public init(_ pod: JSON) {
        namespace = pod.string("metadata", "namespace")
        name = pod.string("metadata", "name")
        uid = pod.string("metadata", "uid")
        let spec = pod["spec"] ?? .object([])
        nodeName = spec.string("nodeName")
        schedulerName = spec.string("schedulerName")
        // the effective request: the app containers' sum, at least any one init container's, plus overhead
        var sum = Resources(pods: 1)
        var ports: Set<String> = []
        for c in spec.array("containers") {
            sum = sum + Resources(c["resources"]?["requests"])
            for p in c.array("ports") {
                if case .number(let hp)? = p["hostPort"], hp != "0" {
                    let proto = p.string("protocol").isEmpty ? "TCP" : p.string("protocol")
                    ports.insert("\(proto)/\(p.string("hostIP").isEmpty ? "0.0.0.0" : p.string("hostIP"))/\(hp)")
                }
            }
        }
        for c in spec.array("initContainers") {
            let r = Resources(c["resources"]?["requests"])
            sum.milliCPU = max(sum.milliCPU, r.milliCPU)
            sum.memory = max(sum.memory, r.memory)
        }
        requests = sum + Resources(spec["overhead"])
        hostPorts = ports
        nodeSelector = spec.stringMap("nodeSelector")
        tolerations = spec.array("tolerations")
        requiredTerms = (spec["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"] ?? .object([])).array("nodeSelectorTerms")
        let phase = pod.string("status", "phase")
        terminated = phase == "Succeeded" || phase == "Failed"
    }
}

/// kube-scheduler's filters and its least-allocated score, as pure functions.
public enum Scheduling {
    /// Why `node` cannot take `pod` (kube-scheduler's reason text), or nil.
    public static func filter(_ pod: PodInfo, _ node: NodeInfo) -> String? {
        if !pod.nodeName.isEmpty && pod.nodeName != node.name { return "node(s) didn't match the requested node name" }
        if node.unschedulable && !tolerates(pod, key: "node.kubernetes.io/unschedulable", value: "", effect: "NoSchedule") {
            return "node(s) were unschedulable"
        }
        for (k, v) in pod.nodeSelector where node.labels[k] != v { return "node(s) didn't match Pod's node affinity/selector" }
        if !pod.requiredTerms.isEmpty && !pod.requiredTerms.contains(where: { termMatches($0, node.labels) }) {
            return "node(s) didn't match Pod's node affinity/selector"
        }
        for t in node.taints where t.effect == "NoSchedule" || t.effect == "NoExecute" {
            if !tolerates(pod, key: t.key, value: t.value, effect: t.effect) {
                return "node(s) had untolerated taint {\(t.key): \(t.value)}"
            }
        }
        if !pod.hostPorts.isDisjoint(with: node.usedPorts) { return "node(s) didn't have free ports for the requested pod ports" }
        let free = node.allocatable
        if node.requested.pods + 1 > free.pods { return "Too many pods" }
        if pod.requests.milliCPU > 0 && node.requested.milliCPU + pod.requests.milliCPU > free.milliCPU { return "Insufficient cpu" }
        if pod.requests.memory > 0 && node.requested.memory + pod.requests.memory > free.memory { return "Insufficient memory" }
        return nil
    }

    static func tolerates(_ pod: PodInfo, key: String, value: String, effect: String) -> Bool {
        pod.tolerations.contains { t in
            let op = t.string("operator").isEmpty ? "Equal" : t.string("operator")
            let e = t.string("effect")
            guard e.isEmpty || e == effect else { return false }
            let k = t.string("key")
            if op == "Exists" { return k.isEmpty || k == key }
            return k == key && t.string("value") == value
        }
    }

    static func termMatches(_ term: JSON, _ labels: [String: String]) -> Bool {
        let exprs = term.array("matchExpressions")
        guard !exprs.isEmpty || !term.array("matchFields").isEmpty else { return false }
        for e in exprs {
            let key = e.string("key"), values = e.array("values").compactMap { if case .string(let s) = $0 { return s }; return nil }
            let v = labels[key]
            switch e.string("operator") {
            case "In": guard let v, values.contains(v) else { return false }
            case "NotIn": if let v, values.contains(v) { return false }
            case "Exists": guard v != nil else { return false }
            case "DoesNotExist": guard v == nil else { return false }
            case "Gt", "Lt":
                guard let v, let n = Int64(v), let want = values.first.flatMap({ Int64($0) }) else { return false }
                if e.string("operator") == "Gt" ? !(n > want) : !(n < want) { return false }
            default: return false
            }
        }
        return true
    }

    /// Least allocated (0–100): the mean free share of CPU and memory after placing the pod;
    /// pods without requests count as kube-scheduler's defaults (100m, 200 MiB).
    public static func score(_ pod: PodInfo, _ node: NodeInfo) -> Int64 {
        func share(_ requested: Int64, _ capacity: Int64) -> Int64 {
            guard capacity > 0 else { return 0 }
            return max(0, (capacity - requested) * 100 / capacity)
        }
        let cpu = pod.requests.milliCPU > 0 ? pod.requests.milliCPU : 100
        let mem = pod.requests.memory > 0 ? pod.requests.memory : 200 << 20
        return (share(node.requested.milliCPU + cpu, node.allocatable.milliCPU) + share(node.requested.memory + mem, node.allocatable.memory)) / 2
    }

    public enum Placement: Equatable, Sendable {
        case node(String)
        /// kube-scheduler's message: `0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable.`
        case unschedulable(String)
    }

    /// The best feasible node (ties: the name, so decisions repeat), or why none fits.
    public static func place(_ pod: PodInfo, on nodes: [NodeInfo]) -> Placement {
        var reasons: [String: Int] = [:]
        var best: (name: String, score: Int64)?
        for n in nodes.sorted(by: { $0.name < $1.name }) {
            if !n.ready { reasons["node(s) were not ready", default: 0] += 1; continue }
            if let why = filter(pod, n) { reasons[why, default: 0] += 1; continue }
            let s = score(pod, n)
            if best == nil || s > best!.score { best = (n.name, s) }
        }
        if let best { return .node(best.name) }
        let parts = reasons.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        return .unschedulable("0/\(nodes.count) nodes are available: \(parts.joined(separator: ", ")).")
    }
}

extension JSON {
    func string(_ path: String...) -> String {
        var j: JSON? = self
        for p in path { j = j?[p] }
        if case .string(let s)? = j { return s }
        return ""
    }

    func array(_ path: String...) -> [JSON] {
        var j: JSON? = self
        for p in path { j = j?[p] }
        if case .array(let a)? = j { return a }
        return []
    }

    func stringMap(_ path: String...) -> [String: String] {
        var j: JSON? = self
        for p in path { j = j?[p] }
        guard case .object(let m)? = j else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in m { if case .string(let s) = v { out[k] = s } }
        return out
    }
}

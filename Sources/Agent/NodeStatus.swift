import Foundation
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// What the node is, measured once at start (capacity, identity) — the input of the Node object
/// the agent registers and of every status it reports.
public struct NodeFacts: Sendable, Equatable {
    public var name: String
    public var hostname: String
    /// GOARCH spelling (amd64, arm64), as the `kubernetes.io/arch` label wants it.
    public var arch: String
    public var cpus: Int
    public var memoryBytes: Int64
    public var ephemeralStorageBytes: Int64
    public var maxPods: Int
    public var kernelVersion: String
    public var osImage: String
    public var machineID: String
    public var systemUUID: String
    public var bootID: String
    public var internalIP: String?
    public var kubeletPort: Int
    public var version: String

    public init(name: String, hostname: String, arch: String, cpus: Int, memoryBytes: Int64, ephemeralStorageBytes: Int64,
                maxPods: Int = 110, kernelVersion: String, osImage: String, machineID: String, systemUUID: String, bootID: String,
                internalIP: String?, kubeletPort: Int = 10250, version: String) {
        self.name = name
        self.hostname = hostname
        self.arch = arch
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.ephemeralStorageBytes = ephemeralStorageBytes
        self.maxPods = maxPods
        self.kernelVersion = kernelVersion
        self.osImage = osImage
        self.machineID = machineID
        self.systemUUID = systemUUID
        self.bootID = bootID
        self.internalIP = internalIP
        self.kubeletPort = kubeletPort
        self.version = version
    }

    /// This machine: the memory and CPUs the agent measured at start, statvfs of `rootDir`,
    /// os-release, kernel and ids.
    public static func measure(name: String, rootDir: String, memoryBytes: Int64, cpus: Int, internalIP: String?,
                               maxPods: Int, version: String) -> NodeFacts {
        func read(_ p: String) -> String { (try? Files.readString(p))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
        var vfs = statvfs()
        let disk: Int64 = statvfs(rootDir, &vfs) == 0 ? Int64(vfs.f_blocks) * Int64(vfs.f_frsize) : 0
        var uts = utsname()
        uname(&uts)
        func field<T>(_ v: T) -> String { withUnsafeBytes(of: v) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        let machine = field(uts.machine)
        var osImage = "Linux"
        for line in read("/etc/os-release").split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            osImage = String(line.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let host = field(uts.nodename)
        return NodeFacts(name: name, hostname: host.isEmpty ? name : host,
                         arch: ["x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"][machine] ?? machine,
                         cpus: cpus, memoryBytes: memoryBytes, ephemeralStorageBytes: disk,
                         maxPods: maxPods, kernelVersion: field(uts.release), osImage: osImage,
                         machineID: read("/etc/machine-id"), systemUUID: read("/sys/class/dmi/id/product_uuid").lowercased(),
                         bootID: read("/proc/sys/kernel/random/boot_id"), internalIP: internalIP, version: version)
    }
}

extension AgentContext {
    /// The Node's facts from what this agent measured at start (memory, CPUs, address).
    public func nodeFacts(version: String) -> NodeFacts {
        NodeFacts.measure(name: config.nodeName, rootDir: config.rootDir, memoryBytes: memoryCapacity, cpus: cpuCount,
                          internalIP: hostIP, maxPods: config.maxPods, version: version)
    }
}

/// The Node object and its status as values: what to register, what to report, when to send it,
/// and the Lease that says the node is alive (kubelet_node_status.go and the node lease controller).
public enum NodeReport {
    /// Reported every 10 s if something changed, or every 5 min regardless (nodeStatusReportFrequency).
    public static let reportEvery: Double = 300
    public static let leaseDurationSeconds = 40

    public static func labels(_ f: NodeFacts, extra: [String: String]) -> [String: String] {
        var l = ["kubernetes.io/hostname": f.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": f.arch,
                 "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": f.arch]
        for (k, v) in extra { l[k] = v }
        return l
    }

    public static func capacity(_ f: NodeFacts) -> [(String, String)] {
        [("cpu", String(f.cpus)), ("ephemeral-storage", "\(f.ephemeralStorageBytes / 1024)Ki"), ("hugepages-2Mi", "0"),
         ("memory", "\(f.memoryBytes / 1024)Ki"), ("pods", String(f.maxPods))]
    }

    /// Capacity minus the hard eviction thresholds (what the scheduler may hand out): memory in Ki,
    /// ephemeral storage in bytes, as the kubelet writes them.
    public static func allocatable(_ f: NodeFacts, thresholds: [EvictionThreshold]) -> [(String, String)] {
        var mem = f.memoryBytes
        var disk = f.ephemeralStorageBytes
        for t in thresholds {
            switch t.signal {
            case .memoryAvailable: mem -= t.minimum(capacity: f.memoryBytes)
            case .nodefsAvailable: disk -= t.minimum(capacity: f.ephemeralStorageBytes)
            default: break
            }
        }
        return [("cpu", String(f.cpus)), ("ephemeral-storage", String(max(0, disk))), ("hugepages-2Mi", "0"),
                ("memory", "\(max(0, mem) / 1024)Ki"), ("pods", String(f.maxPods))]
    }

    /// The Ready condition: True once the agent runs pods and its network is set up.
    public static func ready(_ isReady: Bool, reason notReady: String, previous: JSON?, now: String) -> JSON {
        let status = isReady ? "True" : "False"
        let prevStatus: String? = if case .string(let s)? = previous?["status"] { s } else { nil }
        let since: JSON = prevStatus == status ? (previous?["lastTransitionTime"] ?? .string(now)) : .string(now)
        return .object([("type", .string("Ready")), ("status", .string(status)), ("lastHeartbeatTime", .string(now)),
                        ("lastTransitionTime", since),
                        ("reason", .string(isReady ? "KubeletReady" : "KubeletNotReady")),
                        ("message", .string(isReady ? "kubelet is posting ready status" : notReady))])
    }

    public static func conditionJSON(_ c: NodeCondition) -> JSON {
        .object([("type", .string(c.type)), ("status", .string(c.status)), ("lastHeartbeatTime", .string(c.lastHeartbeatTime)),
                 ("lastTransitionTime", .string(c.lastTransitionTime)), ("reason", .string(c.reason)), ("message", .string(c.message))])
    }

    /// `status` of the Node: capacity, allocatable, conditions (pressures then Ready), addresses,
    /// the kubelet endpoint, nodeInfo, images.
    public static func status(_ f: NodeFacts, thresholds: [EvictionThreshold], conditions: [JSON], images: [(names: [String], size: Int64)]) -> JSON {
        var addresses: [JSON] = []
        if let ip = f.internalIP { addresses.append(.object([("type", .string("InternalIP")), ("address", .string(ip))])) }
        addresses.append(.object([("type", .string("Hostname")), ("address", .string(f.name))]))
        func map(_ pairs: [(String, String)]) -> JSON { .object(pairs.map { ($0.0, .string($0.1)) }) }
        let info: JSON = .object([
            ("machineID", .string(f.machineID)), ("systemUUID", .string(f.systemUUID)), ("bootID", .string(f.bootID)),
            ("kernelVersion", .string(f.kernelVersion)), ("osImage", .string(f.osImage)),
            ("containerRuntimeVersion", .string("swiftlet://" + f.version)), ("kubeletVersion", .string(kubeletVersion)),
            ("kubeProxyVersion", .string(kubeletVersion)), ("operatingSystem", .string("linux")), ("architecture", .string(f.arch)),
        ])
        return .object([
            ("capacity", map(capacity(f))), ("allocatable", map(allocatable(f, thresholds: thresholds))),
            ("conditions", .array(conditions)), ("addresses", .array(addresses)),
            ("daemonEndpoints", .object([("kubeletEndpoint", .object([("Port", .number(String(f.kubeletPort)))]))])),
            ("nodeInfo", info),
            ("images", .array(images.sorted { $0.size > $1.size }.prefix(50).map {
                .object([("names", .array($0.names.map { .string($0) })), ("sizeBytes", .number(String($0.size)))])
            })),
        ])
    }

    /// The version the node reports as its kubelet's (the API generation it speaks).
    public static let kubeletVersion = "v1.32.0"

    /// The object POSTed at registration.
    public static func node(_ f: NodeFacts, labels: [String: String], taints: [JSON], status: JSON) -> JSON {
        var spec: [(String, JSON)] = []
        if !taints.isEmpty { spec.append(("taints", .array(taints))) }
        return .object([
            ("kind", .string("Node")), ("apiVersion", .string("v1")),
            ("metadata", .object([("name", .string(f.name)),
                                  ("labels", .object(labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                                  ("annotations", .object([("volumes.kubernetes.io/controller-managed-attach-detach", .string("true"))]))])),
            ("spec", .object(spec)), ("status", status),
        ])
    }

    /// `key=value:Effect` or `key:Effect` (`--register-with-taints`).
    public static func parseTaint(_ s: String) throws(ConfigError) -> JSON {
        let parts = s.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(parts[1]) else {
            throw ConfigError("taint \"\(s)\": expected key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute")
        }
        let kv = parts[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let key = kv.first, !key.isEmpty else { throw ConfigError("taint \"\(s)\": the key is empty") }
        var o: [(String, JSON)] = [("key", .string(key))]
        if kv.count == 2 { o.append(("value", .string(kv[1]))) }
        o.append(("effect", .string(parts[1])))
        return .object(o)
    }

    /// The status without heartbeat times: two reports that differ only in those are the same report.
    public static func essence(_ status: JSON) -> JSON {
        guard case .object(var m) = status else { return status }
        if let i = m.firstIndex(where: { $0.0 == "conditions" }), case .array(let cs) = m[i].1 {
            m[i].1 = .array(cs.map { c in
                guard case .object(let cm) = c else { return c }
                return .object(cm.filter { $0.0 != "lastHeartbeatTime" })
            })
        }
        return .object(m)
    }

    /// Send now? When the status changed (heartbeats aside) or the last report is `reportEvery` old.
    public static func shouldReport(last: JSON?, lastAt: Double, new: JSON, now: Double) -> Bool {
        guard let last else { return true }
        return essence(last) != essence(new) || now - lastAt >= reportEvery
    }

    /// The strategic-merge patch of `nodes/<name>/status`: the whole status (conditions merge by
    /// type; addresses replaced as a list, as the kubelet's fixup does).
    public static func statusPatch(_ status: JSON) -> JSON {
        guard case .object(var m) = status else { return .object([("status", status)]) }
        if let i = m.firstIndex(where: { $0.0 == "addresses" }), case .array(var a) = m[i].1 {
            a.append(.object([("$patch", .string("replace"))]))
            m[i].1 = .array(a)
        }
        if let i = m.firstIndex(where: { $0.0 == "images" }), case .array(var a) = m[i].1 {
            a.append(.object([("$patch", .string("replace"))]))
            m[i].1 = .array(a)
        }
        return .object([("status", .object(m))])
    }

    /// The node's Lease (MicroTime renewTime: six fractional digits), owned by its Node.
    public static func lease(node: String, nodeUID: String, renewTime: String, resourceVersion: String? = nil) -> JSON {
        var meta: [(String, JSON)] = [("name", .string(node)), ("namespace", .string("kube-node-lease"))]
        if let resourceVersion { meta.append(("resourceVersion", .string(resourceVersion))) }
        meta.append(("ownerReferences", .array([.object([("apiVersion", .string("v1")), ("kind", .string("Node")),
                                                          ("name", .string(node)), ("uid", .string(nodeUID))])])))
        return .object([("kind", .string("Lease")), ("apiVersion", .string("coordination.k8s.io/v1")), ("metadata", .object(meta)),
                        ("spec", .object([("holderIdentity", .string(node)), ("leaseDurationSeconds", .number(String(leaseDurationSeconds))),
                                          ("renewTime", .string(renewTime))]))])
    }

    /// RFC 3339 with exactly six fractional digits (a MicroTime).
    public static func microTime(_ t: Double) -> String {
        let secs = Int64(t.rounded(.down))
        let micros = Int64(((t - Double(secs)) * 1_000_000).rounded(.down))
        var tm = tm()
        var tt = time_t(secs)
        gmtime_r(&tt, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), micros)
    }

    public static func time(_ t: Double) -> String {
        String(microTime(t).prefix(19)) + "Z"
    }
}

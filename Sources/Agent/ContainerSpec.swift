import Cgroups
import Images
import KubeModel
import Runtime

/// Paths of a pod's sandbox that its containers join or mount.
public struct SandboxPaths: Sendable, Equatable, Codable {
    /// nil: the node's namespace (hostNetwork, hostIPC).
    public var netns: String?
    public var ipcns: String?
    public var utsns: String?
    /// The pod's shared PID namespace (shareProcessNamespace); nil: one per container, or the
    /// node's with `hostPID`.
    public var pidns: String?
    public var hostPID: Bool = false
    public var etcDir: String      // hosts, resolv.conf, hostname
    public var podIP: String?
    public var hostname: String?

    public init(netns: String?, ipcns: String?, utsns: String?, pidns: String? = nil, hostPID: Bool = false,
                etcDir: String, podIP: String?, hostname: String? = nil) {
        self.netns = netns
        self.ipcns = ipcns
        self.utsns = utsns
        self.pidns = pidns
        self.hostPID = hostPID
        self.etcDir = etcDir
        self.podIP = podIP
        self.hostname = hostname
    }

    /// The linux namespaces of a pod's container: its own mount and cgroup namespaces; PID
    /// private, shared or the node's; the rest joined from the sandbox, absent for the node's.
    public var namespaces: [OCISpec.Namespace] {
        var ns: [OCISpec.Namespace] = [.init(type: "mount"), .init(type: "cgroup")]
        if let p = pidns { ns.append(.init(type: "pid", path: p)) } else if !hostPID { ns.append(.init(type: "pid")) }
        if let n = netns { ns.append(.init(type: "network", path: n)) }
        if let n = ipcns { ns.append(.init(type: "ipc", path: n)) }
        if let n = utsns { ns.append(.init(type: "uts", path: n)) }
        return ns
    }
}

public struct ContainerConfigError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Pod + container + image → OCI spec: pure, no filesystem access (the user database is passed in).
public enum ContainerSpecBuilder {
    /// The environment the kubelet gives a container: image env, then envFrom/env with $(VAR)
    /// expansion against what is already defined (field refs resolved from the pod).
    public static func environment(pod: Pod, container: Container, image: ImageConfig, podIP: String?) throws -> [String] {
        var names: [String] = []
        var values: [String: String] = [:]
        func set(_ k: String, _ v: String) {
            if values[k] == nil { names.append(k) }
            values[k] = v
        }
        for e in image.env {
            let parts = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            set(String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        let imageNames = Set(names)
        var podEnv: [String: String] = [:]
        for e in container.env ?? [] {
            var v: String
            if let src = e.valueFrom {
                if let f = src.fieldRef {
                    guard let fv = fieldValue(pod: pod, path: f.fieldPath, podIP: podIP) else {
                        throw ContainerConfigError(message: "env \(e.name): unsupported fieldRef \(f.fieldPath)")
                    }
                    v = fv
                } else if let r = src.resourceFieldRef {
                    v = resourceValue(container: container, ref: r)
                } else {
                    throw ContainerConfigError(message: "env \(e.name): configMapKeyRef/secretKeyRef are not available to static pods yet")
                }
            } else {
                // $(VAR) refers to variables defined earlier in the pod's list (and the image's)
                v = VarExpansion.expand(e.value ?? "") { name in podEnv[name] ?? (imageNames.contains(name) ? values[name] : nil) }
            }
            podEnv[e.name] = v
            set(e.name, v)
        }
        return names.map { "\($0)=\(values[$0]!)" }
    }

    static func fieldValue(pod: Pod, path: String, podIP: String?) -> String? {
        switch path {
        case "metadata.name": return pod.metadata.name
        case "metadata.namespace": return pod.metadata.namespace
        case "metadata.uid": return pod.metadata.uid
        case "spec.nodeName": return pod.spec.nodeName
        case "spec.serviceAccountName": return pod.spec.serviceAccountName ?? ""
        case "status.podIP", "status.podIPs": return podIP ?? ""
        case "status.hostIP", "status.hostIPs": return pod.status?.hostIP ?? ""
        default:
            if path.hasPrefix("metadata.labels['"), path.hasSuffix("']") {
                return pod.metadata.labels?[String(path.dropFirst(17).dropLast(2))] ?? ""
            }
            if path.hasPrefix("metadata.annotations['"), path.hasSuffix("']") {
                return pod.metadata.annotations?[String(path.dropFirst(22).dropLast(2))] ?? ""
            }
            return nil
        }
    }

    static func resourceValue(container: Container, ref: ResourceFieldSelector) -> String {
        let parts = ref.resource.split(separator: ".", maxSplits: 1)
        guard parts.count == 2 else { return "" }
        let source = parts[0] == "limits" ? container.resources?.limits : container.resources?.requests
        let q = source?[String(parts[1])] ?? .zero
        let divisor = ref.divisor ?? Quantity(1)
        return String(q.divided(by: divisor) ?? 0)
    }

    public static func requirements(_ c: Container) -> ContainerRequirements {
        let r = c.resources
        return ContainerRequirements(cpuRequestMilli: r?.requests?["cpu"]?.milliValue, cpuLimitMilli: r?.limits?["cpu"]?.milliValue,
                                     memoryRequestBytes: r?.requests?["memory"]?.value, memoryLimitBytes: r?.limits?["memory"]?.value)
    }

    public struct Input: Sendable {
        public var pod: Pod
        public var container: Container
        public var image: ImageConfig
        public var user: ResolvedUser
        public var sandbox: SandboxPaths
        public var rootfs: String
        public var cgroupsPath: String
        public var qos: QoSClass
        public var memoryCapacity: Int64
    }

    public static func spec(_ i: Input) throws -> OCISpec {
        let c = i.container
        let env = try environment(pod: i.pod, container: c, image: i.image, podIP: i.sandbox.podIP)
        let lookup: (String) -> String? = { name in
            env.last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        let command = c.command.map { $0.map { VarExpansion.expand($0, lookup) } }
        let args = c.args.map { $0.map { VarExpansion.expand($0, lookup) } }
        let p = ProcessDefaults.resolve(image: i.image, command: command, args: args, env: env, workingDir: c.workingDir)
        guard !p.args.isEmpty else { throw ContainerConfigError(message: "no command specified (the image has no ENTRYPOINT or CMD)") }
        var spec = DefaultProfile.spec(args: p.args, rootfs: i.rootfs)
        var finalEnv = p.env
        if !finalEnv.contains(where: { $0.hasPrefix("HOSTNAME=") }) { finalEnv.append("HOSTNAME=" + (i.sandbox.hostname ?? i.pod.metadata.name ?? "")) }
        if !finalEnv.contains(where: { $0.hasPrefix("HOME=") }) { finalEnv.append("HOME=" + ((i.user.home ?? "").isEmpty ? "/" : i.user.home!)) }
        spec.process?.env = finalEnv
        spec.process?.cwd = p.workingDir
        spec.process?.user = .init(uid: i.user.uid, gid: i.user.gid, additionalGids: i.user.additionalGids.isEmpty ? nil : i.user.additionalGids)
        spec.root = .init(path: i.rootfs, readonly: c.securityContext?.readOnlyRootFilesystem ?? false)
        spec.hostname = nil   // the sandbox's UTS namespace carries it
        spec.linux?.namespaces = i.sandbox.namespaces
        spec.linux?.cgroupsPath = i.cgroupsPath
        let req = requirements(c).defaulted
        let res = KubeMapping.container(req)
        var resources = spec.linux?.resources ?? OCISpec.Resources()
        if let m = res.memoryLimit, m > 0 { resources.memory = .init(limit: m) }
        resources.cpu = .init(shares: res.cpuShares, quota: (res.cpuQuota ?? -1) > 0 ? res.cpuQuota : nil,
                              period: (res.cpuQuota ?? -1) > 0 ? res.cpuPeriod : nil)
        spec.linux?.resources = resources
        spec.process?.oomScoreAdj = KubeMapping.oomScoreAdj(qos: i.qos, memoryRequestBytes: req.memoryRequestBytes, memoryCapacityBytes: i.memoryCapacity)
        spec.mounts = (spec.mounts ?? []) + [
            .init(destination: "/etc/hosts", type: "bind", source: i.sandbox.etcDir + "/hosts", options: ["rbind", "rprivate"]),
            .init(destination: "/etc/resolv.conf", type: "bind", source: i.sandbox.etcDir + "/resolv.conf", options: ["rbind", "rprivate"]),
            .init(destination: "/etc/hostname", type: "bind", source: i.sandbox.etcDir + "/hostname", options: ["rbind", "rprivate"]),
        ]
        var ann = spec.annotations ?? [:]
        ann["io.kubernetes.pod.name"] = i.pod.metadata.name
        ann["io.kubernetes.pod.namespace"] = i.pod.metadata.namespace
        ann["io.kubernetes.pod.uid"] = i.pod.metadata.uid
        ann["io.kubernetes.container.name"] = c.name
        spec.annotations = ann
        return spec
    }
}

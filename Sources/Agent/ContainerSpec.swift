import Cgroups
import Images
import KubeModel
import LinuxSystem
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
    public static func environment(pod: Pod, container: Container, image: ImageConfig, podIP: String?,
                                   objects: (ConfigObject.Kind, String) -> ConfigObject? = { _, _ in nil },
                                   nodeAllocatable: [String: Quantity]? = nil) throws -> [String] {
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
        func object(_ kind: ConfigObject.Kind, _ name: String, optional: Bool) throws -> ConfigObject? {
            if let o = objects(kind, name) { return o }
            if optional { return nil }
            throw ContainerConfigError(message: "\(kind == .configMap ? "configmap" : "secret") \"\(name)\" not found")
        }
        // envFrom first (env entries override); invalid names are skipped as the kubelet does
        for src in container.envFrom ?? [] {
            let prefix = src.prefix ?? ""
            let obj: ConfigObject?
            if let r = src.configMapRef { obj = try object(.configMap, r.name ?? "", optional: r.optional ?? false) }
            else if let r = src.secretRef { obj = try object(.secret, r.name ?? "", optional: r.optional ?? false) }
            else { continue }
            for k in (obj?.values.keys.sorted() ?? []) {
                let name = prefix + k
                guard PodValidation.isEnvVarName(name) else { continue }
                let v = String(decoding: obj!.values[k]!, as: UTF8.self)
                podEnv[name] = v
                set(name, v)
            }
        }
        for e in container.env ?? [] {
            var v: String
            if let src = e.valueFrom {
                if let f = src.fieldRef {
                    guard let fv = fieldValue(pod: pod, path: f.fieldPath, podIP: podIP) else {
                        throw ContainerConfigError(message: "env \(e.name): unsupported fieldRef \(f.fieldPath)")
                    }
                    v = fv
                } else if let r = src.resourceFieldRef {
                    v = resourceValue(container: container, ref: r, nodeAllocatable: nodeAllocatable)
                } else if let k = src.configMapKeyRef ?? src.secretKeyRef {
                    let kind: ConfigObject.Kind = src.configMapKeyRef != nil ? .configMap : .secret
                    let optional = k.optional ?? false
                    guard let obj = try object(kind, k.name ?? "", optional: optional) else { continue }
                    guard let bytes = obj.values[k.key] else {
                        if optional { continue }
                        throw ContainerConfigError(message: "couldn't find key \(k.key) in \(kind.rawValue) \(obj.namespace)/\(obj.name)")
                    }
                    v = String(decoding: bytes, as: UTF8.self)
                } else {
                    throw ContainerConfigError(message: "env \(e.name): valueFrom needs fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef")
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

    /// A resource value by the divisor, rounded up; an unset limit is the node's allocatable (as
    /// the kubelet reports it).
    static func resourceValue(container: Container, ref: ResourceFieldSelector, nodeAllocatable: [String: Quantity]?) -> String {
        let parts = ref.resource.split(separator: ".", maxSplits: 1)
        guard parts.count == 2 else { return "" }
        let isLimit = parts[0] == "limits"
        let source = isLimit ? container.resources?.limits : container.resources?.requests
        let q = source?[String(parts[1])] ?? (isLimit ? nodeAllocatable?[String(parts[1])] : nil) ?? .zero
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
        public var volumes: [String: PreparedVolume] = [:]
        public var objects: @Sendable (ConfigObject.Kind, String) -> ConfigObject? = { _, _ in nil }
        /// subPath inside a volume → the host path to bind (the worker resolves it on disk and
        /// pins it): (volume name, volume path, subPath, index of the volumeMount)
        public var resolveSubPath: @Sendable (SubPathRequest) throws -> String = { $0.base + "/" + $0.subPath }
        /// seccompProfile Localhost, loaded by the caller
        public var localhostSeccomp: OCISpec.Seccomp?
        /// the node's devices, for privileged containers
        public var hostDevices: [OCISpec.Device] = []
        public var nodeAllocatable: [String: Quantity]?
        /// hostUsers: false: the pod's host ID range (the container gets a user namespace mapping
        /// 0..65535 onto it)
        public var usernsBase: UInt32?
    }

    public static func spec(_ i: Input) throws -> OCISpec {
        let c = i.container
        let env = try environment(pod: i.pod, container: c, image: i.image, podIP: i.sandbox.podIP, objects: i.objects,
                                  nodeAllocatable: i.nodeAllocatable)
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
        let psc = i.pod.spec.securityContext
        if (c.securityContext?.runAsNonRoot ?? psc?.runAsNonRoot) == true && i.user.uid == 0 {
            throw ContainerConfigError(message: "container has runAsNonRoot and image will run as root (pod: \"\(i.pod.metadata.name ?? "")_\(i.pod.metadata.namespace ?? "default")(\(i.pod.metadata.uid ?? ""))\", container: \(c.name))")
        }
        var gids = i.user.additionalGids
        for g in (psc?.supplementalGroups ?? []) + (psc?.fsGroup.map { [$0] } ?? []) {
            let g32 = UInt32(truncatingIfNeeded: g)
            if !gids.contains(g32) { gids.append(g32) }
        }
        spec.process?.user = .init(uid: i.user.uid, gid: i.user.gid, additionalGids: gids.isEmpty ? nil : gids)
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
        try SecurityMapping.apply(to: &spec, pod: i.pod, container: c, localhostSeccomp: i.localhostSeccomp, hostDevices: i.hostDevices)
        let privileged = c.securityContext?.privileged ?? false
        spec.mounts! += try VolumeMounts.mounts(container: c, volumes: i.volumes, env: finalEnv, privileged: privileged, resolve: i.resolveSubPath)
        if let prop = VolumeMounts.rootPropagation(c.volumeMounts ?? []) { spec.linux?.rootfsPropagation = prop }
        if let base = i.usernsBase {
            guard i.user.uid < UserNSAllocator.size, i.user.gid < UserNSAllocator.size else {
                throw ContainerConfigError(message: "hostUsers: false: user \(i.user.uid):\(i.user.gid) is outside the pod's 65536 IDs")
            }
            spec.linux?.namespaces?.append(.init(type: "user"))
            let m = [OCISpec.IDMapping(containerID: 0, hostID: base, size: UserNSAllocator.size)]
            spec.linux?.uidMappings = m
            spec.linux?.gidMappings = m
            // an IPC namespace the initial user namespace owns cannot get a new mqueue mount
            spec.mounts = spec.mounts?.filter { $0.destination != "/dev/mqueue" }
        }
        if let sysctls = psc?.sysctls, !sysctls.isEmpty {
            spec.linux?.sysctl = Dictionary(sysctls.map { ($0.name, $0.value) }, uniquingKeysWith: { _, b in b })
        }
        var ann = spec.annotations ?? [:]
        ann["io.kubernetes.pod.name"] = i.pod.metadata.name
        ann["io.kubernetes.pod.namespace"] = i.pod.metadata.namespace
        ann["io.kubernetes.pod.uid"] = i.pod.metadata.uid
        ann["io.kubernetes.container.name"] = c.name
        spec.annotations = ann
        return spec
    }
}

/// securityContext → capabilities, no_new_privs, seccomp, masks, devices: pure.
public enum SecurityMapping {
    static func capName(_ n: String) -> String { let u = n.uppercased(); return u.hasPrefix("CAP_") ? u : "CAP_" + u }

    /// containerd's order: ALL in add/drop first, then the named ones added, then dropped.
    /// `privileged` and `add: [ALL]` mean every capability the agent itself holds (containerd's
    /// WithAllCurrentCapabilities): the runtime refuses to grant one it does not have.
    public static func capabilities(_ sc: SecurityContext?, available: UInt64 = Capabilities.currentBoundingSet()) throws -> [String] {
        let all = Capabilities.names(in: available)
        if sc?.privileged ?? false { return all }
        let add = (sc?.capabilities?.add ?? []).map(capName)
        let drop = (sc?.capabilities?.drop ?? []).map(capName)
        var caps = Set(DefaultProfile.capabilities)
        if add.contains("CAP_ALL") { caps = Set(all) }
        if drop.contains("CAP_ALL") { caps = [] }
        for a in add where a != "CAP_ALL" {
            guard Capabilities.number(a) != nil else { throw ContainerConfigError(message: "unknown capability \"\(a)\" in securityContext.capabilities.add") }
            caps.insert(a)
        }
        for d in drop where d != "CAP_ALL" {
            guard Capabilities.number(d) != nil else { throw ContainerConfigError(message: "unknown capability \"\(d)\" in securityContext.capabilities.drop") }
            caps.remove(d)
        }
        return caps.sorted { Capabilities.number($0)! < Capabilities.number($1)! }
    }

    public static func apply(to spec: inout OCISpec, pod: Pod, container c: Container, localhostSeccomp: OCISpec.Seccomp?,
                             hostDevices: [OCISpec.Device]) throws {
        let sc = c.securityContext
        let privileged = sc?.privileged ?? false
        let caps = try capabilities(sc)
        spec.process?.capabilities = OCISpec.Capabilities(bounding: caps, effective: caps, inheritable: nil, permitted: caps, ambient: nil)
        // allowPrivilegeEscalation defaults to true; privileged or CAP_SYS_ADMIN force it
        let forced = privileged || caps.contains("CAP_SYS_ADMIN")
        if sc?.allowPrivilegeEscalation == false && forced {
            throw ContainerConfigError(message: "cannot set allowPrivilegeEscalation to false and privileged or CAP_SYS_ADMIN to true")
        }
        spec.process?.noNewPrivileges = sc?.allowPrivilegeEscalation == false
        let profile = sc?.seccompProfile ?? pod.spec.securityContext?.seccompProfile
        if privileged {
            spec.linux?.seccomp = nil
        } else {
            switch profile?.type ?? "RuntimeDefault" {
            case "RuntimeDefault":
                // the base spec carries it for the default capabilities already
                if Set(caps) != Set(DefaultProfile.capabilities) { spec.linux?.seccomp = SeccompProfile.runtimeDefault(capabilities: caps) }
            case "Unconfined": spec.linux?.seccomp = nil
            case "Localhost":
                guard let p = localhostSeccomp else {
                    throw ContainerConfigError(message: "seccompProfile Localhost \"\(profile?.localhostProfile ?? "")\": profile not loaded")
                }
                spec.linux?.seccomp = p
            default:
                throw ContainerConfigError(message: "unknown seccompProfile type \"\(profile!.type)\"")
            }
        }
        if privileged || sc?.procMount == "Unmasked" {
            if sc?.procMount == "Unmasked" && !privileged && pod.spec.hostUsers != false {
                throw ContainerConfigError(message: "procMount Unmasked requires hostUsers: false")
            }
            spec.linux?.maskedPaths = []
            spec.linux?.readonlyPaths = []
        }
        if privileged {
            var res = spec.linux?.resources ?? OCISpec.Resources()
            res.devices = [.init(allow: true, access: "rwm")]
            spec.linux?.resources = res
            spec.linux?.devices = hostDevices
            // /sys and the cgroup tree writable, as runc does for privileged containers
            spec.mounts = spec.mounts?.map { m in
                var m = m
                if m.destination == "/sys" || m.destination == "/sys/fs/cgroup" { m.options = m.options?.filter { $0 != "ro" } }
                return m
            }
        }
    }
}

import LinuxSystem
import Cgroups
import Images
import Runtime
@testable import KubeModel
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Agent

@Suite("Lifecycle rules")
struct LifecycleTests {
    @Test("crash-loop backoff: 10 s doubling to 300 s")
    func backoff() {
        let b = BackoffPolicy()
        #expect(b.delay(failures: 0) == .zero)
        #expect((1...7).map { b.delay(failures: $0) } == [10, 20, 40, 80, 160, 300, 300].map { Duration.seconds($0) })
        let fast = BackoffPolicy(initial: .milliseconds(500), max: .seconds(2))
        #expect((1...4).map { fast.delay(failures: $0) } == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(2)])
    }

    @Test("restart policy decisions")
    func restart() {
        #expect(RestartDecision.shouldRestart(policy: "Always", exitCode: 0))
        #expect(RestartDecision.shouldRestart(policy: "OnFailure", exitCode: 2))
        #expect(!RestartDecision.shouldRestart(policy: "OnFailure", exitCode: 0))
        #expect(!RestartDecision.shouldRestart(policy: "Never", exitCode: 1))
        #expect(terminatedReason(exitCode: 0, oomKilled: false) == "Completed")
        #expect(terminatedReason(exitCode: 137, oomKilled: true) == "OOMKilled")
        #expect(terminatedReason(exitCode: 1, oomKilled: false) == "Error")
    }

    func status(_ name: String, running: Bool = false, exit: Int32? = nil, waiting: String? = nil, last: Int32? = nil) -> KubeModel.ContainerStatus {
        var s = KubeModel.ContainerStatus(name: name)
        if running { s.state = ContainerState(running: ContainerStateRunning(startedAt: "t")) }
        if let exit { s.state = ContainerState(terminated: ContainerStateTerminated(exitCode: exit)) }
        if let waiting { s.state = ContainerState(waiting: ContainerStateWaiting(reason: waiting)) }
        if let last { s.lastState = ContainerState(terminated: ContainerStateTerminated(exitCode: last)) }
        s.ready = running
        return s
    }

    @Test("pod phase")
    func phase() {
        #expect(PodPhase.phase(restartPolicy: "Always", statuses: [status("a", waiting: "ContainerCreating")], sandboxReady: true) == "Pending")
        #expect(PodPhase.phase(restartPolicy: "Always", statuses: [status("a", running: true), status("b", waiting: "CrashLoopBackOff", last: 1)], sandboxReady: true) == "Running")
        #expect(PodPhase.phase(restartPolicy: "Never", statuses: [status("a", exit: 0), status("b", exit: 0)], sandboxReady: true) == "Succeeded")
        #expect(PodPhase.phase(restartPolicy: "Never", statuses: [status("a", exit: 0), status("b", exit: 3)], sandboxReady: true) == "Failed")
        #expect(PodPhase.phase(restartPolicy: "OnFailure", statuses: [status("a", exit: 0)], sandboxReady: true) == "Succeeded")
        #expect(PodPhase.phase(restartPolicy: "OnFailure", statuses: [status("a", waiting: "CrashLoopBackOff", last: 1)], sandboxReady: true) == "Pending")
    }

    @Test("conditions keep their transition time while unchanged")
    func conditions() {
        let s = [status("a", running: true)]
        let first = PodPhase.conditions(phase: "Running", statuses: s, initialized: true, scheduled: "t0", previous: [], now: "t1", sandboxReady: true)
        let again = PodPhase.conditions(phase: "Running", statuses: s, initialized: true, scheduled: "t0", previous: first, now: "t2", sandboxReady: true)
        #expect(first.first { $0.type == "Ready" }?.status == "True")
        #expect(again.first { $0.type == "Ready" }?.lastTransitionTime == "t1")
        let down = PodPhase.conditions(phase: "Running", statuses: [status("a", waiting: "CrashLoopBackOff")], initialized: true, scheduled: "t0",
                                       previous: first, now: "t3", sandboxReady: true)
        let ready = down.first { $0.type == "Ready" }
        #expect(ready?.status == "False" && ready?.lastTransitionTime == "t3" && ready?.reason == "ContainersNotReady")
        #expect(ready?.message == "containers with unready status: [a]")
    }

    @Test("$(VAR) expansion: $$ escapes, unknown references stay")
    func expansion() {
        let vars = ["A": "1", "B": "two"]
        #expect(VarExpansion.expand("$(A)-$(B)", { vars[$0] }) == "1-two")
        #expect(VarExpansion.expand("$$(A) $(C) $(A", { vars[$0] }) == "$(A) $(C) $(A")
        #expect(VarExpansion.expand("cost: $5", { vars[$0] }) == "cost: $5")
    }
}

@Suite("Static pods and container specs")
struct StaticPodTests {
    let yaml = Array("""
    apiVersion: v1
    kind: Pod
    metadata: {name: web, labels: {tier: front}}
    spec:
      containers:
      - name: c
        image: busybox:1
        command: [sh, -c, "echo $(GREETING) $(POD_IP)"]
        env:
        - {name: GREETING, value: "hi-$(NAME)"}
        - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: TIER, valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}}
        - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        resources: {limits: {memory: 64Mi, cpu: 500m}}
    """.utf8)

    @Test("name, UID, annotations and defaults")
    func load() throws {
        let src = StaticPodSource(directory: "/m", nodeName: "node-a")
        guard case .pod(let p) = src.load(path: "/m/web.yaml", bytes: yaml) else { Issue.record("invalid"); return }
        #expect(p.metadata.name == "web-node-a" && p.metadata.namespace == "default" && p.spec.nodeName == "node-a")
        #expect(p.metadata.annotations?["kubernetes.io/config.source"] == "file")
        #expect(p.metadata.uid == StaticPodSource.uid(nodeName: "node-a", path: "/m/web.yaml", content: yaml))
        #expect(p.metadata.uid?.count == 36)
        // any byte changes the UID; so do node and path
        #expect(StaticPodSource.uid(nodeName: "node-a", path: "/m/web.yaml", content: yaml + [10]) != p.metadata.uid)
        #expect(StaticPodSource.uid(nodeName: "node-b", path: "/m/web.yaml", content: yaml) != p.metadata.uid)
        #expect(StaticPodSource.isManifestName("a.yml") && StaticPodSource.isManifestName("b.json"))
        #expect(!StaticPodSource.isManifestName(".a.yaml") && !StaticPodSource.isManifestName("a.yaml.swp"))
        guard case .invalid(_, let errs) = src.load(path: "/m/x.yaml", bytes: Array("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c}]}".utf8)) else {
            Issue.record("accepted"); return
        }
        #expect(errs == ["spec.containers[0].image: Required value"])
    }

    @Test("environment: image env first, fieldRef, resourceFieldRef with divisor, $(VAR) in env and command")
    func environment() throws {
        let src = StaticPodSource(directory: "/m", nodeName: "n")
        guard case .pod(let p) = src.load(path: "/m/web.yaml", bytes: yaml) else { Issue.record("invalid"); return }
        var image = ImageConfig()
        image.env = ["PATH=/bin", "GREETING=image"]
        image.user = ""
        let env = try ContainerSpecBuilder.environment(pod: p, container: p.spec.containers[0], image: image, podIP: "10.0.0.9")
        #expect(env == ["PATH=/bin", "GREETING=hi-$(NAME)", "NAME=web-n", "TIER=front", "MEM=64", "POD_IP=10.0.0.9"])
        let spec = try ContainerSpecBuilder.spec(.init(
            pod: p, container: p.spec.containers[0], image: image, user: ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/root"),
            sandbox: SandboxPaths(netns: "/s/net", ipcns: "/s/ipc", utsns: "/s/uts", etcDir: "/p/etc", podIP: "10.0.0.9"),
            rootfs: "/r", cgroupsPath: "/swiftlet/kubepods/burstable/podX/c", qos: .burstable, memoryCapacity: 1 << 30))
        #expect(spec.process?.args == ["sh", "-c", "echo hi-$(NAME) 10.0.0.9"])
        #expect(spec.linux?.namespaces?.first { $0.type == "network" }?.path == "/s/net")
        let namespaces = spec.linux?.namespaces ?? []
        #expect(namespaces.contains { $0.type == "pid" && $0.path == nil })
        #expect(spec.linux?.resources?.memory?.limit == 64 << 20)
        let cpu = spec.linux?.resources?.cpu
        #expect(cpu?.quota == 50_000)
        #expect(cpu?.period == 100_000)
        let mounts = spec.mounts ?? []
        #expect(mounts.contains { $0.destination == "/etc/hosts" && $0.source == "/p/etc/hosts" })
        #expect(spec.root?.path == "/r" && spec.root?.readonly == false)
        #expect(spec.process?.env?.contains("HOSTNAME=web-n") == true)
    }
}

@Suite("Agent configuration")
struct ConfigTests {
    @Test("contrib/agent.yaml loads and matches the defaults it documents")
    func sample() throws {
        let path = "/" + String(String(#filePath).split(separator: "/Tests/", maxSplits: 1).first!).drop(while: { $0 == "/" }) + "/contrib/agent.yaml"
        let text = try String(decoding: Files.read(path), as: UTF8.self)
        let c = try AgentConfig.load(path: path, text: text)
        var d = AgentConfig()
        d.nodeName = "node-1"
        #expect(c == d)
    }

    @Test("unknown keys are refused, flags' types checked")
    func unknown() {
        #expect(throws: ConfigError.self) { try AgentConfig.load(path: "x", text: "nodeName: a\nmanifestDir: /typo\n") }
        #expect(throws: ConfigError.self) { try AgentConfig.load(path: "x", text: "healthzPort: lots\n") }
        #expect((try? AgentConfig.load(path: "x", text: "backoffInitialSeconds: 1\n"))?.backoff.initial == .seconds(1))
    }
}

@Suite("Pod spec parity: pure mappings")
struct PodSpecParityTests {
    @Test("capabilities: containerd order (ALL first, then named adds and drops), privileged gets all")
    func capabilities() throws {
        var sc = SecurityContext()
        #expect(try SecurityMapping.capabilities(sc) == DefaultProfile.capabilities.sorted { LinuxSystem.Capabilities.number($0)! < LinuxSystem.Capabilities.number($1)! })
        sc.capabilities = KubeModel.Capabilities(add: ["NET_ADMIN"], drop: ["chown"])
        let c = try SecurityMapping.capabilities(sc)
        #expect(c.contains("CAP_NET_ADMIN") && !c.contains("CAP_CHOWN"))
        sc.capabilities = KubeModel.Capabilities(add: ["NET_BIND_SERVICE"], drop: ["ALL"])
        #expect(try SecurityMapping.capabilities(sc) == ["CAP_NET_BIND_SERVICE"])
        sc.capabilities = KubeModel.Capabilities(add: ["BOGUS"], drop: nil)
        #expect(throws: ContainerConfigError.self) { try SecurityMapping.capabilities(sc) }
        sc = SecurityContext()
        sc.privileged = true
        let every = LinuxSystem.Capabilities.mask(LinuxSystem.Capabilities.names).mask
        #expect(try SecurityMapping.capabilities(sc, available: every).count == LinuxSystem.Capabilities.names.count)
        // every capability the agent holds, not more (this machine's own bounding set lacks some)
        let lacking = every & ~(UInt64(1) << 24)
        #expect(try !SecurityMapping.capabilities(sc, available: lacking).contains("CAP_SYS_RESOURCE"))
        sc = SecurityContext()
        sc.capabilities = KubeModel.Capabilities(add: ["ALL"], drop: nil)
        #expect(try SecurityMapping.capabilities(sc, available: lacking).count == LinuxSystem.Capabilities.names.count - 1)
    }

    @Test("sysctls: the safe set, allowlisted patterns, host namespaces")
    func sysctls() {
        var p = Pod(metadata: ObjectMeta(name: "p"), spec: PodSpec(containers: [Container(name: "c", image: "x")]))
        p.spec.securityContext = PodSecurityContext()
        p.spec.securityContext?.sysctls = [Sysctl(name: "net.ipv4.tcp_syncookies", value: "1")]
        #expect(SysctlPolicy.check(p, unsafe: []) == nil)
        p.spec.securityContext?.sysctls = [Sysctl(name: "net.core.somaxconn", value: "1024")]
        #expect(SysctlPolicy.check(p, unsafe: []) == "forbidden sysctl: \"net.core.somaxconn\" not allowlisted")
        #expect(SysctlPolicy.check(p, unsafe: ["net.core.*"]) == nil)
        p.spec.hostNetwork = true
        #expect(SysctlPolicy.check(p, unsafe: ["net.core.*"]) == "forbidden sysctl: \"net.core.somaxconn\" not allowed with host net enabled")
    }

    @Test("object volumes: all keys, items with modes, missing keys, optional")
    func objectFiles() throws {
        let cm = ConfigObject(kind: .configMap, namespace: "default", name: "cfg", values: ["a": Array("1".utf8), "b": Array("2".utf8)])
        let all = try VolumeContent.files(of: cm, kindName: "configmap", name: "cfg", items: nil, defaultMode: nil, optional: false)
        #expect(all.map(\.path) == ["a", "b"] && all.allSatisfy { $0.mode == 0o644 })
        let items = try VolumeContent.files(of: cm, kindName: "configmap", name: "cfg",
                                            items: [KeyToPath(key: "b", path: "dir/b.txt", mode: 0o400)], defaultMode: 0o600, optional: false)
        #expect(items == [VolumeFile(path: "dir/b.txt", bytes: Array("2".utf8), mode: 0o400)])
        #expect(throws: VolumeError.self) {
            try VolumeContent.files(of: cm, kindName: "configmap", name: "cfg", items: [KeyToPath(key: "zz", path: "z")], defaultMode: nil, optional: false)
        }
        #expect(throws: VolumeError.self) {
            try VolumeContent.files(of: cm, kindName: "configmap", name: "cfg", items: [KeyToPath(key: "a", path: "../x")], defaultMode: nil, optional: false)
        }
        #expect(try VolumeContent.files(of: nil, kindName: "secret", name: "s", items: nil, defaultMode: nil, optional: true).isEmpty)
        do {
            _ = try VolumeContent.files(of: nil, kindName: "secret", name: "s", items: nil, defaultMode: nil, optional: false)
        } catch { #expect(error.description == "secret \"s\" not found") }
    }

    @Test("downwardAPI files: labels and annotations quoted and sorted")
    func downward() throws {
        var p = Pod(metadata: ObjectMeta(name: "web", namespace: "ns", uid: "u-1", labels: ["b": "2", "a": "say \"hi\""]),
                    spec: PodSpec(containers: [Container(name: "c", image: "x")]))
        p.spec.containers[0].resources = ResourceRequirements(limits: ["memory": try Quantity(parsing: "128Mi")])
        let files = try VolumeContent.downward(pod: p, items: [
            DownwardAPIVolumeFile(path: "labels", fieldRef: ObjectFieldSelector(fieldPath: "metadata.labels")),
            DownwardAPIVolumeFile(path: "uid", fieldRef: ObjectFieldSelector(fieldPath: "metadata.uid")),
            DownwardAPIVolumeFile(path: "mem", resourceFieldRef: ResourceFieldSelector(containerName: "c", resource: "limits.memory", divisor: try Quantity(parsing: "1Mi"))),
        ], defaultMode: nil, podIP: nil)
        #expect(files.map { String(decoding: $0.bytes, as: UTF8.self) } == ["a=\"say \\\"hi\\\"\"\nb=\"2\"", "u-1", "128"])
    }

    @Test("volume mounts: propagation, readOnly, subPathExpr, Bidirectional only when privileged")
    func mounts() throws {
        var c = Container(name: "c", image: "x")
        c.volumeMounts = [
            VolumeMount(name: "data", mountPath: "/data", readOnly: true),
            VolumeMount(name: "data", mountPath: "/logs", subPathExpr: "$(POD_NAME)", mountPropagation: "HostToContainer"),
            VolumeMount(name: "cfg", mountPath: "/cfg"),
        ]
        let vols = ["data": PreparedVolume(path: "/v/data", readOnly: false), "cfg": PreparedVolume(path: "/v/cfg", readOnly: true)]
        let m = try VolumeMounts.mounts(container: c, volumes: vols, env: ["POD_NAME=web"], privileged: false) { $0.base + "/" + $0.subPath }
        #expect(m.map(\.source) == ["/v/data", "/v/data/web", "/v/cfg"])
        #expect(m.map { $0.options ?? [] } == [["rbind", "rprivate", "ro"], ["rbind", "rslave"], ["rbind", "rprivate", "ro"]])
        #expect(VolumeMounts.rootPropagation(c.volumeMounts!) == "rslave")
        c.volumeMounts = [VolumeMount(name: "data", mountPath: "/d", mountPropagation: "Bidirectional")]
        #expect(throws: VolumeError.self) { try VolumeMounts.mounts(container: c, volumes: vols, env: [], privileged: false) { $0.base + $0.subPath } }
        c.volumeMounts = [VolumeMount(name: "data", mountPath: "/d", subPath: "../up")]
        #expect(throws: VolumeError.self) { try VolumeMounts.mounts(container: c, volumes: vols, env: [], privileged: false) { $0.base + $0.subPath } }
    }

    @Test("multi-document manifests: Pod, ConfigMap, Secret (base64 data, stringData)")
    func documents() throws {
        let text = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg}
        data:
          conf: |
            a=1
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: s, namespace: prod}
        data: {pw: czNjcjN0}
        stringData: {user: admin}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec: {containers: [{name: c, image: busybox}]}
        """
        let docs = try ObjectManifest.decode(Array(text.utf8))
        #expect(docs.count == 3)
        guard case .object(let cm) = docs[0], case .object(let s) = docs[1], case .pod(let p) = docs[2] else { Issue.record("kinds"); return }
        #expect(cm.key == "ConfigMap/default/cfg" && cm.values["conf"] == Array("a=1\n".utf8))
        #expect(s.key == "Secret/prod/s" && s.values["pw"] == Array("s3cr3t".utf8) && s.values["user"] == Array("admin".utf8))
        #expect(p.metadata.name == "p")
        let bad = Result { () throws -> [ObjectManifest.Document] in try ObjectManifest.decode(Array("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {pw: '***'}\n".utf8)) }
        if case .success = bad { Issue.record("non-base64 secret data accepted") }
    }

    @Test("namespaces of a pod's container: shared PID, host namespaces")
    func namespaces() {
        let shared = SandboxPaths(netns: "/s/net", ipcns: "/s/ipc", utsns: "/s/uts", pidns: "/s/pid", etcDir: "/e", podIP: nil)
        #expect(shared.namespaces.map { "\($0.type)=\($0.path ?? "")" } == ["mount=", "cgroup=", "pid=/s/pid", "network=/s/net", "ipc=/s/ipc", "uts=/s/uts"])
        let host = SandboxPaths(netns: nil, ipcns: nil, utsns: nil, pidns: nil, hostPID: true, etcDir: "/e", podIP: nil)
        #expect(host.namespaces.map(\.type) == ["mount", "cgroup"])
    }
}

@Suite("Probes")
struct ProbeTests {
    @Test("defaults: delay 0, period 10 s, timeout 1 s, thresholds 1 and 3")
    func defaults() {
        let s = ProbeSettings(Probe())
        #expect(s == ProbeSettings(Probe(initialDelaySeconds: 0, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3)))
        #expect(s.period == 10 && s.timeout == 1 && s.failureThreshold == 3 && s.successThreshold == 1 && s.initialDelay == 0)
    }

    @Test("the verdict flips only after the thresholds in a row")
    func counter() {
        let s = ProbeSettings(Probe(successThreshold: 2, failureThreshold: 3))
        var c = ProbeCounter(initial: false)
        #expect(c.record(true, s) == nil)          // 1 success of 2
        #expect(c.record(false, s) == nil)         // resets
        #expect(c.record(true, s) == nil)
        #expect(c.record(true, s) == true)         // 2 in a row → ready
        #expect(c.record(false, s) == nil)
        #expect(c.record(false, s) == nil)
        #expect(c.record(false, s) == false)       // 3 in a row → not ready
        #expect(c.record(false, s) == nil)         // no change reported again
        var live = ProbeCounter(initial: true)
        #expect(live.record(true, ProbeSettings(Probe())) == nil)
    }

    @Test("ports by number or by the container's port name")
    func ports() {
        var c = Container(name: "c", image: "x")
        c.ports = [ContainerPort(name: "http", containerPort: 8080)]
        #expect(HandlerRunner.port(.int(80), container: c) == 80)
        #expect(HandlerRunner.port(.string("http"), container: c) == 8080)
        #expect(HandlerRunner.port(.string("8081"), container: c) == 8081)
        #expect(HandlerRunner.port(.string("grpc"), container: c) == nil)
        #expect(HandlerRunner.port(.int(70000), container: c) == nil)
    }
}

@Suite("User namespace ranges")
struct UserNSTests {
    @Test("ranges of 65536 from 65536, lowest free first, persisted and released")
    func ranges() throws {
        #expect(UserNSAllocator.firstFree([]) == 65536)
        #expect(UserNSAllocator.firstFree([65536, 131072]) == 196608)
        #expect(UserNSAllocator.firstFree([131072]) == 65536)
        #expect(UserNSAllocator.map(base: 65536) == "0 65536 65536\n")
        let dir = "/tmp/swiftlet-unit-userns-\(getpid())"
        defer { try? Files.removeTree(dir) }
        let a = UserNSAllocator(directory: dir)
        let p1 = try a.allocate(owner: "pod-1")
        let p2 = try a.allocate(owner: "pod-2")
        #expect(p1 == 65536 && p2 == 131072)
        #expect(try a.allocate(owner: "pod-1") == p1)          // idempotent per owner
        a.release(owner: "pod-1")
        #expect(try a.allocate(owner: "pod-3") == 65536)       // reused
        #expect(try a.reclaim(keeping: ["pod-3"], alsoKeeping: { $0.hasPrefix("run-") }) == ["pod-2"])
    }
}

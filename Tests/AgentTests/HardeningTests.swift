import Cgroups
import Images
import LinuxSystem
import Networking
import Runtime
import Testing

#if canImport(Glibc)
import Glibc
#endif
@testable import Agent
@testable import KubeModel

/// Every numeric field of a pod at its extremes: decoded, validated, defaulted and, when valid,
/// taken through the agent's pure computations. A value may be refused (with a field path) or
/// clamped; nothing may trap, since a trap in the agent loops on every start.
@Suite("Manifest integers at their extremes")
struct IntegerFuzzTests {
    static let template = #"""
    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"f","namespace":"default","uid":"u-1","generation":1,"deletionGracePeriodSeconds":30},
     "spec":{"terminationGracePeriodSeconds":30,"activeDeadlineSeconds":60,"priority":0,
      "securityContext":{"runAsUser":1000,"runAsGroup":1000,"fsGroup":2000,"supplementalGroups":[3000]},
      "tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],
      "volumes":[
        {"name":"e","emptyDir":{"sizeLimit":"1Gi"}},
        {"name":"cm","configMap":{"name":"cm","defaultMode":420,"items":[{"key":"a","path":"a","mode":256}]}},
        {"name":"s","secret":{"secretName":"s","defaultMode":256,"items":[{"key":"a","path":"a","mode":256}]}},
        {"name":"d","downwardAPI":{"defaultMode":420,"items":[{"path":"n","fieldRef":{"fieldPath":"metadata.name"},"mode":420}]}},
        {"name":"p","projected":{"defaultMode":420,"sources":[{"configMap":{"name":"cm","items":[{"key":"a","path":"b","mode":256}]}}]}}],
      "initContainers":[{"name":"i","image":"busybox","securityContext":{"runAsUser":0,"runAsGroup":0},
        "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"1","memory":"128Mi"}}}],
      "containers":[{"name":"c","image":"busybox","command":["sleep","1"],
        "ports":[{"containerPort":80,"hostPort":8080}],
        "securityContext":{"runAsUser":1000,"runAsGroup":1000},
        "resources":{"requests":{"cpu":"250m","memory":"64Mi","ephemeral-storage":"1Gi"},"limits":{"cpu":"500m","memory":"128Mi"}},
        "volumeMounts":[{"name":"e","mountPath":"/e"},{"name":"cm","mountPath":"/cm"}],
        "livenessProbe":{"tcpSocket":{"port":80},"initialDelaySeconds":1,"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3,"terminationGracePeriodSeconds":10},
        "readinessProbe":{"httpGet":{"port":80,"path":"/"},"initialDelaySeconds":0,"timeoutSeconds":2,"periodSeconds":5,"successThreshold":2,"failureThreshold":3},
        "startupProbe":{"exec":{"command":["true"]},"initialDelaySeconds":0,"timeoutSeconds":1,"periodSeconds":1,"successThreshold":1,"failureThreshold":30},
        "lifecycle":{"postStart":{"sleep":{"seconds":1}},"preStop":{"sleep":{"seconds":5}}}}]}}
    """#

    static let extremes: [String] = [
        "-9223372036854775808", "-2147483649", "-2147483648", "-1", "0", "1", "511", "512", "65535", "65536",
        "2147483647", "2147483648", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
        "1e300", "-0.5",
    ]
    static let quantities: [String] = [
        "9223372036854775807", "-9223372036854775808", "9223372036854775807k", "8Ei", "9Ei", "1e18", "1e-9", "0",
        "999999999999999999999999999999", "-1", "1n", "9223372036854775807m",
    ]

    /// Paths (object keys and array indices) of every number and every quantity in `json`.
    static func paths(_ json: JSON, _ prefix: [String] = []) -> (numbers: [[String]], quantities: [[String]]) {
        var n: [[String]] = [], q: [[String]] = []
        switch json {
        case .number: n.append(prefix)
        case .string:
            if prefix.contains("resources") || prefix.last == "sizeLimit" { q.append(prefix) }
        case .array(let a):
            for (i, v) in a.enumerated() { let r = paths(v, prefix + ["\(i)"]); n += r.numbers; q += r.quantities }
        case .object(let o):
            for (k, v) in o { let r = paths(v, prefix + [k]); n += r.numbers; q += r.quantities }
        default: break
        }
        return (n, q)
    }

    static func replacing(_ json: JSON, at path: ArraySlice<String>, with v: JSON) -> JSON {
        guard let head = path.first else { return v }
        switch json {
        case .array(var a):
            let i = Int(head)!
            a[i] = replacing(a[i], at: path.dropFirst(), with: v)
            return .array(a)
        case .object(var o):
            let i = o.firstIndex { $0.0 == head }!
            o[i].1 = replacing(o[i].1, at: path.dropFirst(), with: v)
            return .object(o)
        default: return json
        }
    }

    /// Everything the agent computes from a pod without touching the system.
    static func exercise(_ raw: Pod) throws {
        let pod = PodDefaults.apply(raw)
        _ = Clamp.duration(pod.spec.terminationGracePeriodSeconds ?? 30)
        _ = Clamp.duration(pod.metadata.deletionGracePeriodSeconds ?? 0)
        _ = ContinuousClock.now.advanced(by: Clamp.duration(pod.spec.terminationGracePeriodSeconds ?? 30)).duration(to: .now)
        let reqs = pod.spec.containers.map(ContainerSpecBuilder.requirements) + (pod.spec.initContainers ?? []).map(ContainerSpecBuilder.requirements)
        let qos = KubeMapping.qosClass(reqs)
        _ = CgroupMapping.writes(KubeMapping.pod(reqs))
        for c in pod.spec.containers + (pod.spec.initContainers ?? []) {
            for p in [c.livenessProbe, c.readinessProbe, c.startupProbe].compactMap({ $0 }) {
                let s = ProbeSettings(p)
                _ = Clamp.duration(s.initialDelay)
                _ = Clamp.duration(s.timeout)
                _ = Clamp.duration(p.terminationGracePeriodSeconds ?? 0)
                var counter = ProbeCounter()
                _ = counter.record(false, s)
            }
            for h in [c.lifecycle?.postStart, c.lifecycle?.preStop].compactMap({ $0 }) {
                if let sl = h.sleep { _ = Clamp.duration(min(Double(sl.seconds), Double(Clamp.seconds(pod.spec.terminationGracePeriodSeconds ?? 30)))) }
            }
            _ = CgroupMapping.writes(KubeMapping.container(ContainerSpecBuilder.requirements(c)))
            _ = KubeMapping.oomScoreAdj(qos: qos, memoryRequestBytes: ContainerSpecBuilder.requirements(c).memoryRequestBytes, memoryCapacityBytes: 1 << 34)
            var image = ImageConfig()
            image.entrypoint = ["sh"]
            var input = ContainerSpecBuilder.Input(
                pod: pod, container: c, image: image, user: ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/"),
                sandbox: SandboxPaths(netns: "/s/net", ipcns: "/s/ipc", utsns: "/s/uts", etcDir: "/p/etc", podIP: "10.0.0.9"),
                rootfs: "/r", cgroupsPath: "/k/c", qos: qos, memoryCapacity: 1 << 34)
            input.volumes = ["e": PreparedVolume(path: "/v/e", readOnly: false), "cm": PreparedVolume(path: "/v/cm", readOnly: true)]
            input.nodeAllocatable = ["cpu": Quantity(2), "memory": Quantity(1 << 34)]
            let spec = try ContainerSpecBuilder.spec(input)
            _ = spec.json.serialized()
        }
        for v in pod.spec.volumes ?? [] {
            for it in v.configMap?.items ?? [] { _ = VolumeContent.mode(it.mode, v.configMap?.defaultMode) }
            if let d = v.downwardAPI { _ = try? VolumeContent.downward(pod: pod, items: d.items ?? [], defaultMode: d.defaultMode, podIP: nil) }
            if let q = v.emptyDir?.sizeLimit { _ = max(q.value, 4096) }
        }
        _ = PodManifest.encodeJSON(pod)
    }

    static func run(_ text: String) {
        for form in [text, "---\n" + text] {   // JSON, and the same as YAML (flow style)
            let pod: Pod
            do { pod = try PodManifest.decode(Array(form.utf8)) } catch { continue }
            if !PodValidation.validate(pod).isEmpty { continue }
            do { try exercise(pod) } catch {}
        }
    }

    @Test("every integer field, every extreme: refused or clamped, never a trap")
    func integers() throws {
        let base = try JSON.parse(Array(Self.template.utf8))
        let (numbers, _) = Self.paths(base)
        #expect(numbers.count >= 40)
        for path in numbers {
            for v in Self.extremes {
                Self.run(Self.replacing(base, at: path[...], with: .number(v)).serialized())
            }
        }
    }

    @Test("every quantity field, extreme values: refused or saturated, never a trap")
    func quantities() throws {
        let base = try JSON.parse(Array(Self.template.utf8))
        let (_, qs) = Self.paths(base)
        #expect(qs.count >= 10)
        for path in qs {
            for v in Self.quantities {
                Self.run(Self.replacing(base, at: path[...], with: .string(v)).serialized())
                Self.run(Self.replacing(base, at: path[...], with: .number(v)).serialized())
            }
        }
    }

    @Test("the template itself is valid and exercised")
    func template() throws {
        let pod = try PodManifest.decode(Array(Self.template.utf8))
        #expect(PodValidation.validate(pod).map(\.description) == [])
        try Self.exercise(pod)
    }

    @Test("API ranges refused with the API server's messages", arguments: [
        (#""terminationGracePeriodSeconds":30"#, #""terminationGracePeriodSeconds":-1"#, "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"),
        (#""activeDeadlineSeconds":60"#, #""activeDeadlineSeconds":2147483648"#, "spec.activeDeadlineSeconds: Invalid value: 2147483648: must be between 1 and 2147483647, inclusive"),
        (#""fsGroup":2000"#, #""fsGroup":-5"#, "spec.securityContext.fsGroup: Invalid value: -5: must be between 0 and 2147483647, inclusive"),
        (#""runAsUser":1000,"runAsGroup":1000},"#, #""runAsUser":4294967296,"runAsGroup":1000},"#, "spec.containers[0].securityContext.runAsUser: Invalid value: 4294967296: must be between 0 and 2147483647, inclusive"),
        (#""defaultMode":420,"items":[{"key":"a","path":"a","mode":256}]"#, #""defaultMode":4096,"items":[{"key":"a","path":"a","mode":256}]"#, "spec.volumes[1].configMap.defaultMode: Invalid value: 4096: must be a number between 0 and 0777 (octal), both inclusive"),
        (#""terminationGracePeriodSeconds":10}"#, #""terminationGracePeriodSeconds":0}"#, "spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"),
        (#""preStop":{"sleep":{"seconds":5}}"#, #""preStop":{"sleep":{"seconds":31}}"#, "spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 31: must be non-negative and less than terminationGracePeriodSeconds (30)"),
    ])
    func ranges(_ from: String, _ to: String, _ message: String) throws {
        #expect(Self.template.contains(from))
        let pod = try PodManifest.decode(Array(Self.template.replacing(from, with: to).utf8))
        #expect(PodValidation.validate(pod).map(\.description) == [message])
    }

    @Test("a grace period of 2^63-1 s is accepted (the API has no upper bound) and waited for at most 68 years")
    func hugeGrace() throws {
        let pod = try PodManifest.decode(Array(Self.template.replacing(#""terminationGracePeriodSeconds":30"#, with: #""terminationGracePeriodSeconds":9223372036854775807"#).utf8))
        #expect(PodValidation.validate(pod).map(\.description).filter { !$0.contains("sleep") } == [])
        #expect(Clamp.seconds(pod.spec.terminationGracePeriodSeconds!) == Int64(Int32.max))
        #expect(Clamp.seconds(Int64.min) == 0)
        #expect(Clamp.seconds(Double.nan) == 0)
        #expect(Clamp.seconds(Double.infinity) == Double(Int32.max))
    }
}

@Suite("Volume item paths")
struct ItemPathTests {
    @Test("configMap, secret, downwardAPI and projected item paths must stay inside the volume", arguments: [
        ("../x", "must not contain '..'"), ("/etc/passwd", "must be a relative path"), ("a/../../b", "must not contain '..'"), ("..data", "must not start with '..'"),
    ])
    func paths(_ path: String, _ why: String) throws {
        for (vol, field) in [
            (#"{"name":"v","configMap":{"name":"cm","items":[{"key":"k","path":"\#(path)"}]}}"#, "spec.volumes[0].configMap.items[0].path"),
            (#"{"name":"v","secret":{"secretName":"s","items":[{"key":"k","path":"\#(path)"}]}}"#, "spec.volumes[0].secret.items[0].path"),
            (#"{"name":"v","downwardAPI":{"items":[{"path":"\#(path)","fieldRef":{"fieldPath":"metadata.name"}}]}}"#, "spec.volumes[0].downwardAPI.items[0].path"),
            (#"{"name":"v","projected":{"sources":[{"secret":{"name":"s","items":[{"key":"k","path":"\#(path)"}]}}]}}"#, "spec.volumes[0].projected.sources[0].secret.items[0].path"),
        ] {
            let text = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"volumes":[\#(vol)],"containers":[{"name":"c","image":"x"}]}}"#
            let pod = try PodManifest.decode(Array(text.utf8))
            let errs = PodValidation.validate(pod).map(\.description)
            #expect(errs.contains { $0.hasPrefix(field + ": Invalid value: \"\(path)\": " + why) }, "\(errs)")
        }
    }

    @Test("a static manifest with a bad item path is listed as invalid, not run")
    func staticPod() {
        let src = StaticPodSource(directory: "/m", nodeName: "n")
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  volumes: [{name: v, configMap: {name: c, items: [{key: k, path: ../../etc/x}]}}]\n  containers: [{name: c, image: busybox}]\n"
        guard case .invalid(_, let errs) = src.load(path: "/m/x.yaml", bytes: Array(text.utf8)) else { Issue.record("accepted"); return }
        #expect(errs == ["spec.volumes[0].configMap.items[0].path: Invalid value: \"../../etc/x\": must not contain '..'",
                         "spec.volumes[0].configMap.items[0].path: Invalid value: \"../../etc/x\": must not start with '..'"])
    }
}

@Suite("Node details")
struct NodeDetailTests {
    @Test("imageID keeps the registry port and the repository")
    func imageID() {
        #expect(PodWorker.imageID(name: "127.0.0.1:5000/rw/nginx:1.22", digest: "sha256:ab") == "127.0.0.1:5000/rw/nginx@sha256:ab")
        #expect(PodWorker.imageID(name: "docker.io/library/busybox:latest", digest: "sha256:cd") == "docker.io/library/busybox@sha256:cd")
        #expect(PodWorker.imageID(name: "busybox", digest: "sha256:cd") == "docker.io/library/busybox@sha256:cd")
    }

    @Test("node address: the default route's interface, else another interface, else loopback")
    func hostIP() {
        let addrs = [(name: "swiftlet0", ip: "10.88.0.1"), (name: "veth-n1", ip: "192.168.50.2"), (name: "eth0", ip: "10.0.0.5")]
        #expect(NodeAddress.choose(addresses: addrs, defaultRoutes: ["eth0"], excluding: ["swiftlet0"]) == "10.0.0.5")
        #expect(NodeAddress.choose(addresses: addrs, defaultRoutes: [], excluding: ["swiftlet0"]) == "192.168.50.2")
        #expect(NodeAddress.choose(addresses: [(name: "swiftlet0", ip: "10.88.0.1")], defaultRoutes: [], excluding: ["swiftlet0"]) == "127.0.0.1")
    }

    @Test("missing cgroup controllers are named with what the host has")
    func controllers() {
        #expect(AgentContext.missingControllers(usable: true, mountPoint: "/sys/fs/cgroup/unified", available: ["hugetlb"])
            == "cgroup v2 controllers \"cpu\", \"memory\", \"pids\" not available in /sys/fs/cgroup/unified (it has: hugetlb)")
        #expect(AgentContext.missingControllers(usable: true, mountPoint: "/sys/fs/cgroup", available: ["cpu", "memory", "pids", "io"]) == nil)
        #expect(AgentContext.missingControllers(usable: false, mountPoint: "", available: []) == "no cgroup v2 hierarchy is mounted")
    }

    @Test("events: repeats are counted, the newest kept")
    func events() {
        var log = EventLog(capacity: 3)
        log.record(type: "Warning", reason: "Unhealthy", message: "Readiness probe failed: HTTP probe failed with statuscode: 404", at: "t1")
        log.record(type: "Warning", reason: "Unhealthy", message: "Readiness probe failed: HTTP probe failed with statuscode: 404", at: "t2")
        #expect(log.events.count == 1)
        #expect(log.events[0].count == 2 && log.events[0].firstTimestamp == "t1" && log.events[0].lastTimestamp == "t2")
        for i in 0..<5 { log.record(reason: "Killing", message: "m\(i)", at: "t") }
        #expect(log.events.map(\.message) == ["m2", "m3", "m4"])
    }

    @Test("saturating resource arithmetic")
    func saturation() {
        #expect(KubeMapping.shares(milliCPU: Int64.max) == KubeMapping.maxShares)
        #expect(KubeMapping.quota(milliCPU: Int64.max) > 0)
        let huge = ContainerRequirements(cpuRequestMilli: Int64.max, cpuLimitMilli: Int64.max, memoryRequestBytes: Int64.max, memoryLimitBytes: Int64.max)
        let r = KubeMapping.pod([huge, huge])
        #expect(r.memoryLimit == Int64.max)
        #expect(KubeMapping.oomScoreAdj(qos: .burstable, memoryRequestBytes: Int64.max, memoryCapacityBytes: 1 << 30) == 3)
    }
}

@Suite("Monitor binary")
struct MonitorBinaryTests {
    @Test("the monitor runs from a sealed copy: executable, not writable, remade when the file changes")
    func sealedCopy() throws {
        let dir = "/tmp/swiftlet-sealed-\(getpid())"
        try Files.makeDirectories(dir, mode: 0o700)
        defer { try? Files.removeTree(dir) }
        let file = dir + "/monitor"
        try Files.write(file, Array("#!/bin/sh\necho one\n".utf8), mode: 0o755)
        let fd = try MonitorBinary.sealed(installed: file)
        #expect(try MonitorBinary.sealed(installed: file) == fd)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        // F_GET_SEALS (1034): seal, shrink, grow and write (1 | 2 | 4 | 8)
        #expect(fcntl(fd, 1034) & 0xf == 0xf)
        let w = open(MonitorBinary.selfPath(fd), O_RDWR | O_CLOEXEC)
        #expect(w >= 0)
        var b: UInt8 = 0x41
        #expect(pwrite(w, &b, 1, 0) == -1 && errno == EPERM)
        close(w)
        #expect(((try? Files.readString(MonitorBinary.selfPath(fd))) ?? "").hasPrefix("#!/bin/sh\necho one"))
        usleep(10_000)
        try Files.write(file, Array("#!/bin/sh\necho two, longer\n".utf8), mode: 0o755)
        let fd2 = try MonitorBinary.sealed(installed: file)
        #expect(fd2 != fd)
        #expect(((try? Files.readString(MonitorBinary.selfPath(fd2))) ?? "").hasPrefix("#!/bin/sh\necho two"))
        #expect(throws: SystemError.self) { try MonitorBinary.sealed(installed: dir + "/missing") }
    }
}

@Suite("Node pressure")
struct PressureTests {
    @Test("thresholds parse as --eviction-hard takes them", arguments: [
        ("memory.available<100Mi", "memory.available<100Mi"), ("nodefs.available<10%", "nodefs.available<10%"),
        ("imagefs.available < 15%", "imagefs.available<15%"), ("pid.available<1k", "pid.available<1k"),
    ])
    func parse(_ text: String, _ canonical: String) throws {
        #expect(try EvictionThreshold.parse(text).description == canonical)
    }

    @Test("bad thresholds are refused with the signals named", arguments: ["memory<1Gi", "nodefs.available<120%", "imagefs.available<lots", "nodefs.available"])
    func bad(_ text: String) {
        #expect(throws: ConfigError.self) { try EvictionThreshold.parse(text) }
    }

    @Test("the defaults are the kubelet's")
    func defaults() {
        #expect(AgentConfig().evictionHard == ["memory.available<100Mi", "nodefs.available<10%", "nodefs.inodesFree<5%", "imagefs.available<15%"])
        #expect(AgentConfig().imagefsMinFreeFraction == 0.15)
    }

    @Test("crossing, conditions with reasons, and the transition period")
    func conditions() throws {
        let t = try ["memory.available<100Mi", "nodefs.available<10%"].map(EvictionThreshold.parse)
        var obs = NodeObservation()
        obs.capacity = [.memoryAvailable: 8 << 30, .nodefsAvailable: 1000]
        obs.available = [.memoryAvailable: 50 << 20, .nodefsAvailable: 500]
        let crossed = EvictionPolicy.crossed(t, obs)
        #expect(crossed.map(\.signal) == [.memoryAvailable])
        var last: [String: Double] = [:]
        let c1 = EvictionPolicy.conditions(crossed: crossed, lastCrossed: &last, now: 100, transitionPeriod: 300, previous: [], stamp: "t1")
        #expect(c1.map { "\($0.type)=\($0.status)/\($0.reason)" } == ["MemoryPressure=True/KubeletHasInsufficientMemory",
                                                                   "DiskPressure=False/KubeletHasNoDiskPressure", "PIDPressure=False/KubeletHasSufficientPID"])
        // no longer crossed, but within the transition period: still True, transition time kept
        let c2 = EvictionPolicy.conditions(crossed: [], lastCrossed: &last, now: 200, transitionPeriod: 300, previous: c1, stamp: "t2")
        #expect(c2[0].status == "True" && c2[0].lastTransitionTime == "t1" && c2[0].lastHeartbeatTime == "t2")
        let c3 = EvictionPolicy.conditions(crossed: [], lastCrossed: &last, now: 401, transitionPeriod: 300, previous: c2, stamp: "t3")
        #expect(c3[0].status == "False" && c3[0].lastTransitionTime == "t3")
    }

    @Test("eviction order: over request first, then priority, then excess; critical pods never")
    func rank() {
        let pods = [
            EvictionPolicy.Candidate(uid: "static", priority: 0, critical: true, usage: 900, request: 0),
            EvictionPolicy.Candidate(uid: "under", priority: 0, critical: false, usage: 10, request: 100),
            EvictionPolicy.Candidate(uid: "over-high", priority: 1000, critical: false, usage: 500, request: 100),
            EvictionPolicy.Candidate(uid: "over-low-small", priority: 0, critical: false, usage: 150, request: 100),
            EvictionPolicy.Candidate(uid: "over-low-big", priority: 0, critical: false, usage: 400, request: 100),
        ]
        #expect(EvictionPolicy.rank(pods).map(\.uid) == ["over-low-big", "over-low-small", "over-high", "under"])
    }

    @Test("image GC: nothing under the high threshold, down to the low one, LRU, in-use and young images kept")
    func imageGC() {
        #expect(ImageGCPolicy.bytesToFree(total: 100, available: 20, high: 85, low: 80) == 0)
        #expect(ImageGCPolicy.bytesToFree(total: 100, available: 10, high: 85, low: 80) == 10)
        #expect(ImageGCPolicy.bytesToFree(total: 1000, available: 100, high: 85, low: 80) == 100)
        let images = [ImageGCPolicy.Image(name: "old", lastUsed: 10, inUse: false), ImageGCPolicy.Image(name: "used", lastUsed: 0, inUse: true),
                      ImageGCPolicy.Image(name: "older", lastUsed: 5, inUse: false), ImageGCPolicy.Image(name: "young", lastUsed: 990, inUse: false)]
        #expect(ImageGCPolicy.candidates(images, now: 1000, minAge: 120) == ["older", "old"])
    }
}

import CShims
import LinuxSystem
import Testing
@testable import Runtime

let allCaps = Capabilities.allMask
func facts(bounding: UInt64 = allCaps, dirs: Set<String> = ["/b/rootfs", "/b", "/data"], files: Set<String> = ["/etc/hosts"]) -> HostFacts {
    HostFacts(boundingSet: bounding, isDirectory: { dirs.contains($0) }, exists: { dirs.contains($0) || files.contains($0) || $0.hasPrefix("/proc/") })
}

func defaultSpec(_ args: [String] = ["sh"]) -> OCISpec {
    var s = DefaultProfile.spec(args: args)
    s.root = .init(path: "rootfs", readonly: true)
    return s
}

@Suite("Launch planner")
struct PlannerTests {
    @Test("default spec: namespaces, rootfs, process")
    func defaults() throws {
        let p = try LaunchPlanner.plan(spec: defaultSpec(["echo", "hi"]), bundle: "/b", host: facts())
        let expected: UInt64 = 0x0002_0000 | 0x0400_0000 | 0x0800_0000 | 0x2000_0000 | 0x4000_0000 | 0x0200_0000
        #expect(p.cloneFlags == expected)
        #expect(p.rootfs == "/b/rootfs")
        #expect(p.rootReadonly)
        #expect(p.args == ["echo", "hi"])
        #expect(p.env.contains(DefaultProfile.defaultPath))
        #expect(p.noNewPrivileges)
        #expect(p.hostname == "swiftlet")
        #expect(p.maskedPaths == DefaultProfile.maskedPaths)
        #expect(p.readonlyPaths == DefaultProfile.readonlyPaths)
        #expect(p.rlimits.count == 1 && p.rlimits[0].resource == 7 && p.rlimits[0].soft == 1024)
    }

    @Test("the 14 default capabilities as masks; ambient only if permitted and inheritable")
    func capabilities() throws {
        var s = defaultSpec()
        s.process?.capabilities?.ambient = ["CAP_KILL", "CAP_NET_ADMIN"]
        s.process?.capabilities?.inheritable = ["CAP_KILL"]
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        // CapEff observed inside a container with the containerd default set
        #expect(p.capabilities.effective == 0xa804_25fb)
        #expect(p.capabilities.bounding == 0xa804_25fb)
        #expect(p.capabilities.permitted == 0xa804_25fb)
        #expect(p.capabilities.inheritable == 1 << 5)
        #expect(p.capabilities.ambient == 1 << 5)
    }

    @Test("a capability the runtime lacks is an error, as with runc and crun")
    func unavailableCaps() throws {
        var s = defaultSpec()
        s.process?.capabilities?.bounding?.append("CAP_SYS_RESOURCE")
        let hostBounding = allCaps & ~(1 << 24)
        #expect(throws: SpecError("process.capabilities", "not available to this runtime (not in its bounding set): CAP_SYS_RESOURCE")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts(bounding: hostBounding))
        }
    }

    @Test("no mount namespace listed: the runtime's is shared, and what would change it is refused")
    func sharedMountNamespace() throws {
        var s = defaultSpec()
        s.linux?.namespaces?.removeAll { $0.type == "mount" }
        s.root?.readonly = false
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        #expect(p.sharedMountNamespace && p.cloneFlags & 0x0002_0000 == 0)
        s.root?.readonly = true
        #expect(throws: SpecError("root.readonly", "needs a mount namespace of the container's own (it would remount the runtime's root)")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        }
        s.root?.readonly = false
        s.linux?.rootfsPropagation = "shared"
        #expect(throws: SpecError("linux.rootfsPropagation", "needs a mount namespace of the container's own")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        }
    }

    @Test("mount and UTS namespaces joined by path; a hostname for a joined UTS namespace")
    func joinMountAndUTS() throws {
        var s = defaultSpec()
        s.linux?.namespaces = [.init(type: "mount", path: "/proc/1/ns/mnt"), .init(type: "uts", path: "/proc/1/ns/uts")]
        s.hostname = "joined"
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        #expect(p.joins.map(\.type) == [0x0002_0000, 0x0400_0000])
        #expect(p.hostname == "joined" && !p.sharedMountNamespace && p.cloneFlags == 0)
    }

    @Test("mounts keep their order, options become flags and data")
    func mounts() throws {
        var s = defaultSpec()
        s.mounts?.append(.init(destination: "/data", type: "bind", source: "../data", options: ["rbind", "ro", "rprivate"]))
        s.mounts?.append(.init(destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["bind"]))
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        #expect(p.mounts.map(\.destination) == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/data", "/etc/hosts"])
        let proc = p.mounts[0]
        #expect(proc.kind == .fs && proc.fsType == "proc" && proc.flags == 2 | 4 | 8 && proc.data == "")
        let dev = p.mounts[1]
        #expect(dev.flags == 2 | (1 << 24) && dev.data == "mode=755,size=65536k")
        #expect(p.mounts[5].kind == .sysfs && p.mounts[5].flags & 1 == 1)
        #expect(p.mounts[6].kind == .cgroup && p.mounts[6].fsType == "cgroup2")
        let data = p.mounts[7]
        #expect(data.kind == .bind && data.source == "/data" && data.flags == 4096 | 16384 | 1 && data.propagation == (1 << 18) | 16384)
        #expect(!data.destinationIsFile)
        #expect(p.mounts[8].destinationIsFile)
    }

    @Test("default devices and /dev symlinks; linux.devices override by path")
    func devices() throws {
        var s = defaultSpec()
        s.linux?.devices = [.init(type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o600), .init(type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o600)]
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        #expect(p.devices.map(\.path) == ["/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/fuse", "/dev/null"])
        #expect(p.devices.last?.mode == 0o600)
        #expect(p.symlinks.contains { $0.target == "pts/ptmx" && $0.link == "/dev/ptmx" })
        #expect(p.symlinks.contains { $0.target == "/proc/self/fd" && $0.link == "/dev/fd" })
    }

    @Test("device cgroup rules: the spec's, then the container's own devices, pts and ptmx")
    func deviceRules() throws {
        var s = defaultSpec()
        s.linux?.resources?.devices?.append(.init(allow: true, type: "c", major: 10, minor: 200, access: "rw"))
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        let rules = try #require(p.deviceRules)
        #expect(rules.first == DeviceRule(allow: false, type: "a", access: 7))
        #expect(rules[1] == DeviceRule(allow: true, type: "c", major: 10, minor: 200, access: 6))
        #expect(rules.contains(DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: 7)))
        #expect(rules.suffix(2) == [DeviceRule(allow: true, type: "c", major: 136, access: 7), DeviceRule(allow: true, type: "c", major: 5, minor: 2, access: 7)])
        s.linux?.resources = nil
        #expect(try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts()).deviceRules == nil)
        s.linux?.resources = .init(devices: [.init(allow: true, access: "rwx")])
        #expect(throws: SpecError("linux.resources.devices[0].access", "\"rwx\" is not a combination of r, w, m")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        }
    }

    @Test("user namespace needs mappings, which become uid_map text")
    func userns() throws {
        var s = defaultSpec()
        s.linux?.namespaces?.append(.init(type: "user"))
        #expect(throws: SpecError("linux.uidMappings", "Required value with a user namespace")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        }
        s.linux?.uidMappings = [.init(containerID: 0, hostID: 100000, size: 65536)]
        s.linux?.gidMappings = [.init(containerID: 0, hostID: 100000, size: 65536)]
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        #expect(p.uidMap == "0 100000 65536\n")
        #expect(p.cloneFlags & 0x1000_0000 != 0)
    }

    @Test("joining a namespace by path")
    func joins() throws {
        var s = defaultSpec()
        s.linux?.namespaces = [.init(type: "mount"), .init(type: "network", path: "/proc/1/ns/net")]
        s.hostname = nil
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        #expect(p.joins == [NamespaceJoin(type: 0x4000_0000, path: "/proc/1/ns/net")])
        #expect(p.cloneFlags == 0x0002_0000)
    }

    nonisolated(unsafe) static let invalid: [(String, (inout OCISpec) -> Void, SpecError)] = [
        ("unknown namespace", { $0.linux?.namespaces?.append(.init(type: "bogus")) },
         SpecError("linux.namespaces[6].type", "unknown namespace type \"bogus\" (one of: cgroup, ipc, mount, network, pid, time, user, uts)")),
        ("duplicate namespace", { $0.linux?.namespaces?.append(.init(type: "pid")) }, SpecError("linux.namespaces[6]", "duplicate namespace \"pid\"")),
        ("hostname without uts", { $0.linux?.namespaces?.removeAll { $0.type == "uts" } }, SpecError("hostname", "cannot set a hostname without a private UTS namespace")),
        ("unknown capability", { $0.process?.capabilities?.effective?.append("CAP_FLY") }, SpecError("process.capabilities.effective[14]", "unknown capability \"CAP_FLY\"")),
        ("empty args", { $0.process?.args = [] }, SpecError("process.args", "Required value: at least one argument")),
        ("relative cwd", { $0.process?.cwd = "tmp" }, SpecError("process.cwd", "must be an absolute path, got \"tmp\"")),
        ("terminal", { $0.process?.terminal = true }, SpecError("process.terminal", "terminal: true is not supported yet (set it to false)")),
        ("missing rootfs", { $0.root?.path = "nope" }, SpecError("root.path", "rootfs /b/nope does not exist or is not a directory")),
        ("bad rlimit", { $0.process?.rlimits = [.init(type: "RLIMIT_FOO", hard: 1, soft: 1)] }, SpecError("process.rlimits[0].type", "unknown rlimit \"RLIMIT_FOO\"")),
        ("soft above hard", { $0.process?.rlimits = [.init(type: "RLIMIT_NOFILE", hard: 1, soft: 2)] }, SpecError("process.rlimits[0]", "soft limit 2 exceeds hard limit 1")),
        ("bind source missing", { $0.mounts?.append(.init(destination: "/x", type: "bind", source: "/nope", options: ["bind"])) }, SpecError("mounts[7].source", "/nope does not exist")),
        ("mount over /", { $0.mounts?.append(.init(destination: "/", type: "tmpfs", source: "tmpfs")) }, SpecError("mounts[7].destination", "cannot mount over /")),
        ("bad env", { $0.process?.env = ["NOEQUALS"] }, SpecError("process.env[0]", "\"NOEQUALS\" is not of the form KEY=VALUE")),
        ("bad seccomp action", { $0.linux?.seccomp?.defaultAction = "SCMP_ACT_EXPLODE" }, SpecError("linux.seccomp.defaultAction", "unknown action \"SCMP_ACT_EXPLODE\"")),
        ("bad device type", { $0.linux?.devices = [.init(type: "x", path: "/dev/x")] }, SpecError("linux.devices[0].type", "unknown device type \"x\" (c, b, u or p)")),
        ("old version", { $0.ociVersion = "0.9" }, SpecError("ociVersion", "unsupported version \"0.9\" (1.x expected)")),
    ]

    @Test("invalid specs name the field", arguments: 0..<invalid.count)
    func invalidSpecs(_ i: Int) {
        let (_, mutate, expected) = Self.invalid[i]
        var s = defaultSpec()
        mutate(&s)
        #expect(throws: expected) { try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts()) }
    }

    @Test("plan equality covers every field (rlimits, oom_score_adj, domainname, BPF)")
    func equality() throws {
        let a = try LaunchPlanner.plan(spec: defaultSpec(), bundle: "/b", host: facts())
        var b = a
        #expect(a == b)
        b.rlimits[0].soft = 512
        #expect(a != b)
        b = a
        b.oomScoreAdj = 500
        #expect(a != b)
        b = a
        b.domainname = "x"
        #expect(a != b)
        b = a
        b.seccompBPF = [1]
        #expect(a != b)
    }

    @Test("mount option parsing")
    func mountOptions() {
        let r = MountOptions.parse(["rw", "ro", "nosuid", "suid", "rshared", "mode=755", "size=1k"])
        #expect(r.flags == 1)
        #expect(r.propagation == (1 << 20) | 16384)
        #expect(r.data == "mode=755,size=1k")
    }

    @Test("path resolution against the bundle")
    func resolve() {
        #expect(LaunchPlanner.resolve("rootfs", against: "/b") == "/b/rootfs")
        #expect(LaunchPlanner.resolve("/abs/./x/../y", against: "/b") == "/abs/y")
        #expect(LaunchPlanner.resolve("../../..", against: "/b") == "/")
    }
}

@Suite("Plan wire format")
struct PlanEncoderTests {
    @Test("Swift encoder and C parser agree")
    func roundTrip() throws {
        var s = defaultSpec(["sh", "-c", "echo ünïcode"])
        s.linux?.sysctl = ["net.ipv4.ip_forward": "1"]
        var p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        p.seccompBPF = [1, 2, 3, 4, 5, 6, 7, 8]
        p.cgroupPath = "/sys/fs/cgroup/x"
        p.execFifo = "/run/x/exec.fifo"
        p.logPath = "/var/log/x.log"
        p.logMaxBytes = 10 << 20
        p.logMaxFiles = 5
        p.additionalGids = [10, 20]
        let bytes = PlanEncoder.encode(p)
        var plan = sl_plan()
        var err = [CChar](repeating: 0, count: 256)
        let rc = bytes.withUnsafeBufferPointer { sl_plan_parse($0.baseAddress, $0.count, &plan, &err, 256) }
        defer { sl_plan_free(&plan) }
        #expect(rc == 0, "\(String(cString: err))")
        #expect(plan.clone_flags == p.cloneFlags)
        #expect(String(cString: plan.rootfs) == "/b/rootfs")
        #expect(plan.root_readonly == 1)
        #expect(Int(plan.argc) == 3)
        #expect(String(cString: plan.argv[2]!) == "echo ünïcode")
        #expect(Int(plan.n_mounts) == p.mounts.count)
        #expect(String(cString: plan.mounts[1].dest) == "/dev")
        #expect(String(cString: plan.mounts[1].data) == "mode=755,size=65536k")
        #expect(Int(plan.n_devices) == 6)
        #expect(plan.devices[0].major == 1 && plan.devices[0].minor == 3 && plan.devices[0].mode == 0o666)
        #expect(plan.cap_effective == 0xa804_25fb)
        #expect(plan.no_new_privs == 1)
        #expect(plan.seccomp_len == 8)
        #expect(String(cString: plan.sysctls[0].a) == "net.ipv4.ip_forward")
        #expect(String(cString: plan.log_path) == "/var/log/x.log" && plan.log_max_bytes == 10 << 20 && plan.log_max_files == 5)
        #expect(Int(plan.n_additional_gids) == 2 && plan.additional_gids[1] == 20)
        #expect(Int(plan.n_masked) == DefaultProfile.maskedPaths.count)
        #expect(String(cString: plan.hostname) == "swiftlet")
    }

    @Test("the C parser rejects truncated and unknown records")
    func malformed() throws {
        let p = try LaunchPlanner.plan(spec: defaultSpec(), bundle: "/b", host: facts())
        let bytes = PlanEncoder.encode(p)
        for cut in [bytes.count - 1, 5, 12] {
            var plan = sl_plan()
            var err = [CChar](repeating: 0, count: 256)
            let rc = Array(bytes[..<cut]).withUnsafeBufferPointer { sl_plan_parse($0.baseAddress, $0.count, &plan, &err, 256) }
            #expect(rc == -1)
            #expect(String(cString: err).hasPrefix("plan:"))
        }
        var bad = bytes
        bad.append(contentsOf: [200, 0, 0, 0, 0, 0, 0, 0])
        var plan = sl_plan()
        var err = [CChar](repeating: 0, count: 256)
        let rc = bad.withUnsafeBufferPointer { sl_plan_parse($0.baseAddress, $0.count, &plan, &err, 256) }
        #expect(rc == -1 && String(cString: err) == "plan: unknown tag 200")
    }
}

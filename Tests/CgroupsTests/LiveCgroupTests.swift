import LinuxSystem
import Testing
@testable import Cgroups

#if canImport(Glibc)
import Glibc
#endif

/// Runs against the real cgroup v2 hierarchy; enabled inside the VM guest
/// (scripts/test-cgroup-v2.sh sets SWIFTLET_CGROUP_V2_GUEST=1).
let liveGuest = getenv("SWIFTLET_CGROUP_V2_GUEST") != nil && geteuid() == 0

@Suite("live cgroup v2 hierarchy (VM guest only)", .enabled(if: liveGuest, "needs root on a pure cgroup v2 host: run scripts/test-cgroup-v2.sh through scripts/vm-run"), .serialized)
struct LiveCgroupTests {
    let mi = Int64(1) << 20

    func tree() throws -> QoSTree {
        let h = try #require(CgroupHierarchy.discover())
        #expect(h.mountPoint == "/sys/fs/cgroup")
        return QoSTree(hierarchy: h, base: "swiftlet-live-\(getpid())")
    }

    func cleanupBase(_ t: QoSTree) {
        try? Cgroup(path: t.hierarchy.absolute(t.base)).remove()
    }

    @Test("burstable pod: values in the pod group and the container leaf; controllers never in the leaf")
    func burstable() throws {
        let t = try tree()
        defer { cleanupBase(t) }
        let reqs = [ContainerRequirements(cpuRequestMilli: 250, cpuLimitMilli: 500, memoryRequestBytes: 64 * mi, memoryLimitBytes: 128 * mi),
                    ContainerRequirements(cpuRequestMilli: 250, memoryRequestBytes: 32 * mi)]
        let qos = KubeMapping.qosClass(reqs)
        #expect(qos == .burstable)
        let pod = try t.ensurePod(qos: qos, uid: "abc", resources: KubeMapping.pod(reqs, pidsLimit: 100))
        #expect(pod.path.hasSuffix("/kubepods/burstable/podabc"))
        #expect(try pod.read("cpu.weight") == "\(CgroupMapping.cpuWeight(shares: 512))\n")
        #expect(try pod.read("cpu.max") == "max 100000\n")
        #expect(try pod.read("memory.max") == "max\n")
        #expect(try pod.read("pids.max") == "100\n")
        #expect(try Cgroup(path: t.hierarchy.absolute(t.base + "/kubepods/besteffort")).read("cpu.weight") == "1\n")
        let ctr = try t.containerGroup(pod: pod, name: "app", resources: KubeMapping.container(reqs[0]))
        #expect(try ctr.read("cpu.weight") == "35\n")
        #expect(try ctr.read("cpu.max") == "50000 100000\n")
        #expect(try ctr.read("memory.max") == "134217728\n")
        #expect(try ctr.read("memory.oom.group") == "1\n")
        #expect(try ctr.read("cgroup.subtree_control").split(separator: "\n").isEmpty)
        #expect(try pod.read("cgroup.subtree_control").contains("memory"))

        // a process in the leaf; removePod kills it and removes every group
        let pid = try Spawn.spawn("/bin/sleep", args: ["sleep", "30"])
        try ctr.write("cgroup.procs", "\(pid)")
        #expect(ctr.processes() == [pid])
        try t.removePod(qos: qos, uid: "abc")
        #expect(Spawn.wait(pid) == 128 + SIGKILL)
        #expect(!pod.exists)
    }

    @Test("guaranteed pods sit directly under kubepods with summed limits")
    func guaranteed() throws {
        let t = try tree()
        defer { cleanupBase(t) }
        let reqs = [ContainerRequirements(cpuLimitMilli: 200, memoryLimitBytes: 64 * mi), ContainerRequirements(cpuLimitMilli: 300, memoryLimitBytes: 64 * mi)]
        let qos = KubeMapping.qosClass(reqs)
        #expect(qos == .guaranteed)
        let pod = try t.ensurePod(qos: qos, uid: "g1", resources: KubeMapping.pod(reqs))
        #expect(pod.path.hasSuffix("/kubepods/podg1"))
        #expect(try pod.read("cpu.max") == "50000 100000\n")
        #expect(try pod.read("memory.max") == "134217728\n")
        try t.removePod(qos: qos, uid: "g1")
        #expect(!pod.exists)
    }

    @Test("stats of a live group")
    func liveStats() throws {
        let t = try tree()
        defer { cleanupBase(t) }
        let pod = try t.ensurePod(qos: .bestEffort, uid: "s1", resources: KubeMapping.pod([ContainerRequirements()]))
        let ctr = try t.containerGroup(pod: pod, name: "c", resources: KubeMapping.container(ContainerRequirements()))
        let pid = try Spawn.spawn("/bin/sh", args: ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
        try ctr.write("cgroup.procs", "\(pid)")
        _ = Spawn.wait(pid)
        let s = ctr.stats()
        #expect(s.cpuUsageMicros > 0)
        #expect(s.pidsCurrent == 0)
        try t.removePod(qos: .bestEffort, uid: "s1")
    }
}

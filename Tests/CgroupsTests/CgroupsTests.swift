import LinuxSystem
import Testing
@testable import Cgroups

#if canImport(Glibc)
import Glibc
#endif

@Suite("cgroup mapping")
struct CgroupMappingTests {
    @Test("shares to weight (runc #4785 / crun #1721 log-quadratic formula)", arguments: [
        (UInt64(2), UInt64(1)), (1024, 100), (262_144, 10_000), (102, 17), (2048, 174),
    ])
    func weight(_ c: (UInt64, UInt64)) { #expect(CgroupMapping.cpuWeight(shares: c.0) == c.1) }

    @Test("resources become ordered control-file writes")
    func writes() {
        let r = ContainerResources(memoryLimit: 33_554_432, memorySwap: 33_554_432, cpuShares: 1024, cpuQuota: 20_000,
                                   cpuPeriod: 100_000, pidsLimit: 20, unified: ["memory.oom.group": "1"])
        let w = CgroupMapping.writes(r)
        #expect(w == [.init("cpu.weight", "100"), .init("cpu.max", "20000 100000"), .init("memory.max", "33554432"),
                      .init("memory.swap.max", "0"), .init("pids.max", "20"), .init("memory.oom.group", "1")])
        #expect(CgroupMapping.controllers(w) == ["cpu", "memory", "pids"])
    }

    @Test("sentinels: -1 and 0 mean unlimited where the kernel says max")
    func sentinels() {
        let w = CgroupMapping.writes(ContainerResources(memoryLimit: -1, memorySwap: -1, cpuQuota: -1, pidsLimit: 0))
        #expect(w == [.init("cpu.max", "max 100000"), .init("memory.max", "max"), .init("memory.swap.max", "max"), .init("pids.max", "max")])
        #expect(ContainerResources().isEmpty)
    }

    @Test("the cgroup2 mount is found in mountinfo, preferring /sys/fs/cgroup")
    func discover() {
        let hybrid = ProcFS.parseMountInfo("41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu")
        #expect(CgroupHierarchy.find(in: hybrid)?.mountPoint == "/sys/fs/cgroup/unified")
        #expect(CgroupHierarchy.find(in: ProcFS.parseMountInfo("1 0 0:1 / /proc rw - proc proc rw")) == nil)
        let h = CgroupHierarchy(mountPoint: "/sys/fs/cgroup")
        #expect(h.absolute("/kubepods/pod1/") == "/sys/fs/cgroup/kubepods/pod1")
    }
}

@Suite("cgroup tree on a fixture directory")
struct CgroupFixtureTests {
    func fixture(_ body: (String) throws -> Void) throws {
        let dir = "/tmp/swiftlet-cgtest-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        try Files.makeDirectories(dir + "/swiftlet")
        defer { try? Files.removeTree(dir) }
        try Files.write(dir + "/cgroup.controllers", "cpu memory pids\n")
        try Files.write(dir + "/cgroup.subtree_control", "cpu\n")
        try Files.write(dir + "/swiftlet/cgroup.subtree_control", "")
        try body(dir)
    }

    @Test("controllers are enabled in every ancestor, never in the leaf")
    func enable() throws {
        try fixture { dir in
            try Files.makeDirectories(dir + "/swiftlet/ctr")
            let h = CgroupHierarchy(mountPoint: dir)
            try h.enableControllers(["cpu", "memory"], forLeaf: dir + "/swiftlet/ctr")
            // the root already had cpu: only memory is written there
            #expect(try Files.readString(dir + "/cgroup.subtree_control") == "+memory")
            #expect(try Files.readString(dir + "/swiftlet/cgroup.subtree_control") == "+cpu +memory")
            #expect(!Files.exists(dir + "/swiftlet/ctr/cgroup.subtree_control"))
        }
    }

    @Test("a missing controller is named")
    func missing() throws {
        try fixture { dir in
            let h = CgroupHierarchy(mountPoint: dir)
            do {
                try h.enableControllers(["memory", "io"], forLeaf: dir + "/swiftlet/ctr")
                Issue.record("expected an error")
            } catch let e as MissingControllerError {
                #expect(e.controllers == ["io"])
                #expect(e.description.contains("\"io\" not available"))
            }
        }
    }

    @Test("create reports what it made; remove deletes children first")
    func createRemove() throws {
        try fixture { dir in
            let g = Cgroup(path: dir + "/swiftlet/pod/ctr")
            let made = try g.create()
            #expect(made == [dir + "/swiftlet/pod", dir + "/swiftlet/pod/ctr"])
            try Cgroup(path: dir + "/swiftlet/pod").remove()
            #expect(!Files.exists(dir + "/swiftlet/pod"))
        }
    }
}

import Cgroups
import LinuxSystem
import Testing
@testable import Runtime

/// linux.resources the runtime cannot leave unapplied: each is a cgroup v2 write, a refusal or a
/// warning, never silently dropped.
@Suite struct ResourceTranslationTests {
    func writes(_ r: OCISpec.Resources) throws -> [CgroupWrite] {
        CgroupMapping.writes(try ResourceTranslation.fromOCI(r).resources)
    }

    @Test("blockIO becomes io.weight and one io.max write per device")
    func blockIO() throws {
        var io = OCISpec.Resources.BlockIO()
        io.weight = 500
        io.weightDevice = [.init(major: 8, minor: 0, weight: 10)]
        io.throttleReadBpsDevice = [.init(major: 8, minor: 0, rate: 1_048_576)]
        io.throttleWriteIOPSDevice = [.init(major: 8, minor: 0, rate: 100), .init(major: 8, minor: 16, rate: 0)]
        var r = OCISpec.Resources()
        r.blockIO = io
        #expect(try writes(r) == [CgroupWrite("io.weight", "default 4950"), CgroupWrite("io.weight", "8:0 1"),
                                  CgroupWrite("io.max", "8:0 rbps=1048576 wiops=100"), CgroupWrite("io.max", "8:16 wiops=max")])
        io.weight = 5
        r.blockIO = io
        #expect(throws: SpecError("linux.resources.blockIO.weight", "must be between 10 and 1000, got 5")) { try writes(r) }
    }

    @Test("hugepage limits, rdma and cpu.idle are applied")
    func hugetlbRdma() throws {
        var r = OCISpec.Resources()
        r.hugepageLimits = [.init(pageSize: "2MB", limit: 4_194_304)]
        r.rdma = ["mlx5_1": .init(hcaHandles: 3, hcaObjects: 10000)]
        r.cpu = .init()
        r.cpu?.idle = 1
        #expect(try writes(r) == [CgroupWrite("cpu.idle", "1"), CgroupWrite("hugetlb.2MB.max", "4194304"),
                                  CgroupWrite("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000")])
        #expect(CgroupMapping.controllers(try writes(r)) == ["cpu", "hugetlb", "rdma"])
        r.hugepageLimits = [.init(pageSize: "2M", limit: 1)]
        #expect(throws: SpecError("linux.resources.hugepageLimits[0].pageSize", "expected a size like 2MB or 1GB, got \"2M\"")) { try writes(r) }
    }

    @Test("what cgroup v2 cannot do is refused; what it does differently is a warning")
    func refusals() throws {
        var r = OCISpec.Resources()
        r.network = .init(classID: 0x10001)
        #expect(throws: SpecError("linux.resources.network", "classID and priorities are cgroup v1 controllers (net_cls, net_prio) that cgroup v2 does not have")) { try writes(r) }
        r = OCISpec.Resources()
        r.memory = .init(limit: 1 << 20)
        r.memory?.disableOOMKiller = true
        #expect(throws: SpecError("linux.resources.memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer for a group")) { try writes(r) }
        r.memory?.disableOOMKiller = false
        r.memory?.kernel = 1 << 20
        r.memory?.swappiness = 60
        let t = try ResourceTranslation.fromOCI(r)
        #expect(t.warnings.count == 2)
        #expect(CgroupMapping.writes(t.resources) == [CgroupWrite("memory.max", "1048576")])
        r = OCISpec.Resources()
        r.cpu = .init()
        r.cpu?.realtimeRuntime = 1000
        #expect(throws: SpecError("linux.resources.cpu.realtimeRuntime", "cgroup v2 has no realtime CPU bandwidth (cpu.rt_*)")) { try writes(r) }
    }

    @Test("the new fields survive the JSON round trip")
    func roundTrip() throws {
        let text = #"{"blockIO":{"weight":300,"leafWeight":200,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":600}]},"hugepageLimits":[{"pageSize":"1GB","limit":0}],"rdma":{"dev":{"hcaHandles":1}},"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":500}]},"memory":{"limit":100,"swappiness":0,"disableOOMKiller":false}}"#
        let json = try JSON.parse(text)
        let r = try OCISpec.Resources(json: JSONReader(json))
        #expect(r.blockIO?.weight == 300 && r.blockIO?.throttleReadBpsDevice == [.init(major: 8, minor: 0, rate: 600)])
        #expect(r.hugepageLimits == [.init(pageSize: "1GB", limit: 0)] && r.rdma?["dev"]?.hcaHandles == 1)
        #expect(r.network?.priorities == ["eth0": 500] && r.memory?.swappiness == 0)
        let again = try OCISpec.Resources(json: JSONReader(r.json))
        #expect(again == r)
    }
}

@Suite struct SecurityLabelTests {
    @Test("an AppArmor profile is applied where AppArmor runs, refused where it does not")
    func apparmor() throws {
        var s = defaultSpec()
        s.process?.apparmorProfile = "swiftlet-default"
        #expect(throws: SpecError("process.apparmorProfile", "AppArmor is not enabled on this host; cannot apply profile \"swiftlet-default\"")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        }
        var host = facts()
        host.securityModules = ["apparmor"]
        let p = try LaunchPlanner.plan(spec: s, bundle: "/b", host: host)
        #expect(p.securityLabel?.value == "exec swiftlet-default")
        s.process?.selinuxLabel = "system_u:system_r:container_t:s0"
        s.process?.apparmorProfile = nil
        #expect(throws: SpecError("process.selinuxLabel", "SELinux is not enabled on this host; cannot apply label \"system_u:system_r:container_t:s0\"")) {
            try LaunchPlanner.plan(spec: s, bundle: "/b", host: facts())
        }
    }
}

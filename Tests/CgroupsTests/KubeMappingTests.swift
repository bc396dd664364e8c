import Testing
@testable import Cgroups

@Suite("kubelet resource mapping")
struct KubeMappingTests {
    let gi = Int64(1) << 30, mi = Int64(1) << 20

    @Test("QoS classes")
    func qos() {
        #expect(KubeMapping.qosClass([ContainerRequirements()]) == .bestEffort)
        #expect(KubeMapping.qosClass([ContainerRequirements(cpuLimitMilli: 500, memoryLimitBytes: 64 * mi)]) == .guaranteed)
        #expect(KubeMapping.qosClass([ContainerRequirements(cpuRequestMilli: 500, cpuLimitMilli: 500, memoryRequestBytes: 64 * mi, memoryLimitBytes: 64 * mi),
                                      ContainerRequirements()]) == .burstable)
        #expect(KubeMapping.qosClass([ContainerRequirements(cpuRequestMilli: 100)]) == .burstable)
        #expect(KubeMapping.qosClass([ContainerRequirements(cpuRequestMilli: 250, cpuLimitMilli: 500, memoryLimitBytes: gi)]) == .burstable)
    }

    @Test("shares and quota")
    func sharesQuota() {
        #expect(KubeMapping.shares(milliCPU: nil) == 2)
        #expect(KubeMapping.shares(milliCPU: 1) == 2)
        #expect(KubeMapping.shares(milliCPU: 1000) == 1024)
        #expect(KubeMapping.shares(milliCPU: 250) == 256)
        #expect(KubeMapping.shares(milliCPU: 1_000_000) == 262_144)
        #expect(KubeMapping.quota(milliCPU: 200) == 20_000)
        #expect(KubeMapping.quota(milliCPU: 5) == 1000)
    }

    @Test("container cgroup values")
    func container() {
        let r = KubeMapping.container(ContainerRequirements(cpuRequestMilli: 250, cpuLimitMilli: 500, memoryLimitBytes: 128 * mi))
        #expect(CgroupMapping.writes(r) == [
            .init("cpu.weight", "35"), .init("cpu.max", "50000 100000"), .init("memory.max", "134217728"),
            .init("memory.swap.max", "0", optional: true), .init("memory.oom.group", "1"),
        ])
        let be = CgroupMapping.writes(KubeMapping.container(ContainerRequirements()))
        #expect(be.contains(.init("cpu.weight", "1")) && be.contains(.init("cpu.max", "max 100000")) && be.contains(.init("memory.max", "max")))
    }

    @Test("pod cgroup sums; limits only when every container has one")
    func pod() {
        let a = ContainerRequirements(cpuRequestMilli: 100, cpuLimitMilli: 200, memoryRequestBytes: 32 * mi, memoryLimitBytes: 64 * mi)
        let b = ContainerRequirements(cpuRequestMilli: 300, cpuLimitMilli: 300, memoryLimitBytes: 64 * mi)
        let r = KubeMapping.pod([a, b], pidsLimit: 1024)
        #expect(r.cpuShares == 409 && r.cpuQuota == 50_000 && r.memoryLimit == 128 * mi && r.pidsLimit == 1024)
        let c = KubeMapping.pod([a, ContainerRequirements(cpuRequestMilli: 100)])
        #expect(c.cpuQuota == -1 && c.memoryLimit == -1 && c.pidsLimit == -1)
    }

    @Test("oom_score_adj per QoS", arguments: [
        (QoSClass.guaranteed, Int64(0), -997), (.bestEffort, 0, 1000), (.burstable, 0, 999),
        (.burstable, 2 << 30, 750), (.burstable, 8 << 30, 3), (.burstable, 16 << 30, 3),
    ])
    func oom(_ c: (QoSClass, Int64, Int)) {
        #expect(KubeMapping.oomScoreAdj(qos: c.0, memoryRequestBytes: c.1, memoryCapacityBytes: 8 << 30) == c.2)
    }

    @Test("cgroupfs-driver pod paths")
    func paths() {
        #expect(KubeMapping.podCgroup(qos: .guaranteed, podUID: "u1") == "kubepods/podu1")
        #expect(KubeMapping.podCgroup(qos: .burstable, podUID: "u1") == "kubepods/burstable/podu1")
        #expect(KubeMapping.podCgroup(qos: .bestEffort, podUID: "u1") == "kubepods/besteffort/podu1")
    }

    @Test("stats from control files")
    func stats() {
        let s = StatsParser.stats(
            cpuStat: "usage_usec 600000\nuser_usec 500000\nsystem_usec 100000\nnr_periods 30\nnr_throttled 28\nthrottled_usec 2400000\n",
            memoryCurrent: "10485760\n", memoryStat: "anon 4194304\nfile 6291456\ninactive_file 2097152\n",
            memoryEvents: "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n", pidsCurrent: "3\n")
        #expect(s.cpuUsageMicros == 600_000 && s.cpuThrottledPeriods == 28 && s.cpuThrottledMicros == 2_400_000)
        #expect(s.memoryCurrent == 10_485_760 && s.memoryWorkingSet == 8_388_608 && s.memoryRSS == 4_194_304)
        #expect(s.oomKills == 1 && s.pidsCurrent == 3)
        #expect(StatsParser.single("max\n") == UInt64.max)
    }
}

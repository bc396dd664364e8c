/// Kubernetes requests/limits of one container, in runtime units.
public struct ContainerRequirements: Equatable, Sendable {
    public var cpuRequestMilli: Int64?
    public var cpuLimitMilli: Int64?
    public var memoryRequestBytes: Int64?
    public var memoryLimitBytes: Int64?

    public init(cpuRequestMilli: Int64? = nil, cpuLimitMilli: Int64? = nil, memoryRequestBytes: Int64? = nil,
                memoryLimitBytes: Int64? = nil) {
        self.cpuRequestMilli = cpuRequestMilli
        self.cpuLimitMilli = cpuLimitMilli
        self.memoryRequestBytes = memoryRequestBytes
        self.memoryLimitBytes = memoryLimitBytes
    }

    /// API defaulting: a request defaults to the limit when only the limit is set.
    public var defaulted: ContainerRequirements {
        var c = self
        if c.cpuRequestMilli == nil { c.cpuRequestMilli = c.cpuLimitMilli }
        if c.memoryRequestBytes == nil { c.memoryRequestBytes = c.memoryLimitBytes }
        return c
    }
}

public enum QoSClass: String, Sendable, Equatable {
    case guaranteed = "Guaranteed"
    case burstable = "Burstable"
    case bestEffort = "BestEffort"
}

/// The kubelet's requests/limits -> cgroup v2 rules as pure functions
/// (pkg/kubelet/cm/helpers_linux.go, qos/policy.go, kuberuntime_container_linux.go).
public enum KubeMapping {
    public static let minShares: UInt64 = 2
    public static let maxShares: UInt64 = 262_144
    public static let cfsPeriod: Int64 = 100_000
    public static let minQuota: Int64 = 1000
    public static let guaranteedOOMScoreAdj = -997
    public static let bestEffortOOMScoreAdj = 1000

    /// Guaranteed: every container has cpu and memory limits equal to its requests. BestEffort:
    /// no requests or limits anywhere. Otherwise Burstable.
    public static func qosClass(_ containers: [ContainerRequirements]) -> QoSClass {
        var anySet = false
        var allGuaranteed = !containers.isEmpty
        for raw in containers {
            let c = raw.defaulted
            if c.cpuRequestMilli != nil || c.cpuLimitMilli != nil || c.memoryRequestBytes != nil || c.memoryLimitBytes != nil {
                anySet = true
            }
            guard let cl = c.cpuLimitMilli, let ml = c.memoryLimitBytes, c.cpuRequestMilli == cl, c.memoryRequestBytes == ml else {
                allGuaranteed = false
                continue
            }
        }
        if !anySet { return .bestEffort }
        return allGuaranteed ? .guaranteed : .burstable
    }

    /// cpu.shares from milli-CPU: max(2, milli*1024/1000), capped at 262144.
    public static func shares(milliCPU: Int64?) -> UInt64 {
        guard let m = milliCPU, m > 0 else { return minShares }
        // past the cap (256 CPUs) the product no longer matters: no overflow for huge requests
        let s = m >= Int64(maxShares) * 1000 / 1024 + 1 ? maxShares : UInt64(m) * 1024 / 1000
        return min(max(s, minShares), maxShares)
    }

    /// CFS quota for a limit: milli*100000/1000, at least 1000 µs.
    public static func quota(milliCPU: Int64) -> Int64 {
        let (q, overflow) = milliCPU.multipliedReportingOverflow(by: cfsPeriod)
        return overflow ? Int64.max / 1000 : max(q / 1000, minQuota)
    }

    /// A container's own cgroup: weight from the request, cpu.max from the limit (else "max"),
    /// memory.max from the limit, no swap, whole-container OOM kill (cgroup v2 default since 1.28).
    public static func container(_ raw: ContainerRequirements) -> ContainerResources {
        let c = raw.defaulted
        var r = ContainerResources()
        r.cpuShares = shares(milliCPU: c.cpuRequestMilli)
        r.cpuPeriod = UInt64(cfsPeriod)
        r.cpuQuota = c.cpuLimitMilli.map { quota(milliCPU: $0) } ?? -1
        r.memoryLimit = c.memoryLimitBytes ?? -1
        r.swapMax = 0
        r.oomGroup = true
        return r
    }

    /// The pod cgroup: weight from the sum of requests; cpu.max and memory.max only when every
    /// container has that limit; pids.max from the pod pids limit (-1 = unlimited).
    public static func pod(_ containers: [ContainerRequirements], pidsLimit: Int64 = -1) -> ContainerResources {
        let cs = containers.map(\.defaulted)
        var r = ContainerResources()
        let cpuRequests = cs.compactMap(\.cpuRequestMilli).reduce(0, saturatingAdd)
        r.cpuShares = shares(milliCPU: cpuRequests)
        r.cpuPeriod = UInt64(cfsPeriod)
        if !cs.isEmpty, cs.allSatisfy({ $0.cpuLimitMilli != nil }) {
            r.cpuQuota = quota(milliCPU: cs.compactMap(\.cpuLimitMilli).reduce(0, saturatingAdd))
        } else {
            r.cpuQuota = -1
        }
        if !cs.isEmpty, cs.allSatisfy({ $0.memoryLimitBytes != nil }) {
            r.memoryLimit = cs.compactMap(\.memoryLimitBytes).reduce(0, saturatingAdd)
        } else {
            r.memoryLimit = -1
        }
        r.pidsLimit = pidsLimit > 0 ? pidsLimit : -1
        return r
    }

    /// a + b, held at Int64.max/min instead of trapping (resource sums of absurd manifests)
    public static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? (b > 0 ? Int64.max : Int64.min) : r
    }

    /// oom_score_adj per QoS: Guaranteed -997, BestEffort 1000, Burstable
    /// 1000 - 1000*request/capacity kept within [1000-997, 999].
    public static func oomScoreAdj(qos: QoSClass, memoryRequestBytes: Int64?, memoryCapacityBytes: Int64) -> Int {
        switch qos {
        case .guaranteed: return guaranteedOOMScoreAdj
        case .bestEffort: return bestEffortOOMScoreAdj
        case .burstable:
            let req = memoryRequestBytes ?? 0
            let cap = max(memoryCapacityBytes, 1)
            // request/capacity ≥ 1 gives the floor: no 1000*req overflow for huge requests
            var adj = req >= cap ? 0 : Int(1000 - (1000 * req) / cap)
            if adj < 1000 + guaranteedOOMScoreAdj { adj = 1000 + guaranteedOOMScoreAdj }
            if adj >= bestEffortOOMScoreAdj { adj = bestEffortOOMScoreAdj - 1 }
            return adj
        }
    }

    /// The cgroupfs-driver layout: kubepods/pod<uid> (Guaranteed), kubepods/burstable/pod<uid>,
    /// kubepods/besteffort/pod<uid>.
    public static func podCgroup(qos: QoSClass, podUID: String) -> String {
        switch qos {
        case .guaranteed: return "kubepods/pod\(podUID)"
        case .burstable: return "kubepods/burstable/pod\(podUID)"
        case .bestEffort: return "kubepods/besteffort/pod\(podUID)"
        }
    }
}

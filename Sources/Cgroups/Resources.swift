import LinuxSystem

/// One value to write into a cgroup v2 control file.
public struct CgroupWrite: Equatable, Sendable {
    public let file: String
    public let value: String
    /// Skipped when the kernel lacks the file (memory.swap.max without swap accounting).
    public let optional: Bool
    public init(_ file: String, _ value: String, optional: Bool = false) {
        self.file = file
        self.value = value
        self.optional = optional
    }
    /// The controller a control file belongs to ("memory.max" -> "memory").
    public var controller: String {
        String(file.prefix(while: { $0 != "." }))
    }
}

/// Resource limits in runtime terms (OCI linux.resources, or computed from a pod spec).
public struct ContainerResources: Equatable, Sendable {
    public var memoryLimit: Int64?        // bytes, -1 = unlimited
    public var memoryReservation: Int64?  // bytes -> memory.low
    public var memorySwap: Int64?         // OCI: memory+swap total, -1 = unlimited
    public var cpuShares: UInt64?
    public var cpuQuota: Int64?           // µs per period, -1 = unlimited
    public var cpuPeriod: UInt64?
    public var cpusetCpus: String?
    public var cpusetMems: String?
    public var pidsLimit: Int64?          // <= 0: unlimited
    public var swapMax: Int64?            // v2 memory.swap.max directly (Kubernetes: 0)
    public var oomGroup: Bool?            // memory.oom.group
    public var unified: [String: String] = [:]
    /// Writes with no field of their own, in order (one device per io.max / io.weight write).
    public var extraWrites: [CgroupWrite] = []

    public init(memoryLimit: Int64? = nil, memoryReservation: Int64? = nil, memorySwap: Int64? = nil,
                cpuShares: UInt64? = nil, cpuQuota: Int64? = nil, cpuPeriod: UInt64? = nil,
                cpusetCpus: String? = nil, cpusetMems: String? = nil, pidsLimit: Int64? = nil,
                unified: [String: String] = [:]) {
        self.memoryLimit = memoryLimit
        self.memoryReservation = memoryReservation
        self.memorySwap = memorySwap
        self.cpuShares = cpuShares
        self.cpuQuota = cpuQuota
        self.cpuPeriod = cpuPeriod
        self.cpusetCpus = cpusetCpus
        self.cpusetMems = cpusetMems
        self.pidsLimit = pidsLimit
        self.unified = unified
    }

    public var isEmpty: Bool { CgroupMapping.writes(self).isEmpty }
}

public enum CgroupMapping {
    /// cgroup v1 cpu.shares -> v2 cpu.weight with the log-quadratic formula used by current
    /// runc (PR #4785) and crun (#1721): 2 -> 1, 1024 -> 100, 262144 -> 10000.
    public static func cpuWeight(shares: UInt64) -> UInt64 {
        if shares == 0 { return 0 }
        if shares <= 2 { return 1 }
        if shares >= 262_144 { return 10_000 }
        let l = log2(Double(shares))
        let exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0
        return UInt64(pow(10.0, exponent).rounded(.up))
    }

    /// Pure mapping from resources to control-file writes (in write order).
    public static func writes(_ r: ContainerResources) -> [CgroupWrite] {
        var w: [CgroupWrite] = []
        if let shares = r.cpuShares, shares > 0 { w.append(.init("cpu.weight", String(cpuWeight(shares: shares)))) }
        if r.cpuQuota != nil || r.cpuPeriod != nil {
            let period = r.cpuPeriod ?? 100_000
            let quota = r.cpuQuota.map { $0 < 0 ? "max" : String($0) } ?? "max"
            w.append(.init("cpu.max", "\(quota) \(period)"))
        }
        if let c = r.cpusetCpus, !c.isEmpty { w.append(.init("cpuset.cpus", c)) }
        if let m = r.cpusetMems, !m.isEmpty { w.append(.init("cpuset.mems", m)) }
        if let low = r.memoryReservation, low > 0 { w.append(.init("memory.low", String(low))) }
        if let limit = r.memoryLimit {
            w.append(.init("memory.max", limit < 0 ? "max" : String(limit)))
        }
        if let swap = r.memorySwap {
            // OCI's swap is memory+swap; v2's memory.swap.max is swap alone
            if swap < 0 { w.append(.init("memory.swap.max", "max")) }
            else if let limit = r.memoryLimit, limit >= 0 { w.append(.init("memory.swap.max", String(max(0, swap - limit)))) }
        }
        if let s = r.swapMax { w.append(.init("memory.swap.max", s < 0 ? "max" : String(s), optional: true)) }
        if let g = r.oomGroup { w.append(.init("memory.oom.group", g ? "1" : "0")) }
        if let pids = r.pidsLimit { w.append(.init("pids.max", pids <= 0 ? "max" : String(pids))) }
        w += r.extraWrites
        for (k, v) in r.unified.sorted(by: { $0.key < $1.key }) { w.append(.init(k, v)) }
        return w
    }

    /// Controllers the writes need, in a stable order.
    public static func controllers(_ writes: [CgroupWrite]) -> [String] {
        var seen = Set<String>()
        return writes.map(\.controller).filter { $0 != "cgroup" && seen.insert($0).inserted }
    }
}

#if canImport(Glibc)
import Glibc
#endif

public struct MissingControllerError: Error, Sendable, CustomStringConvertible {
    public let controllers: [String]
    public let hierarchy: String
    public let available: [String]
    public var description: String {
        let have = available.isEmpty ? "none" : available.joined(separator: " ")
        return "cgroup v2 controller\(controllers.count > 1 ? "s" : "") \(controllers.map { "\"\($0)\"" }.joined(separator: ", ")) not available in \(hierarchy) (it has: \(have)); resource limits cannot be enforced on this host"
    }
}

extension CgroupHierarchy {
    /// Makes `controllers` available to children of `group`'s parent chain: each ancestor from the
    /// hierarchy root down to the parent of `leaf` gets them in cgroup.subtree_control (never the
    /// leaf). Ancestors that already have them are not written.
    public func enableControllers(_ controllers: [String], forLeaf leaf: String) throws {
        let available = self.controllers()
        let missing = controllers.filter { !available.contains($0) }
        if !missing.isEmpty { throw MissingControllerError(controllers: missing, hierarchy: mountPoint, available: available) }
        guard !controllers.isEmpty else { return }
        let rel = leaf.hasPrefix(mountPoint) ? String(leaf.dropFirst(mountPoint.count)) : leaf
        let comps = rel.split(separator: "/")
        var dir = mountPoint
        for comp in comps.dropLast() + [Substring("")] {
            let current = (try? Files.readString(dir + "/cgroup.subtree_control")) ?? ""
            let enabled = Set(current.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
            let need = controllers.filter { !enabled.contains($0) }
            if !need.isEmpty {
                try Files.writeExisting(dir + "/cgroup.subtree_control", need.map { "+" + $0 }.joined(separator: " "))
            }
            if comp.isEmpty { break }
            dir += "/" + comp
            if dir == leaf { break }
        }
    }
}

extension Cgroup {
    /// Applies writes to this (leaf) group.
    public func apply(_ writes: [CgroupWrite]) throws(SystemError) {
        for w in writes {
            do { try write(w.file, w.value) } catch {
                if w.optional && error.code == ENOENT { continue }
                throw error
            }
        }
    }
}

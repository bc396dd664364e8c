import LinuxSystem

/// Usage of one cgroup (container or pod), as served later by /stats/summary and /metrics.
public struct CgroupStats: Equatable, Sendable {
    public var cpuUsageMicros: UInt64 = 0
    public var cpuUserMicros: UInt64 = 0
    public var cpuSystemMicros: UInt64 = 0
    public var cpuPeriods: UInt64 = 0
    public var cpuThrottledPeriods: UInt64 = 0
    public var cpuThrottledMicros: UInt64 = 0
    public var memoryCurrent: UInt64 = 0
    /// memory.current minus inactive_file (the kubelet's working set).
    public var memoryWorkingSet: UInt64 = 0
    public var memoryRSS: UInt64 = 0
    public var memoryCache: UInt64 = 0
    public var oomEvents: UInt64 = 0
    public var oomKills: UInt64 = 0
    public var pidsCurrent: UInt64 = 0
    public init() {}
}

public enum StatsParser {
    /// "key value" lines (cpu.stat, memory.stat, memory.events, pids.events).
    public static func keyValues(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2, let v = UInt64(parts[1].trimmingCharacters(in: " \n")) { out[String(parts[0])] = v }
        }
        return out
    }

    public static func single(_ text: String) -> UInt64? {
        let t = text.split(separator: "\n").first.map { String($0) } ?? ""
        return t == "max" ? UInt64.max : UInt64(t)
    }

    /// Builds stats from the contents of the control files (nil = file absent).
    public static func stats(cpuStat: String?, memoryCurrent: String?, memoryStat: String?, memoryEvents: String?,
                             pidsCurrent: String?) -> CgroupStats {
        var s = CgroupStats()
        if let c = cpuStat.map(keyValues) {
            s.cpuUsageMicros = c["usage_usec"] ?? 0
            s.cpuUserMicros = c["user_usec"] ?? 0
            s.cpuSystemMicros = c["system_usec"] ?? 0
            s.cpuPeriods = c["nr_periods"] ?? 0
            s.cpuThrottledPeriods = c["nr_throttled"] ?? 0
            s.cpuThrottledMicros = c["throttled_usec"] ?? 0
        }
        s.memoryCurrent = memoryCurrent.flatMap(single) ?? 0
        if let m = memoryStat.map(keyValues) {
            let inactive = m["inactive_file"] ?? 0
            s.memoryWorkingSet = s.memoryCurrent > inactive ? s.memoryCurrent - inactive : 0
            s.memoryRSS = m["anon"] ?? 0
            s.memoryCache = m["file"] ?? 0
        } else {
            s.memoryWorkingSet = s.memoryCurrent
        }
        if let e = memoryEvents.map(keyValues) {
            s.oomEvents = e["oom"] ?? 0
            s.oomKills = e["oom_kill"] ?? 0
        }
        s.pidsCurrent = pidsCurrent.flatMap(single) ?? 0
        return s
    }
}

extension Cgroup {
    public func stats() -> CgroupStats {
        StatsParser.stats(cpuStat: try? read("cpu.stat"), memoryCurrent: try? read("memory.current"),
                          memoryStat: try? read("memory.stat"), memoryEvents: try? read("memory.events"),
                          pidsCurrent: try? read("pids.current"))
    }
}

import Images
import KubeModel
import LinuxSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

// Node-pressure handling as the kubelet does it (eviction manager + image GC): pure decisions
// here (thresholds, conditions, which images, which pod), the measuring and acting below.

/// A hard eviction threshold: `memory.available<100Mi`, `nodefs.available<10%`.
public struct EvictionThreshold: Sendable, Equatable, CustomStringConvertible {
    public enum Signal: String, Sendable, CaseIterable {
        case memoryAvailable = "memory.available"
        case nodefsAvailable = "nodefs.available"
        case nodefsInodesFree = "nodefs.inodesFree"
        case imagefsAvailable = "imagefs.available"
        case pidAvailable = "pid.available"
    }
    public enum Value: Sendable, Equatable {
        case quantity(Quantity)
        case percentage(Double)
    }
    public var signal: Signal
    public var value: Value

    public var description: String {
        switch value {
        case .quantity(let q): return "\(signal.rawValue)<\(q)"
        case .percentage(let p): return "\(signal.rawValue)<\(p.formatted1)%"
        }
    }

    /// The kubelet's defaults (Linux).
    public static let defaults: [EvictionThreshold] = [
        .init(signal: .memoryAvailable, value: .quantity(Quantity(100 << 20, format: .binarySI))),
        .init(signal: .nodefsAvailable, value: .percentage(10)),
        .init(signal: .nodefsInodesFree, value: .percentage(5)),
        .init(signal: .imagefsAvailable, value: .percentage(15)),
    ]

    /// `signal<value` (value a quantity or a percentage), as `--eviction-hard` takes it.
    public static func parse(_ text: String) throws(ConfigError) -> EvictionThreshold {
        let parts = text.split(separator: "<", maxSplits: 1).map { String($0).trimmingWhitespaceAndNewlines }
        guard parts.count == 2, let signal = Signal(rawValue: parts[0]) else {
            throw ConfigError("eviction threshold \"\(text)\": expected SIGNAL<VALUE with SIGNAL one of \(Signal.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if parts[1].hasSuffix("%") {
            guard let p = Double(parts[1].dropLast()), p >= 0, p <= 100 else { throw ConfigError("eviction threshold \"\(text)\": the percentage must be between 0 and 100") }
            return EvictionThreshold(signal: signal, value: .percentage(p))
        }
        guard let q = try? Quantity(parsing: parts[1]), q >= .zero else { throw ConfigError("eviction threshold \"\(text)\": \"\(parts[1])\" is not a quantity") }
        return EvictionThreshold(signal: signal, value: .quantity(q))
    }

    /// The amount below which the signal is crossed, for a resource of `capacity`.
    public func minimum(capacity: Int64) -> Int64 {
        switch value {
        case .quantity(let q): return q.value
        case .percentage(let p): return Int64(Double(capacity) * p / 100)
        }
    }
}

/// One measurement: available and capacity per signal.
public struct NodeObservation: Sendable, Equatable {
    public var available: [EvictionThreshold.Signal: Int64] = [:]
    public var capacity: [EvictionThreshold.Signal: Int64] = [:]
    public init() {}
}

public struct NodeCondition: Codable, Sendable, Equatable {
    public var type: String
    public var status: String
    public var reason: String
    public var message: String
    public var lastHeartbeatTime: String
    public var lastTransitionTime: String
}

public enum EvictionPolicy {
    /// The thresholds `obs` crosses.
    public static func crossed(_ thresholds: [EvictionThreshold], _ obs: NodeObservation) -> [EvictionThreshold] {
        thresholds.filter { t in
            guard let avail = obs.available[t.signal], let cap = obs.capacity[t.signal] else { return false }
            return avail < t.minimum(capacity: cap)
        }
    }

    /// MemoryPressure, DiskPressure and PIDPressure with the kubelet's reasons and messages.
    /// A condition stays True for `transitionPeriod` seconds after the last crossing (the
    /// kubelet's evictionPressureTransitionPeriod, 5 m), so it does not flap.
    public static func conditions(crossed: [EvictionThreshold], lastCrossed: inout [String: Double], now: Double,
                                  transitionPeriod: Double, previous: [NodeCondition], stamp: String) -> [NodeCondition] {
        let kinds: [(type: String, signals: Set<EvictionThreshold.Signal>, yes: String, no: String, yesMsg: String, noMsg: String)] = [
            ("MemoryPressure", [.memoryAvailable], "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory",
             "kubelet has insufficient memory available", "kubelet has sufficient memory available"),
            ("DiskPressure", [.nodefsAvailable, .nodefsInodesFree, .imagefsAvailable], "KubeletHasDiskPressure", "KubeletHasNoDiskPressure",
             "kubelet has disk pressure", "kubelet has no disk pressure"),
            ("PIDPressure", [.pidAvailable], "KubeletHasInsufficientPID", "KubeletHasSufficientPID",
             "kubelet has insufficient PID available", "kubelet has sufficient PID available"),
        ]
        var out: [NodeCondition] = []
        for k in kinds {
            if crossed.contains(where: { k.signals.contains($0.signal) }) { lastCrossed[k.type] = now }
            let on = lastCrossed[k.type].map { now - $0 < transitionPeriod } ?? false
            let status = on ? "True" : "False"
            let prev = previous.first { $0.type == k.type }
            out.append(NodeCondition(type: k.type, status: status, reason: on ? k.yes : k.no, message: on ? k.yesMsg : k.noMsg,
                                     lastHeartbeatTime: stamp,
                                     lastTransitionTime: prev?.status == status ? prev!.lastTransitionTime : stamp))
        }
        return out
    }

    /// A pod as the eviction ranking sees it.
    public struct Candidate: Sendable, Equatable {
        public var uid: String
        public var priority: Int32
        /// static pods and priority ≥ system-cluster-critical: never evicted
        public var critical: Bool
        public var usage: Int64
        public var request: Int64
        public init(uid: String, priority: Int32, critical: Bool, usage: Int64, request: Int64) {
            self.uid = uid
            self.priority = priority
            self.critical = critical
            self.usage = usage
            self.request = request
        }
    }

    /// The kubelet's order: pods using more than they requested first, then lower priority,
    /// then by how far usage exceeds the request. Critical pods are left out.
    public static func rank(_ pods: [Candidate]) -> [Candidate] {
        pods.filter { !$0.critical }.sorted { a, b in
            let ao = a.usage > a.request, bo = b.usage > b.request
            if ao != bo { return ao }
            if a.priority != b.priority { return a.priority < b.priority }
            let ax = a.usage - a.request, bx = b.usage - b.request
            if ax != bx { return ax > bx }
            return a.uid < b.uid
        }
    }

    /// The kubelet's system-cluster-critical priority: pods at or above it are never evicted.
    public static let criticalPriority: Int32 = 2_000_000_000
}

/// Image garbage collection (kubelet ImageGCManager): above `high` % usage, unused images are
/// removed least recently used first until usage is at `low` %.
public enum ImageGCPolicy {
    public struct Image: Sendable, Equatable {
        public var name: String
        public var lastUsed: Double
        public var inUse: Bool
        public init(name: String, lastUsed: Double, inUse: Bool) {
            self.name = name
            self.lastUsed = lastUsed
            self.inUse = inUse
        }
    }

    /// Bytes to free (0 when usage is under `high`).
    public static func bytesToFree(total: UInt64, available: UInt64, high: Int, low: Int) -> UInt64 {
        guard total > 0 else { return 0 }
        let used = total - min(available, total)
        guard used * 100 >= total * UInt64(high) else { return 0 }
        let target = total * UInt64(low) / 100
        return used > target ? used - target : 0
    }

    /// Removal order: not in use, not used for `minAge` seconds, least recently used first.
    public static func candidates(_ images: [Image], now: Double, minAge: Double) -> [String] {
        images.filter { !$0.inUse && now - $0.lastUsed >= minAge }.sorted { ($0.lastUsed, $0.name) < ($1.lastUsed, $1.name) }.map(\.name)
    }
}

extension Double {
    var formatted1: String { self == rounded() ? String(Int(self)) : String(self) }
}

extension String {
    var trimmingWhitespaceAndNewlines: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

// MARK: - effects

/// When each image last started a container (image GC's LRU order), kept across restarts in
/// `<rootDir>/image-usage.json`.
actor ImageUsage {
    var lastUsed: [String: Double] = [:]
    let file: String

    init(file: String) {
        self.file = file
        if let bytes = try? Files.read(file), let json = try? JSON.parse(bytes), case .object(let members) = json {
            for (k, v) in members { if case .number(let n) = v, let d = Double(n) { lastUsed[k] = d } }
        }
    }

    func used(_ name: String) {
        lastUsed[name] = wallClock()
        save()
    }

    func forget(_ name: String) {
        lastUsed[name] = nil
        save()
    }

    func all() -> [String: Double] { lastUsed }

    func save() {
        var o = JSONObject()
        for (k, v) in lastUsed.sorted(by: { $0.key < $1.key }) { o.set(k, JSON.number(String(v))) }
        try? Files.write(file, o.json.serialized(), mode: 0o600, atomic: true)
    }
}

/// Measures the node, keeps the pressure conditions, runs image GC and evicts pods: every
/// `interval` seconds (the kubelet's housekeeping: 10 s), image GC also every 5 minutes.
actor NodePressure {
    let ctx: AgentContext
    let thresholds: [EvictionThreshold]
    let log: Logger
    var lastCrossed: [String: Double] = [:]
    public private(set) var conditions: [NodeCondition] = []
    public private(set) var lastObservation = NodeObservation()
    var lastImageGC: Double = 0

    init(ctx: AgentContext, thresholds: [EvictionThreshold], logger: Logger) {
        self.ctx = ctx
        self.thresholds = thresholds
        log = logger
    }

    func observe() -> NodeObservation {
        var o = NodeObservation()
        if let text = try? Files.readString("/proc/meminfo") {
            func kib(_ key: String) -> Int64? {
                text.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                    .flatMap { Int64($0.split(separator: " ").dropFirst().first ?? "") }.map { $0 * 1024 }
            }
            o.capacity[.memoryAvailable] = kib("MemTotal")
            o.available[.memoryAvailable] = kib("MemAvailable")
        }
        var v = statvfs()
        if statvfs(ctx.config.rootDir, &v) == 0 {
            o.capacity[.nodefsAvailable] = Int64(v.f_blocks) * Int64(v.f_frsize)
            o.available[.nodefsAvailable] = Int64(v.f_bavail) * Int64(v.f_frsize)
            if v.f_files > 0 {
                o.capacity[.nodefsInodesFree] = Int64(v.f_files)
                o.available[.nodefsInodesFree] = Int64(v.f_favail)
            }
        }
        if let fs = ctx.store.filesystem() {
            o.capacity[.imagefsAvailable] = Int64(fs.total)
            o.available[.imagefsAvailable] = Int64(fs.available)
        }
        if let maxText = try? Files.readString("/proc/sys/kernel/pid_max"), let max = Int64(maxText.trimmingWhitespaceAndNewlines),
           let procs = try? Files.list("/proc") {
            o.capacity[.pidAvailable] = max
            o.available[.pidAvailable] = max - Int64(procs.filter { Int32($0) != nil }.count)
        }
        return o
    }

    /// One housekeeping pass: conditions, image GC when due or under disk pressure, then at most
    /// one eviction (the kubelet evicts one pod per pass and looks again).
    func pass(agent: Agent) async {
        let now = wallClock()
        var obs = observe()
        var crossed = EvictionPolicy.crossed(thresholds, obs)
        let diskCrossed = crossed.contains { $0.signal == .imagefsAvailable || $0.signal == .nodefsAvailable }
        if diskCrossed || now - lastImageGC >= 300 {
            lastImageGC = now
            await imageGC(agent: agent, force: diskCrossed)
            obs = observe()
            crossed = EvictionPolicy.crossed(thresholds, obs)
        }
        lastObservation = obs
        let before = Set(conditions.filter { $0.status == "True" }.map(\.type))
        conditions = EvictionPolicy.conditions(crossed: crossed, lastCrossed: &lastCrossed, now: now, transitionPeriod: ctx.config.evictionPressureTransitionSeconds,
                                               previous: conditions, stamp: nowRFC3339())
        let after = Set(conditions.filter { $0.status == "True" }.map(\.type))
        for c in after.subtracting(before) { log.warning("node condition \(c) is True", metadata: ["thresholds": "\(crossed.map(\.description).joined(separator: ","))"]) }
        for c in before.subtracting(after) { log.info("node condition \(c) is False again") }
        guard let t = crossed.first else { return }
        await evictOne(agent: agent, for: t)
    }

    /// Removes unused images (LRU) until the image filesystem is back under the low threshold.
    func imageGC(agent: Agent, force: Bool) async {
        let c = ctx.config
        guard let fs = ctx.store.filesystem() else { return }
        let high = force ? 0 : c.imageGCHighThresholdPercent
        var toFree = ImageGCPolicy.bytesToFree(total: fs.total, available: fs.available, high: high, low: c.imageGCLowThresholdPercent)
        guard toFree > 0, let records = try? ctx.store.images() else { return }
        let inUse = Set(((try? ctx.store.snapshots()) ?? []).map(\.image))
        let used = await ctx.imageUsage.all()
        let images = records.map { r in
            ImageGCPolicy.Image(name: r.name, lastUsed: used[r.name] ?? Timestamp.parse(r.created).map { Double($0.seconds) } ?? 0, inUse: inUse.contains(r.digest))
        }
        for name in ImageGCPolicy.candidates(images, now: wallClock(), minAge: c.imageMinimumGCAgeSeconds) {
            guard toFree > 0 else { break }
            let before = ctx.store.filesystem()?.available ?? 0
            do {
                _ = try ctx.store.removeImage(name)
                let pruned = try ctx.store.prune()
                let freed = (ctx.store.filesystem()?.available ?? 0) &- before
                log.info("image garbage collection: removed \(name)", metadata: ["bytes": "\(pruned.bytes)"])
                toFree = freed >= toFree ? 0 : toFree - freed
                await ctx.imageUsage.forget(name)
            } catch {
                log.warning("image garbage collection: \(name): \(error)")
            }
        }
    }

    func evictOne(agent: Agent, for t: EvictionThreshold) async {
        let candidates = await agent.evictionCandidates(signal: t.signal)
        guard let victim = EvictionPolicy.rank(candidates).first else {
            log.warning("node under pressure (\(t)) but no pod may be evicted (static and critical pods are not)")
            return
        }
        let resource = t.signal == .memoryAvailable ? "memory" : t.signal == .pidAvailable ? "pids" : "ephemeral-storage"
        await agent.evict(uid: victim.uid, message: "The node was low on resource: \(resource). Threshold quantity: \(t.minimum(capacity: lastObservation.capacity[t.signal] ?? 0)), available: \(lastObservation.available[t.signal] ?? 0). ")
    }
}

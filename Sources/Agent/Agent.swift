import Cgroups
import Dispatch
import FoundationEssentials
import Images
import KubeModel
import LinuxSystem
import Logging
import Networking
import Runtime
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking work (syscalls that wait: container create and start, which read the monitor's
/// report pipe; sandbox and network setup under the IPAM flock; forced deletes) on Dispatch's
/// threads instead of the Swift concurrency pool, whose few threads (one per core) must stay
/// free for the API and the other pods' workers.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { k in
        DispatchQueue.global().async { k.resume(with: Result { try body() }) }
    }
}

func offload<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { k in
        DispatchQueue.global().async { k.resume(returning: body()) }
    }
}

/// Pulls one image at a time (the kubelet's serializeImagePulls default); the same reference
/// requested twice while a pull runs shares it.
actor PullCoordinator {
    var running: [String: Task<ImageRecord, Error>] = [:]
    var tail: Task<Void, Never>?

    func pull(_ ref: ImageReference, puller: ImagePuller) async throws -> ImageRecord {
        if let t = running[ref.description] { return try await t.value }
        let previous = tail
        let t = Task { () throws -> ImageRecord in
            await previous?.value
            return try await puller.pull(ref)
        }
        running[ref.description] = t
        tail = Task { _ = try? await t.value }
        defer { running[ref.description] = nil }
        return try await t.value
    }
}

/// Everything a pod worker uses, shared.
public final class AgentContext: Sendable {
    public let config: AgentConfig
    let runtime: OCIRuntime
    let store: ImageStore
    let puller: ImagePuller
    let pulls = PullCoordinator()
    let snapshots: Snapshotter
    let network: BridgeNetwork
    let qos: QoSTree
    let cgroupBase: String
    let cgroupsUsable: Bool
    let exits = ExitWatcher()
    let imageUsage: ImageUsage
    public let objects = ObjectStore()
    let handlers: HandlerRunner
    /// Fired when a pod's status may have changed (a container started or exited, readiness,
    /// termination): the master's status sync listens instead of polling.
    public let statusSignal = StatusSignal()
    let userns: UserNSAllocator
    let logger: Logger
    let memoryCapacity: Int64
    let cpuCount: Int
    /// The lowest oom_score_adj this node lets a root process set (sandboxed kernels refuse
    /// negative values even with CAP_SYS_RESOURCE); Guaranteed pods' -997 is clamped to it.
    let minOOMScoreAdj: Int
    public let hostIP: String?
    let logMaxBytes: Int64
    /// Prefix of container ids and IPAM owners ("run-" for `swiftlet run` instances).
    let idPrefix: String

    init(config: AgentConfig, logger: Logger, monitorPath: String) throws {
        self.config = config
        self.logger = logger
        idPrefix = config.instance == nil ? "" : AgentConfig.runPrefix
        runtime = OCIRuntime(root: config.ociRoot, monitorPath: monitorPath, warn: { [logger] in logger.debug("\($0)") })
        handlers = HandlerRunner(runtime: runtime)
        userns = UserNSAllocator(directory: config.rootDir)
        store = try ImageStore(root: config.imageStorePath, minFreeFraction: config.imagefsMinFreeFraction)
        imageUsage = ImageUsage(file: config.rootDir + "/image-usage.json")
        var ro = RegistryOptions()
        ro.insecureRegistries = Set(config.insecureRegistries)
        ro.credentials = (try? DockerConfig.load(path: config.registryConfig ?? DockerConfig.defaultPath)) ?? [:]
        puller = ImagePuller(store: store, client: RegistryClient(options: ro))
        snapshots = Snapshotter(store: store)
        cgroupBase = config.cgroupRoot
        network = BridgeNetwork(config: config.networkConfig)
        if let h = CgroupHierarchy.discover() {
            qos = QoSTree(hierarchy: h, base: config.cgroupRoot)
            cgroupsUsable = true
        } else {
            qos = QoSTree(hierarchy: CgroupHierarchy(mountPoint: "/sys/fs/cgroup"), base: config.cgroupRoot)
            cgroupsUsable = false
        }
        var mem: Int64 = 0
        if let text = try? Files.readString("/proc/meminfo"), let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }) {
            mem = (Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        memoryCapacity = mem
        cpuCount = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        minOOMScoreAdj = AgentContext.probeMinOOMScoreAdj()
        if minOOMScoreAdj > -997 {
            logger.warning("this node refuses negative oom_score_adj: containers get at least \(minOOMScoreAdj) (Guaranteed pods would get -997)")
        }
        hostIP = config.nodeIP ?? NodeAddress.detect(excludingInterfaces: [config.bridge])
        logMaxBytes = (try? Quantity(parsing: config.containerLogMaxSize))?.value ?? 10 << 20
    }
}

extension AgentContext {
    static let requiredControllers = ["cpu", "memory", "pids"]

    /// Why pods' resources cannot be enforced on this host, or nil.
    static func missingControllers(usable: Bool, mountPoint: String, available: [String]) -> String? {
        guard usable else { return "no cgroup v2 hierarchy is mounted" }
        let missing = requiredControllers.filter { !available.contains($0) }
        guard !missing.isEmpty else { return nil }
        return "cgroup v2 controller\(missing.count > 1 ? "s" : "") \(missing.map { "\"\($0)\"" }.joined(separator: ", ")) not available in \(mountPoint) (it has: \(available.isEmpty ? "none" : available.joined(separator: " ")))"
    }

    /// Tries -1000 on this process (lowering needs CAP_SYS_RESOURCE), then restores the value.
    static func probeMinOOMScoreAdj() -> Int {
        let path = "/proc/self/oom_score_adj"
        let current = Int((try? Files.readString(path))?.split(separator: "\n").first ?? "0") ?? 0
        guard (try? Files.writeExisting(path, "-1000")) != nil else { return current }
        try? Files.writeExisting(path, String(current))
        return -1000
    }
}

/// The node agent: desired pods from the static-pod source, one worker per pod UID,
/// adoption of what a previous instance left running, orphan cleanup.
public actor Agent {
    nonisolated public let ctx: AgentContext
    let source: StaticPodSource
    var workers: [String: PodWorker] = [:]
    var names: [String: String] = [:]
    /// Workers being stopped, by UID (a replacement with the same name waits for them).
    var stopping: [String: (name: String, task: Task<Void, Never>, worker: PodWorker)] = [:]
    var invalid: [String: [String]] = [:]
    var watcher: DirectoryWatcher?
    var relistTask: Task<Void, Never>?
    var housekeepingTask: Task<Void, Never>?
    nonisolated let pressure: NodePressure
    public private(set) var healthy = false
    let log: Logger

    /// `swiftlet run`: exactly these pods, no manifests directory.
    let fixedPods: [Pod]?
    /// Pods the master binds to this node, by UID, as its watch last showed them (pods being
    /// deleted are not in it: their grace period is in `apiGrace`).
    var apiPods: [String: Pod] = [:]
    var apiGrace: [String: Int64] = [:]
    /// Pods of the master found on disk at start are kept running until the master's first list
    /// says whether they are still bound here.
    var expectsAPIPods = false
    public func expectAPIPods() { expectsAPIPods = true }
    /// Called once a pod has stopped, with its final state (the master's pods: final status, DELETE).
    var onPodStopped: (@Sendable (Pod) async -> Void)?

    public init(config: AgentConfig, logger: Logger, monitorPath: String, fixedPods: [Pod]? = nil, objects: [ConfigObject] = []) throws {
        ctx = try AgentContext(config: config, logger: logger, monitorPath: monitorPath)
        self.fixedPods = fixedPods
        ctx.objects.replace(objects)
        source = StaticPodSource(directory: config.manifestsDir, nodeName: config.nodeName)
        log = logger
        pressure = NodePressure(ctx: ctx, thresholds: try config.evictionThresholds(), logger: logger)
    }

    /// Prepares the node, adopts surviving pods, starts watching manifests.
    public func start() async throws {
        let c = ctx.config
        for d in [c.podsDir, c.sandboxRoot, c.ociRoot, c.podLogsDir] + (fixedPods == nil ? [c.manifestsDir] : []) {
            try Files.makeDirectories(d, mode: 0o755)
        }
        if let problem = AgentContext.missingControllers(usable: ctx.cgroupsUsable, mountPoint: ctx.qos.hierarchy.mountPoint,
                                                         available: ctx.cgroupsUsable ? ctx.qos.hierarchy.controllers() : []) {
            // as the kubelet refuses to start without the cgroups it needs: every pod (BestEffort
            // too: cpu.weight) would fail to start otherwise
            guard c.allowUnenforcedResources else { throw ConfigError(problem + "; run on a host with cgroup v2 and these controllers, or start the agent with --allow-unenforced-resources (allowUnenforcedResources: true) to run pods without enforcing their requests and limits") }
            log.warning("\(problem): requests and limits are NOT enforced (allowUnenforcedResources)")
        }
        try ctx.network.setupNode()
        // what a previous instance left: records on disk
        var restored: [String: (Pod, PodRecordState)] = [:]
        for uid in (try? Files.list(c.podsDir)) ?? [] {
            let dir = c.podsDir + "/" + uid
            guard let podData = try? Files.read(dir + "/pod.json"), let stData = try? Files.read(dir + "/state.json"),
                  let pod = try? JSONDecoder().decode(Pod.self, from: Data(podData)),
                  let st = try? JSONDecoder().decode(PodRecordState.self, from: Data(stData)) else {
                log.warning("removing unreadable pod record", metadata: ["dir": "\(dir)"])
                ProcFS.unmountAll(under: dir)
                try? Files.removeTree(dir)
                continue
            }
            restored[uid] = (pod, st)
        }
        if expectsAPIPods {
            for (uid, (pod, _)) in restored where pod.metadata.annotations?["kubernetes.io/config.source"] == "api" { apiPods[uid] = pod }
        }
        let desired = relistDesired()
        for (uid, (pod, st)) in restored {
            if desired[uid] != nil {
                log.info("adopting pod", metadata: ["pod": "\(pod.metadata.name ?? "")", "uid": "\(uid)"])
                let w = PodWorker(ctx: ctx, pod: desired[uid]!, restored: st)
                workers[uid] = w
                names[uid] = fullName(pod)
                await w.startLoop()
            } else {
                log.info("pod no longer desired: stopping", metadata: ["pod": "\(pod.metadata.name ?? "")", "uid": "\(uid)"])
                let w = PodWorker(ctx: ctx, pod: pod, restored: st)
                stopping[uid] = (fullName(pod), Task { await w.terminate(); await self.stopped(uid, w) }, w)
            }
        }
        // orphans: sandboxes, containers, snapshots and addresses nothing refers to
        await cleanOrphans(keeping: Set(restored.keys).union(desired.keys))
        apply(desired)
        healthy = true
        if fixedPods != nil { return }
        let every = max(0.5, c.housekeepingIntervalSeconds)
        housekeepingTask = Task { [weak self, pressure] in
            while !Task.isCancelled {
                if let self { await pressure.pass(agent: self) }
                try? await Task.sleep(for: Clamp.duration(every))
            }
        }
        watcher = try DirectoryWatcher(directory: c.manifestsDir) { [weak self] in
            Task { await self?.relist() }
        }
        let period = c.fileCheckFrequencySeconds
        relistTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(period * 1000)))
                await self?.relist()
            }
        }
    }

    func cleanOrphans(keeping live: Set<String>) async {
        let c = ctx.config
        for uid in (try? Files.list(c.sandboxRoot)) ?? [] where !live.contains(uid) {
            log.info("removing orphaned sandbox", metadata: ["uid": "\(uid)"])
            let dir = c.sandboxRoot + "/" + uid
            // a shared PID namespace's pause process
            var pin = stat()
            if stat(dir + "/pid", &pin) == 0 {
                for p in (try? Files.list("/proc")) ?? [] where Int32(p) != nil {
                    var st = stat()
                    if stat("/proc/\(p)/ns/pid", &st) == 0 && st.st_ino == pin.st_ino && st.st_dev == pin.st_dev { kill(Int32(p)!, SIGKILL) }
                }
            }
            if let mounts = try? ProcFS.mountInfo() {
                for m in mounts.map(\.mountPoint).filter({ $0.hasPrefix(dir + "/") }).sorted(by: >) { umount2(m, Int32(MNT_DETACH)) }
            }
            for n in (try? Files.list(dir)) ?? [] { unlink(dir + "/" + n); rmdir(dir + "/" + n) }
            rmdir(dir)
        }
        let prefix = ctx.idPrefix
        let livePrefixes = Set(live.map { prefix + String($0.prefix(8)) })
        func owner(_ id: String) -> String { String(id.prefix(prefix.count + 8)) }
        // ids(), not list(): a container whose create was interrupted has no readable state yet
        for id in ctx.runtime.ids() where !livePrefixes.contains(owner(id)) {
            log.info("removing orphaned container", metadata: ["id": "\(id)"])
            try? ctx.runtime.kill(id: id, signal: SIGKILL, all: true)
            try? ctx.runtime.delete(id: id, force: true)
        }
        // snapshots and addresses are node-wide: only the agent reclaims them, and never those
        // of `swiftlet run` instances
        guard c.instance == nil else { return }
        for snap in (try? ctx.store.snapshots()) ?? [] where !snap.id.hasPrefix(AgentConfig.runPrefix) && !livePrefixes.contains(owner(snap.id)) {
            try? ctx.snapshots.remove(id: snap.id)
        }
        _ = try? ctx.userns.reclaim(keeping: live, alsoKeeping: { $0.hasPrefix(AgentConfig.runPrefix) })
        if let removed = try? ctx.network.reclaim(keeping: live, alsoKeeping: { $0.hasPrefix(AgentConfig.runPrefix) }), !removed.isEmpty {
            log.info("reclaimed pod addresses", metadata: ["ids": "\(removed.joined(separator: ","))"])
        }
    }

    func relistDesired() -> [String: Pod] {
        if let fixedPods { return Dictionary(fixedPods.map { ($0.metadata.uid ?? "", $0) }, uniquingKeysWith: { a, _ in a }) }
        var desired: [String: Pod] = [:]
        var bad: [String: [String]] = [:]
        var objects: [ConfigObject] = []
        defer {
            if ctx.objects.replace(objects) {
                for w in workers.values { Task { await w.refreshVolumes() } }
            }
        }
        for r in source.list(objectsDir: ctx.config.objectsDir) {
            switch r {
            case .objects(_, let list): objects += list
            case .pod(let p): desired[p.metadata.uid!] = p
            case .invalid(let path, let errors):
                if invalid[path] != errors { log.error("invalid manifest", metadata: ["file": "\(path)", "errors": "\(errors.joined(separator: "; "))"]) }
                bad[path] = errors
            }
        }
        invalid = bad
        for (uid, p) in apiPods { desired[uid] = p }
        // two files naming the same pod: the first (by file name) wins
        var byName: [String: String] = [:]
        for (uid, p) in desired.sorted(by: { ($0.value.metadata.annotations?["swiftlet.io/manifest"] ?? "") < ($1.value.metadata.annotations?["swiftlet.io/manifest"] ?? "") }) {
            let key = "\(p.metadata.namespace ?? "")/\(p.metadata.name ?? "")"
            if let other = byName[key], other != uid {
                let path = p.metadata.annotations?["swiftlet.io/manifest"] ?? ""
                invalid[path] = ["pod \(key) is already defined by another manifest"]
                desired[uid] = nil
            } else { byName[key] = uid }
        }
        return desired
    }

    public func relist() {
        apply(relistDesired())
    }

    /// The master's pods for this node (the API source), replacing the last set.
    public func setAPIPods(_ pods: [String: Pod], grace: [String: Int64]) {
        apiPods = pods
        apiGrace = grace
        relist()
    }

    /// ConfigMaps/Secrets changed: every pod's volumes are written again.
    public func refreshAllVolumes() {
        for w in workers.values { Task { await w.refreshVolumes() } }
    }

    public func setOnPodStopped(_ h: @escaping @Sendable (Pod) async -> Void) { onPodStopped = h }

    /// The running workers of static pods (manifest files): the master shows them as mirror pods.
    public func staticWorkers() -> [(uid: String, worker: PodWorker)] {
        workers.filter { apiPods[$0.key] == nil }.map { ($0.key, $0.value) }
    }

    /// The running workers of the master's pods.
    public func apiWorkers() -> [(uid: String, worker: PodWorker)] {
        workers.filter { apiPods[$0.key] != nil }.map { ($0.key, $0.value) }
    }

    func apply(_ desired: [String: Pod]) {
        for (uid, w) in workers where desired[uid] == nil {
            workers[uid] = nil
            let grace = apiGrace[uid]
            stopping[uid] = (names[uid] ?? "", Task { await w.terminate(grace: grace); await self.stopped(uid, w) }, w)
            names[uid] = nil
        }
        for (uid, pod) in desired where workers[uid] == nil {
            let w = PodWorker(ctx: ctx, pod: pod, restored: nil)
            workers[uid] = w
            names[uid] = fullName(pod)
            // a replaced pod (same name, new spec) starts after the old one is gone
            let waitFor = stopping.values.filter { $0.name == fullName(pod) }.map(\.task)
            Task {
                for t in waitFor { await t.value }
                await w.startLoop()
            }
        }
    }

    func stopped(_ uid: String, _ w: PodWorker) async {
        stopping[uid] = nil
        if let h = onPodStopped { await h(await w.snapshot()) }
    }

    func fullName(_ p: Pod) -> String { "\(p.metadata.namespace ?? "")/\(p.metadata.name ?? "")" }

    /// Running and terminating pods (the latter with deletionTimestamp set, as kubectl shows them).
    public func pods() async -> [Pod] {
        var out: [Pod] = []
        for w in workers.values { out.append(await w.snapshot()) }
        for s in stopping.values where !(await s.worker.isTerminated) { out.append(await s.worker.snapshot()) }
        return out.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
    }

    public func invalidManifests() -> [String: [String]] { invalid }

    /// Pods the eviction manager may pick for `signal`, with usage and request of that resource.
    func evictionCandidates(signal: EvictionThreshold.Signal) async -> [EvictionPolicy.Candidate] {
        var out: [EvictionPolicy.Candidate] = []
        for (uid, w) in workers { out.append(await w.evictionCandidate(signal: signal, uid: uid)) }
        return out
    }

    /// Hard eviction: the pod's containers are killed at once and it stays Failed/Evicted.
    func evict(uid: String, message: String) async {
        guard let w = workers[uid] else { return }
        log.warning("evicting pod", metadata: ["uid": "\(uid)", "message": "\(message)"])
        await w.evict(message: message)
    }

    /// The node's pressure conditions and the last measurement (the local API's /node).
    public func nodeStatus() async -> (conditions: [NodeCondition], observation: NodeObservation) {
        (await pressure.conditions, await pressure.lastObservation)
    }

    public func worker(named name: String) async -> PodWorker? {
        for w in workers.values {
            let p = await w.pod
            if p.metadata.name == name || p.metadata.uid == name || "\(p.metadata.namespace ?? "")/\(p.metadata.name ?? "")" == name { return w }
        }
        return nil
    }

    /// Agent shutdown: pods keep running (they are adopted by the next start).
    public func shutdown() {
        relistTask?.cancel()
        housekeepingTask?.cancel()
        healthy = false
    }

    /// Stops every pod (used by `swiftlet run -f` on Ctrl-C and by tests).
    public func stopAll() async {
        relistTask?.cancel()
        for (uid, w) in workers {
            workers[uid] = nil
            await w.terminate()
        }
        for t in stopping.values { await t.task.value }
    }
}

/// A coalescing "something changed" signal: `fire` from anywhere; one subscriber gets at most one
/// pending wake-up however often it fired.
public final class StatusSignal: Sendable {
    let continuation = Mutex<AsyncStream<Void>.Continuation?>(nil)
    public init() {}

    public func subscribe() -> AsyncStream<Void> {
        let (stream, c) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.withLock { $0 = c }
        return stream
    }

    public func fire() { _ = continuation.withLock { $0?.yield() } }
}

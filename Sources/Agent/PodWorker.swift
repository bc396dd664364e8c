import CShims
import Cgroups
import FoundationEssentials
import Images
import KubeModel
import LinuxSystem
import Logging
import Networking
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// What survives an agent restart for one container (in pods/<uid>/state.json).
struct ContainerRecordState: Codable, Sendable, Equatable {
    var name: String
    var containerID: String?
    var restartCount: Int32 = 0
    var backoffCount: Int = 0
    var startedAt: String?
    var imageRef: String?
    var imageID: String?
    var lastTerminated: ContainerStateTerminated?
    /// Set when the container exited and will not run again (restart policy), or is waiting.
    var terminated: ContainerStateTerminated?
    var waitingReason: String?
    var waitingMessage: String?
    /// Monotonic deadline is not persistable: wall-clock seconds since the epoch.
    var notBefore: Double?
}

struct PodRecordState: Codable, Sendable {
    var uid: String
    var podIP: String?
    var sandboxReady: Bool = false
    var startTime: String?
    var containers: [ContainerRecordState]
    var initContainers: [ContainerRecordState]? = nil
    /// Every regular init container has completed (sidecars started).
    var initialized: Bool? = nil
    var conditions: [PodCondition] = []
    /// init of the shared PID namespace (shareProcessNamespace)
    var pausePid: Int32?
    /// host ID range of the pod's user namespaces (hostUsers: false)
    var usernsBase: UInt32?
}

func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func nowRFC3339() -> String {
    let t = Timestamp.now()
    return Timestamp(seconds: t.seconds, nanoseconds: 0).rfc3339Nano
}

/// One actor per pod UID: sandbox, containers, restarts, status, termination. Only the newest
/// desired spec matters; a sync runs to completion before the next look at the world.
public actor PodWorker {
    let ctx: AgentContext
    public let uid: String
    public private(set) var pod: Pod
    var state: PodRecordState
    var terminating = false
    var preparedVolumes: [String: PreparedVolume] = [:]
    var probeTasks: [String: Task<Void, Never>] = [:]
    /// readiness probe verdicts by container id (absent: no readiness probe)
    var readiness: [String: Bool] = [:]
    /// startup probe passed, by container id (absent: no startup probe)
    var startupDone: [String: Bool] = [:]
    var postStartPending: Set<String> = []
    /// being stopped (not ready any more)
    var stopping: Set<String> = []
    /// containers whose process has exited but whose exit the sync loop has not recorded yet:
    /// never ready; their probe verdicts stay until `removeContainer`, so one whose startup probe
    /// never passed does not fall back to "no probe → started" meanwhile
    var exitedIDs: Set<String> = []
    /// why the agent killed a container (liveness, postStart), for its terminated message
    var killMessages: [String: String] = [:]
    var volumesReady = false
    /// volumes chowned into the pod's ID range (no idmapped mount possible)
    var shiftedVolumes: Set<String> = []
    /// Refused at admission (forbidden sysctls): reason and message; the pod is Failed.
    var rejected: (reason: String, message: String)?
    var deletionStarted: String?
    /// What happened to the pod (probe failures, kills), for `swiftlet events` and later the API.
    public private(set) var events = EventLog()
    var terminated = false
    var loop: Task<Void, Never>?
    var wake: AsyncStream<Void>.Continuation?
    var watched: Set<String> = []
    let log: Logger
    var podDir: String { ctx.config.podsDir + "/" + uid }
    /// <podLogsDir>/<namespace>_<name>_<uid>: one dir per container, <restartCount>.log inside.
    public var logDir: String { ctx.config.podLogsDir + "/\(pod.metadata.namespace ?? "default")_\(pod.metadata.name ?? "")_\(uid)" }
    /// The pod as containers see it through fieldRefs (status.hostIP filled in).
    var podView: Pod {
        var p = pod
        p.status = PodStatus()
        p.status?.hostIP = ctx.hostIP
        return p
    }
    /// The pod's owner name in the node's IPAM (prefixed for `swiftlet run` instances).
    var networkID: String { ctx.idPrefix + uid }
    var sandboxDir: String { ctx.config.sandboxRoot + "/" + uid }
    var restartPolicy: String { pod.spec.restartPolicy ?? "Always" }
    var qosClass: QoSClass { KubeMapping.qosClass(pod.spec.containers.map(ContainerSpecBuilder.requirements)) }
    var fullName: String { "\(pod.metadata.namespace ?? "default")/\(pod.metadata.name ?? "")" }
    public var isTerminated: Bool { terminated }

    init(ctx: AgentContext, pod: Pod, restored: PodRecordState?) {
        self.ctx = ctx
        self.pod = pod
        self.uid = pod.metadata.uid ?? ""
        var log = ctx.logger
        log[metadataKey: "pod"] = "\(pod.metadata.namespace ?? "default")/\(pod.metadata.name ?? "")"
        log[metadataKey: "uid"] = "\(pod.metadata.uid ?? "")"
        self.log = log
        let names = pod.spec.containers.map(\.name)
        let initNames = (pod.spec.initContainers ?? []).map(\.name)
        if var r = restored {
            // keep records of containers still in the spec, add new ones
            r.containers = names.map { n in r.containers.first { $0.name == n } ?? ContainerRecordState(name: n) }
            let old = r.initContainers ?? []
            r.initContainers = initNames.map { n in old.first { $0.name == n } ?? ContainerRecordState(name: n) }
            state = r
        } else {
            state = PodRecordState(uid: uid, containers: names.map { ContainerRecordState(name: $0) },
                                   initContainers: initNames.map { ContainerRecordState(name: $0) }, initialized: initNames.isEmpty)
        }
    }

    func startLoop() {
        let (stream, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wake = cont
        loop = Task { await self.run(stream) }
    }

    func poke() { wake?.yield() }

    // MARK: - main loop

    func run(_ events: AsyncStream<Void>) async {
        var it = events.makeAsyncIterator()
        if state.startTime == nil { state.startTime = nowRFC3339() }
        if state.sandboxReady {
            // adopted: the sandbox must still be whole
            if !sandboxPinned {
                log.warning("the sandbox is gone: recreating it")
                state.sandboxReady = false
            } else if let pid = state.pausePid {
                watchPause(pid)
            }
        }
        while !terminating {
            var nextWake: Double? = nil
            if !state.sandboxReady {
                do {
                    try await ensureSandbox()
                } catch {
                    log.error("sandbox: \(error)")
                    for i in state.containers.indices where state.containers[i].containerID == nil {
                        state.containers[i].waitingReason = "ContainerCreating"
                        state.containers[i].waitingMessage = "\(error)"
                    }
                    persist()
                    nextWake = wallClock() + 2
                }
            }
            if rejected == nil, let why = admissionError() {
                rejected = why
                log.error("pod rejected", metadata: ["reason": "\(why.reason)", "message": "\(why.message)"])
            }
            if state.sandboxReady && !volumesReady && rejected == nil {
                do {
                    preparedVolumes = try ensureVolumes()
                    volumesReady = true
                } catch {
                    log.warning("volumes: \(error)")
                    self.events.record(type: "Warning", reason: "FailedMount", message: "MountVolume.SetUp failed: \(error)", at: nowRFC3339())
                    for slot in allSlots where record(slot).containerID == nil {
                        var r = record(slot)
                        r.waitingReason = "ContainerCreating"
                        r.waitingMessage = "MountVolume.SetUp failed: \(error)"
                        setRecord(slot, r)
                    }
                    nextWake = wallClock() + 2
                }
            }
            if state.sandboxReady && volumesReady && rejected == nil {
                // an init container that completed lets the next one start at once
                var slots = activeSlots()
                while !terminating {
                    for slot in slots where !terminating {
                        if let w = await step(slot) { nextWake = min(nextWake ?? w, w) }
                    }
                    let next = activeSlots()
                    if next == slots { break }
                    slots = next
                }
                if state.initialized == true { await stopSidecarsWhenDone() }
            }
            persist()
            if terminating { break }
            // sleep until an exit, a poke, or the next deadline
            if let deadline = nextWake {
                let delay = max(0, deadline - wallClock())
                let sleeper = Task { [weak self] in
                    try? await Task.sleep(for: .milliseconds(Int64(delay * 1000) + 1))
                    await self?.poke()
                }
                _ = await it.next()
                sleeper.cancel()
            } else {
                _ = await it.next()
            }
        }
    }

    /// Advances one container; returns a wall-clock time to look again, if any.
    func step(_ slot: Slot) async -> Double? {
        let c = container(slot)
        var rec = record(slot)
        let restartPolicy = policy(slot)
        defer { setRecord(slot, rec) }
        if let id = rec.containerID {
            let st = try? ctx.runtime.state(id: id)
            if let st, st.status == "running" || st.status == "created" {
                if !watched.contains(id) { watch(id: id); startProbes(id: id, container: c) }
                return nil
            }
            // exited (or vanished): record it, clean up the container
            let exit = ctx.runtime.exitRecord(id: id)
            let code = exit?.exitCode ?? (st == nil ? 137 : 0)
            let t = ContainerStateTerminated(
                exitCode: code, signal: (exit?.signal ?? 0) == 0 ? nil : exit?.signal,
                reason: exit.map { $0.reason == "Unknown" ? "Unknown" : terminatedReason(exitCode: $0.exitCode, oomKilled: $0.oomKilled) } ?? "Error",
                message: killMessages.removeValue(forKey: id) ?? exit?.error ?? (exit == nil ? "the container's state was lost" : nil),
                startedAt: rec.startedAt, finishedAt: exit?.finishedAt ?? nowRFC3339(), containerID: "swiftlet://" + id)
            removeContainer(id)
            rec.containerID = nil
            rec.lastTerminated = t
            rec.startedAt = nil
            log.info("container exited", metadata: ["container": "\(c.name)", "exitCode": "\(code)", "reason": "\(t.reason ?? "")"])
            if RestartDecision.shouldRestart(policy: restartPolicy, exitCode: code) {
                // kubelet: the first restart is immediate, later ones back off; a long run resets
                let ranFor = runSeconds(t)
                if ranFor >= Double(ctx.config.backoffResetSeconds) { rec.backoffCount = 0 }
                let delay = ctx.config.backoff.delay(failures: rec.backoffCount)
                rec.backoffCount += 1
                let seconds = delay.seconds
                rec.notBefore = wallClock() + seconds
                rec.terminated = nil
                if seconds > 0 {
                    events.record(type: "Warning", reason: "BackOff", message: "Back-off restarting failed container \(c.name) in pod \(pod.metadata.name ?? "")_\(pod.metadata.namespace ?? "")(\(uid))",
                                  fieldPath: fieldPath(slot), at: nowRFC3339())
                    rec.waitingReason = "CrashLoopBackOff"
                    rec.waitingMessage = "back-off \(formatSeconds(seconds)) restarting failed container=\(c.name) pod=\(pod.metadata.name ?? "")_\(pod.metadata.namespace ?? "")(\(uid))"
                }
            } else {
                rec.terminated = t
                rec.waitingReason = nil
                return nil
            }
        }
        if rec.terminated != nil { return nil }
        if let nb = rec.notBefore, nb > wallClock() {
            // kubelet: ErrImagePull on the failed attempt, then ImagePullBackOff while waiting
            if rec.waitingReason == "ErrImagePull" {
                events.record(type: "Normal", reason: "BackOff", message: "Back-off pulling image \"\(c.image ?? "")\"", fieldPath: fieldPath(slot), at: nowRFC3339())
                rec.waitingReason = "ImagePullBackOff"
                rec.waitingMessage = "Back-off pulling image \"\(c.image ?? "")\": \(rec.waitingMessage ?? "")"
            }
            return nb
        }
        // start (again). The record goes back to the actor first: starting awaits, and until then
        // status() must see the exited container gone, not its id with its probe verdicts
        // already forgotten (which would read as running, started and ready).
        setRecord(slot, rec)
        let isRestart = rec.lastTerminated != nil
        do {
            try await startContainer(c, &rec, fieldPath: fieldPath(slot))
            if isRestart { rec.restartCount += 1 }
            rec.notBefore = nil
            rec.waitingReason = nil
            rec.waitingMessage = nil
        } catch let e as StartError {
            rec.waitingReason = e.reason
            rec.waitingMessage = e.message
            events.record(type: "Warning", reason: "Failed", message: e.reason == "ErrImagePull" ? "Failed to pull image \"\(c.image ?? "")\": \(e.message)" : e.message,
                          fieldPath: fieldPath(slot), at: nowRFC3339())
            if e.reason == "ErrImagePull" { events.record(type: "Warning", reason: "Failed", message: "Error: ErrImagePull", fieldPath: fieldPath(slot), at: nowRFC3339()) }
            log.warning("container start failed", metadata: ["container": "\(c.name)", "reason": "\(e.reason)", "error": "\(e.message)"])
            let delay = ctx.config.backoff.delay(failures: max(1, rec.backoffCount))
            rec.backoffCount += 1
            let seconds = delay.seconds
            rec.notBefore = wallClock() + seconds
            if e.reason == "ErrImagePull" { return wallClock() + min(0.5, seconds / 2) }
            return rec.notBefore
        } catch {
            rec.waitingReason = "RunContainerError"
            rec.waitingMessage = "\(error)"
            rec.notBefore = wallClock() + 10
            return rec.notBefore
        }
        return nil
    }

    // MARK: - init containers and sidecars

    /// A container of the pod: an app container or an init container (sidecars are init
    /// containers with restartPolicy Always).
    enum Slot: Hashable, Sendable {
        case app(Int)
        case initc(Int)
    }

    var initSpecs: [Container] { pod.spec.initContainers ?? [] }

    func container(_ s: Slot) -> Container {
        switch s {
        case .app(let i): return pod.spec.containers[i]
        case .initc(let i): return initSpecs[i]
        }
    }

    func record(_ s: Slot) -> ContainerRecordState {
        switch s {
        case .app(let i): return state.containers[i]
        case .initc(let i): return state.initContainers![i]
        }
    }

    func setRecord(_ s: Slot, _ r: ContainerRecordState) {
        switch s {
        case .app(let i): state.containers[i] = r
        case .initc(let i): state.initContainers![i] = r
        }
    }

    func isSidecar(_ s: Slot) -> Bool {
        if case .initc(let i) = s { return initSpecs[i].restartPolicy == "Always" }
        return false
    }

    /// Restart policy of one container: the pod's for app containers; init containers are
    /// retried on failure unless the pod's is Never; sidecars always restart.
    func policy(_ s: Slot) -> String {
        switch s {
        case .app: return restartPolicy
        case .initc:
            if isSidecar(s) { return sidecarsStopping ? "Never" : "Always" }
            return restartPolicy == "Never" ? "Never" : "OnFailure"
        }
    }

    var allSlots: [Slot] { initSpecs.indices.map { Slot.initc($0) } + pod.spec.containers.indices.map { Slot.app($0) } }

    /// The containers to advance now: init containers in order, each regular one waited for
    /// (sidecars only started); then the sidecars and app containers.
    func activeSlots() -> [Slot] {
        if state.initialized == true {
            return initSpecs.indices.map { Slot.initc($0) }.filter(isSidecar) + pod.spec.containers.indices.map { Slot.app($0) }
        }
        var slots: [Slot] = []
        for i in initSpecs.indices {
            let s = Slot.initc(i)
            slots.append(s)
            if isSidecar(s) {
                // the next init container waits until the sidecar has started (postStart, startup probe)
                if let id = record(s).containerID, isStarted(id), !exitedIDs.contains(id) { continue }
                return slots
            }
            let r = record(s)
            // done: exited 0 and not running again
            if r.containerID == nil, let t = r.terminated, t.exitCode == 0 { continue }
            return slots
        }
        state.initialized = true
        log.info("pod initialized")
        return activeSlots()
    }

    /// A regular init container failed with restartPolicy Never: the pod has failed.
    var initFailed: Bool {
        guard state.initialized != true else { return false }
        return initSpecs.indices.contains { i in
            let s = Slot.initc(i)
            guard !isSidecar(s), let t = record(s).terminated else { return false }
            return t.exitCode != 0
        }
    }

    var sidecarsStopping = false

    /// App containers all finished for good (Never/OnFailure): the sidecars are stopped, last
    /// started first, and not restarted.
    func stopSidecarsWhenDone() async {
        let apps = pod.spec.containers.indices.map { record(.app($0)) }
        guard !apps.isEmpty, apps.allSatisfy({ $0.containerID == nil && $0.terminated != nil }) else { return }
        let sidecars = initSpecs.indices.map { Slot.initc($0) }.filter(isSidecar)
        guard sidecars.contains(where: { record($0).containerID != nil }) else { return }
        sidecarsStopping = true
        for s in sidecars.reversed() {
            if let id = record(s).containerID { await stopContainer(id: id, container: container(s), grace: pod.spec.terminationGracePeriodSeconds ?? 30) }
            _ = await step(s)
        }
    }

    func runSeconds(_ t: ContainerStateTerminated) -> Double {
        guard let s = t.startedAt.flatMap(Timestamp.parse), let f = t.finishedAt.flatMap(Timestamp.parse) else { return 0 }
        return Double(f.seconds - s.seconds)
    }

    func formatSeconds(_ s: Double) -> String {
        if s >= 60 && s.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(s) / 60)m0s" }
        if s == s.rounded() { return "\(Int(s))s" }
        return "\(Int(s * 1000))ms"
    }

    func watch(id: String) {
        guard let rec = try? ctx.runtime.record(id: id) else { return }
        watched.insert(id)
        let watcher = ctx.exits
        Task { [weak self] in
            await watcher.wait(pid: rec.monitorPid)
            await self?.exited(id)
        }
    }

    /// The container's process is gone: its probes stop, and until the sync loop records the
    /// exit (and removes the container, forgetting the verdicts) it is not ready. Forgetting the
    /// verdicts here would report a container whose startup probe never passed as started and
    /// ready for that moment.
    func exited(_ id: String) {
        watched.remove(id)
        stopProbes(id)
        exitedIDs.insert(id)
        poke()
    }

    /// Started: postStart returned and the startup probe (if any) passed.
    func isStarted(_ id: String) -> Bool {
        !postStartPending.contains(id) && (startupDone[id] ?? true)
    }

    struct StartError: Error {
        var reason: String
        var message: String
    }

    // MARK: - containers

    func containerID(_ c: Container, attempt: Int32) -> String {
        "\(ctx.idPrefix)\(uid.prefix(8))-\(c.name)-\(attempt)"
    }

    func startContainer(_ c: Container, _ rec: inout ContainerRecordState, fieldPath: String) async throws {
        if [c.livenessProbe, c.readinessProbe, c.startupProbe].contains(where: { $0?.grpc != nil }) {
            throw StartError(reason: "CreateContainerConfigError", message: "grpc probes are not supported by this node (use exec, httpGet or tcpSocket)")
        }
        log.debug("starting container", metadata: ["container": "\(c.name)"])
        let image = try await ensureImage(c, fieldPath: fieldPath)
        let attempt = rec.restartCount + (rec.lastTerminated != nil ? 1 : 0)
        let id = containerID(c, attempt: attempt)
        // leftovers of an interrupted earlier attempt with the same id
        let rt = ctx.runtime, snaps = ctx.snapshots
        let leftover: String? = await offload {
            var problems: [String] = []
            do { try rt.delete(id: id, force: true) } catch RuntimeError.notFound(_) { } catch { problems.append("container: \(error)") }
            do { try snaps.remove(id: id) } catch { problems.append("snapshot: \(error)") }
            return problems.isEmpty ? nil : problems.joined(separator: "; ")
        }
        if let leftover { log.warning("removing what an interrupted start left failed", metadata: ["container": "\(c.name)", "id": "\(id)", "error": "\(leftover)"]) }
        let config: ImageConfig
        do { config = try ImageConfig.parse(try ctx.store.readBlob(image.config)) } catch {
            throw StartError(reason: "CreateContainerError", message: "image config of \(image.name): \(error)")
        }
        let rootfs: String
        do {
            if !hostUsers, let base = state.usernsBase {
                // the image's layers (files of host IDs) idmapped into the pod's range, and the
                // writable layer's root owned by the pod's root
                rootfs = try ctx.snapshots.prepare(id: id, image: image, layerPath: { try self.idmappedLayer($0) }, upperOwner: (base, base))
            } else {
                rootfs = try await offload { try snaps.prepare(id: id, image: image) }
            }
        } catch {
            throw StartError(reason: "CreateContainerError", message: hostUsers ? "\(error)" : "hostUsers: false needs idmapped mounts of the image's layers: \(error)")
        }
        do {
            let userSpec: String
            if let u = c.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser {
                let g = c.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup
                userSpec = g.map { "\(u):\($0)" } ?? "\(u)"
            } else {
                userSpec = config.user
            }
            let user: ResolvedUser
            do {
                user = try UserDatabase.resolve(userSpec, passwd: UserDatabase.parsePasswd(readFileInRoot(rootfs, "/etc/passwd")),
                                                group: UserDatabase.parseGroup(readFileInRoot(rootfs, "/etc/group")))
            } catch {
                throw StartError(reason: "CreateContainerConfigError", message: "\(error)")
            }
            let qos = qosClass
            var spec: OCISpec
            do {
                var input = ContainerSpecBuilder.Input(
                    pod: podView, container: c, image: config, user: user,
                    sandbox: sandboxPaths,
                    rootfs: rootfs, cgroupsPath: "/" + ctx.cgroupBase + "/" + KubeMapping.podCgroup(qos: qos, podUID: uid) + "/" + id,
                    qos: qos, memoryCapacity: ctx.memoryCapacity)
                input.volumes = preparedVolumes
                let store = ctx.objects, ns = pod.metadata.namespace ?? "default"
                input.objects = { kind, name in store.get(kind, namespace: ns, name: name) }
                let pinned = subPathsDir
                input.resolveSubPath = { r in try PodWorker.bindSubPath(base: r.base, sub: r.subPath, target: pinned + "/\(r.volume)/\(r.container)/\(r.index)") }
                input.localhostSeccomp = try loadLocalhostSeccomp(c)
                if c.securityContext?.privileged ?? false { input.hostDevices = HostDevices.list() }
                input.nodeAllocatable = ["cpu": Quantity(Int64(ctx.cpuCount)), "memory": Quantity(ctx.memoryCapacity)]
                input.usernsBase = hostUsers ? nil : state.usernsBase
                spec = try ContainerSpecBuilder.spec(input)
                if !hostUsers {
                    PodWorker.makeTraversable(rootfs + "/")
                    for m in spec.mounts ?? [] where m.type == "bind" { if let s = m.source { PodWorker.makeTraversable(s) } }
                }
                if let adj = spec.process?.oomScoreAdj, adj < ctx.minOOMScoreAdj { spec.process?.oomScoreAdj = ctx.minOOMScoreAdj }
            } catch {
                throw StartError(reason: "CreateContainerConfigError", message: "\(error)")
            }
            let bundle = podDir + "/containers/" + id
            try Files.makeDirectories(bundle, mode: 0o700)
            try Files.write(bundle + "/config.json", spec.json.serialized() + "\n", mode: 0o600)
            let logDir = self.logDir + "/" + c.name
            try Files.makeDirectories(logDir, mode: 0o755)
            var o = CreateOptions()
            o.logPath = logDir + "/\(rec.restartCount + (rec.lastTerminated != nil ? 1 : 0)).log"
            o.logMaxBytes = UInt64(ctx.logMaxBytes)
            o.logMaxFiles = UInt32(ctx.config.containerLogMaxFiles)
            o.allowUnenforcedResources = ctx.config.allowUnenforcedResources
            let record: ContainerRecord
            let options = o
            do {
                record = try await offload {
                    do {
                        let r = try rt.create(id: id, bundle: bundle, options: options)
                        try rt.start(id: id)
                        return r
                    } catch {
                        try? rt.delete(id: id, force: true)
                        throw error
                    }
                }
            } catch {
                throw StartError(reason: "RunContainerError", message: "\(error)")
            }
            rec.containerID = id
            rec.startedAt = nowRFC3339()
            rec.imageRef = image.name
            rec.imageID = PodWorker.imageID(name: image.name, digest: image.digest.description)
            log.info("container started", metadata: ["container": "\(c.name)", "id": "\(id)", "pid": "\(record.pid)"])
            events.record(reason: "Created", message: "Created container \(c.name)", fieldPath: fieldPath, at: nowRFC3339())
            events.record(reason: "Started", message: "Started container \(c.name)", fieldPath: fieldPath, at: nowRFC3339())
            persist()
            watch(id: id)
            if let hook = c.lifecycle?.postStart { await runPostStart(hook, id: id, container: c) }
            startProbes(id: id, container: c)
        } catch {
            try? ctx.snapshots.remove(id: id)
            try? Files.removeTree(podDir + "/containers/" + id)
            throw error
        }
    }

    /// The repository digest the kubelet reports as imageID: `registry[:port]/path@sha256:…`.
    static func imageID(name: String, digest: String) -> String {
        if let ref = try? ImageReference.parse(name) { return ref.repository + "@" + digest }
        return name + "@" + digest
    }

    func ensureImage(_ c: Container, fieldPath: String) async throws -> ImageRecord {
        let r = try await pullIfNeeded(c, fieldPath: fieldPath)
        await ctx.imageUsage.used(r.name)
        return r
    }

    func pullIfNeeded(_ c: Container, fieldPath: String) async throws -> ImageRecord {
        let name = c.image ?? ""
        let ref: ImageReference
        do { ref = try ImageReference.parse(name) } catch {
            throw StartError(reason: "InvalidImageName", message: "\(error)")
        }
        let policy = c.imagePullPolicy ?? PodDefaults.pullPolicy(image: name)
        let local = try? ctx.store.image(ref.description)
        if let local, policy != "Always" {
            events.record(reason: "Pulled", message: "Container image \"\(name)\" already present on machine", fieldPath: fieldPath, at: nowRFC3339())
            return local
        }
        if local == nil && policy == "Never" {
            throw StartError(reason: "ErrImageNeverPull", message: "Container image \"\(name)\" is not present with pull policy of Never")
        }
        events.record(reason: "Pulling", message: "Pulling image \"\(name)\"", fieldPath: fieldPath, at: nowRFC3339())
        let began = ContinuousClock.now
        do {
            let r = try await ctx.pulls.pull(ref, puller: ctx.puller)
            let took = ContinuousClock.now - began
            let secs = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            events.record(reason: "Pulled", message: "Successfully pulled image \"\(name)\" in \(formatSeconds(secs))", fieldPath: fieldPath, at: nowRFC3339())
            return r
        } catch {
            if let local, policy == "Always" {
                log.warning("pull failed, using the local copy", metadata: ["image": "\(name)", "error": "\(error)"])
                return local
            }
            throw StartError(reason: "ErrImagePull", message: "\(error)")
        }
    }

    func removeContainer(_ id: String) {
        forgetProbes(id)
        try? ctx.runtime.delete(id: id, force: true)
        try? ctx.snapshots.remove(id: id)
        try? Files.removeTree(podDir + "/containers/" + id)
    }

    // MARK: - sandbox

    /// The namespaces this pod's sandbox creates (the rest are the node's).
    var sandboxNamespaces: Int32 {
        let spec = pod.spec
        var ns: Int32 = 0
        if !(spec.hostNetwork ?? false) { ns |= Int32(SL_SANDBOX_NET | SL_SANDBOX_UTS) }
        if !(spec.hostIPC ?? false) { ns |= Int32(SL_SANDBOX_IPC) }
        if (spec.shareProcessNamespace ?? false) && !(spec.hostPID ?? false) { ns |= Int32(SL_SANDBOX_PID) }
        if spec.hostUsers == false && ns & Int32(SL_SANDBOX_NET) != 0 { ns |= Int32(SL_SANDBOX_LOW_PORTS) }
        return ns
    }

    static let sandboxNames: [(Int32, String)] = [(Int32(SL_SANDBOX_NET), "net"), (Int32(SL_SANDBOX_IPC), "ipc"),
                                                  (Int32(SL_SANDBOX_UTS), "uts"), (Int32(SL_SANDBOX_PID), "pid")]

    var sandboxPaths: SandboxPaths {
        let ns = sandboxNamespaces
        func path(_ flag: Int32, _ name: String) -> String? { ns & flag != 0 ? sandboxDir + "/" + name : nil }
        return SandboxPaths(netns: path(Int32(SL_SANDBOX_NET), "net"), ipcns: path(Int32(SL_SANDBOX_IPC), "ipc"),
                            utsns: path(Int32(SL_SANDBOX_UTS), "uts"), pidns: path(Int32(SL_SANDBOX_PID), "pid"),
                            hostPID: pod.spec.hostPID ?? false, etcDir: podDir + "/etc", podIP: state.podIP, hostname: sandboxHostname)
    }

    var sandboxHostname: String {
        if pod.spec.hostNetwork ?? false {
            var buf = [CChar](repeating: 0, count: 256)
            gethostname(&buf, 255)
            return String(cString: buf)
        }
        return String((pod.spec.hostname ?? pod.metadata.name ?? "pod").prefix(63))
    }

    /// The pause process is alive and still the init of the pinned PID namespace (not a reused pid).
    var pauseAlive: Bool {
        guard let pid = state.pausePid, pid > 0 else { return false }
        var a = stat(), b = stat()
        return stat("/proc/\(pid)/ns/pid", &a) == 0 && stat(sandboxDir + "/pid", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev
    }

    /// Every namespace the sandbox needs is pinned (and the shared PID namespace has its init).
    var sandboxPinned: Bool {
        let ns = sandboxNamespaces
        for (flag, name) in Self.sandboxNames where ns & flag != 0 {
            if !ProcFS.isMountPoint(sandboxDir + "/" + name) { return false }
        }
        if !hostUsers && !ProcFS.isMountPoint(usernsPath) { return false }
        return ns & Int32(SL_SANDBOX_PID) == 0 || pauseAlive
    }

    func unpinSandbox() {
        if let pid = state.pausePid, pauseAlive { kill(pid, SIGKILL) }
        state.pausePid = nil
        unmountSandboxMounts()
        umount2(usernsPath, Int32(MNT_DETACH))
        unlink(usernsPath)
        for (_, n) in Self.sandboxNames.reversed() {
            let p = sandboxDir + "/" + n
            umount2(p, Int32(MNT_DETACH))
            unlink(p)
        }
    }

    func ensureSandbox() async throws {
        try Files.makeDirectories(podDir + "/etc", mode: 0o755)
        try Files.makeDirectories(sandboxDir, mode: 0o700)
        let hostname = sandboxHostname
        let ns = sandboxNamespaces
        let hostNetwork = pod.spec.hostNetwork ?? false
        let pinned = sandboxPinned
        if !pinned {
            // a sandbox made before (its pause died, or the node rebooted): start over
            if state.podIP != nil && !hostNetwork { try? ctx.network.remove(id: networkID, removingNetns: sandboxDir + "/net") }
            unpinSandbox()
            if !hostUsers { try ensureUserNamespace() }
            var pause: pid_t = 0
            let pauseImage = try ctx.runtime.monitorImage()
            let dir = sandboxDir
            let (made, pid, message) = try await offload { () -> (Bool, pid_t, String) in
                var err = [CChar](repeating: 0, count: 512)
                var pause: pid_t = 0
                let rc = sl_sandbox_create(dir, hostname, ns, pauseImage, &pause, &err, 512)
                return (rc >= 0, pause, String(cString: err))
            }
            if !made { throw ConfigError("sandbox: \(message)") }
            pause = pid
            if pause > 0 {
                state.pausePid = pause
                watchPause(pause)
            }
        } else if let pid = state.pausePid {
            watchPause(pid)
        }
        if hostNetwork {
            state.podIP = ctx.hostIP
        } else if state.podIP == nil || !pinned {
            let ports = pod.spec.containers.flatMap { $0.ports ?? [] }.compactMap { p -> PortMapping? in
                guard let h = p.hostPort, h > 0 else { return nil }
                return PortMapping(hostPort: UInt16(h), containerPort: UInt16(p.containerPort), proto: (p.protocol ?? "TCP").lowercased())
            }
            let network = ctx.network, nid = networkID, netns = sandboxDir + "/net"
            let r = try await offload { try network.add(id: nid, netns: netns, hostPorts: ports) }
            state.podIP = r.ip
        }
        let dns = pod.spec.dnsConfig.map { c in
            PodFiles.DNSConfig(nameservers: c.nameservers ?? [], searches: c.searches ?? [],
                               options: (c.options ?? []).map { (name: $0.name ?? "", value: $0.value) })
        }
        try PodFiles.write(to: podDir + "/etc", podIPs: state.podIP.map { [$0] } ?? [], hostname: hostname,
                           namespace: pod.metadata.namespace ?? "default",
                           aliases: (pod.spec.hostAliases ?? []).map { PodFiles.HostAlias(ip: $0.ip ?? "", hostnames: $0.hostnames ?? []) },
                           policy: PodFiles.DNSPolicy(rawValue: pod.spec.dnsPolicy ?? "ClusterFirst") ?? .clusterFirst,
                           hostNetwork: hostNetwork, clusterDNS: ctx.config.clusterDNS, clusterDomain: ctx.config.clusterDomain,
                           podDNSConfig: dns)
        try Files.write(podDir + "/etc/hostname", hostname + "\n", mode: 0o644, atomic: true)
        if ctx.cgroupsUsable {
            let qos = qosClass
            _ = try? ctx.qos.ensurePod(qos: qos, uid: uid, resources: KubeMapping.pod(pod.spec.containers.map(ContainerSpecBuilder.requirements)))
        }
        state.sandboxReady = true
        log.info("sandbox ready", metadata: ["ip": "\(state.podIP ?? "")"])
        persist()
    }

    var watchedPause: Int32 = 0
    func watchPause(_ pid: Int32) {
        guard watchedPause != pid else { return }
        watchedPause = pid
        let watcher = ctx.exits
        Task { [weak self] in
            await watcher.wait(pid: pid)
            await self?.pauseExited(pid)
        }
    }

    /// The shared PID namespace's init died: every container in it died with it. The sandbox is
    /// made again and the containers restart per the restart policy.
    func pauseExited(_ pid: Int32) {
        guard !terminating, state.pausePid == pid else { return }
        log.warning("the sandbox's pause process exited: recreating the sandbox", metadata: ["pid": "\(pid)"])
        state.sandboxReady = false
        state.pausePid = nil
        watchedPause = 0
        poke()
    }

    // MARK: - termination

    /// Stops every container (stop signal, SIGKILL at the grace deadline), then removes the
    /// sandbox, network, cgroups, pod dir and logs.
    public func terminate(grace: Int64? = nil) async {
        if terminated { return }
        terminating = true
        deletionStarted = nowRFC3339()
        poke()
        await loop?.value
        let g = Clamp.seconds(grace ?? pod.spec.terminationGracePeriodSeconds ?? 30)
        log.info("stopping pod", metadata: ["grace": "\(g)s"])
        // app containers (and a running regular init container) together, then the sidecars, the
        // last started first
        let sidecars = allSlots.filter(isSidecar)
        await withTaskGroup(of: Void.self) { group in
            for slot in allSlots where !isSidecar(slot) {
                guard let id = record(slot).containerID else { continue }
                let c = container(slot)
                group.addTask { await self.stopContainer(id: id, container: c, grace: g) }
            }
        }
        for slot in sidecars.reversed() {
            if let id = record(slot).containerID { await stopContainer(id: id, container: container(slot), grace: g) }
        }
        for slot in allSlots { if let id = record(slot).containerID { removeContainer(id) } }
        teardownSandbox()
        terminated = true
        ctx.statusSignal.fire()
        log.info("pod removed")
    }

    func stopContainer(id: String, container c: Container, grace requested: Int64) async {
        var grace = Clamp.seconds(requested)
        guard let rec = try? ctx.runtime.record(id: id), (try? ctx.runtime.state(id: id))?.status == "running" else { return }
        stopProbes(id)
        stopping.insert(id)
        if let hook = c.lifecycle?.preStop, grace > 0 {
            // preStop runs within the grace period; at least 2 s are left for the signal (kubelet)
            let start = wallClock()
            let r = await ctx.handlers.hook(hook, containerID: id, container: c, podIP: state.podIP, timeout: Double(grace))
            if !r.ok { log.warning("preStop hook failed", metadata: ["container": "\(c.name)", "error": "\(r.message)"]) }
            grace = max(2, grace - Int64(wallClock() - start))
        }
        var sig = SIGTERM
        if let image = try? ctx.store.image(c.image ?? ""), let cfg = try? ImageConfig.parse(try ctx.store.readBlob(image.config)),
           !cfg.stopSignal.isEmpty, let s = try? OCIRuntime.parseSignal(cfg.stopSignal) {
            sig = s
        }
        try? ctx.runtime.kill(id: id, signal: sig)
        let exited = await ctx.exits.wait(pid: rec.monitorPid, timeout: Clamp.duration(grace))
        if !exited {
            log.info("grace period over, killing", metadata: ["container": "\(c.name)"])
            try? ctx.runtime.kill(id: id, signal: SIGKILL, all: true)
            _ = await ctx.exits.wait(pid: rec.monitorPid, timeout: .seconds(10))
        }
        if let exit = ctx.runtime.exitRecord(id: id) {
            log.info("container stopped", metadata: ["container": "\(c.name)", "exitCode": "\(exit.exitCode)",
                                                     "signal": "\(exit.signal)", "graceful": "\(exited)"])
        }
    }

    func teardownSandbox() {
        if !(pod.spec.hostNetwork ?? false) { try? ctx.network.remove(id: networkID, removingNetns: sandboxDir + "/net") }
        unpinSandbox()
        rmdir(sandboxDir)
        if state.usernsBase != nil { ctx.userns.release(owner: networkID) }
        if ctx.cgroupsUsable {
            let qos = qosClass
            try? ctx.qos.removePod(qos: qos, uid: uid)
        }
        unmountVolumes()
        unpinSubPaths()
        ProcFS.unmountAll(under: podDir)
        do { try Files.removeTree(podDir) } catch { log.error("removing the pod's directory: \(error)") }
        if !ctx.config.keepPodLogs { try? Files.removeTree(logDir) }
    }

    // MARK: - status and persistence

    func persist() {
        ctx.statusSignal.fire()
        guard !terminated, Files.isDirectory(podDir) || ((try? Files.makeDirectories(podDir, mode: 0o700)) != nil) else { return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        if let data = try? enc.encode(state) { try? Files.write(podDir + "/state.json", Array(data), mode: 0o600, atomic: true) }
        if !Files.exists(podDir + "/pod.json"), let data = try? enc.encode(pod) {
            try? Files.write(podDir + "/pod.json", Array(data), mode: 0o600, atomic: true)
        }
    }

    func containerStatus(_ slot: Slot) -> KubeModel.ContainerStatus {
        let c = container(slot)
        let rec = record(slot)
        var cs = KubeModel.ContainerStatus(name: c.name, restartCount: rec.restartCount, image: c.image ?? "", imageID: rec.imageID ?? "")
        if let t = rec.lastTerminated { cs.lastState = ContainerState(terminated: t) }
        if let id = rec.containerID {
            cs.containerID = "swiftlet://" + id
            cs.state = ContainerState(running: ContainerStateRunning(startedAt: rec.startedAt))
            // started: postStart done and the startup probe passed; ready: started, and the
            // readiness probe (if any) passing. A regular init container is never ready.
            cs.started = isStarted(id)
            cs.ready = !isInitRegular(slot) && cs.started == true && (readiness[id] ?? true) && !stopping.contains(id)
                && !exitedIDs.contains(id) && !terminating
        } else if let t = rec.terminated {
            cs.state = ContainerState(terminated: t)
            cs.lastState = nil
            cs.started = false
            cs.ready = false
        } else {
            var reason = rec.waitingReason ?? "ContainerCreating"
            if case .app = slot, state.initialized != true { reason = "PodInitializing" }
            if case .initc = slot, rec.waitingReason == nil, rec.lastTerminated == nil, state.sandboxReady { reason = "PodInitializing" }
            cs.state = ContainerState(waiting: ContainerStateWaiting(reason: reason, message: rec.waitingMessage))
            cs.started = false
        }
        if case .initc = slot, !isSidecar(slot), cs.state?.terminated?.exitCode == 0 { cs.ready = true }
        return cs
    }

    func isInitRegular(_ slot: Slot) -> Bool {
        if case .initc = slot { return !isSidecar(slot) }
        return false
    }

    public func status() -> PodStatus {
        var st = PodStatus()
        let statuses = pod.spec.containers.indices.map { containerStatus(.app($0)) }
        let initStatuses = initSpecs.indices.map { containerStatus(.initc($0)) }
        let phase: String
        if terminated {
            phase = "Succeeded"
        } else if let r = rejected {
            phase = "Failed"
            st.reason = r.reason
            st.message = r.message
        } else if initFailed {
            phase = "Failed"
        } else if state.initialized != true {
            phase = "Pending"
        } else {
            let p = PodPhase.phase(restartPolicy: restartPolicy, statuses: statuses, sandboxReady: state.sandboxReady)
            // done only once the sidecars have stopped too
            let sidecarRunning = initSpecs.indices.contains { isSidecar(.initc($0)) && record(.initc($0)).containerID != nil }
            phase = (p == "Succeeded" || p == "Failed") && sidecarRunning ? "Running" : p
        }
        st.phase = phase
        st.containerStatuses = statuses
        st.initContainerStatuses = initStatuses.isEmpty ? nil : initStatuses
        st.podIP = state.podIP
        st.podIPs = state.podIP.map { [PodIP(ip: $0)] }
        st.hostIP = ctx.hostIP
        st.hostIPs = ctx.hostIP.map { [PodIP(ip: $0)] }
        st.startTime = state.startTime
        st.qosClass = qosClass.rawValue
        // sidecars count toward readiness like app containers
        let readiness = statuses + initSpecs.indices.filter { isSidecar(.initc($0)) }.map { initStatuses[$0] }
        let conds = PodPhase.conditions(phase: phase, statuses: readiness, initialized: state.initialized == true || phase == "Succeeded",
                                        scheduled: state.startTime ?? nowRFC3339(),
                                        previous: state.conditions, now: nowRFC3339(), sandboxReady: state.sandboxReady)
        state.conditions = conds
        st.conditions = conds
        return st
    }

    public func snapshot() -> Pod {
        var p = pod
        p.status = status()
        if terminating {
            p.metadata.deletionTimestamp = deletionStarted
            p.metadata.deletionGracePeriodSeconds = pod.spec.terminationGracePeriodSeconds
        }
        return p
    }

    /// Static pods (and system-critical priorities) are never evicted, as with the kubelet.
    var isCritical: Bool {
        let source = pod.metadata.annotations?["kubernetes.io/config.source"]
        return source == "file" || (pod.spec.priority ?? 0) >= EvictionPolicy.criticalPriority
    }

    func evictionCandidate(signal: EvictionThreshold.Signal, uid: String) -> EvictionPolicy.Candidate {
        let reqs = pod.spec.containers.map(ContainerSpecBuilder.requirements)
        var usage: Int64 = 0, request: Int64 = 0
        switch signal {
        case .memoryAvailable:
            request = reqs.compactMap(\.memoryRequestBytes).reduce(0, KubeMapping.saturatingAdd)
            let group = ctx.qos.hierarchy.absolute(ctx.cgroupBase + "/" + KubeMapping.podCgroup(qos: qosClass, podUID: uid))
            usage = Int64((try? Files.readString(group + "/memory.current")).flatMap { Int64($0.trimmingWhitespaceAndNewlines) } ?? 0)
        case .pidAvailable:
            usage = 0
        default:
            request = pod.spec.containers.compactMap { $0.resources?.requests?["ephemeral-storage"]?.value }.reduce(0, KubeMapping.saturatingAdd)
            usage = ephemeralStorageUsage()
        }
        return EvictionPolicy.Candidate(uid: uid, priority: pod.spec.priority ?? 0, critical: isCritical, usage: usage, request: request)
    }

    /// emptyDir volumes on disk, logs and the containers' writable layers.
    func ephemeralStorageUsage() -> Int64 {
        var total = diskUsage(volumesDir + "/kubernetes.io~empty-dir") + diskUsage(logDir)
        for slot in allSlots { if let id = record(slot).containerID { total += diskUsage(ctx.snapshots.directory(id) + "/upper") } }
        return total
    }

    /// Hard eviction: containers killed without grace, the pod Failed with reason Evicted.
    func evict(message: String) async {
        rejected = ("Evicted", message)
        events.record(type: "Warning", reason: "Evicted", message: message, at: nowRFC3339())
        for slot in allSlots {
            guard let id = record(slot).containerID else { continue }
            let c = container(slot)
            await stopContainer(id: id, container: c, grace: 0)
            let exit = ctx.runtime.exitRecord(id: id)
            var rec = record(slot)
            rec.terminated = ContainerStateTerminated(exitCode: exit?.exitCode ?? 137, signal: exit.map { $0.signal == 0 ? nil : $0.signal } ?? nil,
                                                      reason: "Error", message: message, startedAt: rec.startedAt,
                                                      finishedAt: exit?.finishedAt ?? nowRFC3339(), containerID: "swiftlet://" + id)
            rec.containerID = nil
            rec.waitingReason = nil
            setRecord(slot, rec)
            removeContainer(id)
        }
        persist()
        poke()
    }

    /// The CRI log files of a container instance (rotated ones first, then the live file), app
    /// or init container by name (the first app container when nil): the current or last
    /// instance, or with `previous` the one before the running one (the last terminated one when
    /// nothing runs). Instance k of a container logs to `<logDir>/<name>/<k>.log`.
    public func logFiles(container name: String?, previous: Bool) throws(AgentLookupError) -> (container: String, files: [String]) {
        let slots = pod.spec.containers.indices.map { Slot.app($0) } + initSpecs.indices.map { Slot.initc($0) }
        guard let slot = slots.first(where: { name == nil || container($0).name == name }) else {
            let all = slots.map { container($0).name }
            throw AgentLookupError("container \(name ?? "") is not valid for pod \(pod.metadata.name ?? ""): choose one of [\(all.joined(separator: " "))]")
        }
        let c = container(slot)
        let rec = record(slot)
        var n = Int(rec.restartCount)
        if previous {
            guard rec.lastTerminated != nil || rec.terminated != nil else {
                throw AgentLookupError("previous terminated container \"\(c.name)\" in pod \"\(pod.metadata.name ?? "")\" not found")
            }
            if rec.containerID != nil { n -= 1 }
        }
        let dir = logDir + "/" + c.name
        let live = "\(max(0, n)).log"
        let rotated = ((try? Files.list(dir)) ?? []).filter { $0.hasPrefix(live + ".") }.sorted()
        return (c.name, rotated.map { dir + "/" + $0 } + [dir + "/" + live])
    }

    /// Container id for `exec`/`logs` by container name (nil if not running).
    public func runningContainer(_ name: String?) -> (id: String, name: String)? {
        for slot in pod.spec.containers.indices.map({ Slot.app($0) }) + initSpecs.indices.map({ Slot.initc($0) }) {
            let c = container(slot)
            guard name == nil || c.name == name else { continue }
            if let id = record(slot).containerID { return (id, c.name) }
        }
        return nil
    }
}

// MARK: - probes and hooks

extension PodWorker {
    func startProbes(id: String, container c: Container) {
        guard probeTasks[id] == nil, c.livenessProbe != nil || c.readinessProbe != nil || c.startupProbe != nil else { return }
        if c.startupProbe != nil && startupDone[id] == nil { startupDone[id] = false }
        if c.readinessProbe != nil && readiness[id] == nil { readiness[id] = false }
        let runner = ctx.handlers
        let podIP = state.podIP
        let startedAt = record(forID: id)?.startedAt.flatMap(Timestamp.parse).map { Double($0.seconds) } ?? wallClock()
        let alreadyStarted = startupDone[id] ?? true
        probeTasks[id] = Task { [weak self] in
            await PodWorker.probeLoop(worker: self, id: id, container: c, podIP: podIP, runner: runner, startedAt: startedAt,
                                      skipStartup: alreadyStarted && c.startupProbe != nil)
        }
    }

    /// Cancels the probes; the verdicts stay until the container is gone (`forgetProbes`).
    func stopProbes(_ id: String) {
        probeTasks.removeValue(forKey: id)?.cancel()
    }

    func forgetProbes(_ id: String) {
        stopProbes(id)
        readiness[id] = nil
        startupDone[id] = nil
        postStartPending.remove(id)
        stopping.remove(id)
        exitedIDs.remove(id)
    }

    func record(forID id: String) -> ContainerRecordState? {
        allSlots.map(record).first { $0.containerID == id }
    }

    func slot(forID id: String) -> Slot? {
        allSlots.first { record($0).containerID == id }
    }

    /// The probes of one container: startup until it succeeds (liveness and readiness wait),
    /// then liveness and readiness side by side, each every periodSeconds.
    static func probeLoop(worker: PodWorker?, id: String, container c: Container, podIP: String?, runner: HandlerRunner,
                          startedAt: Double, skipStartup: Bool) async {
        @Sendable func sleep(_ s: Double) async -> Bool {
            if s > 0 { try? await Task.sleep(for: Clamp.duration(s)) }
            return !Task.isCancelled
        }
        /// Runs `probe` every period after its initial delay; `changed` gets each new verdict
        /// and returns false to stop.
        @Sendable func repeatedly(_ probe: Probe, _ kind: ProbeKind, initial: Bool?, _ changed: @Sendable (Bool, String) async -> Bool) async {
            let s = ProbeSettings(probe)
            var counter = ProbeCounter(initial: initial)
            guard await sleep(max(0, s.initialDelay - (wallClock() - startedAt))) else { return }
            while true {
                let r = await runner.probe(probe, containerID: id, container: c, podIP: podIP)
                if Task.isCancelled { return }
                if !r.ok { await worker?.probeAttemptFailed(id, kind: kind, message: r.message) }
                if let v = counter.record(r.ok, s), !(await changed(v, r.message)) { return }
                guard await sleep(s.period) else { return }
            }
        }
        if let sp = c.startupProbe, !skipStartup {
            await repeatedly(sp, .startup, initial: nil) { ok, message in
                if ok { await worker?.startupSucceeded(id) } else { await worker?.probeFailed(id, kind: .startup, message: message, probe: sp) }
                return false
            }
            guard await worker?.hasStarted(id) == true else { return }
        }
        await withTaskGroup(of: Void.self) { group in
            if let lp = c.livenessProbe {
                group.addTask {
                    await repeatedly(lp, .liveness, initial: true) { ok, message in
                        if !ok { await worker?.probeFailed(id, kind: .liveness, message: message, probe: lp) }
                        return ok
                    }
                }
            }
            if let rp = c.readinessProbe {
                group.addTask {
                    await repeatedly(rp, .readiness, initial: false) { ok, message in
                        await worker?.setReady(id, ok, message: message)
                        return true
                    }
                }
            }
        }
    }

    func hasStarted(_ id: String) -> Bool { startupDone[id] == true }

    func startupSucceeded(_ id: String) {
        guard startupDone[id] != nil else { return }
        startupDone[id] = true
        poke()
        log.info("startup probe succeeded", metadata: ["container": "\(slot(forID: id).map { container($0).name } ?? id)"])
    }

    func setReady(_ id: String, _ ready: Bool, message: String) {
        guard readiness[id] != nil else { return }
        readiness[id] = ready
        ctx.statusSignal.fire()
        log.info(ready ? "container ready" : "container not ready",
                 metadata: ["container": "\(slot(forID: id).map { container($0).name } ?? id)", "message": "\(message)"])
    }

    /// Every failed probe run, as the kubelet reports it: a warning line and an Unhealthy event
    /// (`Readiness probe failed: HTTP probe failed with statuscode: 404`).
    func probeAttemptFailed(_ id: String, kind: ProbeKind, message: String) {
        guard let slot = slot(forID: id) else { return }
        let name = container(slot).name
        let text = "\(kind.rawValue) probe failed: \(message)"
        log.warning("\(text)", metadata: ["container": "\(name)"])
        events.record(type: "Warning", reason: "Unhealthy", message: text, fieldPath: fieldPath(slot), at: nowRFC3339())
    }

    func fieldPath(_ slot: Slot) -> String {
        switch slot {
        case .app(let i): return "spec.containers{\(pod.spec.containers[i].name)}"
        case .initc(let i): return "spec.initContainers{\(initSpecs[i].name)}"
        }
    }

    /// Liveness or startup failed failureThreshold times: the container is killed (preStop,
    /// grace: the probe's terminationGracePeriodSeconds or the pod's) and restarted per policy.
    func probeFailed(_ id: String, kind: ProbeKind, message: String, probe: Probe) async {
        guard let slot = slot(forID: id), !terminating else { return }
        let c = container(slot)
        let text = "Container \(c.name) failed \(kind.rawValue.lowercased()) probe, will be restarted"
        log.warning("\(kind.rawValue) probe failed", metadata: ["container": "\(c.name)", "message": "\(message)"])
        killMessages[id] = text + (message.isEmpty ? "" : ": " + message)
        events.record(reason: "Killing", message: text, fieldPath: fieldPath(slot), at: nowRFC3339())
        await stopContainer(id: id, container: c, grace: probe.terminationGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30)
    }

    /// postStart: the container counts as started when it returns; a failure kills it
    /// (FailedPostStartHook) and the restart policy applies.
    func runPostStart(_ hook: LifecycleHandler, id: String, container c: Container) async {
        postStartPending.insert(id)
        let r = await ctx.handlers.hook(hook, containerID: id, container: c, podIP: state.podIP,
                                        timeout: Double(Clamp.seconds(pod.spec.terminationGracePeriodSeconds ?? 30)))
        postStartPending.remove(id)
        if !r.ok {
            log.warning("postStart hook failed", metadata: ["container": "\(c.name)", "error": "\(r.message)"])
            killMessages[id] = "FailedPostStartHook: " + r.message
            await stopContainer(id: id, container: c, grace: pod.spec.terminationGracePeriodSeconds ?? 30)
        }
    }
}

extension Duration {
    /// Whole and fractional seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

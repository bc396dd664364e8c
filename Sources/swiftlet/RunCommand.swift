import Agent
import ArgumentParser
import FoundationEssentials
import KubeModel
import LinuxSystem
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `swiftlet run -f pod.yaml`: one pod in the foreground, with the agent's pod machinery in an
/// instance of its own (state under <rootDir>/run/<id>, container ids and addresses prefixed
/// `run-`, so a running agent leaves it alone). Container logs go to the terminal; Ctrl-C stops
/// the pod gracefully, a second Ctrl-C kills it. Exits when the pod completes (restartPolicy
/// Never/OnFailure) with the first non-zero container exit code.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one pod in the foreground (logs on the terminal, Ctrl-C stops it gracefully).",
        discussion: "Uses the agent's settings (--config and flags) for the image store, network and cgroups; --manifests, --socket and --healthz-port do not apply.")
    @Option(name: .shortAndLong, help: "Pod manifest, YAML or JSON (- for stdin).") var file: String
    @Flag(name: .shortAndLong, help: "Only container output, no status lines.") var quiet = false
    @OptionGroup var options: AgentOptions

    func run() throws {
        let config: AgentConfig
        do { config = try options.resolved() } catch { fail(error) }
        let pod: Pod, objects: [ConfigObject]
        do { (pod, objects) = try RunPod.load(file: file, nodeName: config.nodeName) } catch { fail(error) }
        let logger = makeLogger(level: options.logLevel ?? "warning")
        signal(SIGPIPE, SIG_IGN)
        SignalThread.blockTerminationSignals()
        let interrupts = RunPod.Interrupts()
        SignalThread.start { sig in interrupts.signal(sig) }
        let monitor = Files.executableDirectory() + "/swiftlet-monitor"
        let quiet = self.quiet
        let code: Int32
        do {
            code = try blockOn {
                try await RunPod.cleanDeadInstances(config: config, logger: logger, monitorPath: monitor)
                var config = config
                config.instance = String(pod.metadata.uid!.prefix(8))
                config.keepPodLogs = true
                let lock = try RunPod.claim(config: config)
                defer { close(lock) }
                let agent = try Agent(config: config, logger: logger, monitorPath: monitor, fixedPods: [pod], objects: objects)
                return try await RunPod(agent: agent, pod: pod, quiet: quiet, interrupts: interrupts).run()
            }
        } catch { fail(error) }
        Glibc.exit(code)
    }
}

struct RunPod {
    let agent: Agent
    let pod: Pod
    let quiet: Bool
    let interrupts: Interrupts

    /// Signals seen so far (the sigwait thread counts, the run loop polls).
    final class Interrupts: Sendable {
        let state = Mutex<(count: Int, last: Int32)>((0, 0))
        func signal(_ s: Int32) { state.withLock { $0.count += 1; $0.last = s } }
        var snapshot: (count: Int, last: Int32) { state.withLock { $0 } }
    }

    /// The pod of the file, and the ConfigMaps/Secrets beside it (`---`-separated documents).
    static func load(file: String, nodeName: String) throws -> (Pod, [ConfigObject]) {
        let bytes: [UInt8]
        if file == "-" {
            var all: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(0, &buf, buf.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                all += buf[0..<n]
                if all.count > PodManifest.maxBytes { break }
            }
            bytes = all
        } else {
            bytes = try Files.read(file)
        }
        var pods: [Pod] = [], objects: [ConfigObject] = []
        do {
            for d in try ObjectManifest.decode(bytes) {
                switch d {
                case .pod(let p): pods.append(p)
                case .object(let o): objects.append(o)
                }
            }
        } catch { throw ConfigError("\(file): \(error)") }
        guard pods.count == 1 else { throw ConfigError("\(file): expected exactly one Pod, found \(pods.count)") }
        var pod = pods[0]
        let errors = PodValidation.validate(pod)
        if !errors.isEmpty { throw ConfigError("\(file): invalid pod:\n  " + errors.map(\.description).joined(separator: "\n  ")) }
        pod.metadata.uid = randomUUID()
        pod.metadata.namespace = pod.metadata.namespace ?? "default"
        pod.spec.nodeName = nodeName
        var ann = pod.metadata.annotations ?? [:]
        ann["kubernetes.io/config.source"] = "run"
        ann["swiftlet.io/manifest"] = file
        pod.metadata.annotations = ann
        return (PodDefaults.apply(pod), objects)
    }

    static func randomUUID() -> String {
        var b = [UInt8](repeating: 0, count: 16)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 { _ = read(fd, &b, 16); close(fd) }
        b[6] = (b[6] & 0x0f) | 0x40
        b[8] = (b[8] & 0x3f) | 0x80
        let hex = b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    static func instanceDir(_ config: AgentConfig, _ instance: String) -> String { config.rootDir + "/run/" + instance }

    /// Creates this instance's dir and holds its lock for the life of the process (a dead
    /// instance is one whose lock nobody holds).
    static func claim(config: AgentConfig) throws -> Int32 {
        let dir = instanceDir(config, config.instance!)
        try Files.makeDirectories(dir, mode: 0o700)
        let fd = open(dir + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError(op: "open", code: errno, detail: dir + "/lock") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); throw SystemError(op: "flock", code: errno, detail: dir + "/lock") }
        return fd
    }

    /// Pods of `swiftlet run` processes that died without stopping them (kill -9, a crash):
    /// stopped and removed, with their sandboxes, containers and addresses.
    static func cleanDeadInstances(config: AgentConfig, logger: Logger, monitorPath: String) async throws {
        let root = config.rootDir + "/run"
        for instance in (try? Files.list(root)) ?? [] {
            let dir = root + "/" + instance
            let fd = open(dir + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }   // alive
            logger.warning("removing the pods of a `swiftlet run` that ended without stopping them", metadata: ["instance": "\(instance)"])
            var c = config
            c.instance = instance
            let stale = try Agent(config: c, logger: logger, monitorPath: monitorPath, fixedPods: [])
            try await stale.start()
            await stale.stopAll()
            try? Files.removeTree(c.runDir + "/run/" + instance)
            try? Files.removeTree(dir)
        }
    }

    func note(_ s: String) { if !quiet { stderrLine("swiftlet: " + s) } }

    /// Runs the pod until it completes or is interrupted; returns the exit status.
    func run() async throws -> Int32 {
        let name = pod.metadata.name ?? ""
        note("pod \(name) (uid \(pod.metadata.uid!))")
        try await agent.start()
        guard let worker = await agent.worker(named: pod.metadata.uid!) else { throw ConfigError("pod \(name) did not start") }
        let logDir = await worker.logDir
        var follower = LogFollower(dir: logDir, prefix: pod.spec.containers.count + (pod.spec.initContainers?.count ?? 0) > 1)
        var seen: [String: String] = [:]
        var stopping = 0
        var stopTask: Task<Void, Never>?
        var code: Int32 = 0
        while true {
            let p = await worker.snapshot()
            let statuses = p.status?.containerStatuses ?? []
            for cs in (p.status?.initContainerStatuses ?? []) + statuses {
                let desc = describe(cs)
                if seen[cs.name] != desc { seen[cs.name] = desc; note("\(cs.name): \(desc)") }
            }
            follower.poll(((p.status?.initContainerStatuses ?? []) + statuses).map { ($0.name, Int($0.restartCount)) })
            let phase = p.status?.phase ?? ""
            if stopTask == nil && (phase == "Succeeded" || phase == "Failed") {
                let all = (p.status?.initContainerStatuses ?? []) + statuses
                code = all.compactMap { $0.state?.terminated?.exitCode }.first { $0 != 0 } ?? (phase == "Failed" ? 1 : 0)
                note("pod \(name) \(phase.lowercased())" + (p.status?.reason.map { ": \($0): \(p.status?.message ?? "")" } ?? ""))
                stopTask = Task { await worker.terminate(grace: 0) }
            }
            let (count, sig) = interrupts.snapshot
            if count > stopping {
                if stopping == 0 {
                    note("stopping pod \(name) (grace \(pod.spec.terminationGracePeriodSeconds ?? 30)s; ^C again to kill it)")
                    code = 128 + sig
                    stopTask = Task { await worker.terminate() }
                } else {
                    note("killing pod \(name)")
                    let old = stopTask
                    stopTask = Task { await worker.terminate(grace: 0); await old?.value }
                }
                stopping = count
            }
            if let t = stopTask, await worker.isTerminated {
                await t.value
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        follower.poll(nil)
        await agent.stopAll()
        try? Files.removeTree(logDir)
        let c = agent.ctx.config
        try? Files.removeTree(c.runDir + "/run/" + c.instance!)
        try? Files.removeTree(RunPod.instanceDir(c, c.instance!))
        return code
    }

    func describe(_ cs: KubeModel.ContainerStatus) -> String {
        if let w = cs.state?.waiting { return "waiting (\(w.reason ?? ""))" + (w.message.map { ": " + $0 } ?? "") }
        if cs.state?.running != nil {
            let readiness = cs.started == false ? "not started" : (cs.ready ? "ready" : "not ready")
            var s = "running, \(readiness)" + (cs.restartCount > 0 ? " (restarts: \(cs.restartCount))" : "")
            if cs.restartCount > 0, let m = cs.lastState?.terminated?.message { s += "; last exit: \(m)" }
            return s
        }
        if let t = cs.state?.terminated { return "terminated (\(t.reason ?? ""), exit code \(t.exitCode))" }
        return "unknown"
    }
}

/// Prints new lines of the containers' CRI log files (stdout lines to stdout, stderr to stderr),
/// following a container to its next instance's file after a restart.
struct LogFollower {
    let dir: String
    let prefix: Bool
    /// file path -> bytes already printed
    var offsets: [String: Int] = [:]
    var partial: [String: Bool] = [:]
    var current: [String: Int] = [:]

    init(dir: String, prefix: Bool) {
        self.dir = dir
        self.prefix = prefix
    }

    /// `instances`: each container's current instance; nil: drain every known file.
    mutating func poll(_ instances: [(String, Int)]?) {
        if let instances { for (n, i) in instances { current[n] = i } }
        for (name, instance) in current.sorted(by: { $0.key < $1.key }) {
            // the previous instance may have lines not yet read when the restart was noticed
            for i in Set([max(0, instance - 1), instance]).sorted() { drain(name, dir + "/" + name + "/\(i).log") }
        }
    }

    mutating func drain(_ name: String, _ path: String) {
        guard let bytes = try? Files.read(path) else { return }
        var off = offsets[path] ?? 0
        if bytes.count < off { off = 0 }   // rotated
        guard let end = bytes[off...].lastIndex(of: 10) else { return }
        let chunk = bytes[off...end]
        offsets[path] = end + 1
        var out = "", err = ""
        for line in chunk.split(separator: 10) {
            // TIMESTAMP STREAM P|F CONTENT
            let f = line.split(separator: 32, maxSplits: 3, omittingEmptySubsequences: false)
            guard f.count >= 3 else { continue }
            let stream = String(decoding: f[1], as: UTF8.self)
            let full = f[2].first == UInt8(ascii: "F")
            let content = f.count > 3 ? String(decoding: f[3], as: UTF8.self) : ""
            let key = name + stream
            let text = ((prefix && !(partial[key] ?? false)) ? "[\(name)] " : "") + content + (full ? "\n" : "")
            partial[key] = !full
            if stream == "stderr" { err += text } else { out += text }
        }
        if !out.isEmpty { stdoutWrite(out) }
        if !err.isEmpty { _ = err.withCString { write(2, $0, strlen($0)) } }
    }
}

import Agent
import Auth
import ArgumentParser
import Foundation
import KubeClient
import KubeModel
import LinuxSystem
import Logging
import Runtime

#if canImport(Glibc)
import Glibc
#endif

struct AgentOptions: ParsableArguments {
    @Option(name: .long, help: "YAML config file; flags override its settings.") var config: String?
    @Option(name: .customLong("node-name")) var nodeName: String?
    @Option(name: .customLong("manifests"), help: "Static pod manifests directory.") var manifests: String?
    @Option(name: .customLong("root-dir")) var rootDir: String?
    @Option(name: .customLong("run-dir")) var runDir: String?
    @Option(name: .customLong("pod-logs-dir")) var podLogsDir: String?
    @Option(name: .customLong("image-store")) var imageStore: String?
    @Option(name: .customLong("socket")) var socket: String?
    @Option(name: .customLong("healthz-port")) var healthzPort: Int?
    @Option(name: .customLong("file-check-frequency"), help: "Seconds between full re-lists of the manifests directory.") var fileCheck: Double?
    @Option(name: .customLong("backoff-initial")) var backoffInitial: Double?
    @Option(name: .customLong("backoff-max")) var backoffMax: Double?
    @Option(name: .customLong("backoff-reset")) var backoffReset: Double?
    @Option(name: .customLong("bridge")) var bridge: String?
    @Option(name: .customLong("pod-subnet")) var podSubnet: String?
    @Option(name: .customLong("cluster-dns")) var clusterDNS: [String] = []
    @Option(name: .customLong("insecure-registry")) var insecure: [String] = []
    @Option(name: .customLong("container-log-max-size")) var logMaxSize: String?
    @Option(name: .customLong("container-log-max-files")) var logMaxFiles: Int?
    @Option(name: .customLong("log-level")) var logLevel: String?
    @Option(name: .customLong("cgroup-root"), help: "The agent's cgroup subtree under the cgroup2 root.") var cgroupRoot: String?
    @Option(name: .customLong("node-ip"), help: "The node's IPv4 address (status.hostIP, hostNetwork pods); detected when unset.") var nodeIP: String?
    @Option(name: .customLong("seccomp-profile-root"), help: "Where seccompProfile Localhost profiles are read from.") var seccompRoot: String?
    @Option(name: .customLong("allowed-unsafe-sysctls"), help: "A sysctl (or prefix.*) pods may set beyond the safe set; repeatable.") var unsafeSysctls: [String] = []
    @Option(name: .customLong("objects-dir"), help: "More ConfigMap/Secret files for static pods.") var objectsDir: String?
    @Flag(name: .customLong("allow-unenforced-resources")) var allowUnenforced = false
    @Option(name: .customLong("kubeconfig"), help: "Join the master this kubeconfig names: register the Node, renew its Lease, report its status.") var kubeconfig: String?
    @Option(name: .customLong("bootstrap-kubeconfig"), help: "A kubeconfig with a bootstrap token: when --kubeconfig has no valid certificate of this node, one is requested from the master with it and --kubeconfig written.") var bootstrapKubeconfig: String?
    @Option(name: .customLong("server"), help: "The master's URL (with --token; instead of --kubeconfig).") var server: String?
    @Option(name: .customLong("token"), help: "A bearer token for --server.") var token: String?
    @Option(name: .customLong("certificate-authority"), help: "PEM CA file the master's certificate must chain to (with --server).") var certificateAuthority: String?
    @Option(name: .customLong("node-labels"), help: "Labels to register the Node with: k=v,k2=v2.") var nodeLabels: String?
    @Option(name: .customLong("register-with-taints"), help: "Taints to register the Node with: key[=value]:Effect, comma-separated.") var taints: String?
    @Option(name: .customLong("max-pods"), help: "Pods this node takes (110).") var maxPods: Int?
    @Option(name: .customLong("node-status-update-frequency"), help: "Seconds between node status computations (10).") var statusEvery: Double?
    @Option(name: .customLong("image-gc-high-threshold"), help: "Percent of the image filesystem used that starts image GC (85).") var gcHigh: Int?
    @Option(name: .customLong("image-gc-low-threshold"), help: "Percent image GC brings the usage down to (80).") var gcLow: Int?
    @Option(name: .customLong("minimum-image-ttl-duration"), help: "Seconds an unused image is kept before GC may remove it (120).") var gcMinAge: Double?
    @Option(name: .customLong("eviction-hard"), help: "Hard eviction thresholds, SIGNAL<VALUE, comma-separated (memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%).") var evictionHard: String?
    @Option(name: .customLong("eviction-pressure-transition-period"), help: "Seconds a pressure condition stays after its threshold (300).") var pressureTransition: Double?
    @Option(name: .customLong("housekeeping-interval"), help: "Seconds between node pressure checks (10).") var housekeeping: Double?
    @Option(name: .customLong("port"), help: "The kubelet API's port (10250; 0: off). Served only when joined to a master.") var port: Int?
    @Option(name: .customLong("address"), help: "The kubelet API's address (0.0.0.0).") var address: String?
    @Option(name: .customLong("tls-cert-file"), help: "The kubelet API's serving certificate (default: requested from the master).") var tlsCertFile: String?
    @Option(name: .customLong("tls-private-key-file"), help: "Its key.") var tlsKeyFile: String?
    @Option(name: .customLong("client-ca-file"), help: "CA of the client certificates the kubelet API accepts (default: the master's).") var clientCAFile: String?

    func resolved() throws -> AgentConfig {
        var c = AgentConfig()
        if let config { c = try AgentConfig.load(path: config, text: try Files.readString(config)) }
        if let nodeName { c.nodeName = nodeName }
        if let manifests { c.manifestsDir = manifests }
        if let rootDir { c.rootDir = rootDir }
        if let runDir { c.runDir = runDir }
        if let podLogsDir { c.podLogsDir = podLogsDir }
        if let imageStore { c.imageStore = imageStore }
        if let socket { c.socketPath = socket }
        if let healthzPort { c.healthzPort = healthzPort }
        if let fileCheck { c.fileCheckFrequencySeconds = fileCheck }
        if let backoffInitial { c.backoffInitialSeconds = backoffInitial }
        if let backoffMax { c.backoffMaxSeconds = backoffMax }
        if let backoffReset { c.backoffResetSeconds = backoffReset }
        if let bridge { c.bridge = bridge }
        if let podSubnet { c.podSubnet = podSubnet }
        if !clusterDNS.isEmpty { c.clusterDNS = clusterDNS }
        if !insecure.isEmpty { c.insecureRegistries = insecure }
        if let logMaxSize { c.containerLogMaxSize = logMaxSize }
        if let logMaxFiles { c.containerLogMaxFiles = logMaxFiles }
        if let logLevel { c.logLevel = logLevel }
        if let cgroupRoot { c.cgroupRoot = cgroupRoot }
        if let nodeIP { c.nodeIP = nodeIP }
        if let seccompRoot { c.seccompProfileRoot = seccompRoot }
        if !unsafeSysctls.isEmpty { c.allowedUnsafeSysctls = unsafeSysctls }
        if let objectsDir { c.objectsDir = objectsDir }
        if allowUnenforced { c.allowUnenforcedResources = true }
        if let gcHigh { c.imageGCHighThresholdPercent = gcHigh }
        if let gcLow { c.imageGCLowThresholdPercent = gcLow }
        if let gcMinAge { c.imageMinimumGCAgeSeconds = gcMinAge }
        if let evictionHard { c.evictionHard = evictionHard.split(separator: ",").map(String.init) }
        if let pressureTransition { c.evictionPressureTransitionSeconds = pressureTransition }
        if let housekeeping { c.housekeepingIntervalSeconds = housekeeping }
        if let port { c.port = port }
        if let address { c.address = address }
        if let tlsCertFile { c.tlsCertFile = tlsCertFile }
        if let tlsKeyFile { c.tlsPrivateKeyFile = tlsKeyFile }
        if let clientCAFile { c.clientCAFile = clientCAFile }
        if (c.tlsCertFile == nil) != (c.tlsPrivateKeyFile == nil) { throw ConfigError("tlsCertFile and tlsPrivateKeyFile: give both or neither") }
        guard (0...65535).contains(c.port) else { throw ConfigError("port must be between 0 and 65535 (got \(c.port))") }
        if let kubeconfig { c.kubeconfig = kubeconfig }
        if let nodeLabels {
            for pair in nodeLabels.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, !kv[0].isEmpty else { throw ConfigError("--node-labels: \"\(pair)\" is not key=value") }
                c.nodeLabels[kv[0]] = kv[1]
            }
        }
        if let taints { c.registerWithTaints = taints.split(separator: ",").map(String.init) }
        if let maxPods { c.maxPods = maxPods }
        if let statusEvery { c.nodeStatusUpdateFrequencySeconds = statusEvery }
        _ = try c.evictionThresholds()
        for t in c.registerWithTaints { _ = try NodeReport.parseTaint(t) }
        guard (1...10000).contains(c.maxPods) else { throw ConfigError("maxPods must be between 1 and 10000 (got \(c.maxPods))") }
        guard c.nodeStatusUpdateFrequencySeconds >= 0.1 else { throw ConfigError("nodeStatusUpdateFrequencySeconds must be at least 0.1") }
        if server != nil && c.kubeconfig != nil { throw ConfigError("--server and --kubeconfig: give one of them") }
        if token != nil && server == nil { throw ConfigError("--token needs --server") }
        if bootstrapKubeconfig != nil && c.kubeconfig == nil { throw ConfigError("--bootstrap-kubeconfig needs --kubeconfig: the file it writes") }
        return c
    }

    /// How to reach the master, or nil (static pods only).
    func masterConfig(_ c: AgentConfig) throws -> KubeConfig? {
        if let server {
            var k = KubeConfig(server: server, token: token)
            if let certificateAuthority {
                k.certificateAuthorityPEM = Array(try Files.read(certificateAuthority))
            }
            return k
        }
        guard let path = c.kubeconfig else { return nil }
        return try KubeConfig.load(path: path)
    }
}

func makeLogger(level: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = Logger.Level(rawValue: level) ?? .info
        return h
    }
    return Logger(label: "swiftlet")
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: static pods from a manifests directory; pods survive the agent's restart.")
    @OptionGroup var options: AgentOptions

    func run() throws {
        let config: AgentConfig
        var master: KubeConfig?
        var bootstrap: KubeConfig?
        let logger: Logger
        do {
            config = try options.resolved()
            logger = makeLogger(level: config.logLevel)
            if let b = options.bootstrapKubeconfig, let path = config.kubeconfig, !NodeBootstrap.usable(path: path, nodeName: config.nodeName) {
                bootstrap = try KubeConfig.load(path: b)
            } else {
                master = try options.masterConfig(config)
            }
        } catch { fail(error) }
        let monitor = Files.executableDirectory() + "/swiftlet-monitor"
        signal(SIGPIPE, SIG_IGN)
        // SIGTERM/SIGINT: stop serving, leave pods running (the next start adopts them). The
        // signals are blocked before any thread exists (all threads inherit the mask) and taken
        // by one thread with sigwait.
        SignalThread.blockTerminationSignals()
        let socketPath = config.apiSocket
        SignalThread.start { sig in
            logger.info("signal \(sig): shutting down; pods keep running")
            unlink(socketPath)
            _exit(0)
        }
        let joined = master, bootstrapWith = bootstrap
        do {
            try blockOn {
                var master = joined
                if let bootstrap = bootstrapWith, let path = config.kubeconfig {
                    try await NodeBootstrap.run(bootstrap: bootstrap, kubeconfigPath: path, nodeName: config.nodeName, logger: logger)
                    master = try KubeConfig.load(path: path)
                }
                try await holdForever(try await runAgent(config: config, master: master, logger: logger, monitor: monitor))
            }
        } catch { fail(error) }
    }
}

/// The agent's services: pods (static, and the master's), its local API, and with a master its
/// Node, Lease and pod status. Returns once everything is started, with what must stay alive.
func runAgent(config: AgentConfig, master: KubeConfig?, logger: Logger, monitor: String,
              servingIssuer: CertificateAuthority? = nil) async throws -> [any Sendable] {
    var keep: [any Sendable] = []
    let agent = try Agent(config: config, logger: logger, monitorPath: monitor)
    var client: KubeClient?
    var podSync: PodSync?
    if let master {
        let c = try KubeClient(config: master, userAgent: "swiftlet-agent/\(Swiftlet.configuration.version) (\(config.nodeName))")
        client = c
        // pods of the master's on disk stay up until its first list says otherwise
        await agent.expectAPIPods()
        podSync = PodSync(client: c, agent: agent, nodeName: config.nodeName, logger: logger)
        await podSync?.attach()
    }
    try await agent.start()
    try await AgentAPI(agent: agent).serve(socketPath: config.apiSocket, healthzHost: config.healthzAddress,
                                          healthzPort: config.healthzPort, logger: logger)
    if let master, let client {
        let facts = agent.ctx.nodeFacts(version: Swiftlet.configuration.version)
        let sync = NodeSync(client: client, agent: agent, facts: facts,
                            labels: NodeReport.labels(facts, extra: config.nodeLabels),
                            taints: try config.registerWithTaints.map { try NodeReport.parseTaint($0) },
                            thresholds: try config.evictionThresholds(),
                            statusEvery: .milliseconds(Int64(config.nodeStatusUpdateFrequencySeconds * 1000)), logger: logger)
        await sync.start()
        await podSync?.start()
        keep += [sync, podSync as any Sendable]
        if config.port > 0, let caPEM = try KubeletTLS.clientCA(config: config, masterCA: master.certificateAuthorityPEM, logger: logger) {
            let server = KubeletServer(agent: agent, auth: KubeletAuthorizer(nodeName: config.nodeName, client: client), logger: logger)
            keep.append(server)
            let hostIP = agent.ctx.hostIP
            if let tls = try KubeletTLS.fixed(config: config, clientCA: caPEM, hostIP: hostIP, issuer: servingIssuer) {
                let bound = try await server.serve(host: config.address, port: config.port, tls: tls)
                logger.info("kubelet API serving", metadata: ["address": "\(config.address):\(bound)"])
            } else {
                // the serving certificate comes from the master: the agent runs its pods meanwhile
                keep.append(Task {
                    var backoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
                    while !Task.isCancelled {
                        do {
                            let (names, ips) = KubeletTLS.servingNames(config: config, hostIP: hostIP)
                            let pair = try await ServingCertificate.obtain(client: client, nodeName: config.nodeName, dnsNames: names, ipAddresses: ips,
                                                                           directory: config.rootDir + "/pki", logger: logger)
                            let bound = try await server.serve(host: config.address, port: config.port,
                                                               tls: KubeletTLS(certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM, clientCAPEM: caPEM))
                            logger.info("kubelet API serving", metadata: ["address": "\(config.address):\(bound)"])
                            return
                        } catch {
                            logger.warning("kubelet API: \(error)")
                            try? await Task.sleep(for: backoff.next())
                        }
                    }
                })
            }
        }
        logger.info("joining the master", metadata: ["server": "\(master.server)"])
    }
    logger.info("agent ready", metadata: ["node": "\(config.nodeName)", "manifests": "\(config.manifestsDir)",
                                          "socket": "\(config.apiSocket)"])
    return keep + [agent]
}

/// Keeps `running` alive for as long as the process runs.
func holdForever(_ running: [any Sendable]) async throws {
    while true {
        try await Task.sleep(for: .seconds(3600))
        withExtendedLifetime(running) {}
    }
}

struct AgentSocket: ParsableArguments {
    @Option(name: .customLong("socket"), help: "The agent's API socket.") var socket = "/run/swiftlet/agent.sock"

    func get(_ path: String) throws -> [UInt8] {
        let (status, body) = try AgentClient.get(socket: socket, path: path)
        guard status == 200 else {
            let msg = (try? JSONDecoder().decode([String: String].self, from: Data(body)))?["error"] ?? String(decoding: body, as: UTF8.self)
            throw AgentClient.Failure(message: msg)
        }
        return body
    }

    func pod(_ name: String) throws -> Pod {
        try JSONDecoder().decode(Pod.self, from: Data(try get("/pods/" + name)))
    }
}

func age(_ rfc: String?) -> String {
    guard let rfc, let t = Timestamp.parse(rfc) else { return "-" }
    let s = max(0, Timestamp.now().seconds - t.seconds)
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    if s < 172800 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List the agent's pods and containers.")
    @OptionGroup var socket: AgentSocket
    @Flag(name: .shortAndLong, help: "Also list containers.") var all = false

    func run() throws {
        struct List: Decodable { var items: [Pod]; var invalidManifests: [String: [String]] }
        do {
            let list = try JSONDecoder().decode(List.self, from: Data(try socket.get("/pods")))
            var rows = [["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"]]
            for p in list.items {
                let cs = p.status?.containerStatuses ?? []
                let ready = cs.filter(\.ready).count
                let restarts = cs.reduce(0) { $0 + Int($1.restartCount) }
                var status = p.status?.phase ?? "Unknown"
                if let w = cs.compactMap({ $0.state?.waiting?.reason }).first(where: { $0 != "ContainerCreating" || status == "Pending" }) { status = w }
                else if status != "Running", let t = cs.compactMap({ $0.state?.terminated?.reason }).first { status = t }
                if p.metadata.deletionTimestamp != nil { status = "Terminating" }
                rows.append([p.metadata.namespace ?? "", p.metadata.name ?? "", "\(ready)/\(cs.count)", status, "\(restarts)",
                             age(p.status?.startTime), p.status?.podIP ?? "-"])
                if all {
                    for c in cs {
                        let state = c.state?.running != nil ? "running" : c.state?.terminated.map { "terminated (\($0.reason ?? "") \($0.exitCode))" }
                            ?? "waiting (\(c.state?.waiting?.reason ?? ""))"
                        rows.append(["", "  └ " + c.name, c.ready ? "ready" : "-", state, "\(c.restartCount)", age(c.state?.running?.startedAt), c.containerID ?? ""])
                    }
                }
            }
            stdoutWrite(table(rows))
            for (path, errs) in list.invalidManifests.sorted(by: { $0.key < $1.key }) {
                stdoutWrite("invalid manifest \(path): \(errs.joined(separator: "; "))\n")
            }
        } catch { fail(error) }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "A pod with its status, as JSON.")
    @OptionGroup var socket: AgentSocket
    @Argument var pod: String
    func run() throws {
        do { stdoutWrite(String(decoding: try socket.get("/pods/" + pod), as: UTF8.self) + "\n") } catch { fail(error) }
    }
}

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "node", abstract: "The node's pressure conditions and what they were measured from.")
    @OptionGroup var socket: AgentSocket
    @Flag(name: .long, help: "The agent's JSON.") var json = false
    struct Signal: Decodable { var available: Int64; var capacity: Int64 }
    struct Node: Decodable { var name: String; var conditions: [NodeCondition]; var signals: [String: Signal] }
    func run() throws {
        do {
            let body = try socket.get("/node")
            if json { stdoutWrite(String(decoding: body, as: UTF8.self) + "\n"); return }
            let n = try JSONDecoder().decode(Node.self, from: Data(body))
            var rows = [["CONDITION", "STATUS", "REASON", "SINCE"]]
            for c in n.conditions { rows.append([c.type, c.status, c.reason, age(c.lastTransitionTime)]) }
            stdoutWrite(table(rows))
            var srows = [["SIGNAL", "AVAILABLE", "CAPACITY"]]
            for (k, v) in n.signals.sorted(by: { $0.key < $1.key }) { srows.append([k, "\(v.available)", "\(v.capacity)"]) }
            stdoutWrite("\n" + table(srows))
        } catch { fail(error) }
    }
}

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "A pod's events (probe failures, kills), as kubectl describe lists them.")
    @OptionGroup var socket: AgentSocket
    @Argument var pod: String
    struct List: Decodable { var items: [PodEvent] }
    func run() throws {
        do {
            let list = try JSONDecoder().decode(List.self, from: Data(try socket.get("/pods/\(pod)/events")))
            var rows = [["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]]
            for e in list.items {
                let seen = e.count > 1 ? "\(age(e.lastTimestamp)) (x\(e.count) over \(age(e.firstTimestamp)))" : age(e.lastTimestamp)
                rows.append([e.type, e.reason, seen, "kubelet", e.message])
            }
            stdoutWrite(table(rows))
        } catch { fail(error) }
    }
}

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command in a pod's container.")
    @OptionGroup var socket: AgentSocket
    @Option(name: .shortAndLong, help: "Container name (default: the first running one).") var container: String?
    @Flag(name: .shortAndLong, help: "Keep stdin open.") var interactive = false
    @Flag(name: .shortAndLong, help: "Allocate a terminal.") var tty = false
    @Argument var pod: String
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run() throws {
        struct Ref: Decodable { var id: String; var name: String; var ociRoot: String }
        do {
            // options may also follow the pod name (kubectl style): POD [-c CTR] [-it] -- CMD
            var container = self.container, tty = self.tty, interactive = self.interactive
            var rest = ArraySlice(command)
            var argv: [String] = []
            while let a = rest.first {
                rest = rest.dropFirst()
                if a == "--" { argv = Array(rest); break }
                if (a == "-c" || a == "--container"), let v = rest.first { container = v; rest = rest.dropFirst(); continue }
                if a == "-i" || a == "--interactive" { interactive = true; continue }
                if a == "-t" || a == "--tty" { tty = true; continue }
                if a == "-it" || a == "-ti" { tty = true; interactive = true; continue }
                argv = [a] + Array(rest)
                break
            }
            guard !argv.isEmpty else { throw AgentClient.Failure(message: "give a command after the pod name (swiftlet exec POD -- CMD...)") }
            var path = "/pods/\(pod)/container"
            if let container { path += "?name=" + container }
            let ref = try JSONDecoder().decode(Ref.self, from: Data(try socket.get(path)))
            let rt = OCIRuntime(root: ref.ociRoot, monitorPath: Files.executableDirectory() + "/swiftlet-monitor",
                                warn: { stderrLine("swiftlet: warning: \($0)") })
            if tty { Glibc.exit(try rt.execTerminal(id: ref.id, args: argv, stdin: interactive)) }
            try rt.exec(id: ref.id, args: argv)
        } catch { fail(error) }
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a container's logs (the agent names its CRI log files).")
    @OptionGroup var socket: AgentSocket
    @Option(name: .shortAndLong, help: "Container name, app or init container (default: the first app container).") var container: String?
    @Flag(name: .shortAndLong, help: "Follow.") var follow = false
    @Flag(name: .shortAndLong, help: "The previous (terminated) instance.") var previous = false
    @Option(name: .long, help: "Last N lines only.") var tail: Int?
    @Flag(name: .long, help: "Prefix each line with its RFC 3339 time.") var timestamps = false
    @Argument var pod: String

    struct LogFiles: Decodable { var container: String; var files: [String] }

    func run() throws {
        do {
            var q = "previous=\(previous)"
            if let container { q += "&container=" + container }
            let r = try JSONDecoder().decode(LogFiles.self, from: Data(try socket.get("/pods/\(pod)/logs?" + q)))
            guard let file = r.files.last else { return }
            var lines: [String] = []
            for f in r.files {
                lines += CRILogLine.render((try? Files.readString(f)) ?? "", timestamps: timestamps)
            }
            if let tail { lines = Array(lines.suffix(max(0, tail))) }
            for l in lines { stdoutWrite(l + "\n") }
            guard follow else { return }
            var offset = Int(fileSize(file))
            var partial = ""
            while true {
                usleep(100_000)
                let size = Int(fileSize(file))
                if size < offset { offset = 0 }   // rotated
                if size > offset, let bytes = try? Files.read(file), bytes.count >= size {
                    let text = partial + String(decoding: bytes[offset..<size], as: UTF8.self)
                    offset = size
                    var chunks = text.split(separator: "\n", omittingEmptySubsequences: false)
                    partial = String(chunks.removeLast())
                    for l in CRILogLine.render(chunks.joined(separator: "\n"), timestamps: timestamps) { stdoutWrite(l + "\n") }
                }
            }
        } catch { fail(error) }
    }

    func fileSize(_ p: String) -> Int64 {
        var st = stat()
        return stat(p, &st) == 0 ? Int64(st.st_size) : 0
    }
}

/// SIGTERM/SIGINT taken by one thread with sigwait (Dispatch signal sources do not fire in the
/// static build). `blockTerminationSignals` must run before any other thread exists, so every
/// thread inherits the mask; `handler` is called for each signal.
enum SignalThread {
    final class Context: @unchecked Sendable {
        let handler: @Sendable (Int32) -> Void
        init(_ h: @escaping @Sendable (Int32) -> Void) { handler = h }
    }

    static func blockTerminationSignals() {
        // a shell starts background jobs with SIGINT ignored; an ignored signal is dropped even
        // when blocked, so sigwait would never see it
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    static func start(_ handler: @escaping @Sendable (Int32) -> Void) {
        let ctx = Unmanaged.passRetained(Context(handler))
        var thread = pthread_t()
        pthread_create(&thread, nil, { arg in
            let c = Unmanaged<Context>.fromOpaque(arg!).takeRetainedValue()
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGTERM)
            sigaddset(&set, SIGINT)
            while true {
                var sig: Int32 = 0
                if sigwait(&set, &sig) == 0 { c.handler(sig) }
            }
        }, ctx.toOpaque())
        pthread_detach(thread)
    }
}

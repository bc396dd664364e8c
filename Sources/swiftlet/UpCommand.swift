import Agent
import ArgumentParser
import Auth
import Foundation
import KubeClient
import LinuxSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `swiftlet up`: a one-machine cluster in one process — the master, and an agent joined to it as
/// its node through the API like any other (its own node certificate, NodeRestriction applies).
/// Until the scheduler exists, pods created without a node are bound to this one by `up` itself
/// (through `pods/<name>/binding`, as the scheduler's identity).
struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a one-machine cluster: the master and a node agent joined to it; DIR/admin.kubeconfig is for kubectl.")

    @Option(help: "Directory for the master's database, pki/ and admin.kubeconfig.") var dataDir = "/var/lib/swiftlet/up"
    @Option(help: "Address the API server listens on.") var bindAddress = "127.0.0.1"
    @Option(help: "The API server's port.") var securePort = 6443
    @Flag(help: "Log every API request.") var verbose = false
    @OptionGroup var agent: AgentOptions

    func run() throws {
        var config: AgentConfig
        do { config = try agent.resolved() } catch { fail(error) }
        if agent.kubeconfig != nil || agent.server != nil || config.kubeconfig != nil {
            fail(ConfigError("up joins its own master: --kubeconfig and --server are for `swiftlet agent`"))
        }
        if agent.nodeName == nil && agent.config == nil { config.nodeName = UpCommand.defaultNodeName() }
        let logger = makeLogger(level: config.logLevel)
        let monitor = Files.executableDirectory() + "/swiftlet-monitor"
        let master: MasterRunner
        let node: (certificatePEM: String, keyPEM: String)
        let binder: (certificatePEM: String, keyPEM: String)
        do {
            master = try MasterRunner(dataDir: dataDir, bindAddress: bindAddress, securePort: securePort, historyWindow: 10000,
                                      etcdServers: nil, etcdPrefix: "/registry", pkiDir: nil, tlsSan: nil, tokenAuthFile: nil,
                                      insecureHTTP: false, verbose: verbose)
            guard let pki = master.pki else { throw ConfigError("up: the master has no PKI") }
            node = try pki.ca.issueClient(user: "system:node:" + config.nodeName, groups: ["system:nodes"])
            binder = try pki.ca.issueClient(user: "system:kube-scheduler", groups: [])
        } catch { fail(error) }
        let caPEM = Array(master.pki!.ca.certificate.pem.utf8)
        let issuer = master.pki!.ca
        signal(SIGPIPE, SIG_IGN)
        SignalThread.blockTerminationSignals()
        let socketPath = config.apiSocket
        SignalThread.start { sig in
            logger.info("signal \(sig): shutting down; pods keep running")
            unlink(socketPath)
            _exit(0)
        }
        let nodeName = config.nodeName
        let agentConfig = config
        do {
            try blockOn {
                let (urls, ready) = AsyncStream<String>.makeStream()
                let serving = Task {
                    do { try await master.serve { url in ready.yield(url); ready.finish() } } catch {
                        ready.finish()
                        throw error
                    }
                }
                var url: String?
                for await u in urls { url = u }
                guard let url else { try await serving.value; throw ConfigError("up: the master stopped before serving") }
                let nodeConfig = KubeConfig(server: url, certificateAuthorityPEM: caPEM, clientCertificatePEM: Array(node.certificatePEM.utf8),
                                            clientKeyPEM: Array(node.keyPEM.utf8))
                var running = try await runAgent(config: agentConfig, master: nodeConfig, logger: logger, monitor: monitor,
                                                 servingIssuer: issuer)
                let binderClient = try KubeClient(config: KubeConfig(server: url, certificateAuthorityPEM: caPEM,
                                                                      clientCertificatePEM: Array(binder.certificatePEM.utf8),
                                                                      clientKeyPEM: Array(binder.keyPEM.utf8)),
                                                  userAgent: "swiftlet-up/\(Swiftlet.configuration.version)")
                let b = SingleNodeBinder(client: binderClient, node: nodeName, logger: logger)
                await b.start()
                running += [b, serving]
                stderrLine("swiftlet up: node \(nodeName) joined \(url); kubectl --kubeconfig \(dataDir)/admin.kubeconfig get nodes")
                try await holdForever(running)
            }
        } catch { fail(error) }
    }

    /// The host name when it is a valid node name (DNS-1123 subdomain, lower-cased), else swiftlet-node.
    static func defaultNodeName() -> String {
        var uts = utsname()
        uname(&uts)
        let host = withUnsafeBytes(of: uts.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }.lowercased()
        func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
        let valid = !host.isEmpty && host.count <= 253 && host.allSatisfy { alnum($0) || $0 == "-" || $0 == "." }
            && alnum(host.first!) && alnum(host.last!)
        return valid ? host : "swiftlet-node"
    }
}

/// Binds every pod that names no node to the one node (what a scheduler does, with one choice):
/// POST `pods/<name>/binding`; pods for another scheduler, gated or being deleted are left alone.
actor SingleNodeBinder {
    let client: KubeClient
    let node: String
    let log: Logger
    let informer: Informer
    var task: Task<Void, Never>?

    init(client: KubeClient, node: String, logger: Logger) {
        self.client = client
        self.node = node
        log = logger
        informer = Informer(client: client, resource: .pods, fieldSelector: "spec.nodeName=")
    }

    func start() async {
        await informer.addHandler { [self] e in
            if case .deleted = e { return }
            await self.bind(e.object)
        }
        task = Task { await informer.run() }
    }

    func bind(_ pod: JSON) async {
        let spec = pod["spec"]
        if case .string(let n)? = spec?["nodeName"], !n.isEmpty { return }
        if case .string(let s)? = spec?["schedulerName"], !s.isEmpty, s != "default-scheduler" { return }
        if case .array(let gates)? = spec?["schedulingGates"], !gates.isEmpty { return }
        if !pod.meta("deletionTimestamp").isEmpty { return }
        let ns = pod.meta("namespace"), name = pod.meta("name")
        let binding = JSON.object([("apiVersion", .string("v1")), ("kind", .string("Binding")),
                                   ("metadata", .object([("name", .string(name)), ("namespace", .string(ns)), ("uid", .string(pod.meta("uid")))])),
                                   ("target", .object([("apiVersion", .string("v1")), ("kind", .string("Node")), ("name", .string(node))]))])
        do {
            _ = try await client.create(.pods, namespace: ns, binding, subresource: "binding", name: name)
        } catch let e as KubeError where e.isConflict || e.isNotFound {
            // bound meanwhile, or gone
        } catch {
            log.warning("binding pod \(ns)/\(name) to node \(node): \(error)")
        }
    }
}

import Agent
import Scheduler
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
/// The scheduler runs in it too, as `system:kube-scheduler` through the API.
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
                let b = Scheduler(client: binderClient, logger: logger)
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


/// `swiftlet scheduler`: the scheduler as its own process, against any API server.
struct SchedulerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Run the scheduler: bind pods with no node to the Ready nodes that fit (as kube-scheduler, through the API).")
    @Option(help: "The kubeconfig of the scheduler's identity (system:kube-scheduler).") var kubeconfig: String
    @Option(name: .customLong("log-level")) var logLevel = "info"

    func run() throws {
        let logger = makeLogger(level: logLevel)
        let config: KubeConfig
        do { config = try KubeConfig.load(path: kubeconfig) } catch { fail(error) }
        signal(SIGPIPE, SIG_IGN)
        do {
            try blockOn {
                let client = try KubeClient(config: config, userAgent: "swiftlet-scheduler/\(Swiftlet.configuration.version)")
                let s = Scheduler(client: client, logger: logger)
                await s.start()
                logger.info("scheduler running", metadata: ["server": "\(config.server)"])
                try await holdForever([s])
            }
        } catch { fail(error) }
    }
}

import APIServer
import KubeClient
import ArgumentParser
import Auth
import Foundation
import LinuxSystem
import Logging
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// A failure to start (exit status 1, the message on stderr); usage errors stay ArgumentParser's.
struct MasterError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

struct MasterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "The Kubernetes API server (state in embedded SQLite under --data-dir, or in etcd with --etcd-servers).",
        subcommands: [MasterServe.self, MasterKubeconfig.self, MasterBootstrapToken.self], defaultSubcommand: MasterServe.self)
}

/// `https://host:port` as a URL (IPv6 bracketed; a wildcard bind is reached on loopback).
func serverURL(_ host: String, _ port: Int, tls: Bool) -> String {
    let h = (host == "0.0.0.0" || host == "::" || host.isEmpty) ? "127.0.0.1" : host
    return "\(tls ? "https" : "http")://\(h.contains(":") ? "[\(h)]" : h):\(port)"
}

/// A kubeconfig for one user of the cluster at `server` (client certificate, or none for plain HTTP).
func kubeconfigText(server: String, caPEM: String?, certPEM: String?, keyPEM: String?, user: String) -> String {
    KubeConfig.text(server: server, caPEM: caPEM, certPEM: certPEM, keyPEM: keyPEM, token: nil, user: user)
}

/// The host's own IPv4/IPv6 addresses (what a wildcard-bound serving certificate must name).
func localAddresses() -> [String] {
    var out: [String] = []
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else { return out }
    defer { freeifaddrs(list) }
    var p = list
    while let ifa = p {
        defer { p = ifa.pointee.ifa_next }
        guard let sa = ifa.pointee.ifa_addr else { continue }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if sa.pointee.sa_family == UInt16(AF_INET) {
            var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            if inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) != nil { out.append(String(cString: buf)) }
        } else if sa.pointee.sa_family == UInt16(AF_INET6) {
            var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            if a.__in6_u.__u6_addr8.0 == 0xfe && (a.__in6_u.__u6_addr8.1 & 0xc0) == 0x80 { continue }  // link-local: no SAN
            if inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil { out.append(String(cString: buf)) }
        }
    }
    return Array(Set(out)).sorted()
}

/// Writes `text` to `path` through a 0600 temporary file and a rename.
func writePrivate(_ path: String, _ text: String) throws {
    do { try ClusterPKI.writeSecret(path, text) } catch { throw MasterError("write \(path): \(error)") }
}

struct MasterKubeconfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Issue a client certificate from the cluster CA (CN = user, O = groups) and print a kubeconfig for it.")

    @Option(help: "The master's PKI directory (ca.crt, ca.key).") var pkiDir = "/var/lib/swiftlet/master/pki"
    @Option(help: "The user name (certificate CN), e.g. jane or system:node:worker-1.") var user: String
    @Option(name: .customLong("group"), help: "A group (certificate O); repeat for more, e.g. system:nodes.") var groups: [String] = []
    @Option(help: "The API server URL.") var server = "https://127.0.0.1:6443"
    @Option(help: "Certificate lifetime in days.") var days = 365
    @Option(help: "Write the kubeconfig here (0600) instead of stdout.") var output: String?

    func run() throws {
        guard !user.isEmpty, !user.contains("\n") else { throw MasterError("kubeconfig: --user must be a non-empty single line") }
        let ca: CertificateAuthority
        let issued: (certificatePEM: String, keyPEM: String)
        do {
            ca = try CertificateAuthority.load(directory: pkiDir)
            issued = try ca.issueClient(user: user, groups: groups, validity: TimeInterval(days) * 86400)
        } catch {
            throw MasterError("kubeconfig for \(user): \(error)")
        }
        let text = kubeconfigText(server: server, caPEM: ca.certificate.pem, certPEM: issued.certificatePEM, keyPEM: issued.keyPEM, user: user)
        if let output { try writePrivate(output, text) } else { stdoutWrite(text) }
    }
}

struct MasterBootstrapToken: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap-token",
        abstract: "Create a bootstrap token (a Secret in kube-system) and write a bootstrap kubeconfig for joining nodes (swiftlet agent --bootstrap-kubeconfig).")

    @Option(help: "An administrator's kubeconfig.") var kubeconfig = "/var/lib/swiftlet/master/admin.kubeconfig"
    @Option(help: "How long the token is valid: Ns, Nm or Nh.") var ttl = "24h"
    @Option(help: "Write the bootstrap kubeconfig here (0600).") var output: String

    static func seconds(_ s: String) -> Int? {
        guard let unit = s.last, let n = Int(s.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        default: return nil
        }
    }

    func run() throws {
        guard let ttlSeconds = Self.seconds(ttl) else { throw MasterError("bootstrap-token: --ttl \(ttl): expected a positive number of s, m or h") }
        let admin: KubeConfig
        do { admin = try KubeConfig.load(path: kubeconfig) } catch { throw MasterError("bootstrap-token: \(error)") }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        let id = String((0..<6).map { _ in alphabet.randomElement(using: &rng)! })
        let secret = String((0..<16).map { _ in alphabet.randomElement(using: &rng)! })
        let expiration = Timestamp(seconds: Timestamp.now().seconds + ttlSeconds, nanoseconds: 0).rfc3339Nano
        func b64(_ s: String) -> JSON { .string(Data(s.utf8).base64EncodedString()) }
        let obj = JSON.object([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", .object([("name", .string("bootstrap-token-" + id)), ("namespace", .string("kube-system"))])),
            ("type", .string("bootstrap.kubernetes.io/token")),
            ("data", .object([("token-id", b64(id)), ("token-secret", b64(secret)), ("expiration", b64(expiration)),
                              ("usage-bootstrap-authentication", b64("true")), ("usage-bootstrap-signing", b64("true")),
                              ("description", b64("swiftlet master bootstrap-token"))])),
        ])
        do {
            _ = try blockOn {
                let client = try KubeClient(config: admin, userAgent: "swiftlet/\(Swiftlet.configuration.version) (bootstrap-token)")
                defer { Task { await client.shutdown() } }
                return try await client.create(.secrets, namespace: "kube-system", obj)
            }
        } catch { throw MasterError("bootstrap-token: creating the token: \(error)") }
        let text = KubeConfig.text(server: admin.server, caPEM: admin.certificateAuthorityPEM.map { String(decoding: $0, as: UTF8.self) },
                                   certPEM: nil, keyPEM: nil, token: id + "." + secret, user: "kubelet-bootstrap")
        try writePrivate(output, text)
        stderrLine("bootstrap token \(id) valid until \(expiration); join a node with: swiftlet agent --bootstrap-kubeconfig \(output) --kubeconfig /var/lib/swiftlet/kubelet.kubeconfig")
    }
}

struct MasterServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the API server: HTTPS with client certificates and tokens, RBAC, node restriction (the default subcommand).")

    @Option(help: "Directory for the database, pki/ and admin.kubeconfig.") var dataDir = "/var/lib/swiftlet/master"
    @Option(help: "Address to listen on.") var bindAddress = "127.0.0.1"
    @Option(help: "Port (0 picks a free one; the kubeconfig names the one bound).") var securePort = 6443
    @Option(help: "Revisions of history kept for watches before compaction.") var historyWindow = 10000
    @Option(help: ArgumentHelp("etcd client URLs, comma-separated (http://127.0.0.1:2379): keep the state in etcd instead of SQLite, shared by every master given the same servers.", valueName: "urls"))
    var etcdServers: String?
    @Option(help: "The etcd key prefix of this cluster's objects.") var etcdPrefix = "/registry"
    @Option(help: "The cluster CA, serving and admin certificates and the service-account signing key (created when missing; default <data-dir>/pki). Masters sharing an etcd share it.")
    var pkiDir: String?
    @Option(help: ArgumentHelp("Extra names and addresses the serving certificate covers, comma-separated.", valueName: "names"))
    var tlsSan: String?
    @Option(help: ArgumentHelp("Static bearer tokens: CSV lines token,user,uid[,\"group1,group2\"].", valueName: "file"))
    var tokenAuthFile: String?
    @Flag(help: "Serve plain HTTP with no authentication or authorization (every client is cluster-admin): tests and benchmarks on loopback only.")
    var insecureHTTP = false
    @Flag(help: "Log every request.") var verbose = false

    func run() throws {
        let master = try MasterRunner(dataDir: dataDir, bindAddress: bindAddress, securePort: securePort, historyWindow: historyWindow,
                                      etcdServers: etcdServers, etcdPrefix: etcdPrefix, pkiDir: pkiDir, tlsSan: tlsSan,
                                      tokenAuthFile: tokenAuthFile, insecureHTTP: insecureHTTP, verbose: verbose)
        let logger = master.logger
        SignalThread.start { sig in
            logger.notice("signal \(sig): stopping (every acknowledged write is on disk)")
            _exit(0)
        }
        try blockOn { try await master.serve { _ in } }
    }
}

/// The API server set up (data dir, PKI, tokens) and served: `swiftlet master` and `swiftlet up`.
struct MasterRunner: Sendable {
    let logger: Logger
    let dir: String
    let host: String
    let port: Int
    let window: Int64
    let etcdServers: String?
    let etcdPrefix: String
    let security: SecurityConfig?
    let tls: MasterTLS?
    let pki: ClusterPKI?

    init(dataDir: String, bindAddress: String, securePort: Int, historyWindow: Int, etcdServers: String?, etcdPrefix: String,
         pkiDir: String?, tlsSan: String?, tokenAuthFile: String?, insecureHTTP: Bool, verbose: Bool) throws {
        var log = Logger(label: "swiftlet.master")
        log.logLevel = verbose ? .info : .notice
        logger = log
        let dir = dataDir
        self.dir = dir
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw MasterError("create data dir \(dir): \(error)")
        }
        let host = bindAddress
        self.host = host
        port = securePort
        window = Int64(historyWindow)
        self.etcdServers = etcdServers
        self.etcdPrefix = etcdPrefix
        if insecureHTTP, !(host.hasPrefix("127.") || host == "::1" || host == "localhost") {
            throw MasterError("--insecure-http serves every client as cluster-admin: it binds loopback only, not \(host)")
        }
        var security: SecurityConfig?
        var tls: MasterTLS?
        var pki: ClusterPKI?
        if !insecureHTTP {
            var names = [ProcessInfo.processInfo.hostName]
            var ips = (host == "0.0.0.0" || host == "::") ? localAddresses() : [host]
            for n in (tlsSan ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !n.isEmpty {
                if CertificateAuthority.isIPAddress(n) { ips.append(n) } else { names.append(n) }
            }
            let p: ClusterPKI
            do { p = try ClusterPKI.loadOrCreate(directory: pkiDir ?? dir + "/pki", dnsNames: names, ipAddresses: ips) } catch {
                throw MasterError("master PKI: \(error)")
            }
            var tokens: [String: UserInfo] = [:]
            if let f = tokenAuthFile {
                do { tokens = try TokenFile.parse(try String(contentsOfFile: f, encoding: .utf8)) } catch { throw MasterError("--token-auth-file \(f): \(error)") }
            }
            security = SecurityConfig(serviceAccountTokens: ServiceAccountTokens(key: p.serviceAccountKey), staticTokens: tokens, caPEM: p.ca.certificate.pem,
                                      kubeletClient: KubeletClientTLS(certificatePEM: p.kubeletClient.pem, keyPEM: p.kubeletClientKey.pemRepresentation,
                                                                      caPEM: p.ca.certificate.pem))
            tls = MasterTLS(certificatePEM: p.serving.pem, keyPEM: p.servingKey.pemRepresentation, clientCAPEM: p.ca.certificate.pem)
            pki = p
        }
        self.security = security
        self.tls = tls
        self.pki = pki
    }

    /// Serves until the process ends; `ready` gets the URL once the port is bound and the admin
    /// kubeconfig written.
    func serve(ready: @escaping @Sendable (String) -> Void) async throws {
        let sec = security, serverTLS = tls, adminPKI = pki, logger = logger, dir = dir, host = host, port = port, window = window
        do {
            let store: any RevisionedStore
            let hub: WatchHub
            if let servers = etcdServers {
                let etcd = try EtcdStore(endpoints: servers.split(separator: ",").map { String($0) }, etcdPrefix: etcdPrefix)
                let rev: Int64
                do { rev = try await etcd.currentRevision() } catch { throw MasterError("etcd \(servers): \(error)") }
                store = etcd
                hub = WatchHub(feed: etcd, currentRevision: rev, capacity: Int(window))
                await hub.start()
            } else {
                let sqlite = try SQLiteStore(path: dir + "/state.db")
                store = sqlite
                hub = WatchHub(store: sqlite, currentRevision: try await sqlite.currentRevision())
            }
            let server = APIServer(store: store, hub: hub, serverAddress: "\(host):\(port)", security: sec)
            try await server.bootstrap()
            // history older than the window is compacted (watches from before it get 410)
            Task.detached {
                while true {
                    try? await Task.sleep(for: .seconds(60))
                    if let rev = try? await store.currentRevision(), rev > window { try? await store.compact(through: rev - window) }
                }
            }
            try await MasterHTTP.run(server: server, host: host, port: port, tls: serverTLS, logger: logger) { bound in
                let url = serverURL(host, bound, tls: adminPKI != nil)
                let text = kubeconfigText(server: url, caPEM: adminPKI?.ca.certificate.pem, certPEM: adminPKI?.admin.pem,
                                          keyPEM: adminPKI?.adminKey.pemRepresentation, user: "admin")
                let path = dir + "/admin.kubeconfig"
                do { try writePrivate(path, text) } catch { logger.error("\(error)") }
                logger.notice("master ready", metadata: ["address": "\(url)", "kubeconfig": "\(path)"])
                stderrLine("swiftlet master: serving on \(url)\(adminPKI == nil ? " (insecure: no authentication)" : ""); kubeconfig \(path)")
                ready(url)
                // the built-in certificate controller, through the API as kube-controller-manager
                if let pki = adminPKI {
                    do {
                        let local = serverURL(host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host, bound, tls: true)
                        let cred = try pki.ca.issueClient(user: "system:kube-controller-manager", groups: [])
                        let client = try KubeClient(config: KubeConfig(server: local, certificateAuthorityPEM: Array(pki.ca.certificate.pem.utf8),
                                                                       clientCertificatePEM: Array(cred.certificatePEM.utf8), clientKeyPEM: Array(cred.keyPEM.utf8)),
                                                    userAgent: "swiftlet-master/\(Swiftlet.configuration.version) (certificates)")
                        let csr = CSRController(client: client, ca: pki.ca, logger: logger)
                        await csr.start()
                        await keeper.keep(csr)
                    } catch {
                        logger.error("the certificate controller did not start: \(error)")
                    }
                }
            }
        }
    }
}

/// Holds what must live as long as the process (controllers started from callbacks).
actor Keeper {
    var held: [any Sendable] = []
    func keep(_ x: any Sendable) { held.append(x) }
}
let keeper = Keeper()

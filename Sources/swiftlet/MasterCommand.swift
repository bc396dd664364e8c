import APIServer
import ArgumentParser
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
        abstract: "Run the Kubernetes API server (state in embedded SQLite under --data-dir, or in etcd with --etcd-servers).")

    @Option(help: "Directory for the database and admin.kubeconfig.") var dataDir = "/var/lib/swiftlet/master"
    @Option(help: "Address to listen on (loopback by default: there is no authentication yet).") var bindAddress = "127.0.0.1"
    @Option(help: "Port (0 picks a free one; the kubeconfig names the one bound).") var securePort = 6443
    @Option(help: "Revisions of history kept for watches before compaction.") var historyWindow = 10000
    @Option(help: ArgumentHelp("etcd client URLs, comma-separated (http://127.0.0.1:2379): keep the state in etcd instead of SQLite, shared by every master given the same servers.", valueName: "urls"))
    var etcdServers: String?
    @Option(help: "The etcd key prefix of this cluster's objects.") var etcdPrefix = "/registry"
    @Flag(help: "Log every request.") var verbose = false

    func run() throws {
        var log = Logger(label: "swiftlet.master")
        log.logLevel = verbose ? .info : .notice
        let logger = log
        let dir = dataDir
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw MasterError("create data dir \(dir): \(error)")
        }
        let host = bindAddress
        let port = securePort
        let window = Int64(historyWindow)
        SignalThread.start { sig in
            logger.notice("signal \(sig): stopping (every acknowledged write is on disk)")
            _exit(0)
        }
        try blockOn {
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
            let server = APIServer(store: store, hub: hub, serverAddress: "\(host):\(port)")
            try await server.bootstrap()
            // history older than the window is compacted (watches from before it get 410)
            Task.detached {
                while true {
                    try? await Task.sleep(for: .seconds(60))
                    if let rev = try? await store.currentRevision(), rev > window { try? await store.compact(through: rev - window) }
                }
            }
            try await MasterHTTP.run(server: server, host: host, port: port, logger: logger) { bound in
                let kubeconfig = """
                    apiVersion: v1
                    kind: Config
                    clusters:
                    - name: swiftlet
                      cluster:
                        server: http://\(host.contains(":") ? "[\(host)]" : host):\(bound)
                    contexts:
                    - name: swiftlet
                      context:
                        cluster: swiftlet
                        user: admin
                        namespace: default
                    current-context: swiftlet
                    users:
                    - name: admin
                      user: {}

                    """
                let path = dir + "/admin.kubeconfig"
                let tmp = path + ".tmp"
                let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                if fd >= 0 {
                    _ = kubeconfig.withCString { write(fd, $0, strlen($0)) }
                    close(fd)
                    rename(tmp, path)
                }
                logger.notice("master ready", metadata: ["address": "\(host):\(bound)", "kubeconfig": "\(path)"])
                stderrLine("swiftlet master: serving on http://\(host):\(bound); kubeconfig \(path)")
            }
        }
    }
}

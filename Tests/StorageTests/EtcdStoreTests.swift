import Foundation
import Storage
import Testing

/// A real etcd (Debian's etcd-server) on loopback ports of its own, in a temporary data dir.
final class EtcdProcess {
    let dir: String
    let url: String

    /// nil when etcd is not installed and this is not CI (CI installs it: there it is a failure).
    static func start() async throws -> EtcdProcess? {
        let bin = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let bin else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                throw StorageError.backend("etcd is not installed (scripts/install-deps.sh installs etcd-server)")
            }
            return nil
        }
        // Ports are picked at random below the kernel's ephemeral range (where other suites'
        // connections take theirs); one taken anyway makes etcd exit at once: then another pair.
        var lastError: (any Error)?
        for _ in 0..<5 {
            let e = try EtcdProcess(bin: bin)
            do {
                try await e.waitReady()
                return e
            } catch {
                lastError = error
                guard e.processRef?.isRunning == false else { throw error }
            }
        }
        throw lastError ?? StorageError.backend("etcd did not start")
    }

    init(bin: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-etcd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let client = 2 * Int.random(in: 5000..<16000)
        let peer = client + 1
        url = "http://127.0.0.1:\(client)"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["--data-dir", dir + "/data", "--listen-client-urls", url, "--advertise-client-urls", url,
                       "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
                       "--initial-cluster", "default=http://127.0.0.1:\(peer)", "--log-level", "error"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        processRef = p
    }

    /// Ready when a range answers.
    func waitReady() async throws {
        let s = try EtcdStore(endpoints: [url])
        for _ in 0..<100 {
            guard processRef?.isRunning == true else { break }
            if (try? await s.currentRevision()) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StorageError.backend("etcd on \(url) did not become ready (exited: \(processRef?.isRunning == false))")
    }
    var processRef: Process?

    deinit {
        if let p = processRef, p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite("etcd store", .serialized)
struct EtcdStoreTests {
    func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    func withEtcd(_ body: (EtcdProcess) async throws -> Void) async throws {
        guard let etcd = try await EtcdProcess.start() else {
            print("etcd store tests skipped: /usr/bin/etcd missing (apt-get install etcd-server)")
            return
        }
        try await body(etcd)
    }

    @Test("create refuses an existing key, update and delete check the revision, nothing changes on a refusal")
    func conditionalWrites() async throws {
        try await withEtcd { etcd in
            let s = try EtcdStore(endpoints: [etcd.url])
            let base = try await s.currentRevision()
            let a = try await s.create("/registry/pods/default/a", value: b("a1"))
            #expect(a.createRevision == base + 1 && a.modRevision == base + 1)
            await #expect(throws: StorageError.keyExists("/registry/pods/default/a")) {
                try await s.create("/registry/pods/default/a", value: b("again"))
            }
            let a2 = try await s.update("/registry/pods/default/a", value: b("a2"), expectedRevision: a.modRevision)
            #expect(a2.createRevision == a.createRevision && a2.modRevision == base + 2)
            #expect(try await s.get("/registry/pods/default/a") == a2)
            await #expect(throws: StorageError.conflict(key: "/registry/pods/default/a", expected: a.modRevision, actual: a2.modRevision)) {
                try await s.update("/registry/pods/default/a", value: b("a3"), expectedRevision: a.modRevision)
            }
            await #expect(throws: StorageError.conflict(key: "/registry/pods/default/a", expected: a.modRevision, actual: a2.modRevision)) {
                try await s.delete("/registry/pods/default/a", expectedRevision: a.modRevision)
            }
            #expect(try await s.get("/registry/pods/default/a")?.value == b("a2"))
            #expect(try await s.currentRevision() == base + 2)
            await #expect(throws: StorageError.notFound("/registry/pods/default/nope")) {
                try await s.update("/registry/pods/default/nope", value: [], expectedRevision: nil)
            }
            let d = try await s.delete("/registry/pods/default/a", expectedRevision: a2.modRevision)
            #expect(d.value == b("a2") && d.modRevision == base + 3)
            #expect(try await s.get("/registry/pods/default/a") == nil)
            await #expect(throws: StorageError.notFound("/registry/pods/default/a")) {
                try await s.delete("/registry/pods/default/a", expectedRevision: nil)
            }
        }
    }

    @Test("lists by prefix in key order with limit and continue; another prefix is another cluster")
    func listsAndPrefixes() async throws {
        try await withEtcd { etcd in
            let s = try EtcdStore(endpoints: [etcd.url])
            for n in ["c", "a", "e", "b", "d"] { _ = try await s.create("/registry/pods/ns/\(n)", value: b(n)) }
            _ = try await s.create("/registry/pods/ns2/z", value: b("z"))
            _ = try await s.create("/registry/podsx/y", value: b("y"))
            let p1 = try await s.list(prefix: "/registry/pods/ns/", limit: 2, continueAfter: nil)
            #expect(p1.items.map(\.key) == ["/registry/pods/ns/a", "/registry/pods/ns/b"] && p1.continueAfter == "/registry/pods/ns/b")
            let p2 = try await s.list(prefix: "/registry/pods/ns/", limit: 2, continueAfter: p1.continueAfter)
            #expect(p2.items.map(\.key) == ["/registry/pods/ns/c", "/registry/pods/ns/d"])
            let p3 = try await s.list(prefix: "/registry/pods/ns/", limit: 2, continueAfter: p2.continueAfter)
            #expect(p3.items.map(\.key) == ["/registry/pods/ns/e"] && p3.continueAfter == nil)
            #expect(try await s.list(prefix: "/registry/pods/", limit: nil, continueAfter: nil).items.count == 6)
            // counts without values: the prefix's own keys only (not /registry/podsx/)
            #expect(try await s.count(prefix: "/registry/pods/") == 6)
            #expect(try await s.count(prefix: "/registry/pods/ns/") == 5)
            #expect(try await s.count(prefix: "/registry/nothing/") == 0)

            // a second cluster under its own prefix sees none of it, and its keys read back unprefixed
            let other = try EtcdStore(endpoints: [etcd.url], etcdPrefix: "/other")
            #expect(try await other.list(prefix: "/registry/", limit: nil, continueAfter: nil).items.isEmpty)
            _ = try await other.create("/registry/pods/ns/a", value: b("other"))
            #expect(try await other.get("/registry/pods/ns/a")?.value == b("other"))
            #expect(try await s.get("/registry/pods/ns/a")?.value == b("a"))
        }
    }

    @Test("compaction is recorded in etcd; a feed from before it fails as compacted")
    func compaction() async throws {
        try await withEtcd { etcd in
            let s = try EtcdStore(endpoints: [etcd.url])
            for i in 0..<5 { _ = try await s.create("/registry/configmaps/ns/c\(i)", value: b("\(i)")) }
            let now = try await s.currentRevision()
            try await s.compact(through: now - 2)
            #expect(try await s.oldestRetainedRevision() == now - 1)
            // a second master reads the same compaction
            let s2 = try EtcdStore(endpoints: [etcd.url])
            #expect(try await s2.oldestRetainedRevision() == now - 1)
            try await s2.compact(through: now - 4)   // older: nothing to do
            #expect(try await s.oldestRetainedRevision() == now - 1)
            var it = s.changes(after: now - 4).makeAsyncIterator()
            await #expect(throws: StorageError.self) { _ = try await it.next() }
            // after the compacted revision the feed works
            var ok = s.changes(after: now - 2).makeAsyncIterator()
            #expect(try await ok.next()?.revision == now - 1)
            // current values stay
            #expect(try await s.list(prefix: "/registry/configmaps/", limit: nil, continueAfter: nil).items.count == 5)
        }
    }

    @Test("two masters' hubs on one etcd: each watcher sees both masters' writes, in order, each once")
    func twoMasters() async throws {
        try await withEtcd { etcd in
            let a = try EtcdStore(endpoints: [etcd.url])
            let bStore = try EtcdStore(endpoints: ["http://127.0.0.1:1", etcd.url])   // the first endpoint is dead
            let start = try await a.currentRevision()
            let hubA = WatchHub(feed: a, currentRevision: start)
            let hubB = WatchHub(feed: bStore, currentRevision: start)
            await hubA.start()
            await hubB.start()
            let watchA = try await hubA.watch(prefix: "/registry/leases/", after: start)
            let watchB = try await hubB.watch(prefix: "/registry/leases/", after: start)
            try await withThrowingTaskGroup(of: Void.self) { g in
                for w in 0..<8 {
                    let hub = w % 2 == 0 ? hubA : hubB
                    g.addTask { for i in 0..<10 { _ = try await hub.create("/registry/leases/ns/\(w)-\(i)", value: [UInt8(i)]) } }
                }
                try await g.waitForAll()
            }
            _ = try await hubB.create("/registry/pods/ns/other-prefix", value: [])
            for stream in [watchA, watchB] {
                var revs: [Int64] = []
                for try await e in stream {
                    #expect(e.kind == .added && e.key.hasPrefix("/registry/leases/"))
                    revs.append(e.revision)
                    if revs.count == 80 { break }
                }
                #expect(revs == Array((start + 1)...(start + 80)))
            }
            // a late watcher resumes from the ring; one from before the hub's start is told to relist
            var late = try await hubB.watch(prefix: "/registry/leases/ns/", after: start + 78).makeAsyncIterator()
            #expect(try await late.next()?.revision == start + 79)
            #expect(try await late.next()?.revision == start + 80)
            await #expect(throws: StorageError.compacted(requested: start - 1, oldest: start + 1)) {
                try await hubA.watch(prefix: "/registry/", after: start - 1)
            }
            await hubA.stop()
            await hubB.stop()
        }
    }

    @Test("a hub keeps only its capacity of events: older resumes are compacted")
    func ringCapacity() async throws {
        try await withEtcd { etcd in
            let s = try EtcdStore(endpoints: [etcd.url])
            let start = try await s.currentRevision()
            let hub = WatchHub(feed: s, currentRevision: start, capacity: 16)
            await hub.start()
            let live = try await hub.watch(prefix: "/registry/", after: start)
            for i in 0..<40 { _ = try await hub.create("/registry/secrets/ns/s\(i)", value: b("\(i)")) }
            var n = 0
            for try await _ in live { n += 1; if n == 40 { break } }
            await #expect(throws: StorageError.self) { try await hub.watch(prefix: "/registry/", after: start + 10) }
            var it = try await hub.watch(prefix: "/registry/", after: start + 30).makeAsyncIterator()
            #expect(try await it.next()?.revision == start + 31)
            await hub.stop()
        }
    }
}

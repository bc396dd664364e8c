import APIMachinery
import Foundation
import LinuxSystem
import Storage
import Testing
@testable import APIServer
@testable import KubeClient

/// The master's in-process handler as the client's transport, with faults a network has: a
/// watch cut after some events, a connection refused.
final class InProcess: KubeTransport, @unchecked Sendable {
    let server: APIServer
    let lock = NSLock()
    var cutWatchesAfter: Int?      // every watch breaks after this many events
    var refuse = 0                 // the next n requests fail to connect
    var requests: [String] = []

    init(_ server: APIServer) { self.server = server }

    func send(_ r: KubeHTTPRequest) async throws -> KubeHTTPResponse {
        let (cut, refused): (Int?, Bool) = lock.withLock {
            requests.append(r.method + " " + r.target)
            if refuse > 0 { refuse -= 1; return (nil, true) }
            return (cutWatchesAfter, false)
        }
        if refused { throw KubeError.transport("connect: Connection refused") }
        var h: [String: String] = [:]
        for (k, v) in r.headers { h[k.lowercased()] = v }
        let resp = await server.handle(APIRequest(method: r.method, target: r.target, headers: h, body: r.body))
        guard let stream = resp.stream else { return KubeHTTPResponse(status: resp.status, headers: resp.headers, bytes: resp.body) }
        let body = AsyncThrowingStream<[UInt8], any Error> { c in
            let t = Task {
                var lines = 0
                for await chunk in stream {
                    c.yield(chunk)
                    lines += chunk.filter { $0 == 0x0A }.count
                    if let cut, lines >= cut { c.finish(throwing: KubeError.transport("connection reset by peer")); return }
                }
                c.finish()
            }
            c.onTermination = { _ in t.cancel() }
        }
        return KubeHTTPResponse(status: resp.status, headers: resp.headers, body: body)
    }

    func shutdown() async {}
    var watchRequests: [String] { lock.withLock { requests.filter { $0.contains("watch=1") } } }
}

func makeMaster() async throws -> (APIServer, SQLiteStore, String) {
    let dir = NSTemporaryDirectory() + "kubeclient-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let store = try SQLiteStore(path: dir + "/state.db")
    let hub = WatchHub(store: store, currentRevision: try await store.currentRevision())
    let s = APIServer(store: store, hub: hub, serverAddress: "127.0.0.1:6443")
    try await s.bootstrap()
    return (s, store, dir)
}

func configMap(_ name: String, _ value: String, namespace: String = "default") -> JSON {
    .object([("apiVersion", .string("v1")), ("kind", .string("ConfigMap")),
             ("metadata", .object([("name", .string(name)), ("namespace", .string(namespace))])),
             ("data", .object([("v", .string(value))]))])
}

/// Polls `cond` until it holds or 10 s pass (a test waiting on an informer fails rather than hangs).
func eventually(_ what: String, _ cond: () async -> Bool) async throws {
    let end = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < end {
        if await cond() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting for \(what)")
}

/// Records what the handlers saw.
actor Seen {
    var events: [String] = []
    func add(_ e: InformerEvent) {
        switch e {
        case .added(let o): events.append("added " + o.objectKey + "=" + value(o))
        case .updated(_, let n): events.append("updated " + n.objectKey + "=" + value(n))
        case .deleted(let o): events.append("deleted " + o.objectKey)
        }
    }
    nonisolated func value(_ o: JSON) -> String { if case .string(let s)? = o["data"]?["v"] { return s }; return "" }
}

@Suite("KubeClient against the in-process master")
struct KubeClientTests {
    @Test("create, get, list, patch (merge and strategic), update, delete with a UID precondition; errors are the server's Status")
    func crud() async throws {
        let (s, _, dir) = try await makeMaster()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = KubeClient(transport: InProcess(s))
        let made = try await c.create(.configMaps, namespace: "default", configMap("a", "1"))
        #expect(made.meta("uid").count == 36)
        #expect(try await c.get(.configMaps, namespace: "default", name: "a")["data"]?["v"] == .string("1"))
        do {
            _ = try await c.create(.configMaps, namespace: "default", configMap("a", "1"))
            Issue.record("a second create succeeded")
        } catch let e as KubeError {
            #expect(e.isConflict)
            #expect(e.description.contains("configmaps \"a\" already exists"))
        }
        let p = try await c.patch(.configMaps, namespace: "default", name: "a", type: .merge, .object([("data", .object([("w", .string("2"))]))]))
        #expect(p["data"]?["v"] == .string("1") && p["data"]?["w"] == .string("2"))
        var obj = try await c.get(.configMaps, namespace: "default", name: "a")
        if case .object(var m) = obj { m.removeAll { $0.0 == "data" }; m.append(("data", .object([("v", .string("3"))]))); obj = .object(m) }
        #expect(try await c.update(.configMaps, namespace: "default", name: "a", obj)["data"]?["w"] == nil)
        for i in 0..<5 { _ = try await c.create(.configMaps, namespace: "default", configMap("p\(i)", "x")) }
        let page = try await c.list(.configMaps, namespace: "default", limit: 2)
        #expect(page.items.count == 2 && page.continueToken != nil && !page.resourceVersion.isEmpty)
        #expect(try await c.list(.configMaps, namespace: "default", fieldSelector: "metadata.name=p3").items.map { $0.meta("name") } == ["p3"])
        do {
            _ = try await c.delete(.configMaps, namespace: "default", name: "a", uid: "not-its-uid")
            Issue.record("a delete with another UID succeeded")
        } catch let e as KubeError {
            #expect(e.isConflict)
        }
        _ = try await c.delete(.configMaps, namespace: "default", name: "a", uid: made.meta("uid"))
        do {
            _ = try await c.get(.configMaps, namespace: "default", name: "a")
            Issue.record("deleted, still there")
        } catch let e as KubeError {
            #expect(e.isNotFound)
        }
        // names are one path segment, whatever they hold
        #expect(Resource.configMaps.path(namespace: "default", name: "../kube-system/secrets/x") == "/api/v1/namespaces/default/configmaps/..%2Fkube-system%2Fsecrets%2Fx")
    }

    @Test("a watch from a list's version sees what comes after it, as events")
    func watch() async throws {
        let (s, _, dir) = try await makeMaster()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = KubeClient(transport: InProcess(s))
        let rv = try await c.list(.configMaps, namespace: "default").resourceVersion
        let stream = try await c.watch(.configMaps, namespace: "default", resourceVersion: rv, timeoutSeconds: 30)
        _ = try await c.create(.configMaps, namespace: "default", configMap("w", "1"))
        _ = try await c.delete(.configMaps, namespace: "default", name: "w")
        var got: [String] = []
        for try await ev in stream {
            got.append(ev.type.rawValue + " " + ev.object.meta("name"))
            if got.count == 2 { break }
        }
        #expect(got == ["ADDED w", "DELETED w"])
    }

    @Test("the informer lists, then follows: its cache and handlers after churn")
    func informerChurn() async throws {
        let (s, _, dir) = try await makeMaster()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = KubeClient(transport: InProcess(s))
        for i in 0..<7 { _ = try await c.create(.configMaps, namespace: "default", configMap("pre\(i)", "0")) }
        let inf = Informer(client: c, resource: .configMaps, namespace: "default", pageSize: 3)
        let seen = Seen()
        await inf.addHandler { await seen.add($0) }
        let task = Task { await inf.run() }
        defer { task.cancel() }
        await inf.waitForSync()
        #expect(await inf.count == 7)
        #expect(await inf.get(namespace: "default", name: "pre3")?["kind"] == .string("ConfigMap"))
        for i in 0..<20 { _ = try await c.create(.configMaps, namespace: "default", configMap("c\(i)", "0")) }
        for i in 0..<20 where i % 2 == 0 { _ = try await c.patch(.configMaps, namespace: "default", name: "c\(i)", type: .merge, .object([("data", .object([("v", .string("1"))]))])) }
        for i in 0..<20 where i % 3 == 0 { _ = try await c.delete(.configMaps, namespace: "default", name: "c\(i)") }
        _ = try await c.create(.configMaps, namespace: "kube-system", configMap("elsewhere", "0", namespace: "kube-system"))  // not in the informer's namespace
        let want = try await c.list(.configMaps, namespace: "default").items.map { "\($0.objectKey)=\(Seen().value($0))" }.sorted()
        try await eventually("the cache to match a fresh list") {
            await inf.items().map { "\($0.objectKey)=\(Seen().value($0))" }.sorted() == want
        }
        // the cache changes before the handlers run (an actor's await lets a reader in between)
        try await eventually("every handler call") { await seen.events.count == 27 + 10 + 7 }
        let ev = await seen.events
        #expect(ev.filter { $0.hasPrefix("added") }.count == 27)
        #expect(ev.filter { $0.hasPrefix("updated") }.count == 10)
        #expect(ev.filter { $0.hasPrefix("deleted") }.count == 7)
        #expect(await inf.lists == 1)
    }

    @Test("a watch cut mid-stream resumes from the last version seen: no relist, no event twice, none lost")
    func cutWatch() async throws {
        let (s, _, dir) = try await makeMaster()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = InProcess(s)
        t.cutWatchesAfter = 3
        let c = KubeClient(transport: t)
        let inf = Informer(client: c, resource: .configMaps, namespace: "default", backoff: Backoff(initial: .milliseconds(5), maximum: .milliseconds(20)))
        let seen = Seen()
        await inf.addHandler { await seen.add($0) }
        let task = Task { await inf.run() }
        defer { task.cancel() }
        await inf.waitForSync()
        for i in 0..<10 { _ = try await c.create(.configMaps, namespace: "default", configMap("m\(i)", "0")) }
        try await eventually("all ten") { await seen.events.count == 10 }
        #expect(await seen.events == (0..<10).map { "added default/m\($0)=0" })
        #expect(await inf.lists == 1)
        #expect(await inf.watches >= 4)
        // each rewatch starts where the last one stopped
        let rvs = t.watchRequests.compactMap { $0.split(separator: "&").first { $0.hasPrefix("resourceVersion=") } }
        #expect(Set(rvs).count == rvs.count)
    }

    @Test("a watch from a compacted version (410 Gone) relists and reconciles: deletions it missed become deleted events")
    func expired() async throws {
        let (s, store, dir) = try await makeMaster()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = InProcess(s)
        let c = KubeClient(transport: t)
        _ = try await c.create(.configMaps, namespace: "default", configMap("keep", "0"))
        _ = try await c.create(.configMaps, namespace: "default", configMap("gone", "0"))
        let inf = Informer(client: c, resource: .configMaps, namespace: "default", backoff: Backoff(initial: .milliseconds(200), maximum: .milliseconds(200), jitter: 0))
        let seen = Seen()
        await inf.addHandler { await seen.add($0) }
        t.cutWatchesAfter = 0
        t.refuse = 0
        let task = Task { await inf.run() }
        defer { task.cancel() }
        await inf.waitForSync()
        // while the informer is cut off: changes, then the store forgets the revisions it would resume from
        t.lock.withLock { t.refuse = 1_000_000 }
        try await Task.sleep(for: .milliseconds(50))
        _ = try await KubeClient(transport: InProcess(s)).delete(.configMaps, namespace: "default", name: "gone")
        _ = try await KubeClient(transport: InProcess(s)).patch(.configMaps, namespace: "default", name: "keep", type: .merge, .object([("data", .object([("v", .string("1"))]))]))
        _ = try await KubeClient(transport: InProcess(s)).create(.configMaps, namespace: "default", configMap("new", "0"))
        try await store.compact(through: try await store.currentRevision())
        t.lock.withLock { t.refuse = 0; t.cutWatchesAfter = nil }
        try await eventually("the relist") { await inf.lists == 2 }
        try await eventually("the cache") { await inf.items().map(\.objectKey) == ["default/keep", "default/new"] }
        try await eventually("the relist's events") { await seen.events.count == 5 }
        let ev = await seen.events
        #expect(ev.contains("deleted default/gone"))
        #expect(ev.contains("updated default/keep=1"))
        #expect(ev.contains("added default/new=0"))
        let lastError = await inf.lastError ?? ""
        #expect(lastError.contains("410") || lastError.contains("too old"), "\(lastError)")
    }

    @Test("backoff doubles to its cap, with jitter never below the base, and resets")
    func backoff() {
        var b = Backoff(initial: .milliseconds(100), maximum: .milliseconds(800), jitter: 0.5)
        let waits = (0..<6).map { _ in b.next() }
        let bases: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(800), .milliseconds(800)]
        for (w, base) in zip(waits, bases) { #expect(w >= base && w <= base * 1.5) }
        b.reset()
        #expect(b.next() <= .milliseconds(150))
    }

    @Test("the work queue hands a key to one worker at a time and keeps one copy of it")
    func workQueue() async {
        let q = WorkQueue()
        await q.add("a"); await q.add("b"); await q.add("a")
        #expect(await q.length == 2)
        let k = await q.next()
        #expect(k == "a")
        await q.add("a")  // while "a" is processed: not handed out again yet
        #expect(await q.next() == "b")
        #expect(await q.length == 0)
        await q.done("a")
        #expect(await q.next() == "a")
        await q.done("a"); await q.done("b")
        await q.shutdown()
        #expect(await q.next() == nil)
    }
}

@Suite("kubeconfig")
struct KubeConfigTests {
    @Test("the current context's cluster and user: data fields, files relative to the kubeconfig, the namespace")
    func parse() throws {
        let dir = NSTemporaryDirectory() + "kc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "CERT".write(toFile: dir + "/client.crt", atomically: true, encoding: .utf8)
        try "KEY".write(toFile: dir + "/client.key", atomically: true, encoding: .utf8)
        try " tok-from-file \n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let text = """
            apiVersion: v1
            kind: Config
            current-context: two
            clusters:
            - name: c1
              cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: \(Data("CA".utf8).base64EncodedString())}
            - name: c2
              cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}
            users:
            - name: u1
              user: {client-certificate: client.crt, client-key: client.key}
            - name: u2
              user: {tokenFile: token}
            contexts:
            - name: one
              context: {cluster: c1, user: u1, namespace: team}
            - name: two
              context: {cluster: c2, user: u2}
            """
        try text.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
        let two = try KubeConfig.load(path: dir + "/config")
        #expect(two == KubeConfig(server: "http://127.0.0.1:8080", insecureSkipTLSVerify: true, token: "tok-from-file"))
        let one = try KubeConfig.load(path: dir + "/config", context: "one")
        #expect(one == KubeConfig(server: "https://10.0.0.1:6443", certificateAuthorityPEM: Array("CA".utf8),
                                  clientCertificatePEM: Array("CERT".utf8), clientKeyPEM: Array("KEY".utf8), namespace: "team"))
    }

    @Test("refusals name what is wrong")
    func refusals() {
        func message(_ t: String) -> String {
            do { _ = try KubeConfig.parse(t); return "parsed" } catch { return "\(error)" }
        }
        #expect(message("[1, 2]").contains("no top-level mapping"))
        #expect(message("clusters: []\ncontexts: []").contains("no current-context"))
        #expect(message("current-context: x\ncontexts: []").contains("context \"x\" does not exist"))
        #expect(message("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: \"ftp://h\"}}]")
            .contains("not an http(s) URL"))
        #expect(message("current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: \"https://h\"}}]\nusers: [{name: u, user: {client-certificate-data: Q0VSVA==}}]")
            .contains("needs its key"))
    }
}

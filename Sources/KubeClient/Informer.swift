import APIMachinery
import Foundation
import LinuxSystem

/// A change the informer saw, after its cache took it.
public enum InformerEvent: Sendable {
    case added(JSON)
    case updated(old: JSON, new: JSON)
    /// The last state the informer knew (after a relist: possibly not the final one).
    case deleted(JSON)

    public var object: JSON {
        switch self {
        case .added(let o), .deleted(let o): return o
        case .updated(_, let n): return n
        }
    }
}

/// Jittered exponential backoff (client-go's reflector: 800 ms doubling to 30 s, up to +100 % jitter).
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var jitter: Double
    var current: Duration?

    public init(initial: Duration = .milliseconds(800), maximum: Duration = .seconds(30), jitter: Double = 1.0) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The next wait (each one twice the last, capped), with jitter added.
    public mutating func next() -> Duration {
        let base = current.map { min($0 * 2, maximum) } ?? initial
        current = base
        return base * (1 + Double.random(in: 0...jitter))
    }

    public mutating func reset() { current = nil }
}

/// List, then watch from the list's resourceVersion, for ever: a local cache of one collection
/// (optionally narrowed by label/field selectors) and handlers called with every change in order.
/// A watch that the server ends is resumed from the last version seen (bookmarks keep it fresh);
/// a broken connection is retried after a jittered backoff; `410 Gone` (the version is no longer
/// kept) relists and reconciles the cache with what the list says, as client-go's reflector does.
public actor Informer {
    public nonisolated let resource: Resource
    public nonisolated let namespace: String?
    public nonisolated let labelSelector: String?
    public nonisolated let fieldSelector: String?
    let client: KubeClient
    let pageSize: Int
    let watchTimeout: ClosedRange<Int>
    var backoff: Backoff

    var cache: [String: JSON] = [:]
    public private(set) var resourceVersion = ""
    var handlers: [@Sendable (InformerEvent) async -> Void] = []
    public private(set) var hasSynced = false
    var syncWaiters: [CheckedContinuation<Void, Never>] = []
    /// How often it listed and watched (tests and metrics: a cut watch resumes, a 410 relists).
    public private(set) var lists = 0
    public private(set) var watches = 0
    public private(set) var lastError: String?

    public init(client: KubeClient, resource: Resource, namespace: String? = nil, labelSelector: String? = nil,
                fieldSelector: String? = nil, pageSize: Int = 500, watchTimeoutSeconds: ClosedRange<Int> = 300...600,
                backoff: Backoff = Backoff()) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.pageSize = pageSize
        self.watchTimeout = watchTimeoutSeconds
        self.backoff = backoff
    }

    /// Handlers added before `run` see every object as `added`; a later one sees only what comes next.
    public func addHandler(_ h: @escaping @Sendable (InformerEvent) async -> Void) { handlers.append(h) }

    public func get(_ key: String) -> JSON? { cache[key] }
    public func get(namespace: String?, name: String) -> JSON? { cache[namespace.map { $0 + "/" + name } ?? name] }
    public func items() -> [JSON] { cache.keys.sorted().compactMap { cache[$0] } }
    public var count: Int { cache.count }

    /// Returns once the first list is in the cache (and its handlers ran).
    public func waitForSync() async {
        if hasSynced { return }
        await withCheckedContinuation { syncWaiters.append($0) }
    }

    /// Lists and watches until the task is cancelled.
    public func run() async {
        var needList = true
        while !Task.isCancelled {
            if needList {
                do {
                    try await relist()
                    needList = false
                    backoff.reset()
                } catch {
                    lastError = "list \(resource.resource): \(error)"
                    try? await Task.sleep(for: backoff.next())
                    continue
                }
            }
            let started = ContinuousClock.now
            do {
                let stream = try await client.watch(resource, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                                                    resourceVersion: resourceVersion, timeoutSeconds: Int.random(in: watchTimeout))
                watches += 1
                var seen = 0
                for try await ev in stream {
                    seen += 1
                    if ev.type == .error {
                        let code: Int = if case .number(let n)? = ev.object["code"] { Int(n) ?? 0 } else { 0 }
                        lastError = "watch \(resource.resource): \(ev.object["message"].map { "\($0)" } ?? "error event") (\(code))"
                        // 410: the version is gone; any other error event: start over from a list as well
                        needList = true
                        break
                    }
                    await apply(ev)
                }
                if !needList {
                    // the server ended the watch; one that ended at once, empty, is not hammered again
                    if seen == 0 && ContinuousClock.now - started < .seconds(1) {
                        try? await Task.sleep(for: backoff.next())
                    } else {
                        backoff.reset()
                    }
                }
            } catch let e as KubeError where e.isExpired {
                lastError = "watch \(resource.resource): \(e)"
                needList = true
            } catch {
                if Task.isCancelled { return }
                lastError = "watch \(resource.resource): \(error)"
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Lists every page and reconciles the cache with it: new objects added, changed ones updated,
    /// missing ones deleted.
    func relist() async throws {
        var items: [JSON] = []
        var cont: String?
        var rv = ""
        repeat {
            let page = try await client.list(resource, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector,
                                             limit: pageSize, continueToken: cont)
            items += page.items
            cont = page.continueToken
            rv = page.resourceVersion
        } while cont != nil
        lists += 1
        var fresh: [String: JSON] = [:]
        for var item in items {
            // list items carry no kind/apiVersion; watch events do: the cache holds them alike
            item = Self.typed(item, resource)
            fresh[item.objectKey] = item
        }
        let old = cache
        cache = fresh
        resourceVersion = rv
        for key in fresh.keys.sorted() {
            let new = fresh[key]!
            if let prev = old[key] {
                if prev.meta("resourceVersion") != new.meta("resourceVersion") { await notify(.updated(old: prev, new: new)) }
            } else {
                await notify(.added(new))
            }
        }
        for key in old.keys.sorted() where fresh[key] == nil { await notify(.deleted(old[key]!)) }
        if !hasSynced {
            hasSynced = true
            for w in syncWaiters { w.resume() }
            syncWaiters = []
        }
    }

    func apply(_ ev: WatchEvent) async {
        let rv = ev.object.meta("resourceVersion")
        if !rv.isEmpty { resourceVersion = rv }
        let key = ev.object.objectKey
        switch ev.type {
        case .added, .modified:
            let prev = cache[key]
            cache[key] = ev.object
            if let prev { await notify(.updated(old: prev, new: ev.object)) } else { await notify(.added(ev.object)) }
        case .deleted:
            cache[key] = nil
            await notify(.deleted(ev.object))
        case .bookmark, .error:
            break
        }
    }

    func notify(_ e: InformerEvent) async {
        for h in handlers { await h(e) }
    }

    static func typed(_ item: JSON, _ r: Resource) -> JSON {
        guard case .object(var members) = item, item["kind"] == nil else { return item }
        let kind = kinds[r.resource] ?? ""
        if kind.isEmpty { return item }
        members.insert(("apiVersion", .string(r.group.isEmpty ? r.version : r.group + "/" + r.version)), at: 0)
        members.insert(("kind", .string(kind)), at: 0)
        return .object(members)
    }

    static let kinds = ["pods": "Pod", "nodes": "Node", "namespaces": "Namespace", "configmaps": "ConfigMap", "secrets": "Secret",
                        "services": "Service", "endpoints": "Endpoints", "events": "Event", "serviceaccounts": "ServiceAccount",
                        "leases": "Lease", "deployments": "Deployment", "replicasets": "ReplicaSet",
                        "certificatesigningrequests": "CertificateSigningRequest"]
}

/// Keys to sync, each at most once in the queue and never handed to two workers at once (a key
/// added while it is being processed comes back after `done`): client-go's work queue.
public actor WorkQueue {
    var queue: [String] = []
    var dirty: Set<String> = []
    var processing: Set<String> = []
    var waiters: [CheckedContinuation<String?, Never>] = []
    var shuttingDown = false

    public init() {}

    public func add(_ key: String) {
        if shuttingDown || dirty.contains(key) { return }
        dirty.insert(key)
        if processing.contains(key) { return }
        if !waiters.isEmpty {
            dirty.remove(key)
            processing.insert(key)
            waiters.removeFirst().resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// The next key (nil once shut down); call `done` when its sync finished.
    public func next() async -> String? {
        if !queue.isEmpty {
            let k = queue.removeFirst()
            dirty.remove(k)
            processing.insert(k)
            return k
        }
        if shuttingDown { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    public func done(_ key: String) {
        processing.remove(key)
        if dirty.contains(key) {
            if !waiters.isEmpty {
                dirty.remove(key)
                processing.insert(key)
                waiters.removeFirst().resume(returning: key)
            } else {
                queue.append(key)
            }
        }
    }

    public var length: Int { queue.count }

    public func shutdown() {
        shuttingDown = true
        for w in waiters { w.resume(returning: nil) }
        waiters = []
    }
}

/// Watches over the store, in one of two modes:
///
/// - **log** (SQLite: this process is the only writer): every write goes through the hub, which
///   hands the event to each watcher whose prefix matches; a watch from a revision first replays
///   the store's retained events after it, then continues live.
/// - **feed** (etcd, possibly shared with other masters): the hub learns every write — its own
///   and other masters' — from the store's change feed, and keeps the newest `capacity` events in
///   memory (kube-apiserver's watch cache); a watch from a revision older than that is `compacted`
///   (410 Expired: the client relists).
///
/// Either way there is no gap and no duplicate: events are delivered in revision order, each once.
public actor WatchHub {
    public let store: any RevisionedStore
    let log: (any EventLogStore)?

    struct Watcher {
        var prefix: String
        var continuation: AsyncThrowingStream<StorageEvent, any Error>.Continuation
        /// The last revision handed out (nothing at or before it is sent again).
        var after: Int64
        /// Live events that arrive while the store's history is replayed (log mode).
        var pending: [StorageEvent]?
    }
    var watchers: [Int: Watcher] = [:]
    var nextID = 0

    public init(store: any EventLogStore) {
        self.store = store
        self.log = store
        self.capacity = 0
    }

    /// A hub for a store that may already hold data: events are published in revision order
    /// from the store's current revision on.
    public init(store: any EventLogStore, currentRevision: Int64) {
        self.store = store
        self.log = store
        self.capacity = 0
        self.published = currentRevision
    }

    // MARK: feed mode

    /// The events kept for watches that resume (feed mode), oldest first.
    var ring: [StorageEvent] = []
    var ringStart = 0
    let capacity: Int
    /// Events after this revision are all in the ring (feed mode).
    var floor: Int64 = 0
    var feedTask: Task<Void, Never>?

    /// A hub fed by `store.changes` from `currentRevision` on, keeping `capacity` events.
    public init(feed store: any ChangeFeedStore, currentRevision: Int64, capacity: Int = 10000) {
        self.store = store
        self.log = nil
        self.capacity = max(capacity, 16)
        self.published = currentRevision
        self.floor = currentRevision
    }

    /// Starts consuming the change feed (feed mode). A broken feed is reopened after the last
    /// event received; a feed the store compacted away ends every watch with `compacted` (their
    /// clients relist) and starts again from the store's current revision.
    public func start() {
        guard log == nil, feedTask == nil, let feed = store as? any ChangeFeedStore else { return }
        feedTask = Task { [weak self] in
            var delay: Duration = .milliseconds(100)
            while !Task.isCancelled {
                guard let self else { return }
                let from = await self.published ?? 0
                do {
                    for try await e in feed.changes(after: from) {
                        await self.ingest(e)
                        delay = .milliseconds(100)
                    }
                } catch StorageError.compacted {
                    if let now = try? await feed.currentRevision() { await self.restart(at: now) }
                } catch {}
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    public func stop() {
        feedTask?.cancel()
        feedTask = nil
    }

    func ingest(_ e: StorageEvent) {
        if let last = published, e.revision <= last { return }
        published = e.revision
        ring.append(e)
        if ring.count - ringStart > capacity {
            floor = ring[ringStart].revision
            ringStart += 1
            if ringStart > capacity { ring.removeFirst(ringStart); ringStart = 0 }
        }
        deliver(e)
    }

    func restart(at revision: Int64) {
        for (_, w) in watchers {
            w.continuation.finish(throwing: StorageError.compacted(requested: w.after, oldest: revision + 1))
        }
        watchers = [:]
        ring = []
        ringStart = 0
        floor = revision
        published = revision
    }

    // MARK: writes (published after they are durable)

    public func create(_ key: String, value: [UInt8]) async throws -> StoredValue {
        let v = try await store.create(key, value: value)
        publish(StorageEvent(kind: .added, key: key, value: value, revision: v.modRevision))
        return v
    }

    public func update(_ key: String, value: [UInt8], expectedRevision: Int64?) async throws -> StoredValue {
        let v = try await store.update(key, value: value, expectedRevision: expectedRevision)
        publish(StorageEvent(kind: .modified, key: key, value: value, revision: v.modRevision))
        return v
    }

    public func delete(_ key: String, expectedRevision: Int64?) async throws -> StoredValue {
        let v = try await store.delete(key, expectedRevision: expectedRevision)
        publish(StorageEvent(kind: .deleted, key: key, value: v.value, revision: v.modRevision))
        return v
    }

    /// The last revision handed to watchers, and writes that finished ahead of an earlier one.
    /// The store call suspends this actor, so two writes can come back out of order; revisions are
    /// contiguous, so events are held until every earlier revision is published.
    var published: Int64?
    var ahead: [Int64: StorageEvent] = [:]

    func publish(_ e: StorageEvent) {
        // in feed mode the feed brings this write like any other
        guard log != nil else { return }
        guard let last = published else {
            published = e.revision
            deliver(e)
            return
        }
        if e.revision <= last { return }
        ahead[e.revision] = e
        while let next = ahead.removeValue(forKey: published! + 1) {
            published = next.revision
            deliver(next)
        }
        // A gap that never fills (a write that failed after taking a revision) must not stall
        // delivery forever: bounded look-ahead.
        if ahead.count > 1024, let low = ahead.keys.min() {
            published = low - 1
            publish(ahead.removeValue(forKey: low)!)
        }
    }

    func deliver(_ e: StorageEvent) {
        for (id, w) in watchers where e.key.hasPrefix(w.prefix) {
            if w.pending != nil {
                watchers[id]?.pending?.append(e)
            } else if e.revision > w.after {
                w.continuation.yield(e)
                watchers[id]?.after = e.revision
            }
        }
    }

    // MARK: watching

    /// Events under `prefix` after `revision` (nil: from now), in revision order, each once.
    /// Throws `compacted` (the API's 410) when the store no longer has them; the stream ends when
    /// the caller stops iterating.
    ///
    /// The watcher is registered before the history is read: a write that lands meanwhile is
    /// either in the history or published to the watcher (or both — duplicates are dropped by
    /// revision), never in neither.
    public func watch(prefix: String, after revision: Int64?) async throws -> AsyncThrowingStream<StorageEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<StorageEvent, any Error>.makeStream()
        let id = nextID
        nextID += 1
        continuation.onTermination = { [weak self] _ in
            Task { await self?.remove(id) }
        }
        guard let log else {
            // feed mode: the ring answers, within this actor (no write can interleave)
            let now = published ?? floor
            let from = revision ?? now
            if from < floor {
                continuation.finish()
                throw StorageError.compacted(requested: from, oldest: floor + 1)
            }
            var last = from
            for e in ring[ringStart...] where e.revision > from && e.key.hasPrefix(prefix) {
                continuation.yield(e)
                last = e.revision
            }
            watchers[id] = Watcher(prefix: prefix, continuation: continuation, after: max(last, from), pending: nil)
            return stream
        }
        watchers[id] = Watcher(prefix: prefix, continuation: continuation, after: revision ?? Int64.max, pending: [])
        do {
            let now = try await store.currentRevision()
            var last = revision ?? now
            if let revision, revision < now {
                for e in try await log.events(prefix: prefix, after: revision) {
                    continuation.yield(e)
                    last = e.revision
                }
            }
            last = max(last, revision == nil ? now : last)
            for e in watchers[id]?.pending ?? [] where e.revision > last {
                continuation.yield(e)
                last = e.revision
            }
            watchers[id]?.pending = nil
            watchers[id]?.after = last
        } catch {
            watchers[id] = nil
            continuation.finish(throwing: error)
            throw error
        }
        return stream
    }

    func remove(_ id: Int) { watchers[id] = nil }

    public var watcherCount: Int { watchers.count }
}

/// Watches over a store written by this process (the SQLite backend: one writer): every write
/// goes through the hub, which hands the event to each watcher whose prefix matches. A watch
/// from a revision first replays the store's retained events after it, then continues live,
/// with no gap and no duplicate (events are delivered in revision order, each once).
public actor WatchHub {
    public let store: any RevisionedStore

    struct Watcher {
        var prefix: String
        var continuation: AsyncThrowingStream<StorageEvent, any Error>.Continuation
        /// The last revision handed out (nothing at or before it is sent again).
        var after: Int64
        /// Live events that arrive while the store's history is replayed.
        var pending: [StorageEvent]?
    }
    var watchers: [Int: Watcher] = [:]
    var nextID = 0

    public init(store: any RevisionedStore) { self.store = store }

    /// A hub for a store that may already hold data: events are published in revision order
    /// from the store's current revision on.
    public init(store: any RevisionedStore, currentRevision: Int64) {
        self.store = store
        self.published = currentRevision
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
        watchers[id] = Watcher(prefix: prefix, continuation: continuation, after: revision ?? Int64.max, pending: [])
        continuation.onTermination = { [weak self] _ in
            Task { await self?.remove(id) }
        }
        do {
            let now = try await store.currentRevision()
            var last = revision ?? now
            if let revision, revision < now {
                for e in try await store.events(prefix: prefix, after: revision) {
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

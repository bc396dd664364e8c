/// The API server's storage: one revisioned key-value protocol (etcd's model: every write gets
/// the next global revision, which the API calls `resourceVersion`), behind which sit an
/// embedded SQLite database (the default) and etcd v3.

/// One stored value at the revision it was last written.
public struct StoredValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    /// The revision of the write that created the key (etcd create_revision).
    public var createRevision: Int64
    /// The revision of the last write to the key (etcd mod_revision = resourceVersion).
    public var modRevision: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
    }
}

/// A change, as a watch reports it.
public struct StorageEvent: Sendable, Equatable {
    public enum Kind: Int, Sendable { case added = 0, modified = 1, deleted = 2 }
    public var kind: Kind
    public var key: String
    /// The new value (for a deletion: the value it had).
    public var value: [UInt8]
    public var revision: Int64

    public init(kind: Kind, key: String, value: [UInt8], revision: Int64) {
        self.kind = kind
        self.key = key
        self.value = value
        self.revision = revision
    }
}

public struct ListResult: Sendable, Equatable {
    public var items: [StoredValue]
    /// The store's revision the list was read at.
    public var revision: Int64
    /// The key to continue after, when `limit` cut the list short.
    public var continueAfter: String?
}

public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    case keyExists(String)
    case notFound(String)
    /// The caller's revision is stale: the key was written since (409 Conflict in the API).
    case conflict(key: String, expected: Int64, actual: Int64)
    /// Events before `oldest` were compacted away (410 Gone / Expired in the API).
    case compacted(requested: Int64, oldest: Int64)
    case backend(String)

    public var description: String {
        switch self {
        case .keyExists(let k): return "key \(k) already exists"
        case .notFound(let k): return "key \(k) not found"
        case .conflict(let k, let e, let a): return "key \(k): revision \(e) is stale (now \(a))"
        case .compacted(let r, let o): return "revision \(r) has been compacted; the oldest retained is \(o)"
        case .backend(let m): return m
        }
    }
}

/// What the API server needs from a store. Every write is atomic and durable when it returns.
public protocol RevisionedStore: Sendable {
    /// The revision of the last write (0 for an empty store).
    func currentRevision() async throws -> Int64
    func get(_ key: String) async throws -> StoredValue?
    /// Keys under `prefix` in key order, after `continueAfter`, at most `limit` (nil: all).
    func list(prefix: String, limit: Int?, continueAfter: String?) async throws -> ListResult
    /// How many keys are under `prefix` (without reading their values).
    func count(prefix: String) async throws -> Int
    /// Fails with `keyExists` if the key is there.
    func create(_ key: String, value: [UInt8]) async throws -> StoredValue
    /// With `expectedRevision`, fails with `conflict` unless the key's modRevision is that.
    func update(_ key: String, value: [UInt8], expectedRevision: Int64?) async throws -> StoredValue
    func delete(_ key: String, expectedRevision: Int64?) async throws -> StoredValue
    /// Forgets history at and before `revision` (the current values stay).
    func compact(through revision: Int64) async throws
    /// The oldest revision whose events are still kept (watches may resume after oldest-1).
    func oldestRetainedRevision() async throws -> Int64
}

/// A store written only by this process that keeps its own event log (SQLite): the watch hub
/// publishes this process's writes and replays history from the log.
public protocol EventLogStore: RevisionedStore {
    /// The events under `prefix` after `revision`, in order; `compacted` if they are gone.
    func events(prefix: String, after revision: Int64) async throws -> [StorageEvent]
}

/// A store other processes write too (etcd shared by several masters): the watch hub learns
/// every write, its own included, from the store's change feed.
public protocol ChangeFeedStore: RevisionedStore {
    /// Every change under the store's prefix after `revision`, in revision order, until the
    /// caller stops iterating; fails with `compacted` when the store no longer has them.
    func changes(after revision: Int64) -> AsyncThrowingStream<StorageEvent, any Error>
}

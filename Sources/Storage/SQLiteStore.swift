import Foundation
import GRDB

/// The embedded backend: one SQLite database in WAL mode with `synchronous=FULL` (a write is on
/// disk when it returns, so `kill -9` at any moment loses nothing acknowledged), one writer.
///
///   kv(key PRIMARY KEY, value, create_rev, mod_rev)     the current values
///   log(rev PRIMARY KEY, key, kind, value)              every write, until compacted
///   meta(name PRIMARY KEY, value)                       "revision", "compacted"
///
/// The revision counter lives in `meta`, not in the log, so compaction never rewinds it.
public final class SQLiteStore: EventLogStore {
    let db: DatabaseQueue

    public init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            try db.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
            }
            try migrate()
        } catch {
            throw StorageError.backend("open \(path): \(error)")
        }
    }

    func migrate() throws {
        try db.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,
                                               create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY NOT NULL, key TEXT NOT NULL,
                                                kind INTEGER NOT NULL, value BLOB NOT NULL);
                CREATE INDEX IF NOT EXISTS log_key ON log(key, rev);
                CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
                INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0), ('compacted', 0);
                """)
        }
    }

    func wrap<T>(_ op: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StorageError { throw e } catch { throw StorageError.backend("\(op): \(error)") }
    }

    static func meta(_ db: Database, _ name: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = ?", arguments: [name]) ?? 0
    }

    static func nextRevision(_ db: Database) throws -> Int64 {
        let r = try meta(db, "revision") + 1
        try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'revision'", arguments: [r])
        return r
    }

    static func row(_ db: Database, _ key: String) throws -> StoredValue? {
        guard let r = try Row.fetchOne(db, sql: "SELECT key, value, create_rev, mod_rev FROM kv WHERE key = ?", arguments: [key]) else { return nil }
        return StoredValue(key: r["key"], value: [UInt8](r["value"] as Data), createRevision: r["create_rev"], modRevision: r["mod_rev"])
    }

    public func currentRevision() async throws -> Int64 {
        try wrap("revision") { try db.read { try Self.meta($0, "revision") } }
    }

    public func get(_ key: String) async throws -> StoredValue? {
        try wrap("get \(key)") { try db.read { try Self.row($0, key) } }
    }

    public func list(prefix: String, limit: Int?, continueAfter: String?) async throws -> ListResult {
        try wrap("list \(prefix)") {
            try db.read { db in
                let rev = try Self.meta(db, "revision")
                // keys in [prefix, prefix + U+10FFFF): a range scan on the primary key
                let lower = continueAfter.map { max($0, prefix) } ?? prefix
                let op = continueAfter == nil ? ">=" : ">"
                let fetch = limit.map { $0 + 1 } ?? -1
                let rows = try Row.fetchAll(db, sql: """
                    SELECT key, value, create_rev, mod_rev FROM kv WHERE key \(op) ? AND key < ? ORDER BY key LIMIT ?
                    """, arguments: [lower, prefix + "\u{10FFFF}", fetch])
                var items = rows.map { r in
                    StoredValue(key: r["key"], value: [UInt8](r["value"] as Data), createRevision: r["create_rev"], modRevision: r["mod_rev"])
                }
                var next: String?
                if let limit, items.count > limit {
                    items.removeLast(items.count - limit)
                    next = items.last?.key
                }
                return ListResult(items: items, revision: rev, continueAfter: next)
            }
        }
    }

    public func count(prefix: String) async throws -> Int {
        try wrap("count \(prefix)") {
            try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM kv WHERE key >= ? AND key < ?", arguments: [prefix, prefix + "\u{10FFFF}"]) ?? 0 }
        }
    }

    public func create(_ key: String, value: [UInt8]) async throws -> StoredValue {
        try wrap("create \(key)") {
            try db.write { db in
                if try Self.row(db, key) != nil { throw StorageError.keyExists(key) }
                let rev = try Self.nextRevision(db)
                try db.execute(sql: "INSERT INTO kv(key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?)", arguments: [key, Data(value), rev, rev])
                try db.execute(sql: "INSERT INTO log(rev, key, kind, value) VALUES (?, ?, ?, ?)",
                               arguments: [rev, key, StorageEvent.Kind.added.rawValue, Data(value)])
                return StoredValue(key: key, value: value, createRevision: rev, modRevision: rev)
            }
        }
    }

    public func update(_ key: String, value: [UInt8], expectedRevision: Int64?) async throws -> StoredValue {
        try wrap("update \(key)") {
            try db.write { db in
                guard let cur = try Self.row(db, key) else { throw StorageError.notFound(key) }
                if let e = expectedRevision, e != cur.modRevision { throw StorageError.conflict(key: key, expected: e, actual: cur.modRevision) }
                let rev = try Self.nextRevision(db)
                try db.execute(sql: "UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?", arguments: [Data(value), rev, key])
                try db.execute(sql: "INSERT INTO log(rev, key, kind, value) VALUES (?, ?, ?, ?)",
                               arguments: [rev, key, StorageEvent.Kind.modified.rawValue, Data(value)])
                return StoredValue(key: key, value: value, createRevision: cur.createRevision, modRevision: rev)
            }
        }
    }

    public func delete(_ key: String, expectedRevision: Int64?) async throws -> StoredValue {
        try wrap("delete \(key)") {
            try db.write { db in
                guard let cur = try Self.row(db, key) else { throw StorageError.notFound(key) }
                if let e = expectedRevision, e != cur.modRevision { throw StorageError.conflict(key: key, expected: e, actual: cur.modRevision) }
                let rev = try Self.nextRevision(db)
                try db.execute(sql: "DELETE FROM kv WHERE key = ?", arguments: [key])
                try db.execute(sql: "INSERT INTO log(rev, key, kind, value) VALUES (?, ?, ?, ?)",
                               arguments: [rev, key, StorageEvent.Kind.deleted.rawValue, Data(cur.value)])
                return StoredValue(key: key, value: cur.value, createRevision: cur.createRevision, modRevision: rev)
            }
        }
    }

    public func events(prefix: String, after revision: Int64) async throws -> [StorageEvent] {
        try wrap("events \(prefix)") {
            try db.read { db in
                let compacted = try Self.meta(db, "compacted")
                if revision < compacted { throw StorageError.compacted(requested: revision, oldest: compacted + 1) }
                let rows = try Row.fetchAll(db, sql: """
                    SELECT rev, key, kind, value FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev
                    """, arguments: [revision, prefix, prefix + "\u{10FFFF}"])
                return rows.map { r in
                    StorageEvent(kind: StorageEvent.Kind(rawValue: r["kind"]) ?? .modified, key: r["key"],
                                 value: [UInt8](r["value"] as Data), revision: r["rev"])
                }
            }
        }
    }

    public func compact(through revision: Int64) async throws {
        try wrap("compact \(revision)") {
            try db.write { db in
                let current = try Self.meta(db, "revision")
                let target = min(revision, current)
                guard target > (try Self.meta(db, "compacted")) else { return }
                try db.execute(sql: "DELETE FROM log WHERE rev <= ?", arguments: [target])
                try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'compacted'", arguments: [target])
            }
        }
    }

    public func oldestRetainedRevision() async throws -> Int64 {
        try wrap("oldest") { try db.read { try Self.meta($0, "compacted") + 1 } }
    }
}

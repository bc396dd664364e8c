import Foundation
import Storage
import Testing

/// The embedded backend on a real database file: the revision log, conditional writes,
/// pagination, compaction and what survives reopening.
@Suite("SQLite store")
struct SQLiteStoreTests {
    func withStore(_ body: (SQLiteStore, String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/state.db"
        try await body(try SQLiteStore(path: path), path)
    }
    func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test("every write takes the next global revision; create refuses an existing key")
    func revisions() async throws {
        try await withStore { s, _ in
            #expect(try await s.currentRevision() == 0)
            let a = try await s.create("/registry/pods/default/a", value: b("a1"))
            let c = try await s.create("/registry/configmaps/default/c", value: b("c1"))
            #expect(a.modRevision == 1 && a.createRevision == 1 && c.modRevision == 2)
            await #expect(throws: StorageError.keyExists("/registry/pods/default/a")) {
                try await s.create("/registry/pods/default/a", value: b("again"))
            }
            let a2 = try await s.update("/registry/pods/default/a", value: b("a2"), expectedRevision: 1)
            #expect(a2.modRevision == 3 && a2.createRevision == 1)
            #expect(try await s.get("/registry/pods/default/a") == a2)
            #expect(try await s.currentRevision() == 3)
        }
    }

    @Test("a stale revision is a conflict and changes nothing")
    func conflicts() async throws {
        try await withStore { s, _ in
            _ = try await s.create("k", value: b("1"))
            _ = try await s.update("k", value: b("2"), expectedRevision: nil)
            await #expect(throws: StorageError.conflict(key: "k", expected: 1, actual: 2)) {
                try await s.update("k", value: b("3"), expectedRevision: 1)
            }
            await #expect(throws: StorageError.conflict(key: "k", expected: 1, actual: 2)) {
                try await s.delete("k", expectedRevision: 1)
            }
            #expect(try await s.get("k")?.value == b("2"))
            #expect(try await s.currentRevision() == 2)
            await #expect(throws: StorageError.notFound("nope")) { try await s.update("nope", value: [], expectedRevision: nil) }
        }
    }

    @Test("lists by prefix in key order, with limit and continue")
    func pagination() async throws {
        try await withStore { s, _ in
            for n in ["c", "a", "e", "b", "d"] { _ = try await s.create("/registry/pods/ns/\(n)", value: b(n)) }
            _ = try await s.create("/registry/pods/ns2/z", value: b("z"))
            _ = try await s.create("/registry/podsx/y", value: b("y"))
            let p1 = try await s.list(prefix: "/registry/pods/ns/", limit: 2, continueAfter: nil)
            #expect(p1.items.map(\.key) == ["/registry/pods/ns/a", "/registry/pods/ns/b"] && p1.continueAfter == "/registry/pods/ns/b")
            #expect(p1.revision == 7)
            let p2 = try await s.list(prefix: "/registry/pods/ns/", limit: 2, continueAfter: p1.continueAfter)
            #expect(p2.items.map(\.key) == ["/registry/pods/ns/c", "/registry/pods/ns/d"])
            let p3 = try await s.list(prefix: "/registry/pods/ns/", limit: 2, continueAfter: p2.continueAfter)
            #expect(p3.items.map(\.key) == ["/registry/pods/ns/e"] && p3.continueAfter == nil)
            #expect(try await s.list(prefix: "/registry/pods/", limit: nil, continueAfter: nil).items.count == 6)
            // counts without values: the prefix's own keys only (not /registry/podsx/)
            #expect(try await s.count(prefix: "/registry/pods/") == 6)
            #expect(try await s.count(prefix: "/registry/pods/ns/") == 5)
            #expect(try await s.count(prefix: "/registry/nothing/") == 0)
        }
    }

    @Test("events after a revision; compaction forgets them (410 for older watches) but never rewinds the revision")
    func eventsAndCompaction() async throws {
        try await withStore { s, path in
            _ = try await s.create("/r/a", value: b("1"))
            _ = try await s.update("/r/a", value: b("2"), expectedRevision: nil)
            _ = try await s.create("/other/x", value: b("x"))
            _ = try await s.delete("/r/a", expectedRevision: 2)
            let ev = try await s.events(prefix: "/r/", after: 0)
            #expect(ev.map(\.kind) == [.added, .modified, .deleted] && ev.map(\.revision) == [1, 2, 4])
            #expect(ev.last?.value == b("2"))
            #expect(try await s.events(prefix: "/r/", after: 2).map(\.revision) == [4])
            try await s.compact(through: 2)
            #expect(try await s.oldestRetainedRevision() == 3)
            await #expect(throws: StorageError.compacted(requested: 1, oldest: 3)) { try await s.events(prefix: "/r/", after: 1) }
            #expect(try await s.events(prefix: "/r/", after: 2).map(\.revision) == [4])
            try await s.compact(through: 100)
            #expect(try await s.events(prefix: "", after: 4).isEmpty)
            let c = try await s.create("/r/b", value: b("b"))
            #expect(c.modRevision == 5)
            // everything acknowledged is there after reopening
            let again = try SQLiteStore(path: path)
            #expect(try await again.currentRevision() == 5)
            #expect(try await again.get("/r/b")?.value == b("b"))
            #expect(try await again.get("/other/x")?.modRevision == 3)
            #expect(try await again.oldestRetainedRevision() == 5)
        }
    }
}

@Suite("Watch hub")
struct WatchHubTests {
    func store() throws -> (SQLiteStore, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-watch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try SQLiteStore(path: dir + "/state.db"), dir)
    }
    func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test("a watch from a revision replays the history, then continues live, in order, each event once")
    func resume() async throws {
        let (s, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hub = WatchHub(store: s)
        _ = try await hub.create("/registry/pods/ns/a", value: b("a1"))          // 1
        _ = try await hub.create("/registry/configmaps/ns/c", value: b("c1"))    // 2
        _ = try await hub.update("/registry/pods/ns/a", value: b("a2"), expectedRevision: 1)  // 3
        let stream = try await hub.watch(prefix: "/registry/pods/", after: 1)
        _ = try await hub.create("/registry/pods/ns/b", value: b("b1"))          // 4
        _ = try await hub.delete("/registry/pods/ns/a", expectedRevision: 3)     // 5
        _ = try await hub.create("/registry/configmaps/ns/d", value: b("d1"))    // 6: other prefix
        var got: [(StorageEvent.Kind, Int64)] = []
        for try await e in stream {
            got.append((e.kind, e.revision))
            if got.count == 3 { break }
        }
        #expect(got.map(\.1) == [3, 4, 5])
        #expect(got.map(\.0) == [.modified, .added, .deleted])
    }

    @Test("a watch from now sees only later writes; a compacted revision is refused; stopping removes the watcher")
    func liveAndCompacted() async throws {
        let (s, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hub = WatchHub(store: s)
        _ = try await hub.create("/r/a", value: b("1"))
        _ = try await hub.create("/r/b", value: b("2"))
        try await s.compact(through: 1)
        await #expect(throws: StorageError.compacted(requested: 0, oldest: 2)) { try await hub.watch(prefix: "/r/", after: 0) }
        #expect(await hub.watcherCount == 0)
        do {
            let live = try await hub.watch(prefix: "/r/", after: nil)
            _ = try await hub.create("/r/c", value: b("3"))
            var it = live.makeAsyncIterator()
            let e = try await it.next()
            #expect(e?.key == "/r/c" && e?.revision == 3)
        }
        // the iterator is gone: the watcher goes too (onTermination runs on a task)
        for _ in 0..<100 where await hub.watcherCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await hub.watcherCount == 0)
    }

    @Test("16 concurrent writers and a watcher from revision 0: every write seen exactly once")
    func concurrentWriters() async throws {
        let (s, dir) = try store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hub = WatchHub(store: s)
        let stream = try await hub.watch(prefix: "/k/", after: 0)
        try await withThrowingTaskGroup(of: Void.self) { g in
            for w in 0..<16 {
                g.addTask { for i in 0..<10 { _ = try await hub.create("/k/\(w)-\(i)", value: [UInt8(i)]) } }
            }
            try await g.waitForAll()
        }
        var revs: [Int64] = []
        for try await e in stream {
            revs.append(e.revision)
            if revs.count == 160 { break }
        }
        #expect(revs == Array(1...160))
    }
}

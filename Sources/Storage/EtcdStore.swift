import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// The etcd v3 backend, over etcd's JSON API (the gRPC gateway every etcd 3.4+ serves on its
/// client URLs: `/v3/kv/range|txn|compaction`, `/v3/watch`). Keys and values are etcd's, one
/// key per object under the API server's layout (`/registry/pods/<ns>/<name>`), so several
/// masters can share one etcd cluster: every write is a transaction guarded by the key's
/// `create_revision`/`mod_revision`, and each master learns the others' writes from its watch.
///
/// The compacted revision is kept in etcd itself (key `compact_rev_key`, as kube-apiserver's
/// compactor does) so every master answers "too old" the same way.
public final class EtcdStore: ChangeFeedStore {
    public let endpoints: [String]
    /// The etcd key prefix of this cluster (kube-apiserver's `--etcd-prefix`, `/registry`): the
    /// API server's keys (`/registry/...`) are stored under it, and only it is watched.
    public let etcdPrefix: String
    let prefix: String
    let client: HTTPClient
    let watchClient: HTTPClient
    let compactKey: String
    /// The endpoint that answered last: tried first (a dead member costs one refused connect).
    let preferred = Mutex<Int>(0)
    static let apiRoot = "/registry"

    /// `endpoints`: client URLs (`http://127.0.0.1:2379`); tried in order until one answers.
    public init(endpoints: [String], etcdPrefix: String = "/registry") throws {
        let eps = endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
        guard !eps.isEmpty else { throw StorageError.backend("etcd: no endpoints given") }
        for e in eps where !(e.hasPrefix("http://") || e.hasPrefix("https://")) {
            throw StorageError.backend("etcd endpoint \(e): expected http://host:port or https://host:port")
        }
        var p = etcdPrefix
        while p.hasSuffix("/") { p.removeLast() }
        guard p.hasPrefix("/") else { throw StorageError.backend("etcd prefix \(etcdPrefix): must start with /") }
        self.endpoints = eps
        self.etcdPrefix = p
        self.prefix = p + "/"
        // outside the watched range; kube-apiserver's own name for the default prefix
        self.compactKey = "compact_rev_key" + (p == Self.apiRoot ? "" : p)
        var c = HTTPClient.Configuration()
        c.timeout = .init(connect: .seconds(2), read: .seconds(30))
        c.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
        var w = HTTPClient.Configuration()
        w.timeout = .init(connect: .seconds(2), read: nil)
        watchClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: w)
    }

    deinit {
        try? client.syncShutdown()
        try? watchClient.syncShutdown()
    }

    // MARK: the wire

    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
    static func b64(_ b: [UInt8]) -> String { Data(b).base64EncodedString() }

    /// The end of the key range that holds every key starting with `prefix` (etcd's range_end).
    static func rangeEnd(_ prefix: String) -> String {
        var b = Array(prefix.utf8)
        while let last = b.last {
            if last < 0xff { b[b.count - 1] = last + 1; return b64(b) }
            b.removeLast()
        }
        return b64([0])   // every key
    }

    static func int(_ v: Any?) -> Int64 {
        if let s = v as? String { return Int64(s) ?? 0 }
        if let n = v as? NSNumber { return n.int64Value }
        return 0
    }

    /// The etcd key of an API server key, and back.
    func etcdKey(_ key: String) -> String {
        key.hasPrefix(Self.apiRoot) ? etcdPrefix + key.dropFirst(Self.apiRoot.count) : etcdPrefix + key
    }
    func apiKey(_ key: String) -> String {
        key.hasPrefix(etcdPrefix) ? Self.apiRoot + key.dropFirst(etcdPrefix.count) : key
    }

    func kv(_ o: Any?) throws -> StoredValue {
        var v = try Self.kv(o)
        v.key = apiKey(v.key)
        return v
    }

    static func kv(_ o: Any?) throws -> StoredValue {
        guard let o = o as? [String: Any], let k = o["key"] as? String, let kd = Data(base64Encoded: k),
              let key = String(data: kd, encoding: .utf8) else {
            throw StorageError.backend("etcd: malformed key-value in the response")
        }
        let value = (o["value"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
        return StoredValue(key: key, value: value, createRevision: int(o["create_revision"]), modRevision: int(o["mod_revision"]))
    }

    /// POSTs `body` to `path` on the first endpoint that answers; etcd's errors carry a gRPC code.
    func call(_ path: String, _ body: [String: Any], op: String) async throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body)
        var lastError = ""
        for ep in ordered() {
            var req = HTTPClientRequest(url: ep + path)
            req.method = .POST
            req.headers.add(name: "Content-Type", value: "application/json")
            req.body = .bytes(ByteBuffer(bytes: data))
            let resp: HTTPClientResponse
            do {
                resp = try await client.execute(req, timeout: .seconds(30))
            } catch {
                lastError = "\(ep): \(error)"
                continue
            }
            answered(ep)
            let buf = try await resp.body.collect(upTo: 256 << 20)
            let obj = (try? JSONSerialization.jsonObject(with: Data(buf.readableBytesView))) as? [String: Any]
            if resp.status.code == 200, let obj { return obj }
            let msg = (obj?["message"] as? String) ?? (obj?["error"] as? String) ?? "HTTP \(resp.status.code)"
            if msg.contains("required revision has been compacted") { throw EtcdError.compacted }
            if msg.contains("required revision is a future revision") { throw EtcdError.future }
            throw StorageError.backend("etcd \(op): \(msg)")
        }
        throw StorageError.backend("etcd \(op): no endpoint answered (\(lastError))")
    }

    enum EtcdError: Error { case compacted, future }

    func ordered() -> [String] {
        let first = preferred.withLock { $0 }
        return Array(endpoints[first...] + endpoints[..<first])
    }

    func answered(_ ep: String) {
        if let i = endpoints.firstIndex(of: ep) { preferred.withLock { $0 = i } }
    }

    func header(_ r: [String: Any]) -> Int64 { Self.int((r["header"] as? [String: Any])?["revision"]) }

    // MARK: RevisionedStore

    public func currentRevision() async throws -> Int64 {
        let r = try await call("/v3/kv/range", ["key": Self.b64(compactKey), "count_only": true], op: "revision")
        return header(r)
    }

    public func get(_ key: String) async throws -> StoredValue? {
        let r = try await call("/v3/kv/range", ["key": Self.b64(etcdKey(key))], op: "get \(key)")
        guard let kvs = r["kvs"] as? [Any], let first = kvs.first else { return nil }
        return try kv(first)
    }

    public func list(prefix: String, limit: Int?, continueAfter: String?) async throws -> ListResult {
        var start = etcdKey(prefix)
        if let c = continueAfter, c >= prefix { start = etcdKey(c) + "\u{0}" }
        var body: [String: Any] = ["key": Self.b64(start), "range_end": Self.rangeEnd(etcdKey(prefix))]
        if let limit { body["limit"] = String(limit) }
        let r = try await call("/v3/kv/range", body, op: "list \(prefix)")
        let items = try ((r["kvs"] as? [Any]) ?? []).map(kv)
        let more = (r["more"] as? Bool) ?? false
        return ListResult(items: items, revision: header(r), continueAfter: more ? items.last?.key : nil)
    }

    public func count(prefix: String) async throws -> Int {
        let r = try await call("/v3/kv/range", ["key": Self.b64(etcdKey(prefix)), "range_end": Self.rangeEnd(etcdKey(prefix)), "count_only": true],
                               op: "count \(prefix)")
        // int64 fields come as strings in etcd's JSON; an empty range omits the field
        if let s = r["count"] as? String { return Int(s) ?? 0 }
        return (r["count"] as? Int) ?? 0
    }

    func txn(_ compare: [[String: Any]], success: [[String: Any]], failure: [[String: Any]], op: String) async throws -> (Bool, [String: Any]) {
        let r = try await call("/v3/kv/txn", ["compare": compare, "success": success, "failure": failure], op: op)
        return ((r["succeeded"] as? Bool) ?? false, r)
    }

    static func responses(_ r: [String: Any]) -> [[String: Any]] { (r["responses"] as? [[String: Any]]) ?? [] }

    public func create(_ key: String, value: [UInt8]) async throws -> StoredValue {
        let k = Self.b64(etcdKey(key))
        let (ok, r) = try await txn([["target": "CREATE", "key": k, "create_revision": "0", "result": "EQUAL"]],
                                    success: [["request_put": ["key": k, "value": Self.b64(value)]]],
                                    failure: [], op: "create \(key)")
        guard ok else { throw StorageError.keyExists(key) }
        let rev = header(r)
        return StoredValue(key: key, value: value, createRevision: rev, modRevision: rev)
    }

    /// A write guarded by the key's existence (and, with `expected`, its mod_revision); on a
    /// failed guard the key's current value says which error it is.
    func guarded(_ key: String, expected: Int64?, op: String, _ request: [String: Any]) async throws -> (StoredValue, [String: Any]) {
        let k = Self.b64(etcdKey(key))
        var compare: [[String: Any]] = [["target": "CREATE", "key": k, "create_revision": "0", "result": "GREATER"]]
        if let expected { compare.append(["target": "MOD", "key": k, "mod_revision": String(expected), "result": "EQUAL"]) }
        let (ok, r) = try await txn(compare, success: [request, ["request_range": ["key": k]]],
                                    failure: [["request_range": ["key": k]]], op: "\(op) \(key)")
        let ranges = Self.responses(r).compactMap { $0["response_range"] as? [String: Any] }
        let seen = try ((ranges.last?["kvs"] as? [Any])?.first).map(kv)
        if !ok {
            guard let cur = seen else { throw StorageError.notFound(key) }
            throw StorageError.conflict(key: key, expected: expected ?? 0, actual: cur.modRevision)
        }
        return (seen ?? StoredValue(key: key, value: [], createRevision: 0, modRevision: 0), r)
    }

    public func update(_ key: String, value: [UInt8], expectedRevision: Int64?) async throws -> StoredValue {
        let (after, r) = try await guarded(key, expected: expectedRevision, op: "update",
                                           ["request_put": ["key": Self.b64(etcdKey(key)), "value": Self.b64(value)]])
        return StoredValue(key: key, value: value, createRevision: after.createRevision, modRevision: header(r))
    }

    public func delete(_ key: String, expectedRevision: Int64?) async throws -> StoredValue {
        let (_, r) = try await guarded(key, expected: expectedRevision, op: "delete",
                                       ["request_delete_range": ["key": Self.b64(etcdKey(key)), "prev_kv": true]])
        let del = Self.responses(r).compactMap { $0["response_delete_range"] as? [String: Any] }.first
        guard let prev = try ((del?["prev_kvs"] as? [Any])?.first).map(kv) else { throw StorageError.notFound(key) }
        return StoredValue(key: key, value: prev.value, createRevision: prev.createRevision, modRevision: header(r))
    }

    /// Compacts etcd's history through `revision` and records it under `compact_rev_key`
    /// (another master that compacted further first wins; nothing is compacted twice).
    public func compact(through revision: Int64) async throws {
        let current = try await currentRevision()
        let target = min(revision, current)
        let done = try await compactedRevision()
        guard target > done else { return }
        let k = Self.b64(compactKey)
        let (ok, _) = try await txn([["target": "VALUE", "key": k, "value": Self.b64(String(done)), "result": "EQUAL"]],
                                    success: [["request_put": ["key": k, "value": Self.b64(String(target))]]],
                                    failure: [], op: "compact \(target)")
        if !ok && done != 0 { return }
        if !ok {
            // first compaction ever: the key does not exist yet
            let (created, _) = try await txn([["target": "CREATE", "key": k, "create_revision": "0", "result": "EQUAL"]],
                                             success: [["request_put": ["key": k, "value": Self.b64(String(target))]]],
                                             failure: [], op: "compact \(target)")
            if !created { return }
        }
        do {
            _ = try await call("/v3/kv/compaction", ["revision": String(target)], op: "compact \(target)")
        } catch EtcdError.compacted {
            // compacted further already (by etcd's own auto-compaction, say)
        }
    }

    func compactedRevision() async throws -> Int64 {
        let r = try await call("/v3/kv/range", ["key": Self.b64(compactKey)], op: "compacted revision")
        guard let first = (r["kvs"] as? [Any])?.first else { return 0 }
        let v = try Self.kv(first)
        return Int64(String(decoding: v.value, as: UTF8.self)) ?? 0
    }

    public func oldestRetainedRevision() async throws -> Int64 {
        try await compactedRevision() + 1
    }

    // MARK: ChangeFeedStore

    public func changes(after revision: Int64) -> AsyncThrowingStream<StorageEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<StorageEvent, any Error>.makeStream()
        let task = Task { [prefix, endpoints, watchClient, self] in
            do {
                let body = try JSONSerialization.data(withJSONObject: ["create_request": [
                    "key": Self.b64(prefix), "range_end": Self.rangeEnd(prefix),
                    "start_revision": String(revision + 1), "prev_kv": true,
                ] as [String: Any]])
                var response: HTTPClientResponse?
                var lastError = ""
                for ep in self.ordered() {
                    var req = HTTPClientRequest(url: ep + "/v3/watch")
                    req.method = .POST
                    req.headers.add(name: "Content-Type", value: "application/json")
                    req.body = .bytes(ByteBuffer(bytes: body))
                    do {
                        let r = try await watchClient.execute(req, timeout: .seconds(30))
                        if r.status.code == 200 { response = r; self.answered(ep); break }
                        lastError = "\(ep): HTTP \(r.status.code)"
                    } catch {
                        lastError = "\(ep): \(error)"
                    }
                }
                guard let response else { throw StorageError.backend("etcd watch \(prefix): no endpoint answered (\(lastError))") }
                var line: [UInt8] = []
                for try await chunk in response.body {
                    for byte in chunk.readableBytesView {
                        if byte != UInt8(ascii: "\n") { line.append(byte); continue }
                        defer { line.removeAll(keepingCapacity: true) }
                        if line.isEmpty { continue }
                        for var e in try Self.watchEvents(line, requested: revision) {
                            e.key = self.apiKey(e.key)
                            continuation.yield(e)
                        }
                    }
                }
                throw StorageError.backend("etcd watch \(prefix): the stream ended")
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The events of one watch response line (`{"result": {...}}`).
    static func watchEvents(_ line: [UInt8], requested: Int64) throws -> [StorageEvent] {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            throw StorageError.backend("etcd watch: a response that is not JSON")
        }
        if let err = obj["error"] {
            let msg = ((err as? [String: Any])?["message"] as? String) ?? "\(err)"
            if msg.contains("compacted") { throw StorageError.compacted(requested: requested, oldest: requested + 1) }
            throw StorageError.backend("etcd watch: \(msg)")
        }
        guard let result = obj["result"] as? [String: Any] else { return [] }
        let compactRevision = int(result["compact_revision"])
        if compactRevision > 0 { throw StorageError.compacted(requested: requested, oldest: compactRevision + 1) }
        if (result["canceled"] as? Bool) == true {
            throw StorageError.backend("etcd watch: canceled (\(result["cancel_reason"] as? String ?? "no reason given"))")
        }
        var out: [StorageEvent] = []
        for case let e as [String: Any] in (result["events"] as? [Any]) ?? [] {
            let cur = try kv(e["kv"])
            if (e["type"] as? String) == "DELETE" {
                let prev = try? kv(e["prev_kv"])
                out.append(StorageEvent(kind: .deleted, key: cur.key, value: prev?.value ?? [], revision: cur.modRevision))
            } else {
                let added = cur.createRevision == cur.modRevision
                out.append(StorageEvent(kind: added ? .added : .modified, key: cur.key, value: cur.value, revision: cur.modRevision))
            }
        }
        return out
    }
}

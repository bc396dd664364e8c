import Foundation
import KubeClient
import KubeModel
import LinuxSystem
import Logging
import Synchronization

/// The master as a pod source and the pods' status toward it (the kubelet's API config source and
/// status manager): pods bound to this node (`spec.nodeName`) are watched and run by the same pod
/// workers as static pods; their status is PATCHed when it changes (strategic merge, the pod's UID
/// as precondition); a pod being deleted is stopped within the grace period the API gives and then
/// removed (`DELETE`, grace 0, UID precondition); the ConfigMaps and Secrets they use are read
/// from the API and refreshed.
public actor PodSync {
    let client: KubeClient
    let agent: Agent
    let nodeName: String
    let log: Logger
    let informer: Informer
    let statusEvery: Duration
    let objectsEvery: Duration
    /// Decoded pods by UID with the resourceVersion they were decoded at.
    var decoded: [String: (rv: String, pod: Pod?, raw: JSON)] = [:]
    var lastSent: [String: JSON] = [:]
    /// One watch per ConfigMap/Secret in use (`Kind/namespace/name`), and what it last saw.
    var objectWatches: [String: Task<Void, Never>] = [:]
    var watchedObjects: [String: ConfigObject] = [:]
    /// Events sent, by pod UID and event key: the Event's name and the count it has.
    var sentEvents: [String: [String: (name: String, count: Int)]] = [:]
    public private(set) var eventWrites = 0
    var pokes: AsyncStream<Void>.Continuation?
    var tasks: [Task<Void, Never>] = []
    public private(set) var statusPatches = 0
    public private(set) var lastError: String?

    public init(client: KubeClient, agent: Agent, nodeName: String, statusEvery: Duration = .seconds(10),
                objectsEvery: Duration = .seconds(10), logger: Logger) {
        self.client = client
        self.agent = agent
        self.nodeName = nodeName
        self.log = logger
        self.statusEvery = statusEvery
        self.objectsEvery = objectsEvery
        informer = Informer(client: client, resource: .pods, fieldSelector: "spec.nodeName=" + nodeName)
    }

    /// Before the agent starts: its stopped pods are reported here.
    public func attach() async {
        await agent.setOnPodStopped { [self] pod in await self.finished(pod) }
    }

    public func start() async {
        let (stream, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        pokes = cont
        await informer.addHandler { [self] e in await self.observe(e) }
        tasks.append(Task { await informer.run() })
        tasks.append(Task {
            await informer.waitForSync()
            for await _ in stream { await publish() }
        })
        // status: on every change the workers signal, and every `statusEvery` for what changes by time
        let changes = agent.ctx.statusSignal.subscribe()
        tasks.append(Task {
            await informer.waitForSync()
            for await _ in changes { await syncStatuses() }
        })
        tasks.append(Task {
            await informer.waitForSync()
            while !Task.isCancelled {
                try? await Task.sleep(for: statusEvery)
                agent.ctx.statusSignal.fire()
                await syncMirrors()
            }
        })
        tasks.append(Task {
            await informer.waitForSync()
            while !Task.isCancelled {
                try? await Task.sleep(for: objectsEvery)
                await refreshObjects()
            }
        })
    }

    public func stop() {
        for t in tasks { t.cancel() }
        for t in objectWatches.values { t.cancel() }
        pokes?.finish()
    }

    func observe(_ e: InformerEvent) {
        let o = e.object
        let uid = o.meta("uid")
        switch e {
        case .deleted:
            decoded[uid] = nil
        case .added, .updated:
            let rv = o.meta("resourceVersion")
            if decoded[uid]?.rv != rv { decoded[uid] = (rv, Self.pod(o), o) }
        }
        pokes?.yield()
    }

    /// The Pod the workers run: the master's object with the agent's defaults, marked as from the API.
    static func pod(_ o: JSON) -> Pod? {
        guard var p = try? PodManifest.decode(Array(o.serialized().utf8)) else { return nil }
        p.status = nil
        var ann = p.metadata.annotations ?? [:]
        ann["kubernetes.io/config.source"] = "api"
        p.metadata.annotations = ann
        return PodDefaults.apply(p)
    }

    /// Hands the current set to the agent (pods being deleted leave it, with their grace period).
    func publish() async {
        var pods: [String: Pod] = [:]
        var grace: [String: Int64] = [:]
        for (uid, d) in decoded {
            // a mirror pod is this node's own picture of a static pod: never run from the API
            if Self.isMirror(d.raw) { continue }
            guard let p = d.pod else {
                report("pod \(d.raw.objectKey) cannot be decoded: not run", nil)
                continue
            }
            if p.metadata.deletionTimestamp != nil {
                grace[uid] = p.metadata.deletionGracePeriodSeconds ?? p.spec.terminationGracePeriodSeconds ?? 30
            } else {
                pods[uid] = p
            }
        }
        await refreshObjects()
        await agent.setAPIPods(pods, grace: grace)
        await syncMirrors()
    }

    static func isMirror(_ o: JSON) -> Bool { o["metadata"]?["annotations"]?["kubernetes.io/config.mirror"] != nil }

    /// The mirror pod of a static pod, as the kubelet makes it: the pod's metadata and spec, the
    /// config hash in `kubernetes.io/config.mirror`, owned by the Node; no status.
    static func mirror(_ pod: Pod, nodeUID: String?) -> JSON? {
        var p = pod
        p.status = nil
        p.metadata.uid = nil
        p.metadata.resourceVersion = nil
        p.metadata.creationTimestamp = nil
        var ann = p.metadata.annotations ?? [:]
        ann["kubernetes.io/config.mirror"] = ann["kubernetes.io/config.hash"] ?? ""
        ann["swiftlet.io/manifest"] = nil
        p.metadata.annotations = ann
        p.spec.serviceAccountName = nil
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let data = try? enc.encode(p), case .object(var m) = try? JSON.parse(Array(data)) else { return nil }
        m.removeAll { $0.0 == "status" }
        if let nodeUID, let i = m.firstIndex(where: { $0.0 == "metadata" }), case .object(var meta) = m[i].1 {
            meta.append(("ownerReferences", .array([.object([("apiVersion", .string("v1")), ("kind", .string("Node")), ("name", .string(pod.spec.nodeName ?? "")),
                                                             ("uid", .string(nodeUID)), ("controller", .bool(true))])])))
            m[i].1 = .object(meta)
        }
        return .object(m)
    }

    var nodeUID: String?

    /// Mirror pods: one per static pod (created, or replaced when the manifest changed), none for
    /// a static pod that is gone.
    func syncMirrors() async {
        if nodeUID == nil { nodeUID = try? await client.get(.nodes, name: nodeName).meta("uid") }
        var wanted: [String: Pod] = [:]
        for (_, w) in await agent.staticWorkers() {
            let p = await w.pod
            wanted[(p.metadata.namespace ?? "default") + "/" + (p.metadata.name ?? "")] = p
        }
        var present: [String: JSON] = [:]
        for d in decoded.values where Self.isMirror(d.raw) { present[d.raw.objectKey] = d.raw }
        for (key, m) in present {
            let hash: String = if case .string(let h)? = m["metadata"]?["annotations"]?["kubernetes.io/config.mirror"] { h } else { "" }
            // kept while it matches its static pod; one being deleted (kubectl delete) is removed at
            // once and made again, as the kubelet does: the static pod itself is not touched
            let deleting = !m.meta("deletionTimestamp").isEmpty
            if !deleting, let p = wanted[key], p.metadata.annotations?["kubernetes.io/config.hash"] == hash { continue }
            do {
                _ = try await client.delete(.pods, namespace: m.meta("namespace"), name: m.meta("name"), gracePeriodSeconds: 0, uid: m.meta("uid"))
            } catch let e as KubeError where e.isNotFound || e.isConflict {
            } catch {
                report("removing mirror pod \(key)", error)
            }
        }
        for (key, p) in wanted where present[key] == nil {
            guard let body = Self.mirror(p, nodeUID: nodeUID) else { continue }
            do {
                _ = try await client.create(.pods, namespace: p.metadata.namespace ?? "default", body)
            } catch let e as KubeError where e.isConflict {
                // one exists already (the watch has not shown it yet, or an old one being deleted)
            } catch {
                report("creating mirror pod \(key)", error)
            }
        }
    }

    func report(_ what: String, _ error: (any Error)?) {
        let m = error.map { "\(what): \($0)" } ?? what
        if lastError != m { log.warning("\(m)") }
        lastError = m
    }

    /// The ConfigMaps and Secrets the pods refer to (volumes, projected sources, env, envFrom),
    /// each watched while a pod uses it (a list+watch of that one object by `metadata.name`, as
    /// the kubelet's watch strategy does); a change is written into the mounted volumes.
    func refreshObjects() async {
        var wanted = Set<String>()
        for d in decoded.values { Self.references(d.raw, into: &wanted) }
        for ref in objectWatches.keys where !wanted.contains(ref) {
            objectWatches.removeValue(forKey: ref)?.cancel()
            watchedObjects[ref] = nil
        }
        var started: [Informer] = []
        for ref in wanted where objectWatches[ref] == nil {
            let parts = ref.split(separator: "/", maxSplits: 2).map(String.init)
            let r: Resource = parts[0] == "Secret" ? .secrets : .configMaps
            let informer = Informer(client: client, resource: r, namespace: parts[1], fieldSelector: "metadata.name=" + parts[2])
            await informer.addHandler { [self] e in await self.objectChanged(ref, e) }
            objectWatches[ref] = Task { await informer.run() }
            started.append(informer)
        }
        // a new pod's objects are there before it starts (unless the master does not answer soon)
        if !started.isEmpty {
            let informers = started
            await firstOf(.seconds(5)) { for i in informers { await i.waitForSync() } }
        }
        await publishObjects()
    }

    func objectChanged(_ ref: String, _ e: InformerEvent) async {
        guard objectWatches[ref] != nil else { return }
        if case .deleted = e {
            watchedObjects[ref] = nil
        } else {
            do { watchedObjects[ref] = try ObjectManifest.decodeObject(e.object.serialized()) } catch {
                report("decoding \(ref)", error)
            }
        }
        await publishObjects()
    }

    func publishObjects() async {
        if agent.ctx.objects.replaceFromAPI(Array(watchedObjects.values)) { await agent.refreshAllVolumes() }
    }

    /// `Kind/namespace/name` of every ConfigMap and Secret a pod object names.
    static func references(_ pod: JSON, into out: inout Set<String>) {
        let ns = pod.meta("namespace")
        func name(_ o: JSON?, _ key: String) -> String? { if case .string(let s)? = o?[key], !s.isEmpty { return s }; return nil }
        func walk(_ j: JSON) {
            switch j {
            case .object(let m):
                for (k, v) in m {
                    switch k {
                    case "configMap", "configMapKeyRef", "configMapRef":
                        if let n = name(v, "name") { out.insert("ConfigMap/\(ns)/\(n)") }
                    case "secret":
                        if let n = name(v, "secretName") ?? name(v, "name") { out.insert("Secret/\(ns)/\(n)") }
                    case "secretKeyRef", "secretRef":
                        if let n = name(v, "name") { out.insert("Secret/\(ns)/\(n)") }
                    default: break
                    }
                    walk(v)
                }
            case .array(let a): for x in a { walk(x) }
            default: break
            }
        }
        if let spec = pod["spec"] { walk(spec) }
    }

    /// PATCHes each pod's status that changed since it was last sent.
    func syncStatuses() async {
        for (uid, w) in await agent.apiWorkers() {
            let pod = await w.snapshot()
            guard let status = pod.status, let json = Self.json(status) else { continue }
            if lastSent[uid] != json { await send(pod, json) }
            await syncEvents(pod, uid: uid, events: await w.events.events)
        }
        // a static pod's status goes to its mirror pod (that object's UID as the precondition)
        var mirrors: [String: String] = [:]
        for d in decoded.values where Self.isMirror(d.raw) && d.raw.meta("deletionTimestamp").isEmpty { mirrors[d.raw.objectKey] = d.raw.meta("uid") }
        for (_, w) in await agent.staticWorkers() {
            var pod = await w.snapshot()
            guard let muid = mirrors[(pod.metadata.namespace ?? "default") + "/" + (pod.metadata.name ?? "")],
                  let status = pod.status, let json = Self.json(status), lastSent[muid] != json else { continue }
            pod.metadata.uid = muid
            await send(pod, json)
        }
        let live = Set(decoded.keys)
        for uid in lastSent.keys where !live.contains(uid) { lastSent[uid] = nil }
        for uid in sentEvents.keys where !live.contains(uid) { sentEvents[uid] = nil }
    }

    /// The pod's events (the kubelet's: Pulling, Pulled, Created, Started, Killing, BackOff,
    /// Unhealthy, FailedMount…) as core/v1 Events: new ones created, repeats PATCHed with their
    /// count and last time.
    func syncEvents(_ pod: Pod, uid: String, events: [PodEvent]) async {
        let ns = pod.metadata.namespace ?? "default", name = pod.metadata.name ?? ""
        var sent = sentEvents[uid] ?? [:]
        for e in events {
            let key = "\(e.type)\u{0}\(e.reason)\u{0}\(e.fieldPath ?? "")\u{0}\(e.message)"
            if let s = sent[key] {
                guard e.count > s.count else { continue }
                let patch = JSON.object([("count", .number(String(e.count))), ("lastTimestamp", .string(e.lastTimestamp))])
                do {
                    _ = try await client.patch(.events, namespace: ns, name: s.name, type: .merge, patch)
                    eventWrites += 1
                    sent[key] = (s.name, e.count)
                    continue
                } catch let err as KubeError where err.isNotFound {
                    // expired or removed: created again below
                } catch {
                    report("updating event \(ns)/\(s.name)", error)
                    continue
                }
            }
            let eventName = "\(name).\(String(UInt64(Timestamp.now().seconds) * 1_000_000_000 + UInt64(Timestamp.now().nanoseconds), radix: 16))\(sent.count)"
            var involved: [(String, JSON)] = [("apiVersion", .string("v1")), ("kind", .string("Pod")), ("namespace", .string(ns)),
                                              ("name", .string(name)), ("uid", .string(uid))]
            if let fp = e.fieldPath { involved.append(("fieldPath", .string(fp))) }
            let body = JSON.object([
                ("apiVersion", .string("v1")), ("kind", .string("Event")),
                ("metadata", .object([("name", .string(eventName)), ("namespace", .string(ns))])),
                ("involvedObject", .object(involved)),
                ("reason", .string(e.reason)), ("message", .string(e.message)), ("type", .string(e.type)),
                ("count", .number(String(e.count))), ("firstTimestamp", .string(e.firstTimestamp)), ("lastTimestamp", .string(e.lastTimestamp)),
                ("source", .object([("component", .string("kubelet")), ("host", .string(nodeName))])),
                ("reportingComponent", .string("kubelet")), ("reportingInstance", .string(nodeName)),
            ])
            do {
                _ = try await client.create(.events, namespace: ns, body)
                eventWrites += 1
                sent[key] = (eventName, e.count)
            } catch {
                report("recording event \(e.reason) for pod \(ns)/\(name)", error)
                break   // the rest next time, in order
            }
        }
        sentEvents[uid] = sent
    }

    func send(_ pod: Pod, _ status: JSON) async {
        let uid = pod.metadata.uid ?? ""
        let body = JSON.object([("metadata", .object([("uid", .string(uid))])), ("status", status)])
        do {
            _ = try await client.patch(.pods, namespace: pod.metadata.namespace ?? "default", name: pod.metadata.name ?? "",
                                       type: .strategic, body, subresource: "status")
            lastSent[uid] = status
            statusPatches += 1
        } catch let e as KubeError where e.isNotFound || e.isConflict {
            lastSent[uid] = status  // gone, or another pod of that name now: nothing to report
        } catch {
            report("updating the status of pod \(pod.metadata.namespace ?? "")/\(pod.metadata.name ?? "")", error)
        }
    }

    static func json(_ s: PodStatus) -> JSON? {
        // sorted keys: the same status is the same JSON (compared with the last one sent)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let data = try? enc.encode(s) else { return nil }
        return try? JSON.parse(Array(data))
    }

    /// A stopped pod of the master's: its final status, then the object removed (if it is the
    /// one being deleted: same UID).
    func finished(_ pod: Pod) async {
        guard pod.metadata.annotations?["kubernetes.io/config.source"] == "api", let uid = pod.metadata.uid else { return }
        let ns = pod.metadata.namespace ?? "default", name = pod.metadata.name ?? ""
        guard let d = decoded[uid], d.raw.meta("deletionTimestamp") != "" else { return }
        if let status = pod.status, let json = Self.json(status) { await send(pod, json) }
        do {
            _ = try await client.delete(.pods, namespace: ns, name: name, gracePeriodSeconds: 0, uid: uid)
        } catch let e as KubeError where e.isNotFound || e.isConflict {
        } catch {
            report("removing pod \(ns)/\(name) after it stopped", error)
        }
    }
}

/// Returns when `work` is done or `timeout` has passed, whichever is first (the work goes on).
func firstOf(_ timeout: Duration, _ work: @escaping @Sendable () async -> Void) async {
    final class Once: Sendable {
        let fired = Mutex(false)
        func fire() -> Bool { fired.withLock { f in defer { f = true }; return !f } }
    }
    let once = Once()
    await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
        Task { await work(); if once.fire() { k.resume() } }
        Task { try? await Task.sleep(for: timeout); if once.fire() { k.resume() } }
    }
}

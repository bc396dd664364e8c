import Foundation
import KubeClient
import LinuxSystem
import Logging

/// The node's duties toward the master, through the API only (as the kubelet's): register the
/// Node, keep its Lease renewed, report its status when it changes (or every 5 minutes).
/// The master being away changes nothing on the node: each loop retries with backoff.
public actor NodeSync {
    let client: KubeClient
    let agent: Agent
    public nonisolated let facts: NodeFacts
    let labels: [String: String]
    let taints: [JSON]
    let thresholds: [EvictionThreshold]
    let statusEvery: Duration
    let log: Logger

    var nodeUID: String?
    var lastStatus: JSON?
    var lastStatusAt: Double = 0
    var lastConditions: [String: JSON] = [:]
    var lease: JSON?
    var needsRegistration = false
    var tasks: [Task<Void, Never>] = []
    /// What the loops did (the local API and tests: writes per minute, the last failure).
    public private(set) var statusPatches = 0
    public private(set) var leaseRenewals = 0
    public private(set) var registered = false
    public private(set) var lastError: String?

    public init(client: KubeClient, agent: Agent, facts: NodeFacts, labels: [String: String], taints: [JSON],
                thresholds: [EvictionThreshold], statusEvery: Duration = .seconds(10), logger: Logger) {
        self.client = client
        self.agent = agent
        self.facts = facts
        self.labels = labels
        self.taints = taints
        self.thresholds = thresholds
        self.statusEvery = statusEvery
        log = logger
    }

    /// Registers (retrying until it succeeds), then runs the lease and status loops.
    public func start() {
        // the tasks hold the actor: it lives until stop()
        tasks.append(Task {
            await self.registerUntilDone()
            await self.runLoops()
        })
    }

    public func stop() {
        for t in tasks { t.cancel() }
        tasks = []
    }

    func runLoops() {
        let every = statusEvery
        // its own Node, watched (as the kubelet's node informer): a Node deleted under a running
        // agent is registered again at the next status tick
        let own = Informer(client: client, resource: .nodes, fieldSelector: "metadata.name=" + facts.name)
        tasks.append(Task {
            await own.addHandler { [weak self] e in
                if case .deleted = e { await self?.nodeDeleted() }
            }
            await own.run()
        })
        tasks.append(Task {
            var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(7))
            while !Task.isCancelled {
                let wait: Duration
                do { try await self.renewLease(); backoff.reset(); wait = .seconds(NodeReport.leaseDurationSeconds) / 4 } catch {
                    await self.failed("renewing the node's Lease", error)
                    wait = min(backoff.next(), .seconds(NodeReport.leaseDurationSeconds) / 4)
                }
                try? await Task.sleep(for: wait)
            }
        })
        tasks.append(Task {
            while !Task.isCancelled {
                do { try await self.reportStatus() } catch { await self.failed("reporting the node's status", error) }
                try? await Task.sleep(for: every)
            }
        })
    }

    func failed(_ what: String, _ error: any Error) {
        let m = "\(what): \(error)"
        if lastError != m { log.warning("\(m)") }
        lastError = m
    }

    func currentStatus() async -> JSON {
        let now = NodeReport.time(wallClock())
        let (pressures, _) = await agent.nodeStatus()
        var conditions: [JSON] = []
        let defaults = [("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available")]
        for (type, reason, message) in defaults {
            if let c = pressures.first(where: { $0.type == type }) {
                var j = NodeReport.conditionJSON(c)
                if case .object(var m) = j, let i = m.firstIndex(where: { $0.0 == "lastHeartbeatTime" }) { m[i].1 = .string(now); j = .object(m) }
                conditions.append(j)
            } else {
                let since = lastConditions[type]?["lastTransitionTime"] ?? .string(now)
                conditions.append(.object([("type", .string(type)), ("status", .string("False")), ("lastHeartbeatTime", .string(now)),
                                           ("lastTransitionTime", since), ("reason", .string(reason)), ("message", .string(message))]))
            }
        }
        let healthy = await agent.healthy
        conditions.append(NodeReport.ready(healthy, reason: "container runtime status check may not have completed yet",
                                           previous: lastConditions["Ready"], now: now))
        for c in conditions { if case .string(let t)? = c["type"] { lastConditions[t] = c } }
        return NodeReport.status(facts, thresholds: thresholds, conditions: conditions, images: agent.ctx.imageSizes())
    }

    func registerUntilDone() async {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(7))
        while !Task.isCancelled {
            do {
                try await register()
                registered = true
                log.info("node registered", metadata: ["node": "\(facts.name)"])
                return
            } catch {
                failed("registering node \(facts.name)", error)
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// POST the Node; if it exists (409), take it over: our labels and taints on it, then its status.
    func register() async throws {
        let status = await currentStatus()
        let body = NodeReport.node(facts, labels: labels, taints: taints, status: status)
        do {
            let made = try await client.create(.nodes, body)
            nodeUID = made.meta("uid")
            lastStatus = status
            lastStatusAt = wallClock()
            statusPatches += 1
            return
        } catch let e as KubeError where e.isConflict {
            // an earlier registration of this node (a restart, or another machine of this name)
        }
        let existing = try await client.get(.nodes, name: facts.name)
        nodeUID = existing.meta("uid")
        let labelPatch = JSON.object(labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
        _ = try await client.patch(.nodes, name: facts.name, type: .strategic, .object([("metadata", .object([("labels", labelPatch)]))]))
        try await sendStatus(status)
    }

    func sendStatus(_ status: JSON) async throws {
        _ = try await client.patch(.nodes, name: facts.name, type: .strategic, NodeReport.statusPatch(status), subresource: "status")
        lastStatus = status
        lastStatusAt = wallClock()
        statusPatches += 1
    }

    func nodeDeleted() {
        log.warning("node \(facts.name) was deleted from the master: registering it again")
        needsRegistration = true
    }

    func reportStatus() async throws {
        if needsRegistration {
            lastStatus = nil
            nodeUID = nil
            lease = nil
            try await register()
            needsRegistration = false
            return
        }
        let status = await currentStatus()
        if NodeReport.shouldReport(last: lastStatus, lastAt: lastStatusAt, new: status, now: wallClock()) {
            do {
                try await sendStatus(status)
            } catch let e as KubeError where e.isNotFound {
                // the Node was deleted: register it again (as the kubelet does after a restart)
                lastStatus = nil
                nodeUID = nil
                lease = nil
                try await register()
            }
        }
    }

    /// Creates the Lease (owned by the Node) or PUTs the last one with a new renewTime; a 409
    /// (someone else wrote it) reads it again and retries.
    func renewLease() async throws {
        let ns = "kube-node-lease"
        for _ in 0..<5 {
            let now = NodeReport.microTime(wallClock())
            if let current = lease {
                let body = NodeReport.lease(node: facts.name, nodeUID: nodeUID ?? ownerUID(current) ?? "", renewTime: now,
                                            resourceVersion: current.meta("resourceVersion"))
                do {
                    lease = try await client.update(.leases, namespace: ns, name: facts.name, body)
                    leaseRenewals += 1
                    return
                } catch let e as KubeError where e.isConflict || e.isNotFound {
                    lease = nil
                }
            }
            do {
                lease = try await client.get(.leases, namespace: ns, name: facts.name)
                continue
            } catch let e as KubeError where e.isNotFound {}
            if nodeUID == nil { nodeUID = try await client.get(.nodes, name: facts.name).meta("uid") }
            do {
                lease = try await client.create(.leases, namespace: ns, NodeReport.lease(node: facts.name, nodeUID: nodeUID ?? "", renewTime: now))
                leaseRenewals += 1
                return
            } catch let e as KubeError where e.isConflict {
                continue
            }
        }
        throw KubeError.transport("lease \(ns)/\(facts.name): still conflicting after 5 attempts")
    }

    nonisolated func ownerUID(_ lease: JSON) -> String? {
        guard case .array(let owners)? = lease["metadata"]?["ownerReferences"], case .string(let uid)? = owners.first?["uid"] else { return nil }
        return uid
    }
}

extension AgentContext {
    /// Every image on the node with its names and size (the sum of its compressed layers).
    func imageSizes() -> [(names: [String], size: Int64)] {
        ((try? store.images()) ?? []).map { img in
            ([img.name, Self.repository(img.name) + "@" + img.digest.description],
             img.layers.reduce(0) { $0 + $1.size })
        }
    }

    /// The name without its tag (`localhost:5000/app:1` → `localhost:5000/app`).
    static func repository(_ name: String) -> String {
        if let c = name.lastIndex(of: ":"), !name[c...].contains("/") { return String(name[..<c]) }
        return name
    }
}

import KubeClient
import LinuxSystem
import Logging

/// The scheduler: pods with no node (`schedulerName` empty or `default-scheduler`) are placed by
/// `Scheduling` on the Ready nodes that fit and bound through `pods/<name>/binding`; one that fits
/// nowhere gets `PodScheduled=False` (Unschedulable) with kube-scheduler's message and a
/// `FailedScheduling` event, and is tried again when nodes or pods change (and every 10 s). It
/// works only through the API, with informers on nodes and pods.
public actor Scheduler {
    public static let name = "default-scheduler"
    let client: KubeClient
    let log: Logger
    let nodes: Informer
    let pods: Informer
    var tasks: [Task<Void, Never>] = []
    var pokes: AsyncStream<Void>.Continuation?
    /// Pods bound by this scheduler whose binding the pod informer has not shown yet (counted on
    /// their node meanwhile, so one pass does not overfill a node).
    var assumed: [String: (node: String, pod: PodInfo)] = [:]
    /// The last unschedulable message reported per pod UID.
    var reported: [String: String] = [:]
    public private(set) var bound = 0

    public init(client: KubeClient, logger: Logger) {
        self.client = client
        log = logger
        nodes = Informer(client: client, resource: .nodes)
        pods = Informer(client: client, resource: .pods)
    }

    public func start() async {
        let (stream, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        pokes = cont
        await nodes.addHandler { [self] _ in await self.poke() }
        await pods.addHandler { [self] _ in await self.poke() }
        let nodes = self.nodes, pods = self.pods
        tasks.append(Task { await nodes.run() })
        tasks.append(Task { await pods.run() })
        tasks.append(Task { [self] in
            await nodes.waitForSync()
            await pods.waitForSync()
            for await _ in stream { await self.schedulePass() }
        })
        tasks.append(Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(10))
                await self.poke()
            }
        })
    }

    public func stop() {
        for t in tasks { t.cancel() }
        pokes?.finish()
    }

    func poke() { pokes?.yield() }

    static func ours(_ p: PodInfo) -> Bool { p.schedulerName.isEmpty || p.schedulerName == name }

    /// One pass over the pending pods, oldest first.
    func schedulePass() async {
        let allPods = await pods.items()
        var infos: [String: NodeInfo] = [:]
        for n in await nodes.items() {
            let i = NodeInfo(n)
            infos[i.name] = i
        }
        var pending: [(created: String, pod: PodInfo, raw: JSON)] = []
        var seenBound = Set<String>()
        for raw in allPods {
            let p = PodInfo(raw)
            if !p.nodeName.isEmpty {
                seenBound.insert(p.uid)
                if !p.terminated { infos[p.nodeName]?.add(p) }
                continue
            }
            guard Self.ours(p), raw.string("metadata", "deletionTimestamp").isEmpty, raw.array("spec", "schedulingGates").isEmpty else { continue }
            pending.append((raw.string("metadata", "creationTimestamp"), p, raw))
        }
        for uid in assumed.keys where seenBound.contains(uid) || !allPods.contains(where: { $0.string("metadata", "uid") == uid }) {
            assumed[uid] = nil
        }
        for (node, p) in assumed.values { infos[node]?.add(p) }
        for (_, p, _) in pending.sorted(by: { ($0.created, $0.pod.name) < ($1.created, $1.pod.name) }) where assumed[p.uid] == nil {
            switch Scheduling.place(p, on: Array(infos.values)) {
            case .node(let n):
                if await bind(p, to: n) {
                    infos[n]?.add(p)
                    assumed[p.uid] = (n, p)
                    reported[p.uid] = nil
                }
            case .unschedulable(let message):
                await unschedulable(p, message)
            }
        }
    }

    func bind(_ p: PodInfo, to node: String) async -> Bool {
        let binding = JSON.object([("apiVersion", .string("v1")), ("kind", .string("Binding")),
                                   ("metadata", .object([("name", .string(p.name)), ("namespace", .string(p.namespace)), ("uid", .string(p.uid))])),
                                   ("target", .object([("apiVersion", .string("v1")), ("kind", .string("Node")), ("name", .string(node))]))])
        do {
            _ = try await client.create(.pods, namespace: p.namespace, binding, subresource: "binding", name: p.name)
            bound += 1
            await event(p, type: "Normal", reason: "Scheduled", message: "Successfully assigned \(p.namespace)/\(p.name) to \(node)")
            return true
        } catch let e as KubeError where e.isConflict || e.isNotFound {
            return false   // bound meanwhile, or gone
        } catch {
            log.warning("binding pod \(p.namespace)/\(p.name) to node \(node): \(error)")
            return false
        }
    }

    /// PodScheduled=False with the reason, and a FailedScheduling event, once per distinct message.
    func unschedulable(_ p: PodInfo, _ message: String) async {
        guard reported[p.uid] != message else { return }
        reported[p.uid] = message
        let now = Timestamp(seconds: Timestamp.now().seconds, nanoseconds: 0).rfc3339Nano
        let cond = JSON.object([("type", .string("PodScheduled")), ("status", .string("False")), ("reason", .string("Unschedulable")),
                                ("message", .string(message)), ("lastProbeTime", .null), ("lastTransitionTime", .string(now))])
        let patch = JSON.object([("metadata", .object([("uid", .string(p.uid))])), ("status", .object([("conditions", .array([cond]))]))])
        do {
            _ = try await client.patch(.pods, namespace: p.namespace, name: p.name, type: .strategic, patch, subresource: "status")
        } catch {
            log.warning("marking pod \(p.namespace)/\(p.name) unschedulable: \(error)")
        }
        await event(p, type: "Warning", reason: "FailedScheduling", message: message)
    }

    func event(_ p: PodInfo, type: String, reason: String, message: String) async {
        let now = Timestamp.now()
        let stamp = Timestamp(seconds: now.seconds, nanoseconds: 0).rfc3339Nano
        let body = JSON.object([
            ("apiVersion", .string("v1")), ("kind", .string("Event")),
            ("metadata", .object([("name", .string("\(p.name).\(String(UInt64(now.seconds) * 1_000_000_000 + UInt64(now.nanoseconds), radix: 16))")),
                                  ("namespace", .string(p.namespace))])),
            ("involvedObject", .object([("apiVersion", .string("v1")), ("kind", .string("Pod")), ("namespace", .string(p.namespace)),
                                        ("name", .string(p.name)), ("uid", .string(p.uid))])),
            ("reason", .string(reason)), ("message", .string(message)), ("type", .string(type)), ("count", .number("1")),
            ("firstTimestamp", .string(stamp)), ("lastTimestamp", .string(stamp)),
            ("source", .object([("component", .string(Self.name))])), ("reportingComponent", .string(Self.name)),
        ])
        _ = try? await client.create(.events, namespace: p.namespace, body)
    }
}

import LinuxSystem
import Testing
import KubeModel
@testable import Agent

@Suite("Node registration and status (pure)")
struct NodeReportTests {
    let facts = NodeFacts(name: "node1", hostname: "box", arch: "amd64", cpus: 2, memoryBytes: 4 << 30, ephemeralStorageBytes: 100 << 30,
                          kernelVersion: "6.1.0-18-amd64", osImage: "Debian GNU/Linux 12 (bookworm)", machineID: "m", systemUUID: "u",
                          bootID: "b", internalIP: "10.0.0.5", version: "0.1.0")

    @Test("labels: hostname, os and arch (also beta), then --node-labels")
    func labels() {
        let l = NodeReport.labels(facts, extra: ["disk": "ssd", "kubernetes.io/os": "linux"])
        #expect(l["kubernetes.io/hostname"] == "node1" && l["kubernetes.io/arch"] == "amd64" && l["beta.kubernetes.io/os"] == "linux")
        #expect(l["disk"] == "ssd")
    }

    @Test("allocatable = capacity minus the hard eviction thresholds (memory in Ki, storage in bytes)")
    func allocatable() {
        let cap = Dictionary(uniqueKeysWithValues: NodeReport.capacity(facts))
        #expect(cap == ["cpu": "2", "memory": "4194304Ki", "ephemeral-storage": "104857600Ki", "hugepages-2Mi": "0", "pods": "110"])
        let alloc = Dictionary(uniqueKeysWithValues: NodeReport.allocatable(facts, thresholds: EvictionThreshold.defaults))
        #expect(alloc["memory"] == "\((4 << 20) - (100 << 10))Ki")
        #expect(alloc["ephemeral-storage"] == String((100 << 30) - Int64(Double(100 << 30) * 0.1)))
        #expect(alloc["cpu"] == "2" && alloc["pods"] == "110")
    }

    @Test("the registered Node: labels, the attach-detach annotation, taints, status with nodeInfo and the kubelet port")
    func node() throws {
        let taint = try NodeReport.parseTaint("dedicated=gpu:NoSchedule")
        #expect(taint == .object([("key", .string("dedicated")), ("value", .string("gpu")), ("effect", .string("NoSchedule"))]))
        #expect(try NodeReport.parseTaint("k:NoExecute")["value"] == nil)
        #expect(throws: ConfigError.self) { try NodeReport.parseTaint("k=v:Sometimes") }
        #expect(throws: ConfigError.self) { try NodeReport.parseTaint("=v:NoSchedule") }
        let ready = NodeReport.ready(true, reason: "", previous: nil, now: "2026-12-07T10:00:00Z")
        let st = NodeReport.status(facts, thresholds: [], conditions: [ready], images: [(["busybox:test"], 10), (["big"], 99)])
        let n = NodeReport.node(facts, labels: ["a": "b"], taints: [taint], status: st)
        #expect(n["metadata"]?["name"] == .string("node1"))
        #expect(n["metadata"]?["annotations"]?["volumes.kubernetes.io/controller-managed-attach-detach"] == .string("true"))
        #expect(n["spec"]?["taints"] == .array([taint]))
        #expect(n["status"]?["nodeInfo"]?["containerRuntimeVersion"] == .string("swiftlet://0.1.0"))
        #expect(n["status"]?["nodeInfo"]?["architecture"] == .string("amd64"))
        #expect(n["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"] == .number("10250"))
        #expect(n["status"]?["addresses"] == .array([.object([("type", .string("InternalIP")), ("address", .string("10.0.0.5"))]),
                                                      .object([("type", .string("Hostname")), ("address", .string("node1"))])]))
        // the largest image first
        if case .array(let imgs)? = n["status"]?["images"] { #expect(imgs.first?["sizeBytes"] == .number("99")) } else { Issue.record("no images") }
    }

    @Test("Ready keeps its transition time while its status holds, and moves it when the status flips")
    func readyTransitions() {
        let a = NodeReport.ready(false, reason: "starting", previous: nil, now: "T1")
        #expect(a["reason"] == .string("KubeletNotReady") && a["message"] == .string("starting"))
        let b = NodeReport.ready(true, reason: "", previous: a, now: "T2")
        #expect(b["lastTransitionTime"] == .string("T2") && b["reason"] == .string("KubeletReady"))
        let c = NodeReport.ready(true, reason: "", previous: b, now: "T3")
        #expect(c["lastTransitionTime"] == .string("T2") && c["lastHeartbeatTime"] == .string("T3"))
    }

    @Test("a status is sent when it changed (heartbeats aside) or every 5 minutes")
    func reportTiming() {
        func status(_ ready: Bool, _ now: String) -> JSON {
            NodeReport.status(facts, thresholds: [], conditions: [NodeReport.ready(ready, reason: "x", previous: nil, now: now)], images: [])
        }
        // (a fake clock: seconds since the last report)
        let sent = status(true, "T0")
        #expect(NodeReport.shouldReport(last: nil, lastAt: 0, new: sent, now: 0))
        #expect(!NodeReport.shouldReport(last: sent, lastAt: 0, new: status(true, "T0"), now: 10))
        // only the heartbeat moved: nothing to send until the report period
        var beat = sent
        if case .object(var m) = beat, let i = m.firstIndex(where: { $0.0 == "conditions" }) {
            m[i].1 = .array([NodeReport.ready(true, reason: "x", previous: sent["conditions"].flatMap { if case .array(let a) = $0 { a.first } else { nil } }, now: "T9")])
            beat = .object(m)
        }
        #expect(!NodeReport.shouldReport(last: sent, lastAt: 0, new: beat, now: 290))
        #expect(NodeReport.shouldReport(last: sent, lastAt: 0, new: beat, now: 300))
        #expect(NodeReport.shouldReport(last: sent, lastAt: 0, new: status(false, "T0"), now: 20))
    }

    @Test("the status patch replaces the address and image lists; the Lease is a MicroTime owned by the Node")
    func patchAndLease() {
        let st = NodeReport.status(facts, thresholds: [], conditions: [], images: [])
        let p = NodeReport.statusPatch(st)
        if case .array(let a)? = p["status"]?["addresses"] { #expect(a.last == .object([("$patch", .string("replace"))])) } else { Issue.record("no addresses") }
        let l = NodeReport.lease(node: "node1", nodeUID: "uid-1", renewTime: NodeReport.microTime(1_800_000_000.25), resourceVersion: "42")
        #expect(l["spec"]?["renewTime"] == .string("2027-01-15T08:00:00.250000Z"))
        #expect(l["spec"]?["leaseDurationSeconds"] == .number("40") && l["spec"]?["holderIdentity"] == .string("node1"))
        #expect(l["metadata"]?["resourceVersion"] == .string("42"))
        if case .array(let o)? = l["metadata"]?["ownerReferences"] { #expect(o.first?["uid"] == .string("uid-1") && o.first?["kind"] == .string("Node")) }
        #expect(NodeReport.time(1_800_000_000.25) == "2027-01-15T08:00:00Z")
        #expect(AgentContext.repository("localhost:5000/app:1") == "localhost:5000/app" && AgentContext.repository("busybox") == "busybox")
    }
}

@Suite("Pods from the master (pure)")
struct PodSyncTests {
    @Test("every ConfigMap and Secret a pod names: volumes, projected sources, env, envFrom")
    func references() throws {
        let pod = try JSON.parse("""
            {"metadata":{"name":"p","namespace":"team"},"spec":{
              "volumes":[{"name":"a","configMap":{"name":"cm1"}},{"name":"b","secret":{"secretName":"s1"}},
                         {"name":"c","projected":{"sources":[{"configMap":{"name":"cm2"}},{"secret":{"name":"s2"}}]}}],
              "containers":[{"name":"x","env":[{"name":"E","valueFrom":{"secretKeyRef":{"name":"s3","key":"k"}}},
                                              {"name":"F","valueFrom":{"configMapKeyRef":{"name":"cm3","key":"k"}}}],
                             "envFrom":[{"configMapRef":{"name":"cm4"}},{"secretRef":{"name":"s4"}}]}]}}
            """)
        var refs = Set<String>()
        PodSync.references(pod, into: &refs)
        #expect(refs == ["ConfigMap/team/cm1", "ConfigMap/team/cm2", "ConfigMap/team/cm3", "ConfigMap/team/cm4",
                         "Secret/team/s1", "Secret/team/s2", "Secret/team/s3", "Secret/team/s4"])
    }

    @Test("the master's pod as the workers run it: marked as from the API, its status dropped, defaults applied")
    func decode() throws {
        let o = try JSON.parse("""
            {"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"default","uid":"u-1","resourceVersion":"7"},
             "spec":{"nodeName":"node1","containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Running"}}
            """)
        let p = try #require(PodSync.pod(o))
        #expect(p.metadata.uid == "u-1" && p.spec.nodeName == "node1")
        #expect(p.metadata.annotations?["kubernetes.io/config.source"] == "api")
        #expect(p.status == nil)
        #expect(p.spec.restartPolicy == "Always")
        #expect(PodSync.pod(.object([("kind", .string("Pod"))])) == nil)
    }

    @Test("a static pod's mirror: its metadata and spec, the config hash as config.mirror, owned by the Node, no status or service account")
    func mirror() throws {
        var p = try PodManifest.decode(Array(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"s-node1","namespace":"default","uid":"u1","annotations":{"kubernetes.io/config.hash":"abc","swiftlet.io/manifest":"/m/s.yaml"}},"spec":{"nodeName":"node1","serviceAccountName":"default","containers":[{"name":"c","image":"busybox"}]}}"#.utf8))
        p.status = PodStatus()
        let m = try #require(PodSync.mirror(p, nodeUID: "n-uid"))
        #expect(m["metadata"]?["annotations"]?["kubernetes.io/config.mirror"] == .string("abc"))
        #expect(m["metadata"]?["annotations"]?["swiftlet.io/manifest"] == nil)
        #expect(m["metadata"]?["uid"] == nil && m["status"] == nil && m["spec"]?["serviceAccountName"] == nil)
        #expect(m["spec"]?["nodeName"] == .string("node1"))
        if case .array(let o)? = m["metadata"]?["ownerReferences"] { #expect(o.first?["uid"] == .string("n-uid") && o.first?["controller"] == .bool(true)) } else { Issue.record("no owner") }
        #expect(PodSync.isMirror(m))
    }
}

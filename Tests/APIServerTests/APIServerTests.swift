import APIMachinery
import Foundation
import LinuxSystem
import Storage
import Testing
@testable import APIServer

func makeServer() async throws -> (APIServer, String) {
    let dir = NSTemporaryDirectory() + "apiserver-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let store = try SQLiteStore(path: dir + "/state.db")
    let hub = WatchHub(store: store, currentRevision: try await store.currentRevision())
    let s = APIServer(store: store, hub: hub, serverAddress: "127.0.0.1:6443")
    try await s.bootstrap()
    return (s, dir)
}

func call(_ s: APIServer, _ method: String, _ target: String, _ body: String? = nil, contentType: String = "application/json",
          accept: String = "application/json") async -> (Int, JSON) {
    var h = ["accept": accept, "user-agent": "unit/1.0"]
    if body != nil { h["content-type"] = contentType }
    let r = await s.handle(APIRequest(method: method, target: target, headers: h, body: Array((body ?? "").utf8)))
    return (r.status, r.bodyJSON ?? .null)
}

let podJSON = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"demo","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox","command":["sleep","3600"]}],"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}}]}}}}"#

/// The first `count` watch lines of a stream, or fewer if it ends or 10 s pass (a test that
/// waits on a stream must fail, not hang, when the server never sends).
func watchLines(_ stream: AsyncStream<[UInt8]>, count: Int) async -> [JSON] {
    await withTaskGroup(of: [JSON]?.self) { g in
        g.addTask {
            var out: [JSON] = []
            var buf = ""
            for await chunk in stream {
                buf += String(decoding: chunk, as: UTF8.self)
                while let nl = buf.firstIndex(of: "\n") {
                    out.append((try? JSON.parse(String(buf[..<nl]))) ?? .null)
                    buf = String(buf[buf.index(after: nl)...])
                }
                if out.count >= count { break }
            }
            return out
        }
        g.addTask { try? await Task.sleep(for: .seconds(10)); return nil }
        if case let r?? = await g.next() { g.cancelAll(); return r }
        g.cancelAll()  // a cancelled collector returns what it has
        var got: [JSON] = []
        for await r in g { if let r { got = r } }
        return got
    }
}

@Suite struct APIServerTests {
    @Test func createDefaultsAndFidelity() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (code, pod) = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        #expect(code == 201)
        #expect(pod["metadata"]?["uid"]?.stringValue?.count == 36)
        #expect(pod["spec"]?["containers"]?.arrayValue?.first?["imagePullPolicy"] == .string("Always"))
        #expect(pod["spec"]?["restartPolicy"] == .string("Always"))
        #expect(pod["status"]?["phase"] == .string("Pending"))
        #expect(pod["status"]?["qosClass"] == .string("BestEffort"))
        // fields the Swift types do not model survive
        #expect(pod["spec"]?["affinity"]?["nodeAffinity"]?["preferredDuringSchedulingIgnoredDuringExecution"]?.arrayValue?.first?["preference"]?["matchExpressions"]?.arrayValue?.first?["values"] == .array([.string("a")]))
        #expect(pod["metadata"]?["managedFields"]?.arrayValue?.first?["manager"] == .string("unit"))
        let (again, st) = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        #expect(again == 409)
        #expect(st["reason"] == .string("AlreadyExists"))
        let (missing, nf) = await call(s, "POST", "/api/v1/namespaces/nope/pods", podJSON)
        #expect(missing == 404)
        #expect(nf["message"] == .string("namespaces \"nope\" not found"))
    }

    @Test func invalidPodIs422WithCauses() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (code, st) = await call(s, "POST", "/api/v1/namespaces/default/pods",
                                    #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c"}]}}"#)
        #expect(code == 422)
        let fields = st["details"]?["causes"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        #expect(fields.contains("metadata.name"))
        #expect(fields.contains("spec.containers[0].image"))
        let (bad, _) = await call(s, "POST", "/api/v1/namespaces/default/pods", #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x""#)
        #expect(bad == 400)
        let (wrongKind, wk) = await call(s, "POST", "/api/v1/namespaces/default/pods", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#)
        #expect(wrongKind == 400)
        #expect(wk["message"]?.stringValue?.contains("cannot be handled as a Pod") == true)
        let (list, l) = await call(s, "GET", "/api/v1/namespaces/default/pods")
        #expect(list == 200)
        #expect(l["items"]?.arrayValue?.isEmpty == true)  // nothing half-stored
    }

    @Test func updateConflictAndPatches() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, cm) = await call(s, "POST", "/api/v1/namespaces/default/configmaps", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}"#)
        let rv = cm["metadata"]?["resourceVersion"]?.stringValue ?? ""
        var stale = cm
        stale.set(["data", "a"], .string("2"))
        let (ok, updated) = await call(s, "PUT", "/api/v1/namespaces/default/configmaps/c", stale.serialized())
        #expect(ok == 200)
        #expect(updated["metadata"]?["resourceVersion"]?.stringValue != rv)
        let (conflict, st) = await call(s, "PUT", "/api/v1/namespaces/default/configmaps/c", stale.serialized())
        #expect(conflict == 409)
        #expect(st["reason"] == .string("Conflict"))
        let (m, merged) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/c", #"{"data":{"b":"x","a":null}}"#, contentType: "application/merge-patch+json")
        #expect(m == 200)
        #expect(merged["data"] == .object([("b", .string("x"))]))
        let (j, jp) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/c", #"[{"op":"add","path":"/data/c","value":"y"}]"#, contentType: "application/json-patch+json")
        #expect(j == 200)
        #expect(jp["data"]?["c"] == .string("y"))
        let (u, _) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/c", "{}", contentType: "text/plain")
        #expect(u == 415)
    }

    @Test func deploymentGenerationAndSelectorValidation() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}}}"#
        let (code, dep) = await call(s, "POST", "/apis/apps/v1/namespaces/default/deployments", d)
        #expect(code == 201)
        #expect(dep["metadata"]?["generation"] == .number("1"))
        #expect(dep["spec"]?["replicas"] == .number("1"))
        #expect(dep["spec"]?["strategy"]?["rollingUpdate"]?["maxSurge"] == .string("25%"))
        let (_, patched) = await call(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
                                      #"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}}}}"#,
                                      contentType: "application/strategic-merge-patch+json")
        #expect(patched["metadata"]?["generation"] == .number("2"))
        let bad = d.replacingOccurrences(of: #""labels":{"app":"web"}"#, with: #""labels":{"app":"other"}"#).replacingOccurrences(of: "\"web\"}", with: "\"web2\"}")
        let (inv, _) = await call(s, "POST", "/apis/apps/v1/namespaces/default/deployments", bad.replacingOccurrences(of: "\"name\":\"web\"", with: "\"name\":\"w2\""))
        #expect(inv == 422)
    }

    @Test func tableAndSelectorsAndPagination() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<5 {
            _ = await call(s, "POST", "/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"c\#(i)","labels":{"n":"\#(i % 2)"}}}"#)
        }
        let (_, t) = await call(s, "GET", "/api/v1/namespaces/default/configmaps", accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        #expect(t["kind"] == .string("Table"))
        #expect(t["rows"]?.arrayValue?.count == 5)
        let (_, sel) = await call(s, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=n%3D1")
        #expect(sel["items"]?.arrayValue?.count == 2)
        let (_, page1) = await call(s, "GET", "/api/v1/namespaces/default/configmaps?limit=2")
        #expect(page1["items"]?.arrayValue?.count == 2)
        let token = page1["metadata"]?["continue"]?.stringValue ?? ""
        #expect(!token.isEmpty)
        let (_, page2) = await call(s, "GET", "/api/v1/namespaces/default/configmaps?limit=10&continue=\(token)")
        #expect(page2["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } == ["c2", "c3", "c4"])
        let (badField, _) = await call(s, "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=spec.x%3Dy")
        #expect(badField == 400)
    }

    @Test func gracefulPodDeletionAndWatch() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, pod) = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        let rv = pod["metadata"]?["resourceVersion"]?.stringValue ?? ""
        let w = await s.handle(APIRequest(method: "GET", target: "/api/v1/namespaces/default/pods?watch=true&resourceVersion=\(rv)", headers: [:]))
        #expect(w.status == 200)
        let (b, _) = await call(s, "POST", "/api/v1/namespaces/default/pods/demo/binding", #"{"target":{"kind":"Node","name":"n1"}}"#)
        #expect(b == 201)
        let (d, terminating) = await call(s, "DELETE", "/api/v1/namespaces/default/pods/demo", #"{"propagationPolicy":"Background"}"#)
        #expect(d == 200)
        #expect(terminating["metadata"]?["deletionTimestamp"] != nil)
        #expect(terminating["metadata"]?["deletionGracePeriodSeconds"] == .number("30"))
        let (still, _) = await call(s, "GET", "/api/v1/namespaces/default/pods/demo")
        #expect(still == 200)
        let uid = pod["metadata"]?["uid"]?.stringValue ?? ""
        let (wrongUID, _) = await call(s, "DELETE", "/api/v1/namespaces/default/pods/demo", #"{"gracePeriodSeconds":0,"preconditions":{"uid":"x"}}"#)
        #expect(wrongUID == 409)
        let (gone, _) = await call(s, "DELETE", "/api/v1/namespaces/default/pods/demo", #"{"gracePeriodSeconds":0,"preconditions":{"uid":"\#(uid)"}}"#)
        #expect(gone == 200)
        let types = await watchLines(w.stream!, count: 3).map { $0["type"]?.stringValue ?? "?" }
        #expect(types == ["MODIFIED", "MODIFIED", "DELETED"])
    }

    @Test func evictionDeletesWithItsOptionsAndRefusesMismatches() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // an unscheduled pod goes at once
        _ = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        let ev = #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"demo","namespace":"default"}}"#
        let (code, status) = await call(s, "POST", "/api/v1/namespaces/default/pods/demo/eviction", ev)
        #expect(code == 201 && status["status"]?.stringValue == "Success")
        #expect(await call(s, "GET", "/api/v1/namespaces/default/pods/demo").0 == 404)
        // a bound one terminates with the eviction's grace period
        _ = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        _ = await call(s, "POST", "/api/v1/namespaces/default/pods/demo/binding", #"{"target":{"kind":"Node","name":"n1"}}"#)
        let graceful = #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"demo"},"deleteOptions":{"gracePeriodSeconds":7}}"#
        #expect(await call(s, "POST", "/api/v1/namespaces/default/pods/demo/eviction", graceful).0 == 201)
        let (_, pod) = await call(s, "GET", "/api/v1/namespaces/default/pods/demo")
        #expect(pod["metadata"]?["deletionGracePeriodSeconds"] == .number("7"))
        // evicting it again while it terminates is fine and changes nothing
        #expect(await call(s, "POST", "/api/v1/namespaces/default/pods/demo/eviction", ev).0 == 201)
        #expect(await call(s, "GET", "/api/v1/namespaces/default/pods/demo").1["metadata"]?["resourceVersion"] == pod["metadata"]?["resourceVersion"])
        // refused: another pod's name, another kind, a missing pod, a non-pod resource
        let other = #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"other"}}"#
        #expect(await call(s, "POST", "/api/v1/namespaces/default/pods/demo/eviction", other).0 == 400)
        #expect(await call(s, "POST", "/api/v1/namespaces/default/pods/demo/eviction", #"{"apiVersion":"v1","kind":"Pod"}"#).0 == 400)
        #expect(await call(s, "POST", "/api/v1/namespaces/default/pods/nope/eviction", #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"nope"}}"#).0 == 404)
        #expect(await call(s, "POST", "/api/v1/namespaces/default/configmaps/x/eviction", ev).0 == 404)
    }

    @Test func watchFromCompactedRevisionIsExpired() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<3 { _ = await call(s, "POST", "/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"c\#(i)"}}"#) }
        let rev = try await s.store.currentRevision()
        try await s.store.compact(through: rev)
        let w = await s.handle(APIRequest(method: "GET", target: "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=2", headers: [:]))
        var text = ""
        for await chunk in w.stream! { text += String(decoding: chunk, as: UTF8.self) }
        let ev = try JSON.parse(String(text.split(separator: "\n").first ?? ""))
        #expect(ev["type"] == .string("ERROR"))
        #expect(ev["object"]?["code"] == .number("410"))
    }

    @Test func discoveryListsResourcesAndNamespaceDeletionEmptiesIt() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, v1) = await call(s, "GET", "/api/v1")
        let names = v1["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("pods") && names.contains("pods/status") && names.contains("namespaces"))
        let (_, agg) = await call(s, "GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
        #expect(agg["kind"] == .string("APIGroupDiscoveryList"))
        _ = await call(s, "POST", "/api/v1/namespaces", #"{"metadata":{"name":"tmp"}}"#)
        _ = await call(s, "POST", "/api/v1/namespaces/tmp/configmaps", #"{"metadata":{"name":"x"}}"#)
        let (d, ns) = await call(s, "DELETE", "/api/v1/namespaces/tmp")
        #expect(d == 200)
        #expect(ns["status"]?["phase"] == .string("Terminating"))
        let (forbidden, _) = await call(s, "POST", "/api/v1/namespaces/tmp/configmaps", #"{"metadata":{"name":"y"}}"#)
        #expect(forbidden == 403)
        var code = 200
        for _ in 0..<100 where code == 200 {
            try await Task.sleep(for: .milliseconds(50))
            code = await call(s, "GET", "/api/v1/namespaces/tmp").0
        }
        #expect(code == 404)
    }

    @Test func serverSideApplyOwnsFieldsAndConflicts() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: one\n  drop: me\n"
        let (c, created) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/a?fieldManager=alice", cfg, contentType: "application/apply-patch+yaml")
        #expect(c == 201 || c == 200)
        #expect(created["data"]?["k"] == .string("one"))
        let (conf, st) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/a?fieldManager=bob",
                                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: two\n", contentType: "application/apply-patch+yaml")
        #expect(conf == 409)
        #expect(st["message"]?.stringValue?.contains("alice") == true)
        let (forced, f) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/a?fieldManager=bob&force=true",
                                     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: two\n", contentType: "application/apply-patch+yaml")
        #expect(forced == 200)
        #expect(f["data"]?["k"] == .string("two"))
        let (_, again) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/a?fieldManager=alice&force=true",
                                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: two\n", contentType: "application/apply-patch+yaml")
        #expect(again["data"]?["drop"] == nil)  // alice stopped applying it and nobody else owns it
        let managers = again["metadata"]?["managedFields"]?.arrayValue?.map { "\($0["manager"]?.stringValue ?? "")/\($0["operation"]?.stringValue ?? "")" }
        #expect(managers?.sorted() == ["alice/Apply", "bob/Apply"])
        // the same apply again changes nothing: no new resourceVersion
        let (_, same) = await call(s, "PATCH", "/api/v1/namespaces/default/configmaps/a?fieldManager=alice",
                                   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: two\n", contentType: "application/apply-patch+yaml")
        #expect(same["metadata"]?["resourceVersion"] == again["metadata"]?["resourceVersion"])
    }

    /// `kubectl apply` then `kubectl apply --server-side` of the same manifest: the defaulted
    /// fields of a container are no conflict (only leaves with other values are).
    @Test func serverSideApplyAfterClientSideApplyOfTheSameManifest() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dep = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80}]}]}}}}"#
        let (c, _) = await call(s, "POST", "/apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-client-side-apply", dep)
        #expect(c == 201)
        let (a, applied) = await call(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl", dep, contentType: "application/apply-patch+yaml")
        #expect(a == 200)
        let (a2, conflict) = await call(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl",
                                        dep.replacingOccurrences(of: "nginx:1.25", with: "nginx:1.26"), contentType: "application/apply-patch+yaml")
        #expect(a2 == 409)  // the image is a leaf the client-side apply still owns with another value
        #expect(conflict["message"]?.stringValue?.contains(".image") == true)
        #expect(applied["spec"]?["template"]?["spec"]?["containers"]?.arrayValue?.first?["imagePullPolicy"] == .string("IfNotPresent"))
    }

    /// `kubectl scale` (PATCH of autoscaling/v1 Scale), GET and PUT of /scale; absurd replicas refused.
    @Test func scaleSubresource() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dep = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#
        _ = await call(s, "POST", "/apis/apps/v1/namespaces/default/deployments", dep)
        let (g, sc) = await call(s, "GET", "/apis/apps/v1/namespaces/default/deployments/web/scale")
        #expect(g == 200)
        #expect(sc["kind"] == .string("Scale") && sc["spec"]?["replicas"] == .number("2") && sc["status"]?["selector"] == .string("app=web"))
        let (p, patched) = await call(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", #"{"spec":{"replicas":5}}"#, contentType: "application/merge-patch+json")
        #expect(p == 200 && patched["spec"]?["replicas"] == .number("5"))
        let (_, d) = await call(s, "GET", "/apis/apps/v1/namespaces/default/deployments/web")
        #expect(d["spec"]?["replicas"] == .number("5") && d["metadata"]?["generation"] == .number("2"))
        let stale = #"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","resourceVersion":"1"},"spec":{"replicas":1}}"#
        #expect(await call(s, "PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", stale).0 == 409)
        for bad in [#"{"spec":{"replicas":-1}}"#, #"{"spec":{"replicas":1e30}}"#, #"{"spec":{"replicas":"many"}}"#] {
            #expect(await call(s, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", bad, contentType: "application/merge-patch+json").0 == 422)
        }
        let (_, after) = await call(s, "GET", "/apis/apps/v1/namespaces/default/deployments/web")
        #expect(after["spec"]?["replicas"] == .number("5"))
        #expect(await call(s, "GET", "/api/v1/namespaces/default/configmaps/x/scale").0 == 404)
    }

    /// A pod whose status holds numbers no Int64 holds is printed, not a crash of the server.
    @Test func absurdNumbersInStatusDoNotTrapTables() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        let st = #"{"status":{"phase":"Running","containerStatuses":[{"name":"c","ready":true,"restartCount":1e30,"image":"busybox","imageID":"","state":{"running":{}}}]}}"#
        _ = await call(s, "PATCH", "/api/v1/namespaces/default/pods/demo/status", st, contentType: "application/merge-patch+json")
        let (code, t) = await call(s, "GET", "/api/v1/namespaces/default/pods", accept: "application/json;as=Table;v=v1;g=meta.k8s.io")
        #expect(code == 200)
        #expect(t["rows"]?.arrayValue?.count == 1)
    }
}

@Suite struct ConversionTests {
    @Test func eventsAreOneObjectAtBothVersions() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // the scheduler and controllers write events.k8s.io/v1; kubectl get events reads core/v1
        let ev = #"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e1"},"eventTime":"2026-12-03T10:00:00.000000Z","reportingController":"default-scheduler","reportingInstance":"sched-1","action":"Scheduling","reason":"FailedScheduling","note":"0/3 nodes are available","type":"Warning","regarding":{"kind":"Pod","namespace":"default","name":"p"},"series":{"count":2,"lastObservedTime":"2026-12-03T10:01:00.000000Z"}}"#
        let (code, created) = await call(s, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", ev)
        #expect(code == 201)
        #expect(created["note"]?.stringValue == "0/3 nodes are available" && created["message"] == nil)
        let (_, core) = await call(s, "GET", "/api/v1/namespaces/default/events/e1")
        #expect(core["apiVersion"]?.stringValue == "v1")
        #expect(core["message"]?.stringValue == "0/3 nodes are available" && core["note"] == nil)
        #expect(core["involvedObject"]?["name"]?.stringValue == "p" && core["reportingComponent"]?.stringValue == "default-scheduler")
        #expect(core["series"]?["count"] == .number("2") && core["reason"]?.stringValue == "FailedScheduling")
        // written at core/v1 (as kubelets do), read back at events.k8s.io/v1
        let coreEv = #"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e2"},"involvedObject":{"kind":"Pod","name":"p"},"reason":"Pulled","message":"image pulled","source":{"component":"kubelet","host":"n1"},"firstTimestamp":"2026-12-03T10:00:00Z","lastTimestamp":"2026-12-03T10:00:05Z","count":3,"type":"Normal"}"#
        #expect(await call(s, "POST", "/api/v1/namespaces/default/events", coreEv).0 == 201)
        let (_, ne) = await call(s, "GET", "/apis/events.k8s.io/v1/namespaces/default/events/e2")
        #expect(ne["note"]?.stringValue == "image pulled" && ne["deprecatedCount"] == .number("3"))
        #expect(ne["deprecatedSource"]?["host"]?.stringValue == "n1" && ne["regarding"]?["name"]?.stringValue == "p")
        // both lists hold both, each at its own version
        let (_, l1) = await call(s, "GET", "/api/v1/namespaces/default/events")
        #expect((l1["items"]?.arrayValue ?? []).compactMap { $0["message"]?.stringValue }.sorted() == ["0/3 nodes are available", "image pulled"])
        let (_, l2) = await call(s, "GET", "/apis/events.k8s.io/v1/namespaces/default/events")
        #expect((l2["items"]?.arrayValue ?? []).compactMap { $0["note"]?.stringValue }.sorted() == ["0/3 nodes are available", "image pulled"])
    }

    @Test func autoscalersRoundTripBetweenV1AndV2() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // kubectl autoscale (1.32) creates at autoscaling/v2 with a CPU and a memory target
        let v2 = #"{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"web"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"minReplicas":2,"maxReplicas":5,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":60}}},{"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"100Mi"}}}],"behavior":{"scaleDown":{"stabilizationWindowSeconds":30}}}}"#
        #expect(await call(s, "POST", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", v2).0 == 201)
        let (_, v1) = await call(s, "GET", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web")
        #expect(v1["apiVersion"]?.stringValue == "autoscaling/v1")
        #expect(v1["spec"]?["targetCPUUtilizationPercentage"] == .number("60") && v1["spec"]?["metrics"] == nil)
        #expect(v1["metadata"]?["annotations"]?[Conversion.metricsAnnotation]?.stringValue?.contains("memory") == true)
        // a v1 client changes the CPU target; the memory metric and the behavior survive
        var changed = v1
        changed.set(["spec", "targetCPUUtilizationPercentage"], .int(75))
        #expect(await call(s, "PUT", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web", changed.serialized()).0 == 200)
        let (_, back) = await call(s, "GET", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web")
        let metrics = back["spec"]?["metrics"]?.arrayValue ?? []
        #expect(metrics.count == 2)
        #expect(metrics.first?["resource"]?["target"]?["averageUtilization"] == .number("75"))
        #expect(metrics.last?["resource"]?["name"]?.stringValue == "memory")
        #expect(back["spec"]?["behavior"]?["scaleDown"]?["stabilizationWindowSeconds"] == .number("30"))
        #expect(back["metadata"]?["annotations"]?[Conversion.metricsAnnotation] == nil)
        // a v1 HPA without a target gets v2's default of 80% CPU
        let bare = #"{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"bare"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":3}}"#
        #expect(await call(s, "POST", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers", bare).0 == 201)
        let (_, bare2) = await call(s, "GET", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/bare")
        #expect(bare2["spec"]?["metrics"]?.arrayValue?.first?["resource"]?["target"]?["averageUtilization"] == .number("80"))
    }
}

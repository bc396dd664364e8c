import APIMachinery
import Foundation
import LinuxSystem
import Testing
@testable import APIServer

func raw(_ s: APIServer, _ method: String, _ target: String, _ body: String? = nil, contentType: String = "application/json",
         accept: String = "application/json") async -> APIResponse {
    var h = ["accept": accept, "user-agent": "unit/1.0"]
    if body != nil { h["content-type"] = contentType }
    return await s.handle(APIRequest(method: method, target: target, headers: h, body: Array((body ?? "").utf8)))
}

extension APIResponse {
    func headers(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
}

/// The captured ConfigMap (apiserver-captures/03-errors.md): one unknown field in metadata, one at the top.
let bogusConfigMap = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict-cm","labels":{"x":"y"},"bogusMeta":1},"data":{"a":"1"},"spec":{"foo":"bar"}}"#

@Suite struct FieldValidationTests {
    @Test func strictRefusesUnknownFieldsWithTheirPathsAndStoresNothing() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = await raw(s, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", bogusConfigMap)
        #expect(r.status == 400)
        #expect(r.bodyJSON?["reason"] == .string("BadRequest"))
        #expect(r.bodyJSON?["message"] == .string(#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.bogusMeta", unknown field "spec""#))
        let (code, _) = await call(s, "GET", "/api/v1/namespaces/default/configmaps/strict-cm")
        #expect(code == 404)

        // nested in a list, in a template, in a map of objects: the path says where
        let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"x","imagePullPolicyy":"Always"}]}}"#
        let p = await raw(s, "POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", pod)
        #expect(p.status == 400)
        #expect(p.bodyJSON?["message"]?.stringValue?.hasSuffix(#"strict decoding error: unknown field "spec.containers[1].imagePullPolicyy""#) == true)
        let deploy = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x","resources":{"limits":{"cpu":"1"}},"livenessProbe":{"httpGet":{"port":80,"pathh":"/"}}}]}}}}"#
        let d = await raw(s, "POST", "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict", deploy)
        #expect(d.status == 400)
        #expect(d.bodyJSON?["message"] == .string(#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].livenessProbe.httpGet.pathh""#))
    }

    @Test func duplicateFieldsUnderStrict() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dup = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup-cm"},"data":{"a":"1"},"data":{"b":"2"}}"#
        let r = await raw(s, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", dup)
        #expect(r.status == 400)
        #expect(r.bodyJSON?["message"] == .string(#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "data""#))
        // Ignore keeps the last one, as Go's decoder does
        let ok = await raw(s, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore", dup)
        #expect(ok.status == 201)
        #expect(ok.bodyJSON?["data"] == .object([("b", .string("2"))]))
    }

    @Test func warnIsTheDefaultAndDropsWhatItWarnsAbout() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (query, name) in [("", "strict-cm"), ("?fieldValidation=Warn", "strict-cm2")] {
            let r = await raw(s, "POST", "/api/v1/namespaces/default/configmaps" + query, bogusConfigMap.replacingOccurrences(of: "\"strict-cm\"", with: "\"\(name)\""))
            #expect(r.status == 201)
            #expect(r.headers("Warning") == [#"299 - "unknown field \"metadata.bogusMeta\"""#, #"299 - "unknown field \"spec\"""#])
            let (_, got) = await call(s, "GET", "/api/v1/namespaces/default/configmaps/\(name)")
            #expect(got["spec"] == nil)
            #expect(got["metadata"]?["bogusMeta"] == nil)
            #expect(got["data"] == .object([("a", .string("1"))]))
            #expect(got["metadata"]?["labels"] == .object([("x", .string("y"))]))
        }
        let i = await raw(s, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore", bogusConfigMap.replacingOccurrences(of: "strict-cm", with: "strict-cm3"))
        #expect(i.status == 201)
        #expect(i.headers("Warning").isEmpty)
        #expect(i.bodyJSON?["spec"] == nil)
        let bad = await raw(s, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Loose", bogusConfigMap)
        #expect(bad.status == 400)
    }

    @Test func patchesAndApplyAreCheckedToo() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (c, _) = await call(s, "POST", "/api/v1/namespaces/default/pods", podJSON)
        #expect(c == 201)
        for (ct, body) in [("application/merge-patch+json", #"{"spec":{"bogus":true}}"#),
                           ("application/strategic-merge-patch+json", #"{"spec":{"containers":[{"name":"c","bogus":true}]}}"#),
                           ("application/json-patch+json", #"[{"op":"add","path":"/spec/bogus","value":true}]"#)] {
            let r = await raw(s, "PATCH", "/api/v1/namespaces/default/pods/demo?fieldValidation=Strict", body, contentType: ct)
            #expect(r.status == 400, "\(ct)")
            #expect(r.bodyJSON?["message"]?.stringValue?.contains("strict decoding error: unknown field \"spec.") == true, "\(ct)")
        }
        let (_, after) = await call(s, "GET", "/api/v1/namespaces/default/pods/demo")
        #expect(after["spec"]?["bogus"] == nil)
        #expect(after["metadata"]?["resourceVersion"] != nil)
        let w = await raw(s, "PATCH", "/api/v1/namespaces/default/pods/demo", #"{"metadata":{"labels":{"x":"1"}},"spec":{"bogus":true}}"#,
                          contentType: "application/merge-patch+json")
        #expect(w.status == 200)
        #expect(w.headers("Warning") == [#"299 - "unknown field \"spec.bogus\"""#])
        #expect(w.bodyJSON?["metadata"]?["labels"]?["x"] == .string("1"))
        #expect(w.bodyJSON?["spec"]?["bogus"] == nil)
        let apply = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"1"},"dataa":{"b":"2"}}"#
        let a = await raw(s, "PATCH", "/api/v1/namespaces/default/configmaps/ssa?fieldManager=me&fieldValidation=Strict", apply, contentType: "application/apply-patch+yaml")
        #expect(a.status == 400)
        #expect(a.bodyJSON?["message"]?.stringValue?.hasSuffix(#"unknown field "dataa""#) == true)
        let (gone, _) = await call(s, "GET", "/api/v1/namespaces/default/configmaps/ssa")
        #expect(gone == 404)
    }

    @Test func schemaCoversEveryServedKindAndEveryReferenceResolves() {
        let schema = APISchema.builtIn
        for info in ResourceRegistry.standard.resources {
            #expect(schema.root(apiVersion: info.apiVersion, kind: info.kind) != nil, "\(info.apiVersion) \(info.kind)")
        }
        var dangling: [String] = []
        for (name, d) in schema.definitions {
            for p in d.properties { for r in APISchema.refs(p.type) where schema.definitions[r] == nil { dangling.append("\(name).\(p.name) → \(r)") } }
        }
        #expect(dangling.isEmpty)
        let spec = schema.definitions["io.k8s.api.core.v1.PodSpec"]
        #expect(spec?.index["containers"] == .array(.ref("io.k8s.api.core.v1.Container")))
        #expect(spec?.index["nodeSelector"] == .map(.string))
        #expect(spec?.required == ["containers"])
        #expect(schema.definitions["io.k8s.api.core.v1.ServicePort"]?.index["targetPort"] == .any)  // IntOrString
    }

    @Test func openAPIv3IndexAndDocumentsForExplain() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let idx = await raw(s, "GET", "/openapi/v3")
        #expect(idx.status == 200)
        #expect(idx.headers("Content-Type") == ["text/plain; charset=utf-8"])
        let paths = try JSON.parse(idx.body)["paths"]
        let url = try #require(paths?["apis/apps/v1"]?["serverRelativeURL"]?.stringValue)
        #expect(paths?["api/v1"] != nil)
        #expect(url.hasPrefix("/openapi/v3/apis/apps/v1?hash="))
        let doc = await raw(s, "GET", url)
        #expect(doc.status == 200)
        #expect(doc.headers("Cache-Control") == ["public, immutable"])
        let d = try JSON.parse(doc.body)
        let deployment = d["components"]?["schemas"]?["io.k8s.api.apps.v1.Deployment"]
        #expect(deployment?["x-kubernetes-group-version-kind"] == .array([.object([("group", .string("apps")), ("kind", .string("Deployment")), ("version", .string("v1"))])]))
        #expect(deployment?["properties"]?["spec"]?["allOf"]?.arrayValue?.first?["$ref"] == .string("#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"))
        // what kubectl's field-validation probe looks for: the kind's PATCH with a fieldValidation query parameter
        let patch = d["paths"]?["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]?["patch"]
        #expect(patch?["x-kubernetes-group-version-kind"]?["kind"] == .string("Deployment"))
        #expect(patch?["parameters"]?.arrayValue?.contains { $0["name"] == .string("fieldValidation") && $0["in"] == .string("query") } == true)
        // without the hash it may change: no-cache
        let fresh = await raw(s, "GET", "/openapi/v3/apis/apps/v1")
        #expect(fresh.headers("Cache-Control") == ["no-cache, private"])
        #expect(await raw(s, "GET", "/openapi/v3/apis/nope/v1").status == 404)
        // v2: the empty protobuf Document kubectl is given, JSON when asked
        #expect(await raw(s, "GET", "/openapi/v2", accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf").body.isEmpty)
        let v2 = try JSON.parse(await raw(s, "GET", "/openapi/v2", accept: "application/json").body)
        #expect(v2["definitions"]?["io.k8s.api.core.v1.Pod"]?["properties"]?["spec"]?["allOf"]?.arrayValue?.first?["$ref"] == .string("#/definitions/io.k8s.api.core.v1.PodSpec"))
    }
}

import Foundation
import LinuxSystem
import Testing
@testable import APIServer

@Suite struct MetricsTests {
    func cls(_ method: String, _ target: String, contentType: String? = nil) -> RequestClass {
        var h: [String: String] = [:]
        if let contentType { h["content-type"] = contentType }
        return RequestClass(APIRequest(method: method, target: target, headers: h), registry: .standard)
    }

    @Test func requestsAreClassifiedAsKubeApiserverLabelsThem() {
        #expect(cls("GET", "/api/v1/namespaces/default/pods") == RequestClass(verb: "LIST", version: "v1", resource: "pods", scope: "namespace"))
        #expect(cls("GET", "/api/v1/pods?watch=true") == RequestClass(verb: "WATCH", version: "v1", resource: "pods", scope: "cluster"))
        #expect(cls("GET", "/api/v1/watch/namespaces/default/pods") == RequestClass(verb: "WATCH", version: "v1", resource: "pods", scope: "namespace"))
        #expect(cls("GET", "/apis/apps/v1/namespaces/x/deployments/web/scale") == RequestClass(verb: "GET", group: "apps", version: "v1", resource: "deployments", subresource: "scale", scope: "resource"))
        #expect(cls("PATCH", "/api/v1/namespaces/x/configmaps/c?fieldManager=m", contentType: "application/apply-patch+yaml").verb == "APPLY")
        #expect(cls("DELETE", "/api/v1/namespaces/x/configmaps").verb == "DELETECOLLECTION")
        #expect(cls("POST", "/api/v1/namespaces/x/pods?dryRun=All").dryRun == "All")
        // made-up paths get no resource labels: a client cannot grow the label set
        #expect(cls("GET", "/api/v1/made-up-\(UUID())") == RequestClass(verb: "GET"))
        #expect(cls("GET", "/api/v1/namespaces/x/made-up-\(UUID())").subresource == "")
        #expect(cls("GET", "/healthz") == RequestClass(verb: "GET"))
    }

    @Test func metricsEndpointCountsRequestsAndStoredObjects() async throws {
        let (s, dir) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<3 {
            _ = await call(s, "POST", "/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"m\#(i)"}}"#)
        }
        _ = await call(s, "GET", "/api/v1/namespaces/default/configmaps/nope")
        let r = await raw(s, "GET", "/metrics")
        #expect(r.status == 200)
        #expect(r.headers("Content-Type").first?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = String(decoding: r.body, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        func value(_ prefix: String, _ labels: [String]) -> String? {
            lines.first { $0.hasPrefix(prefix + "{") && labels.allSatisfy($0.contains) }?.split(separator: " ").last.map(String.init)
        }
        #expect(value("apiserver_request_total", [#"code="201""#, #"verb="POST""#, #"resource="configmaps""#, #"scope="namespace""#]) == "3")
        #expect(value("apiserver_request_total", [#"code="404""#, #"verb="GET""#, #"resource="configmaps""#]) == "1")
        #expect(value("apiserver_request_duration_seconds_count", [#"verb="POST""#, #"resource="configmaps""#]) == "3")
        #expect(value("apiserver_storage_objects", [#"resource="configmaps""#]) == "3.0")
        #expect(value("apiserver_storage_objects", [#"resource="namespaces""#]) == "4.0")
        #expect(value("sqlite_request_duration_seconds_count", [#"operation="create""#, #"type="configmaps""#]) == "3")
    }
}

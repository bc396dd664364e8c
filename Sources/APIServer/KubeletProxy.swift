import APIMachinery
import AsyncHTTPClient
import Foundation
import LinuxSystem
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// How the master reaches node agents' kubelet API: its client certificate
/// (`kube-apiserver-kubelet-client`) and the CA their serving certificates must chain to.
public struct KubeletClientTLS: Sendable {
    public var certificatePEM: String
    public var keyPEM: String
    public var caPEM: String

    public init(certificatePEM: String, keyPEM: String, caPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        self.caPEM = caPEM
    }

    func configuration() throws -> TLSConfiguration {
        var c = TLSConfiguration.makeClientConfiguration()
        c.minimumTLSVersion = .tlsv12
        c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        c.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) }
        c.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
        c.certificateVerification = .fullVerification
        return c
    }
}

/// Where a streaming request goes on its node: the kubelet's address and the request line's target.
public struct KubeletTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var target: String
}

/// The connections to kubelets (one HTTP client for logs, made on first use).
final class KubeletConnector: Sendable {
    let tls: KubeletClientTLS
    let client: HTTPClient
    let sslContext: NIOSSLContext

    init(tls: KubeletClientTLS) throws {
        self.tls = tls
        var config = HTTPClient.Configuration(tlsConfiguration: try tls.configuration())
        config.timeout = .init(connect: .seconds(10), read: nil)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        sslContext = try NIOSSLContext(configuration: try tls.configuration())
    }
}

extension APIServer {
    /// The node's kubelet endpoint: its InternalIP (else its Hostname) and the port it reports.
    func kubeletEndpoint(node name: String) async throws -> (host: String, port: Int) {
        guard let nodes = registry.lookup(group: "", version: "v1", resource: "nodes") else { throw APIStatus.unknownResource }
        let node: JSON
        do { (node, _) = try await get(nodes, namespace: nil, name: name) } catch let s as APIStatus where s.code == 404 {
            throw APIStatus(code: 503, reason: "ServiceUnavailable", message: "node \"\(name)\" is not registered: its agent cannot be reached", hasDetails: false)
        }
        var byType: [String: String] = [:]
        for a in node["status"]?["addresses"]?.arrayValue ?? [] {
            if let t = a["type"]?.stringValue, let v = a["address"]?.stringValue, byType[t] == nil { byType[t] = v }
        }
        guard let host = byType["InternalIP"] ?? byType["Hostname"] ?? byType["ExternalIP"] else {
            throw APIStatus(code: 503, reason: "ServiceUnavailable", message: "node \"\(name)\" reports no address", hasDetails: false)
        }
        var port = 10250
        if let p = node["status"]?["daemonEndpoints"]?["kubeletEndpoint"]?["Port"], case .number(let n) = p, let v = Int(n), v > 0, v < 65536 { port = v }
        return (host, port)
    }

    /// The pod, its node and the container a log/exec request names (defaulted when the pod has
    /// one container), checked as kube-apiserver checks them.
    func streamingTarget(namespace: String, name: String, container: String?) async throws -> (node: String, container: String) {
        guard let pods = registry.lookup(group: "", version: "v1", resource: "pods") else { throw APIStatus.unknownResource }
        let (pod, _) = try await get(pods, namespace: namespace, name: name)
        let names = (pod["spec"]?["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let initNames = (pod["spec"]?["initContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let ephemeral = (pod["spec"]?["ephemeralContainers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let c: String
        if let container, !container.isEmpty {
            guard (names + initNames + ephemeral).contains(container) else {
                throw APIStatus.badRequest("container \(container) is not valid for pod \(name)")
            }
            c = container
        } else if names.count == 1 {
            c = names[0]
        } else {
            var m = "a container name must be specified for pod \(name), choose one of: [\(names.joined(separator: " "))]"
            if !initNames.isEmpty { m += " or one of the init containers: [\(initNames.joined(separator: " "))]" }
            throw APIStatus.badRequest(m)
        }
        guard let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty else {
            throw APIStatus.badRequest("pod \(name) does not have a host assigned")
        }
        return (node, c)
    }

    func connector() throws -> KubeletConnector {
        guard let c = kubeletConnector else {
            throw APIStatus(code: 503, reason: "ServiceUnavailable",
                            message: "this master has no kubelet client credentials (it serves plain HTTP): logs, exec and attach are unavailable", hasDetails: false)
        }
        return c
    }

    /// `GET pods/{name}/log`: the kubelet's `/containerLogs` answer, streamed through.
    func podLog(namespace: String, name: String, _ req: APIRequest) async throws -> APIResponse {
        let (node, container) = try await streamingTarget(namespace: namespace, name: name, container: req.q("container"))
        var q: [String] = []
        for key in ["follow", "previous", "timestamps"] where req.flag(key) { q.append(key + "=true") }
        for key in ["tailLines", "limitBytes", "sinceSeconds"] {
            guard let v = req.q(key) else { continue }
            guard let n = Int(v), n >= (key == "tailLines" ? 0 : 1) else {
                throw APIStatus.invalid(kind: "PodLogOptions", name: "", causes: [.init(reason: "FieldValueInvalid", message: "Invalid value: \(v): must be \(key == "tailLines" ? "zero or more" : "greater than zero")", field: key)])
            }
            q.append("\(key)=\(n)")
        }
        if let t = req.q("sinceTime") {
            guard Timestamp.parse(t) != nil else { throw APIStatus.badRequest("sinceTime: not an RFC 3339 time: \(t)") }
            if req.q("sinceSeconds") != nil {
                throw APIStatus.invalid(kind: "PodLogOptions", name: "", causes: [.init(reason: "FieldValueForbidden", message: "at most one of `sinceTime` or `sinceSeconds` may be specified", field: "")])
            }
            q.append("sinceTime=" + percentEncode(t))
        }
        let conn = try connector()
        let (host, port) = try await kubeletEndpoint(node: node)
        let url = "https://\(host.contains(":") ? "[\(host)]" : host):\(port)/containerLogs/\(percentEncode(namespace))/\(percentEncode(name))/\(percentEncode(container))" + (q.isEmpty ? "" : "?" + q.joined(separator: "&"))
        let response: HTTPClientResponse
        do {
            response = try await conn.client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        } catch {
            throw APIStatus(code: 502, reason: "InternalError", message: "Get \"\(url)\": \(error)", hasDetails: false)
        }
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
            // the kubelet's Status, with the kubelet's code (400 for a container not running)
            if let j = try? JSON.parse(body), j["kind"]?.stringValue == "Status" {
                return APIResponse(status: Int(response.status.code), headers: [("Content-Type", "application/json")], body: body)
            }
            throw APIStatus(code: Int(response.status.code), reason: "InternalError",
                            message: "the node agent answered \(response.status.code): \(String(decoding: body.prefix(500), as: UTF8.self))", hasDetails: false)
        }
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let pump = Task {
            do {
                for try await chunk in response.body { continuation.yield(Array(chunk.readableBytesView)) }
            } catch {}
            continuation.finish()
        }
        continuation.onTermination = { _ in pump.cancel() }
        return APIResponse(status: 200, headers: [("Content-Type", "text/plain")], stream: stream)
    }

    /// `pods/{name}/exec|attach` with an upgrade: where the HTTP layer proxies the connection.
    func streamUpgrade(namespace: String, name: String, sub: String, _ req: APIRequest) async throws -> APIResponse {
        guard req.header("upgrade") != nil else {
            throw APIStatus.badRequest("Upgrade request required")
        }
        guard sub == "exec" else {
            throw APIStatus(code: 501, reason: "NotImplemented", message: "pods/\(sub) is not served yet", hasDetails: false)
        }
        let (node, container) = try await streamingTarget(namespace: namespace, name: name, container: req.q("container"))
        var command: [String] = []
        var flags: [String: Bool] = [:]
        for (k, v) in req.query {
            if k == "command" { command.append(v) }
            if ["stdin", "stdout", "stderr", "tty"].contains(k) { flags[k] = v == "true" || v == "1" }
        }
        guard !command.isEmpty else { throw APIStatus.badRequest("you must specify at least one command for the container") }
        _ = try connector()
        let (host, port) = try await kubeletEndpoint(node: node)
        var q = command.map { "command=" + percentEncode($0) }
        if flags["stdin"] == true { q.append("input=1") }
        if flags["stdout"] == true { q.append("output=1") }
        if flags["stderr"] == true { q.append("error=1") }
        if flags["tty"] == true { q.append("tty=1") }
        let target = "/exec/\(percentEncode(namespace))/\(percentEncode(name))/\(percentEncode(container))?" + q.joined(separator: "&")
        var r = APIResponse(status: 101)
        r.upgrade = KubeletTarget(host: host, port: port, target: target)
        return r
    }
}

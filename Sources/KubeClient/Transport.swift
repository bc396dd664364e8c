import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One HTTP exchange with an API server, independent of how it travels (so the client, its
/// watches and informers can be driven by the master's in-process handler in unit tests).
public struct KubeHTTPRequest: Sendable {
    public var method: String
    /// Path and query, percent-encoded: `/api/v1/namespaces/default/pods?watch=1`.
    public var target: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }
}

public struct KubeHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    /// The body as it arrives (a watch: one chunk per flush, for as long as the server streams).
    public var body: AsyncThrowingStream<[UInt8], any Error>

    public init(status: Int, headers: [(String, String)] = [], body: AsyncThrowingStream<[UInt8], any Error>) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, headers: [(String, String)] = [], bytes: [UInt8]) {
        self.init(status: status, headers: headers, body: AsyncThrowingStream { c in c.yield(bytes); c.finish() })
    }

    public func header(_ name: String) -> String? { headers.last { $0.0.lowercased() == name.lowercased() }?.1 }

    /// The whole body (refused past `limit` bytes: an answer that large is not an API object).
    public func collect(limit: Int = 256 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in body {
            out += chunk
            if out.count > limit { throw KubeError.transport("the response body exceeds \(limit) bytes") }
        }
        return out
    }
}

public protocol KubeTransport: Sendable {
    func send(_ request: KubeHTTPRequest) async throws -> KubeHTTPResponse
    func shutdown() async
}

/// HTTPS (or HTTP) to a real API server with AsyncHTTPClient: the kubeconfig's CA as the only
/// trust root, its client certificate presented in the handshake, its bearer token on each request.
public final class HTTPTransport: KubeTransport {
    let client: HTTPClient
    let base: String
    let token: String?

    public init(_ config: KubeConfig) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let ca = config.certificateAuthorityPEM {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            } catch {
                throw KubeError.transport("the cluster's CA certificate is not PEM: \(error)")
            }
        }
        if config.insecureSkipTLSVerify { tls.certificateVerification = .none }
        if let cert = config.clientCertificatePEM, let key = config.clientKeyPEM {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            } catch {
                throw KubeError.transport("the client certificate or key is not PEM: \(error)")
            }
        }
        var cfg = HTTPClient.Configuration(tlsConfiguration: tls)
        cfg.timeout = .init(connect: .seconds(10), read: nil)
        cfg.connectionPool.retryConnectionEstablishment = false
        cfg.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg)
        base = config.server
        token = config.token
    }

    public func send(_ request: KubeHTTPRequest) async throws -> KubeHTTPResponse {
        var r = HTTPClientRequest(url: base + request.target)
        r.method = HTTPMethod(rawValue: request.method)
        for (k, v) in request.headers { r.headers.add(name: k, value: v) }
        if let token, !request.headers.contains(where: { $0.0.lowercased() == "authorization" }) {
            r.headers.add(name: "Authorization", value: "Bearer " + token)
        }
        if !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(request.method) {
            r.body = .bytes(ByteBuffer(bytes: request.body))
        }
        let response: HTTPClientResponse
        do {
            // the deadline covers the answer's head; a watch then streams for as long as the server keeps it
            response = try await client.execute(r, timeout: .seconds(60))
        } catch {
            throw KubeError.transport("\(request.method) \(base)\(request.target): \(error)")
        }
        let body = response.body
        let stream = AsyncThrowingStream<[UInt8], any Error> { c in
            let task = Task {
                do {
                    for try await buf in body { c.yield(Array(buf.readableBytesView)) }
                    c.finish()
                } catch {
                    c.finish(throwing: KubeError.transport("reading \(request.target): \(error)"))
                }
            }
            c.onTermination = { _ in task.cancel() }
        }
        return KubeHTTPResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: stream)
    }

    public func shutdown() async { try? await client.shutdown() }
}

import APIMachinery
import Auth
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import X509
import LinuxSystem
import Logging
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Hummingbird's request context plus the connection, whose TLS handler knows the verified
/// client certificate.
public struct MasterRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The identity of the client certificate (CN = user, O = groups), if one was presented;
    /// the TLS layer has checked it against the cluster CA, or the handshake failed.
    func peerUser() async -> UserInfo? {
        guard let cert = try? await channel.nioSSL_peerCertificate().get(),
              let der = try? cert.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        let user = parsed.kubernetesUser
        return user.name.isEmpty ? nil : user
    }
}

/// The API server on the wire: Hummingbird 2 (HTTP/1.1 over TLS, or plain for `--insecure-http`;
/// chunked, flushed-per-event bodies for watches) in front of `APIServer.handle`, with a request
/// log line per call.
public struct APIResponder: HTTPResponder {
    public typealias Context = MasterRequestContext
    let server: APIServer
    let logger: Logger

    public init(server: APIServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    public func respond(to request: Request, context: MasterRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        var headers: [String: String] = [:]
        for f in request.headers { headers[f.name.canonicalName] = f.value }
        let peer = await context.peerUser()
        // a body over the limit is not read on: 413 at once, and the connection closes
        if let declared = headers["content-length"].flatMap(Int.init), declared > Body.maxBytes {
            return Self.tooLarge(declared)
        }
        var body: [UInt8] = []
        for try await chunk in request.body {
            if body.count + chunk.readableBytes > Body.maxBytes { return Self.tooLarge(body.count + chunk.readableBytes) }
            body.append(contentsOf: chunk.readableBytesView)
        }
        let req = APIRequest(method: request.method.rawValue, target: request.uri.description, headers: headers, body: body, peerUser: peer)
        let res = await server.handle(req)
        var out = HTTPFields()
        for (k, v) in res.headers { if let n = HTTPField.Name(k) { out.append(HTTPField(name: n, value: v)) } }
        if out[.cacheControl] == nil { out.append(HTTPField(name: .cacheControl, value: "no-cache, private")) }
        let status = HTTPResponse.Status(code: res.status)
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        logger.info("\(req.method) \(request.uri.description) \(res.status) \(String(format: "%.2f", ms))ms",
                    metadata: ["userAgent": "\(headers["user-agent"] ?? "")"])
        if let stream = res.stream {
            return Response(status: status, headers: out, body: ResponseBody { writer in
                for await chunk in stream {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
        }
        out.append(HTTPField(name: .contentLength, value: String(res.body.count)))
        return Response(status: status, headers: out, body: ResponseBody(byteBuffer: ByteBuffer(bytes: res.body)))
    }

    static func tooLarge(_ bytes: Int) -> Response {
        let s = APIStatus(code: 413, reason: "RequestEntityTooLarge", message: "the request is too large: more than \(Body.maxBytes) bytes (\(bytes) seen)", hasDetails: false)
        let body = Array((s.json.serialized() + "\n").utf8)
        return Response(status: .contentTooLarge, headers: [.contentType: "application/json", .connection: "close", .contentLength: String(body.count)],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The serving side of the cluster PKI: the API server's certificate and key, and the CA whose
/// client certificates are accepted (presenting one is optional; a bad one fails the handshake).
public struct MasterTLS: Sendable {
    public var certificatePEM: String
    public var keyPEM: String
    public var clientCAPEM: String

    public init(certificatePEM: String, keyPEM: String, clientCAPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        self.clientCAPEM = clientCAPEM
    }

    func configuration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        c.minimumTLSVersion = .tlsv12
        c.certificateVerification = .optionalVerification
        c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(clientCAPEM.utf8)))
        c.sendCANameList = true
        return c
    }
}

public enum MasterHTTP {
    /// Serves until the task is cancelled. `onReady` runs once the port is bound.
    /// Connections idle this long between requests (or while a request head dribbles in) are
    /// closed: a slow-loris client cannot hold connections forever. Responses being written
    /// (watches) are not idle.
    public static let idleTimeout: TimeAmount = .seconds(60)

    public static func run(server: APIServer, host: String, port: Int, tls: MasterTLS?, logger: Logger,
                           onReady: @escaping @Sendable (Int) async -> Void) async throws {
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [HTTP10Close.Installer(server: server, logger: logger)], idleTimeout: idleTimeout))
        let app = Application(
            responder: APIResponder(server: server, logger: logger),
            server: try tls.map { try .tls(http1, tlsConfiguration: $0.configuration()) } ?? http1,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? port) },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: [])
    }
}

/// HTTP/1.0 without `Connection: keep-alive` means one request per connection (RFC 1945; Go's
/// server and ab rely on it). The HTTP types Hummingbird hands on have no version, so the request
/// head is marked `Connection: close` while it still has one: right after NIO's HTTP/1 decoder.
final class HTTP10Close: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Per request in flight: an HTTP/1.0 client that asked to keep the connection, which it
    /// does only when the response says `Connection: keep-alive`.
    var keepAlive10: [Bool] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var part = unwrapInboundIn(data)
        if case .head(var head) = part {
            let is10 = head.version.major == 1 && head.version.minor == 0
            if is10 && !head.isKeepAlive {
                head.headers.replaceOrAdd(name: "connection", value: "close")
                part = .head(head)
            }
            keepAlive10.append(is10 && head.isKeepAlive)
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var part = unwrapOutboundIn(data)
        if case .head(var head) = part, !keepAlive10.isEmpty {
            if keepAlive10.removeFirst() {
                head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
                part = .head(head)
            }
        }
        context.write(wrapOutboundOut(part), promise: promise)
    }

    /// Hummingbird adds its extra handlers after its HTTP types codec; this one puts the real
    /// handlers where they belong and takes itself out: HTTP10Close and the upgrade interceptor
    /// behind the decoder, the raw tap for proxied sessions right after TLS.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = Never
        let server: APIServer
        let logger: Logger

        init(server: APIServer, logger: Logger) {
            self.server = server
            self.logger = logger
        }

        func handlerAdded(context: ChannelHandlerContext) {
            let ops = context.pipeline.syncOperations
            if let decoder = try? ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                let tap = RawTap()
                let close10 = HTTP10Close()
                try? ops.addHandler(close10, position: .after(decoder))
                try? ops.addHandler(UpgradeInterceptor(server: server, tap: tap, logger: logger), position: .after(close10))
                if let tls = try? ops.handler(type: NIOSSLServerHandler.self) {
                    try? ops.addHandler(tap, position: .after(tls))
                } else {
                    try? ops.addHandler(tap, position: .first)
                }
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}

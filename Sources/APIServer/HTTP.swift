import Foundation
import Hummingbird
import LinuxSystem
import Logging
import HTTPTypes
import NIOCore
import NIOHTTP1

/// The API server on the wire: Hummingbird 2 (HTTP/1.1; chunked, flushed-per-event bodies for
/// watches) in front of `APIServer.handle`, with a request log line per call.
public struct APIResponder: HTTPResponder {
    public typealias Context = BasicRequestContext
    let server: APIServer
    let logger: Logger

    public init(server: APIServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    public func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        var headers: [String: String] = [:]
        for f in request.headers { headers[f.name.canonicalName] = f.value }
        var body: [UInt8] = []
        var tooLarge = false
        for try await chunk in request.body {
            if body.count + chunk.readableBytes > Body.maxBytes + 1 { tooLarge = true; continue }
            body.append(contentsOf: chunk.readableBytesView)
        }
        if tooLarge { body = [UInt8](repeating: 0x20, count: Body.maxBytes + 1) }
        let req = APIRequest(method: request.method.rawValue, target: request.uri.description, headers: headers, body: body)
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
}

public enum MasterHTTP {
    /// Serves until the task is cancelled. `onReady` runs once the port is bound.
    public static func run(server: APIServer, host: String, port: Int, logger: Logger, onReady: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            responder: APIResponder(server: server, logger: logger),
            server: .http1(configuration: .init(additionalChannelHandlers: [HTTP10Close.Installer()])),
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
    /// handler behind the decoder and takes itself out.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = Never
        func handlerAdded(context: ChannelHandlerContext) {
            let ops = context.pipeline.syncOperations
            if let decoder = try? ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                try? ops.addHandler(HTTP10Close(), position: .after(decoder))
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}

import APIMachinery
import Auth
import Foundation
import Hummingbird
import HummingbirdCore
import LinuxSystem
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import X509

/// Sits at the bottom of a connection's pipeline (right after TLS): passes bytes through until a
/// proxied upgrade (exec, attach) takes the connection over; then the client's bytes go to the
/// kubelet and the kubelet's come back here, past the HTTP handlers.
final class RawTap: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode {
        case pass
        case hold([ByteBuffer])
        case relay(any Channel)
        case closed
    }
    var mode = Mode.pass
    var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch mode {
        case .pass: context.fireChannelRead(data)
        case .hold(var held):
            held.append(unwrapInboundIn(data))
            mode = .hold(held)
        case .relay(let peer): peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        case .closed: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .relay(let peer) = mode { peer.close(promise: nil) }
        mode = .closed
        context.fireChannelInactive()
    }

    /// From now on nothing reaches the HTTP decoder.
    func hold() { mode = .hold([]) }

    /// The client's bytes (held ones first) go to `peer` from now on.
    func relay(to peer: any Channel) {
        if case .hold(let held) = mode { for b in held { peer.write(b, promise: nil) } }
        peer.flush()
        mode = .relay(peer)
    }

    /// Bytes to the client, below the HTTP encoder.
    func send(_ buf: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(buf), promise: nil)
    }

    func close() {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: nil)
        context.close(promise: nil)
    }
}

/// Watches request heads: an upgrade to `pods/{name}/exec|attach|portforward` is answered by
/// the API server (authentication, authorization, the pod's node) and, when allowed, the whole
/// connection is handed to that node's kubelet as raw bytes (what kube-apiserver's upgrade-aware
/// proxy does). Everything else passes on to Hummingbird.
final class UpgradeInterceptor: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    let server: APIServer
    let tap: RawTap
    let logger: Logger
    var head: HTTPRequestHead?
    var intercepting = false

    init(server: APIServer, tap: RawTap, logger: Logger) {
        self.server = server
        self.tap = tap
        self.logger = logger
    }

    static func isStreamUpgrade(_ h: HTTPRequestHead) -> Bool {
        guard h.headers.contains(name: "upgrade"),
              h.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" }) else { return false }
        let path = h.uri.split(separator: "?", maxSplits: 1).first ?? ""
        let segs = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", api, v1, namespaces, ns, pods, name, sub
        return segs.count == 8 && segs[1] == "api" && segs[2] == "v1" && segs[3] == "namespaces" && segs[5] == "pods"
            && ["exec", "attach", "portforward"].contains(segs[7])
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let h) = part, !intercepting, Self.isStreamUpgrade(h) {
            intercepting = true
            head = h
            tap.hold()
            return
        }
        guard intercepting else { context.fireChannelRead(data); return }
        if case .end = part, let h = head {
            head = nil
            start(context, h)
        }
    }

    func start(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        let channel = context.channel
        let loop = context.eventLoop
        let tap = NIOLoopBound(self.tap, eventLoop: loop)
        let server = self.server
        let logger = self.logger
        // the idle timer of plain requests does not apply to a session
        if let state = try? context.pipeline.syncOperations.handler(type: HTTPConnectionStateHandler.self) {
            context.pipeline.syncOperations.removeHandler(state, promise: nil)
        }
        Task {
            var headers: [String: String] = [:]
            for f in h.headers { headers[f.name.lowercased()] = f.value }
            var peer: UserInfo?
            if let cert = try? await channel.nioSSL_peerCertificate().get(), let der = try? cert.toDERBytes(),
               let parsed = try? Certificate(derEncoded: der), !parsed.kubernetesUser.name.isEmpty {
                peer = parsed.kubernetesUser
            }
            let req = APIRequest(method: h.method.rawValue, target: h.uri, headers: headers, peerUser: peer)
            let res = await server.handle(req)
            logger.info("\(req.method) \(h.uri) \(res.status)", metadata: ["userAgent": "\(headers["user-agent"] ?? "")"])
            guard let target = res.upgrade, let connector = server.kubeletConnector else {
                var text = "HTTP/1.1 \(res.status) \(HTTPResponseStatus(statusCode: res.status).reasonPhrase)\r\n"
                for (k, v) in res.headers where k.lowercased() != "content-length" { text += "\(k): \(v)\r\n" }
                text += "Content-Length: \(res.body.count)\r\nConnection: close\r\n\r\n"
                var buf = ByteBuffer(string: text)
                buf.writeBytes(res.body)
                loop.execute {
                    tap.value.send(buf)
                    tap.value.close()
                }
                return
            }
            // the request as the kubelet takes it: its path, the upgrade headers, no credentials
            var text = "\(h.method.rawValue) \(target.target) HTTP/1.1\r\nHost: \(target.host.contains(":") ? "[\(target.host)]" : target.host):\(target.port)\r\n"
            let forwarded: Set<String> = ["connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
                                          "x-stream-protocol-version", "user-agent"]
            for f in h.headers where forwarded.contains(f.name.lowercased()) { text += "\(f.name): \(f.value)\r\n" }
            text += "Content-Length: 0\r\n\r\n"
            let request = ByteBuffer(string: text)
            let ssl = connector.sslContext
            do {
                let kubelet = try await ClientBootstrap(group: loop)
                    .connectTimeout(.seconds(10))
                    .channelInitializer { ch in
                        ch.eventLoop.makeCompletedFuture {
                            try ch.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: ssl, serverHostname: nil))
                            try ch.pipeline.syncOperations.addHandler(PeerRelay(tap: tap))
                        }
                    }
                    .connect(host: target.host, port: target.port).get()
                loop.execute {
                    guard channel.isActive else { kubelet.close(promise: nil); return }
                    kubelet.writeAndFlush(request, promise: nil)
                    tap.value.relay(to: kubelet)
                }
            } catch {
                let s = APIStatus(code: 502, reason: "InternalError", message: "cannot reach the node agent at \(target.host):\(target.port): \(error)", hasDetails: false)
                let body = s.json.serialized()
                let text = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
                loop.execute {
                    tap.value.send(ByteBuffer(string: text))
                    tap.value.close()
                }
            }
        }
    }
}

/// The kubelet side of a proxied session: its bytes go to the client; its end ends the client's.
final class PeerRelay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let tap: NIOLoopBound<RawTap>

    init(tap: NIOLoopBound<RawTap>) { self.tap = tap }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { tap.value.send(unwrapInboundIn(data)) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelInactive(context: ChannelHandlerContext) {
        tap.value.close()
        context.fireChannelInactive()
    }
}

import Auth
import CShims
import FoundationEssentials
import KubeClient
import KubeModel
import LinuxSystem
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Runtime
import X509

#if canImport(Glibc)
import Glibc
#endif

/// The kubelet API's TLS: the serving pair and the CA whose client certificates are accepted
/// (the cluster CA: the master's kubelet-client certificate is signed by it).
public struct KubeletTLS: Sendable {
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
        return c
    }
}

/// Who may use the kubelet API, decided by the master as the kubelet does it: bearer tokens
/// through a TokenReview, every request through a SubjectAccessReview on `nodes/<sub>` (answers
/// cached: allowed 5 minutes, denied 30 seconds). Client certificates are checked by TLS.
public actor KubeletAuthorizer {
    public typealias Review = @Sendable (_ kind: String, _ body: JSON) async throws -> JSON
    let review: Review
    let nodeName: String
    var cache: [String: (allowed: Bool, until: UInt64)] = [:]

    public init(nodeName: String, review: @escaping Review) {
        self.nodeName = nodeName
        self.review = review
    }

    /// Reviews through the master's API.
    public init(nodeName: String, client: KubeClient) {
        self.init(nodeName: nodeName) { kind, body in
            let r = kind == "TokenReview" ? Resource(group: "authentication.k8s.io", resource: "tokenreviews", namespaced: false)
                : Resource(group: "authorization.k8s.io", resource: "subjectaccessreviews", namespaced: false)
            return try await client.create(r, body)
        }
    }

    public func authenticate(token: String) async -> UserInfo? {
        let body = JSON.object([("apiVersion", .string("authentication.k8s.io/v1")), ("kind", .string("TokenReview")),
                                ("spec", .object([("token", .string(token))]))])
        guard let r = try? await review("TokenReview", body), r["status"]?["authenticated"] == .bool(true),
              case .string(let name)? = r["status"]?["user"]?["username"] else { return nil }
        var groups: [String] = []
        if case .array(let gs)? = r["status"]?["user"]?["groups"] {
            for g in gs { if case .string(let s) = g { groups.append(s) } }
        }
        return UserInfo(name: name, groups: groups)
    }

    public func authorize(_ user: UserInfo, verb: String, subresource: String) async -> Bool {
        let key = "\(user.name)\u{0}\(user.groups.joined(separator: ","))\u{0}\(verb)\u{0}\(subresource)"
        let now = Timestamp.monotonicNanos()
        if let c = cache[key], c.until > now { return c.allowed }
        let body = JSON.object([
            ("apiVersion", .string("authorization.k8s.io/v1")), ("kind", .string("SubjectAccessReview")),
            ("spec", .object([
                ("user", .string(user.name)), ("groups", .array(user.groups.map { .string($0) })),
                ("resourceAttributes", .object([("verb", .string(verb)), ("resource", .string("nodes")),
                                                ("subresource", .string(subresource)), ("name", .string(nodeName))])),
            ])),
        ])
        guard let r = try? await review("SubjectAccessReview", body) else { return false }   // not cached: the master was away
        let allowed = r["status"]?["allowed"] == .bool(true)
        cache[key] = (allowed, now + (allowed ? 300 : 30) * 1_000_000_000)
        if cache.count > 1000 { cache = cache.filter { $0.value.until > now } }
        return allowed
    }
}

/// The kubelet API on :10250 over TLS: `/healthz`, `/pods`, `/containerLogs/{ns}/{pod}/{ctr}`
/// (follow, previous, tailLines, sinceSeconds/sinceTime, timestamps, limitBytes) and
/// `/exec/{ns}/{pod}/{ctr}` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`). Every
/// request but `/healthz` needs an identity (a client certificate of the cluster CA or a bearer
/// token the master vouches for) that the master authorizes for `nodes/proxy` on this node.
public final class KubeletServer: Sendable {
    let agent: Agent
    let auth: KubeletAuthorizer
    let logger: Logger

    public init(agent: Agent, auth: KubeletAuthorizer, logger: Logger) {
        self.agent = agent
        self.auth = auth
        self.logger = logger
    }

    /// Binds and serves in the background; returns the bound port.
    public func serve(host: String, port: Int, tls: KubeletTLS) async throws -> Int {
        let ssl = try NIOSSLContext(configuration: tls.configuration())
        let server = self
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    let conn = KubeletConnection()
                    try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: ssl))
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 20, automaticErrorHandling: true,
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeFutureWithTask { await server.prepareExec(channel, head, conn) }
                        },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                guard let setup = conn.takeExec() else { throw ChannelError.inappropriateOperationForState }
                                try channel.pipeline.syncOperations.addHandler(ExecSession(setup: setup, server: server))
                            }
                        })
                    // after an upgrade the HTTP handler goes: WebSocket frames reach the exec session
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader, SPDYUpgrader(server: server, conn: conn)], completionHandler: { context in
                            context.pipeline.removeHandler(name: "kubelet-http", promise: nil)
                        }))
                    try ch.pipeline.syncOperations.addHandler(KubeletHTTPHandler(server: server, conn: conn), name: "kubelet-http")
                }
            }
            .bind(host: host, port: port).get()
        return channel.localAddress?.port ?? port
    }

    // MARK: requests

    /// The identity behind a request: the verified client certificate, else a bearer token.
    func user(_ channel: any Channel, _ head: HTTPRequestHead) async -> UserInfo? {
        if let cert = try? await channel.nioSSL_peerCertificate().get(), let der = try? cert.toDERBytes(),
           let parsed = try? Certificate(derEncoded: der) {
            let u = parsed.kubernetesUser
            if !u.name.isEmpty { return u }
        }
        if let h = head.headers.first(name: "authorization"), h.lowercased().hasPrefix("bearer ") {
            let token = h.dropFirst(7).trimmingSpaces
            if !token.isEmpty { return await auth.authenticate(token: token) }
        }
        return nil
    }

    /// Authentication, then authorization for the route.
    func admit(_ channel: any Channel, _ head: HTTPRequestHead, _ route: KubeletRoute) async throws(KubeletAPIError) {
        guard let (verb, sub) = route.authorization(method: head.method.rawValue, node: agent.ctx.config.nodeName) else { return }
        guard let u = await user(channel, head) else { throw .unauthorized }
        guard await auth.authorize(u, verb: verb, subresource: sub) else {
            throw .forbidden("Forbidden (user=\(u.name), verb=\(verb), resource=nodes, subresource=\(sub))")
        }
    }

    /// The running container behind `ns/pod/container`.
    func container(namespace: String, pod: String, name: String) async throws(KubeletAPIError) -> (id: String, worker: PodWorker) {
        guard let w = await agent.worker(named: namespace + "/" + pod) else { throw .notFound("pod \"\(pod)\" in namespace \"\(namespace)\" not found on this node") }
        guard let c = await w.runningContainer(name) else {
            let names = await w.pod.spec.containers.map(\.name)
            if !names.contains(name) {
                throw .badRequest("container \(name) is not valid for pod \(pod)")
            }
            throw .badRequest("container \"\(name)\" in pod \"\(pod)\" is not running")
        }
        return (c.id, w)
    }

    /// The WebSocket upgrade's checks; nil (no upgrade) leaves the error for the HTTP handler.
    func prepareExec(_ channel: any Channel, _ head: HTTPRequestHead, _ conn: KubeletConnection, spdy: Bool = false) async -> HTTPHeaders? {
        do throws(any Error) {
            let (path, query) = Self.split(head.uri)
            let route = try KubeletRoute.parse(path: path)
            guard case .exec(let ns, let pod, let ctr) = route else { throw KubeletAPIError.badRequest("only /exec takes an upgrade") }
            let req = try ExecRequest.parse(parseQuery(query))
            try await admit(channel, head, route)
            var h = HTTPHeaders()
            let proto: String
            if spdy {
                // kubectl before 1.30: one X-Stream-Protocol-Version header per protocol it speaks
                let offered = head.headers["x-stream-protocol-version"].flatMap { $0.split(separator: ",").map { $0.trimmingSpaces } }
                guard offered.contains("v4.channel.k8s.io") else {
                    throw KubeletAPIError.badRequest("no supported stream protocol in X-Stream-Protocol-Version (want v4.channel.k8s.io)")
                }
                proto = "v4.channel.k8s.io"
                h.add(name: "X-Stream-Protocol-Version", value: proto)
            } else {
                guard let p = ExecChannel.negotiate(head.headers["sec-websocket-protocol"]) else {
                    throw KubeletAPIError.badRequest("no supported stream protocol in Sec-WebSocket-Protocol (want one of \(ExecChannel.protocols.joined(separator: ", ")))")
                }
                proto = p
                h.add(name: "Sec-WebSocket-Protocol", value: proto)
            }
            let (id, _) = try await container(namespace: ns, pod: pod, name: ctr)
            conn.setExec(ExecSetup(containerID: id, request: req, protocolName: proto, what: "\(ns)/\(pod)/\(ctr)"))
            return h
        } catch let e as KubeletAPIError {
            conn.setError(e)
            return nil
        } catch {
            conn.setError(.badRequest("\(error)"))
            return nil
        }
    }

    static func split(_ uri: String) -> (String, Substring) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? parts[1] : "")
    }

    /// A plain (not upgraded) request: answered through `respond`.
    func handle(_ channel: any Channel, _ head: HTTPRequestHead, _ conn: KubeletConnection, _ respond: Responder) async {
        if let e = conn.takeError() { await respond.error(e); return }
        do throws(any Error) {
            let (path, query) = Self.split(head.uri)
            let route = try KubeletRoute.parse(path: path)
            try await admit(channel, head, route)
            switch route {
            case .healthz:
                await respond.whole(200, "text/plain; charset=utf-8", Array("ok".utf8))
            case .pods:
                let pods = await agent.pods()
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                struct List: Encodable { var kind = "PodList"; var apiVersion = "v1"; var metadata: [String: String] = [:]; var items: [Pod] }
                let body = (try? enc.encode(List(items: pods))).map { Array($0) } ?? []
                await respond.whole(200, "application/json", body)
            case .containerLogs(let ns, let pod, let ctr):
                guard head.method == .GET else { throw KubeletAPIError(code: 405, reason: "MethodNotAllowed", message: "containerLogs: only GET") }
                try await logs(namespace: ns, pod: pod, container: ctr, query: query, respond: respond)
            case .exec:
                throw KubeletAPIError.badRequest("exec needs a WebSocket upgrade (Upgrade: websocket, Sec-WebSocket-Protocol: \(ExecChannel.protocols.joined(separator: ", ")))")
            }
        } catch let e as KubeletAPIError {
            await respond.error(e)
        } catch {
            await respond.error(.badRequest("\(error)"))
        }
    }

    func logs(namespace: String, pod: String, container: String, query: Substring, respond: Responder) async throws {
        let opts = try LogOptions.parse(parseQuery(query), now: Timestamp.now())
        guard let w = await agent.worker(named: namespace + "/" + pod) else {
            throw KubeletAPIError.notFound("pod \"\(pod)\" in namespace \"\(namespace)\" not found on this node")
        }
        let files: [String]
        do { files = try await w.logFiles(container: container, previous: opts.previous).files } catch {
            throw KubeletAPIError.badRequest(error.message)
        }
        guard let live = files.last, Files.exists(live) else {
            throw KubeletAPIError.badRequest("container \"\(container)\" in pod \"\(pod)\" is waiting to start: no log yet")
        }
        var filter = LogFilter(opts)
        var text = ""
        for f in files.dropLast() { text += (try? Files.readString(f)) ?? "" }
        // the live file once: what it holds now is the initial answer, following starts at its end
        let liveBytes = (try? Files.read(live)) ?? []
        text += String(decoding: liveBytes, as: UTF8.self)
        let size = Int64(liveBytes.count)
        try await respond.begin(200, "text/plain")
        let first = filter.initial(text)
        if !first.isEmpty { try await respond.chunk(first) }
        if opts.follow && !filter.done {
            let follower = LogFollower(path: live, from: size)
            let runningID = await w.runningContainer(container)?.id
            while !filter.done {
                let more = follower.read()
                if !more.isEmpty {
                    let out = filter.more(more)
                    if !out.isEmpty { try await respond.chunk(out) }
                    continue
                }
                // the container this log belongs to has stopped and everything is read: done
                if await w.runningContainer(container)?.id != runningID || runningID == nil {
                    let out = filter.more(follower.read())
                    if !out.isEmpty { try await respond.chunk(out) }
                    break
                }
                if !respond.open { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        await respond.end()
    }
}

/// What one connection carries between the upgrade check and the handlers.
final class KubeletConnection: Sendable {
    let state = NIOLockedValueBox<(exec: ExecSetup?, error: KubeletAPIError?)>((nil, nil))
    func setExec(_ s: ExecSetup) { state.withLockedValue { $0.exec = s } }
    func takeExec() -> ExecSetup? { state.withLockedValue { v in defer { v.exec = nil }; return v.exec } }
    func setError(_ e: KubeletAPIError) { state.withLockedValue { $0.error = e } }
    func takeError() -> KubeletAPIError? { state.withLockedValue { v in defer { v.error = nil }; return v.error } }
}

struct ExecSetup: Sendable {
    var containerID: String
    var request: ExecRequest
    var protocolName: String
    var what: String
}

/// Writes one response on a connection from async code (whole, or chunked piece by piece).
final class Responder: Sendable {
    let channel: any Channel
    let keepAlive: Bool
    let version: HTTPVersion

    init(channel: any Channel, keepAlive: Bool, version: HTTPVersion) {
        self.channel = channel
        self.keepAlive = keepAlive
        self.version = version
    }

    var open: Bool { channel.isActive }

    func whole(_ status: Int, _ contentType: String, _ body: [UInt8]) async {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: contentType)
        h.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { h.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: .init(statusCode: status), headers: h)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !keepAlive { try? await channel.close() }
    }

    func error(_ e: KubeletAPIError) async {
        await whole(e.code, "application/json", Array(e.statusJSON.utf8))
    }

    func begin(_ status: Int, _ contentType: String) async throws {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: contentType)
        h.add(name: "Transfer-Encoding", value: "chunked")
        try await channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: .init(statusCode: status), headers: h)))
    }

    func chunk(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))))
    }

    func end() async {
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !keepAlive { try? await channel.close() }
    }
}

/// HTTP requests that were not upgraded: one at a time per connection, answered by a task.
final class KubeletHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    let server: KubeletServer
    let conn: KubeletConnection
    var head: HTTPRequestHead?

    init(server: KubeletServer, conn: KubeletConnection) {
        self.server = server
        self.conn = conn
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break   // no route takes a body
        case .end:
            guard let h = head else { return }
            head = nil
            let channel = context.channel
            let server = self.server
            let conn = self.conn
            let respond = Responder(channel: channel, keepAlive: h.isKeepAlive, version: h.version)
            // one request in flight: reading stops until it is answered
            channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            Task {
                await server.handle(channel, h, conn, respond)
                _ = try? await channel.setOption(ChannelOptions.autoRead, value: true).get()
                channel.read()
            }
        }
    }
}

/// How an exec's streams travel to the client: WebSocket channels or SPDY streams.
protocol ExecTransport: AnyObject {
    /// Output on stdout or stderr.
    func send(_ tag: ExecChannel, _ buf: ByteBuffer)
    /// That output stream ended.
    func endStream(_ tag: ExecChannel)
    /// The final Status on the error stream, then the session ends.
    func finish(status json: String)
}

/// One exec: the process started with the streams asked for, its output relayed to the
/// transport, the client's stdin and terminal size relayed to it, its exit status last. The
/// client going away kills the process. Lives on the connection's event loop.
final class ExecRelay {
    let setup: ExecSetup
    let server: KubeletServer
    let loop: any EventLoop
    weak var transport: (any ExecTransport)?
    var process: OCIRuntime.StreamingExec?
    var stdinChannel: (any Channel)?
    var outputs: [any Channel] = []
    var openOutputs = 0
    var exitStatus: Int32?
    var finished = false
    var closed = false
    var pendingStdin: [ByteBuffer] = []
    var stdinClosed = false
    var pendingSize: (UInt16, UInt16)?
    /// A terminal session starts once the client's first window size is in (kubectl sends it
    /// right after the streams open), so the process never sees a default size first.
    var waitingForSize = false
    var launched = false

    init(setup: ExecSetup, server: KubeletServer, loop: any EventLoop, transport: any ExecTransport) {
        self.setup = setup
        self.server = server
        self.loop = loop
        self.transport = transport
    }

    func start() {
        guard setup.request.tty else { launch(); return }
        waitingForSize = true
        // a client that never says its size still gets its shell (80×24)
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .seconds(2)) { bound.value.launch() }
    }

    func launch() {
        guard !launched, !closed else { return }
        launched = true
        waitingForSize = false
        let rt = server.agent.ctx.runtime
        let setup = self.setup
        let loop = self.loop
        let size = pendingSize
        let bound = NIOLoopBound(self, eventLoop: loop)
        Task {
            let started: Result<OCIRuntime.StreamingExec, Error> = await offload {
                Result { try rt.execStreaming(id: setup.containerID, args: setup.request.command, stdin: setup.request.stdin,
                                              stdout: setup.request.stdout, stderr: setup.request.stderr, tty: setup.request.tty,
                                              rows: size?.1 ?? 24, cols: size?.0 ?? 80) }
            }
            loop.execute { bound.value.started(started) }
        }
    }

    func started(_ r: Result<OCIRuntime.StreamingExec, Error>) {
        switch r {
        case .failure(let e):
            server.logger.info("exec failed", metadata: ["container": "\(setup.what)", "error": "\(e)"])
            finish(ExecChannel.failure("exec in \(setup.what): \(e)"))
        case .success(let p):
            process = p
            if closed { kill(p.pid, SIGKILL) }
            let bound = NIOLoopBound(self, eventLoop: loop)
            let loop = self.loop
            // the exit, seen through a pidfd, then reaped
            let exits = server.agent.ctx.exits
            Task {
                let status = await exits.status(pid: p.pid) ?? -1
                loop.execute { bound.value.exited(status) }
            }
            if let t = p.terminal {
                openOutputs = 1
                attach(fd: t, channel: .stdout, input: true)
                if let s = pendingSize { _ = sl_tty_set_size(t, (Int(s.1) << 16) | Int(s.0)) }
            } else {
                openOutputs = (p.stdout == nil ? 0 : 1) + (p.stderr == nil ? 0 : 1)
                if let fd = p.stdout { attach(fd: fd, channel: .stdout, input: false) }
                if let fd = p.stderr { attach(fd: fd, channel: .stderr, input: false) }
                if let fd = p.stdin {
                    _ = NIOPipeBootstrap(group: loop).takingOwnershipOfDescriptor(output: fd).map { ch in bound.value.stdinReady(ch) }
                }
            }
        }
    }

    /// Relays a read end (pipe, or the pty master) to the client on `channel`.
    func attach(fd: Int32, channel tag: ExecChannel, input: Bool) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        let reader = PipeReader(onData: { buf in bound.value.transport?.send(tag, buf) }, onEnd: { bound.value.outputEnded(tag) })
        let boot = NIOPipeBootstrap(group: loop).channelInitializer { ch in
            ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(reader) }
        }
        let made = input ? boot.takingOwnershipOfDescriptor(inputOutput: fd) : boot.takingOwnershipOfDescriptor(input: fd)
        made.whenComplete { r in
            switch r {
            case .success(let ch):
                bound.value.outputs.append(ch)
                if input { bound.value.stdinReady(ch) }
            case .failure:
                close(fd)
                bound.value.outputEnded(tag)
            }
        }
    }

    func stdinReady(_ ch: any Channel) {
        stdinChannel = ch
        for b in pendingStdin { ch.write(b, promise: nil) }
        pendingStdin = []
        ch.flush()
        if stdinClosed { endStdin() }
    }

    // MARK: from the client

    func stdin(_ buf: ByteBuffer) {
        guard setup.request.stdin, buf.readableBytes > 0 else { return }
        if let ch = stdinChannel { ch.writeAndFlush(buf, promise: nil) } else { pendingStdin.append(buf) }
    }

    /// The client's end of input: the pipe closed, or for a terminal the line discipline's EOF (^D).
    func endStdin() {
        stdinClosed = true
        guard let ch = stdinChannel else { return }
        if process?.terminal != nil { ch.writeAndFlush(ByteBuffer(bytes: [4]), promise: nil) } else { ch.close(promise: nil) }
    }

    func resize(_ bytes: [UInt8]) {
        // one JSON object per line (SPDY) or per message (WebSocket)
        for line in bytes.split(separator: 10) {
            guard let size = ExecChannel.parseResize(Array(line)) else { continue }
            if let t = process?.terminal { _ = sl_tty_set_size(t, (Int(size.height) << 16) | Int(size.width)) } else { pendingSize = (size.width, size.height) }
        }
        if waitingForSize && pendingSize != nil { launch() }
    }

    /// The client went away: the process goes too.
    func clientGone() {
        closed = true
        if let p = process, exitStatus == nil { kill(p.pid, SIGKILL) }
        for ch in outputs { ch.close(promise: nil) }
        stdinChannel?.close(promise: nil)
        finished = true
    }

    // MARK: to the client

    func outputEnded(_ tag: ExecChannel) {
        openOutputs -= 1
        if !finished { transport?.endStream(tag) }
        maybeFinish()
    }

    func exited(_ status: Int32) {
        exitStatus = status
        maybeFinish()
        // a background process may keep a pipe open after the command exited: stop waiting for it
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .seconds(2)) {
            guard !bound.value.finished else { return }
            bound.value.openOutputs = 0
            bound.value.maybeFinish()
        }
    }

    func maybeFinish() {
        guard !finished, let status = exitStatus, openOutputs <= 0 else { return }
        finish(ExecChannel.exitStatus(status))
    }

    func finish(_ json: String) {
        guard !finished else { return }
        finished = true
        for ch in outputs { ch.close(promise: nil) }
        stdinChannel?.close(promise: nil)
        transport?.finish(status: json)
    }
}

/// An exec over WebSocket (`v5.channel.k8s.io`/`v4.channel.k8s.io`): each binary message is
/// tagged with its channel; the Status goes on channel 3, then a close.
final class ExecSession: ChannelInboundHandler, RemovableChannelHandler, ExecTransport {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let setup: ExecSetup
    let server: KubeletServer
    var context: ChannelHandlerContext?
    var relay: ExecRelay?
    var message = ByteBuffer()

    init(setup: ExecSetup, server: KubeletServer) {
        self.setup = setup
        self.server = server
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let r = ExecRelay(setup: setup, server: server, loop: context.eventLoop, transport: self)
        relay = r
        r.start()
    }

    func send(_ tag: ExecChannel, _ buf: ByteBuffer) {
        guard let context, context.channel.isActive else { return }
        var out = context.channel.allocator.buffer(capacity: buf.readableBytes + 1)
        out.writeInteger(tag.rawValue)
        out.writeImmutableBuffer(buf)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: out)), promise: nil)
    }

    func endStream(_ tag: ExecChannel) {}

    func finish(status json: String) {
        guard let context else { return }
        var out = context.channel.allocator.buffer(capacity: json.utf8.count + 1)
        out.writeInteger(ExecChannel.error.rawValue)
        out.writeString(json)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: out)), promise: nil)
        var code = context.channel.allocator.buffer(capacity: 2)
        code.write(webSocketErrorCode: .normalClosure)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            var d = frame.unmaskedData
            let pong = context.channel.allocator.buffer(buffer: d.readSlice(length: d.readableBytes) ?? ByteBuffer())
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: pong)), promise: nil)
            return
        case .pong:
            return
        case .connectionClose:
            context.close(promise: nil)
            return
        case .binary, .text:
            message = frame.unmaskedData
        case .continuation:
            var d = frame.unmaskedData
            message.writeBuffer(&d)
        default:
            return
        }
        guard frame.fin, let relay else { return }
        var m = message
        message = ByteBuffer()
        guard let first: UInt8 = m.readInteger(), let tag = ExecChannel(rawValue: first) else { return }
        switch tag {
        case .stdin: relay.stdin(m)
        case .resize: relay.resize(Array(m.readableBytesView))
        case .close:
            // v5: the client ended one of its streams; only stdin is the client's
            if m.readInteger(as: UInt8.self) == ExecChannel.stdin.rawValue { relay.endStdin() }
        default: return
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay?.clientGone()
        context.fireChannelInactive()
    }
}

/// The `SPDY/3.1` upgrade kubectl before 1.30 (and the Python client's older versions) asks for,
/// with the same checks as the WebSocket one; a refused check leaves its error for the HTTP handler.
struct SPDYUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let server: KubeletServer
    let conn: KubeletConnection
    var supportedProtocol: String { "SPDY/3.1" }
    var requiredUpgradeHeaders: [String] { [] }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        let server = self.server, conn = self.conn
        return channel.eventLoop.makeFutureWithTask {
            guard let extra = await server.prepareExec(channel, upgradeRequest, conn, spdy: true) else {
                throw KubeletAPIError.badRequest("no upgrade")
            }
            var h = initialResponseHeaders
            for f in extra { h.add(name: f.name, value: f.value) }
            return h
        }
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let conn = self.conn, server = self.server
        return context.eventLoop.makeCompletedFuture {
            guard let setup = conn.takeExec() else { throw ChannelError.inappropriateOperationForState }
            try context.pipeline.syncOperations.addHandler(try SPDYSession(setup: setup, server: server))
        }
    }
}

/// An exec over SPDY/3.1 (`v4.channel.k8s.io`): the client opens one stream per channel, told
/// apart by their `streamtype` header (error, stdin, stdout, stderr, resize); each is answered
/// with a SYN_REPLY, the process starts once all are open, output goes as DATA with FIN at its
/// end, and the Status on the error stream ends the session.
final class SPDYSession: ChannelInboundHandler, RemovableChannelHandler, ExecTransport {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let setup: ExecSetup
    let server: KubeletServer
    let inflater: ZStream
    let deflater: ZStream
    var parser = SPDY.Parser()
    var context: ChannelHandlerContext?
    var relay: ExecRelay?
    var streams: [UInt32: String] = [:]
    var byType: [String: UInt32] = [:]
    var resizeBuffer: [UInt8] = []
    let expected: Int

    init(setup: ExecSetup, server: KubeletServer) throws {
        self.setup = setup
        self.server = server
        inflater = try ZStream(deflating: false)
        deflater = try ZStream(deflating: true)
        let r = setup.request
        expected = 1 + (r.stdin ? 1 : 0) + (r.stdout ? 1 : 0) + (r.stderr && !r.tty ? 1 : 0) + (r.tty ? 1 : 0)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func write(_ f: SPDY.Frame) {
        guard let context, context.channel.isActive else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: SPDY.encode(f))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        parser.feed(unwrapInboundIn(data).readableBytesView)
        do {
            while let f = try parser.next() { try handle(f, context) }
        } catch {
            server.logger.info("exec over SPDY: \(error)", metadata: ["container": "\(setup.what)"])
            context.close(promise: nil)
        }
    }

    func handle(_ f: SPDY.Frame, _ context: ChannelHandlerContext) throws {
        switch f {
        case .control(let type, _, let payload):
            switch type {
            case SPDY.synStream:
                guard payload.count >= 10 else { throw SPDY.ProtocolError(description: "a short SYN_STREAM") }
                let id = SPDY.read32(payload[0..<4]) & 0x7fff_ffff
                let headers = try SPDY.parseHeaderBlock(try inflater.run(Array(payload[10...])))
                let type = headers.first { $0.0 == "streamtype" }?.1 ?? ""
                streams[id] = type
                byType[type] = id
                write(.control(type: SPDY.synReply, flags: 0, payload: SPDY.be32(id) + (try deflater.run(SPDY.headerBlock([])))))
                if streams.count == expected && relay == nil {
                    let r = ExecRelay(setup: setup, server: server, loop: context.eventLoop, transport: self)
                    relay = r
                    r.start()
                }
            case SPDY.headers:
                // its header block still moves the shared zlib stream on
                if payload.count > 4 { _ = try inflater.run(Array(payload[4...])) }
            case SPDY.ping:
                write(f)
            case SPDY.goAway:
                context.close(promise: nil)
            default:
                break   // SETTINGS, WINDOW_UPDATE, RST_STREAM: spdystream does no flow control
            }
        case .data(let stream, let flags, let payload):
            guard let type = streams[stream] else { return }
            switch type {
            case "stdin":
                if !payload.isEmpty { relay?.stdin(ByteBuffer(bytes: payload)) }
                if flags & SPDY.flagFin != 0 { relay?.endStdin() }
            case "resize":
                resizeBuffer += payload
                if let nl = resizeBuffer.lastIndex(of: 10) {
                    relay?.resize(Array(resizeBuffer[...nl]))
                    resizeBuffer.removeFirst(nl + 1)
                }
            default:
                break
            }
        }
    }

    func send(_ tag: ExecChannel, _ buf: ByteBuffer) {
        guard let id = byType[tag == .stderr ? "stderr" : "stdout"] else { return }
        write(.data(stream: id, flags: 0, payload: Array(buf.readableBytesView)))
    }

    func endStream(_ tag: ExecChannel) {
        guard let id = byType[tag == .stderr ? "stderr" : "stdout"] else { return }
        write(.data(stream: id, flags: SPDY.flagFin, payload: []))
    }

    func finish(status json: String) {
        // streams never written to still end (kubectl waits for stdout and stderr to end)
        if let id = byType["error"] { write(.data(stream: id, flags: SPDY.flagFin, payload: Array(json.utf8))) }
        // the client answers with RST_STREAMs and GOAWAY, then closes; in case it does not:
        guard let context else { return }
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay?.clientGone()
        context.fireChannelInactive()
    }
}

/// Reads a pipe or pty into closures; EOF, EIO (a pty whose other side closed) and errors all end it.
final class PipeReader: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let onData: @Sendable (ByteBuffer) -> Void
    let onEnd: @Sendable () -> Void
    let ended = NIOLockedValueBox(false)

    init(onData: @escaping @Sendable (ByteBuffer) -> Void, onEnd: @escaping @Sendable () -> Void) {
        self.onData = onData
        self.onEnd = onEnd
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { onData(unwrapInboundIn(data)) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelInactive(context: ChannelHandlerContext) {
        if !ended.withLockedValue({ v in defer { v = true }; return v }) { onEnd() }
        context.fireChannelInactive()
    }
}

extension KubeletTLS {
    /// The CA whose client certificates the kubelet API accepts: `clientCAFile`, else the
    /// master's. nil: none known (the API stays off and the log says so).
    public static func clientCA(config: AgentConfig, masterCA: [UInt8]?, logger: Logger) throws -> String? {
        if let f = config.clientCAFile { return try Files.readString(f) }
        if let ca = masterCA { return String(decoding: ca, as: UTF8.self) }
        logger.warning("kubelet API off: no CA to check its clients against (set clientCAFile, or give the master's CA); kubectl logs/exec cannot reach this node")
        return nil
    }

    /// A serving pair known without asking the master: the configured files, or one the cluster
    /// CA issues (`up`). nil: request one (ServingCertificate).
    public static func fixed(config: AgentConfig, clientCA: String, hostIP: String?, issuer: CertificateAuthority?) throws -> KubeletTLS? {
        if let cert = config.tlsCertFile, let key = config.tlsPrivateKeyFile {
            return KubeletTLS(certificatePEM: try Files.readString(cert), keyPEM: try Files.readString(key), clientCAPEM: clientCA)
        }
        if let issuer {
            let (names, ips) = servingNames(config: config, hostIP: hostIP)
            let issued = try issuer.issueServer(commonName: "system:node:" + config.nodeName, organizations: ["system:nodes"],
                                                dnsNames: names, ipAddresses: ips + ["127.0.0.1"])
            return KubeletTLS(certificatePEM: issued.certificatePEM, keyPEM: issued.keyPEM, clientCAPEM: clientCA)
        }
        return nil
    }

    /// What the serving certificate names: what the Node reports (its name, which is also its
    /// Hostname address, and its InternalIP), so the master's approver can match them.
    public static func servingNames(config: AgentConfig, hostIP: String?) -> (dns: [String], ips: [String]) {
        ([config.nodeName], [hostIP].compactMap { $0 })
    }
}

import FoundationEssentials
import KubeModel
import LinuxSystem
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The agent's local HTTP API: on a root-only Unix socket for the CLI (`ps`, `inspect`,
/// `exec`, `logs`), and `/healthz` on 127.0.0.1:10248 as the kubelet has it.
public struct AgentAPI: Sendable {
    let agent: Agent

    public init(agent: Agent) { self.agent = agent }

    public struct Response: Sendable {
        var status: HTTPResponseStatus
        var body: String
        var contentType = "application/json"
    }

    /// Routes one request (pure over the agent's state).
    public func handle(method: HTTPMethod, uri: String) async -> Response {
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        func param(_ k: String) -> String? {
            for kv in query.split(separator: "&") {
                let p = kv.split(separator: "=", maxSplits: 1)
                if p.first == Substring(k) { return p.count > 1 ? String(p[1]) : "" }
            }
            return nil
        }
        guard method == .GET else { return Response(status: .methodNotAllowed, body: #"{"error":"only GET"}"#) }
        let parts = path.split(separator: "/").map(String.init)
        switch parts.count {
        case 1 where parts[0] == "healthz":
            return await agent.healthy ? Response(status: .ok, body: "ok", contentType: "text/plain")
                : Response(status: .serviceUnavailable, body: "starting", contentType: "text/plain")
        case 1 where parts[0] == "node":
            let (conditions, obs) = await agent.nodeStatus()
            struct Signal: Encodable { var available: Int64; var capacity: Int64 }
            struct Node: Encodable { var name: String; var conditions: [NodeCondition]; var signals: [String: Signal]; var hostIP: String? }
            var signals: [String: Signal] = [:]
            for (k, v) in obs.available { signals[k.rawValue] = Signal(available: v, capacity: obs.capacity[k] ?? 0) }
            return json(Node(name: agent.ctx.config.nodeName, conditions: conditions, signals: signals, hostIP: agent.ctx.hostIP))
        case 1 where parts[0] == "pods":
            let pods = await agent.pods()
            let invalid = await agent.invalidManifests()
            struct List: Encodable { var items: [Pod]; var invalidManifests: [String: [String]] }
            return json(List(items: pods, invalidManifests: invalid))
        case 2 where parts[0] == "pods":
            guard let w = await agent.worker(named: parts[1]) else { return notFound(parts[1]) }
            return json(await w.snapshot())
        case 3 where parts[0] == "pods" && parts[2] == "events":
            guard let w = await agent.worker(named: parts[1]) else { return notFound(parts[1]) }
            struct List: Encodable { var items: [PodEvent] }
            return json(List(items: await w.events.events))
        case 3 where parts[0] == "pods" && parts[2] == "logs":
            guard let w = await agent.worker(named: parts[1]) else { return notFound(parts[1]) }
            do {
                let r = try await w.logFiles(container: param("container").flatMap { $0.isEmpty ? nil : $0 }, previous: param("previous") == "true")
                struct Files: Encodable { var container: String; var files: [String] }
                return json(Files(container: r.container, files: r.files))
            } catch {
                return failure(.badRequest, error.message)
            }
        case 3 where parts[0] == "pods" && parts[2] == "container":
            guard let w = await agent.worker(named: parts[1]) else { return notFound(parts[1]) }
            let pod = await w.pod
            guard let c = await w.runningContainer(param("name")) else {
                return Response(status: .conflict, body: #"{"error":"no running container\#(param("name").map { " named " + $0 } ?? "") in pod \#(pod.metadata.name ?? "")"}"#)
            }
            struct Ref: Encodable { var id: String; var name: String; var ociRoot: String }
            return json(Ref(id: c.id, name: c.name, ociRoot: agent.ctx.config.ociRoot))
        default:
            return Response(status: .notFound, body: #"{"error":"no route \#(path)"}"#)
        }
    }

    func failure(_ status: HTTPResponseStatus, _ message: String) -> Response {
        struct Body: Encodable { var error: String }
        var r = json(Body(error: message))
        r.status = status
        return r
    }

    func notFound(_ name: String) -> Response {
        Response(status: .notFound, body: #"{"error":"pod \#(name) not found"}"#)
    }

    func json<T: Encodable>(_ v: T) -> Response {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? enc.encode(v) else { return Response(status: .internalServerError, body: #"{"error":"encode"}"#) }
        return Response(status: .ok, body: String(decoding: data, as: UTF8.self))
    }

    /// Serves on the Unix socket (mode 0600) and, if port > 0, healthz on TCP. Returns when
    /// both listeners are bound; serving continues in background tasks.
    public func serve(socketPath: String, healthzHost: String, healthzPort: Int, logger: Logger) async throws {
        unlink(socketPath)
        // no umask change for this one file: the umask is the whole process's, and pod workers
        // create rootfs and volume dirs meanwhile. Until the chmod, the socket has the mode the
        // process umask gives (0755 with the usual 022), which lets no other user connect:
        // connect needs write permission on the socket.
        let unixServer = try await bootstrap().bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true) { ch in
            ch.eventLoop.makeCompletedFuture { try AgentAPI.wrap(ch) }
        }
        guard chmod(socketPath, 0o600) == 0 else { throw SystemError(op: "chmod", code: errno, detail: socketPath) }
        Task { await self.accept(unixServer, healthzOnly: false, logger: logger) }
        if healthzPort > 0 {
            let tcp = try await bootstrap().bind(host: healthzHost, port: healthzPort) { ch in
                ch.eventLoop.makeCompletedFuture { try AgentAPI.wrap(ch) }
            }
            Task { await self.accept(tcp, healthzOnly: true, logger: logger) }
        }
    }

    typealias Conn = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    }

    static func wrap(_ ch: any Channel) throws -> Conn {
        try ch.pipeline.syncOperations.configureHTTPServerPipeline()
        return try Conn(wrappingChannelSynchronously: ch)
    }

    func accept(_ server: NIOAsyncChannel<Conn, Never>, healthzOnly: Bool, logger: Logger) async {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await conn in inbound {
                        group.addTask { await self.connection(conn, healthzOnly: healthzOnly) }
                    }
                }
            }
        } catch {
            logger.error("API listener stopped: \(error)")
        }
    }

    func connection(_ conn: Conn, healthzOnly: Bool) async {
        try? await conn.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let h): head = h
                case .body: break
                case .end:
                    guard let h = head else { continue }
                    let r: Response
                    if healthzOnly && h.uri != "/healthz" {
                        r = Response(status: .notFound, body: "not found", contentType: "text/plain")
                    } else {
                        r = await handle(method: h.method, uri: h.uri)
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: r.contentType)
                    headers.add(name: "Content-Length", value: String(r.body.utf8.count))
                    try await outbound.write(.head(HTTPResponseHead(version: h.version, status: r.status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: r.body))))
                    try await outbound.write(.end(nil))
                    head = nil
                }
            }
        }
    }
}

/// A tiny client for the CLI: one GET over the Unix socket.
public enum AgentClient {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    public static func get(socket: String, path: String) throws -> (Int, [UInt8]) {
        let fd = socket_fd()
        guard fd >= 0 else { throw Failure(message: "socket: \(SystemError.message(errno))") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socket.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw Failure(message: "socket path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            throw Failure(message: "cannot reach the agent at \(socket): \(SystemError.message(errno)) (is `swiftlet agent` running?)")
        }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let req = "GET \(path) HTTP/1.1\r\nHost: swiftlet\r\nConnection: close\r\n\r\n"
        _ = req.withCString { write(fd, $0, strlen($0)) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        var want: Int? = nil
        while want.map({ out.count < $0 }) ?? true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
            if want == nil, let sep = out.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: out[..<sep.lowerBound], as: UTF8.self).lowercased()
                if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                   let len = Int(line.dropFirst(15).filter { $0 != " " }) {
                    want = sep.upperBound + len
                }
            }
        }
        guard let sep = out.firstRange(of: Array("\r\n\r\n".utf8)) else { throw Failure(message: "bad response from the agent") }
        let head = String(decoding: out[..<sep.lowerBound], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, Array(out[sep.upperBound...]))
    }

    static func socket_fd() -> Int32 { Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
}

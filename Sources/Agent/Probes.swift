import AsyncHTTPClient
import Dispatch
import KubeModel
import LinuxSystem
import NIOCore
import NIOHTTP1
import NIOSSL
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// A probe's timing with the API defaults (SetDefaults_Probe): delay 0, period 10 s, timeout
/// 1 s, success 1, failure 3.
public struct ProbeSettings: Sendable, Equatable {
    public var initialDelay: Double
    public var period: Double
    public var timeout: Double
    public var successThreshold: Int
    public var failureThreshold: Int

    public init(_ p: Probe) {
        initialDelay = Double(max(0, p.initialDelaySeconds ?? 0))
        period = Double(max(1, p.periodSeconds ?? 10))
        timeout = Double(max(1, p.timeoutSeconds ?? 1))
        successThreshold = Int(max(1, p.successThreshold ?? 1))
        failureThreshold = Int(max(1, p.failureThreshold ?? 3))
    }
}

/// Consecutive results → the probe's verdict, which flips only after `successThreshold`
/// successes or `failureThreshold` failures in a row (kubelet prober/worker.go).
public struct ProbeCounter: Sendable, Equatable {
    public private(set) var verdict: Bool?
    var successes = 0
    var failures = 0
    public init(initial: Bool? = nil) { verdict = initial }

    /// Records one result; returns the new verdict when it changed.
    public mutating func record(_ ok: Bool, _ s: ProbeSettings) -> Bool? {
        if ok { successes += 1; failures = 0 } else { failures += 1; successes = 0 }
        let new: Bool? = ok ? (successes >= s.successThreshold ? true : nil) : (failures >= s.failureThreshold ? false : nil)
        guard let new, new != verdict else { return nil }
        verdict = new
        return new
    }
}

public enum ProbeKind: String, Sendable { case liveness = "Liveness", readiness = "Readiness", startup = "Startup" }

public struct HandlerOutcome: Sendable, Equatable {
    public var ok: Bool
    public var message: String
}

/// Runs probe and lifecycle-hook handlers: exec inside the container (timeout enforced),
/// httpGet to the pod IP (2xx/3xx succeed, TLS unverified as the kubelet does), tcpSocket.
public final class HandlerRunner: Sendable {
    let runtime: OCIRuntime
    var http: HTTPClient { HandlerRunner.sharedHTTP }

    /// One client for the process, created on first use and never shut down (as
    /// `HTTPClient.shared`, but without certificate verification and redirects, as probes want).
    static let sharedHTTP: HTTPClient = {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        var cfg = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        cfg.connectionPool = .init(idleTimeout: .seconds(1), concurrentHTTP1ConnectionsPerHostSoftLimit: 4)
        cfg.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: cfg)
    }()

    init(runtime: OCIRuntime) {
        self.runtime = runtime
    }

    /// A named or numbered port of the container.
    public static func port(_ p: IntOrString, container c: Container) -> Int? {
        switch p {
        case .int(let i): return (1...65535).contains(Int(i)) ? Int(i) : nil
        case .string(let name):
            if let n = Int(name) { return (1...65535).contains(n) ? n : nil }
            return (c.ports ?? []).first { $0.name == name }.map { Int($0.containerPort) }
        }
    }

    public func exec(containerID: String, command: [String], timeout: Double) async -> HandlerOutcome {
        guard !command.isEmpty else { return HandlerOutcome(ok: false, message: "exec: no command") }
        let rt = runtime
        return await offload { () -> HandlerOutcome in
            do {
                let r = try rt.execCapture(id: containerID, args: command, timeout: Clamp.duration(timeout))
                let text = String(decoding: r.output, as: UTF8.self)
                if r.timedOut { return HandlerOutcome(ok: false, message: "command \(command) timed out after \(Int(timeout))s") }
                return HandlerOutcome(ok: r.status == 0, message: r.status == 0 ? text : "command \(command) exited with \(r.status): \(text)")
            } catch {
                return HandlerOutcome(ok: false, message: "exec: \(error)")
            }
        }
    }

    public func httpGet(_ a: HTTPGetAction, container c: Container, podIP: String?, timeout: Double) async -> HandlerOutcome {
        guard let port = Self.port(a.port, container: c) else { return HandlerOutcome(ok: false, message: "httpGet: unknown port \(a.port)") }
        guard let host = a.host ?? podIP else { return HandlerOutcome(ok: false, message: "httpGet: the pod has no IP") }
        let scheme = (a.scheme ?? "HTTP").lowercased()
        var path = a.path ?? "/"
        if !path.hasPrefix("/") { path = "/" + path }
        let url = "\(scheme)://\(host):\(port)\(path)"
        var req = HTTPClientRequest(url: url)
        req.headers.add(name: "User-Agent", value: "kube-probe/1.32")
        req.headers.add(name: "Accept", value: "*/*")
        req.headers.add(name: "Connection", value: "close")
        for h in a.httpHeaders ?? [] {
            if h.name.lowercased() == "user-agent" || h.name.lowercased() == "accept" { req.headers.remove(name: h.name) }
            req.headers.add(name: h.name, value: h.value)
        }
        do {
            let resp = try await http.execute(req, timeout: .milliseconds(Int64(Clamp.seconds(timeout) * 1000)))
            var body: [UInt8] = []
            for try await chunk in resp.body {
                if body.count < 10 * 1024 { body += chunk.readableBytesView.prefix(10 * 1024 - body.count) }
            }
            let code = Int(resp.status.code)
            let ok = (200..<400).contains(code)
            return HandlerOutcome(ok: ok, message: ok ? "" : "HTTP probe failed with statuscode: \(code)")
        } catch {
            return HandlerOutcome(ok: false, message: "Get \"\(url)\": \(error)")
        }
    }

    public func tcp(_ a: TCPSocketAction, container c: Container, podIP: String?, timeout: Double) async -> HandlerOutcome {
        guard let port = Self.port(a.port, container: c) else { return HandlerOutcome(ok: false, message: "tcpSocket: unknown port \(a.port)") }
        guard let host = a.host ?? podIP else { return HandlerOutcome(ok: false, message: "tcpSocket: the pod has no IP") }
        return await offload { () -> HandlerOutcome in
            let err = TCPConnect.connect(host: host, port: UInt16(port), timeout: timeout)
            return HandlerOutcome(ok: err == nil, message: err.map { "dial tcp \(host):\(port): \($0)" } ?? "")
        }
    }

    /// One probe attempt.
    public func probe(_ p: Probe, containerID: String, container c: Container, podIP: String?) async -> HandlerOutcome {
        let t = ProbeSettings(p).timeout
        if let e = p.exec { return await exec(containerID: containerID, command: e.command ?? [], timeout: t) }
        if let h = p.httpGet { return await httpGet(h, container: c, podIP: podIP, timeout: t) }
        if let s = p.tcpSocket { return await tcp(s, container: c, podIP: podIP, timeout: t) }
        if p.grpc != nil { return HandlerOutcome(ok: false, message: "grpc probes are not supported by this node") }
        return HandlerOutcome(ok: false, message: "probe has no handler")
    }

    /// A postStart/preStop hook, bounded by `timeout`.
    public func hook(_ h: LifecycleHandler, containerID: String, container c: Container, podIP: String?, timeout: Double) async -> HandlerOutcome {
        if let e = h.exec { return await exec(containerID: containerID, command: e.command ?? [], timeout: timeout) }
        if let g = h.httpGet { return await httpGet(g, container: c, podIP: podIP, timeout: timeout) }
        if let s = h.sleep {
            try? await Task.sleep(for: Clamp.duration(min(Double(s.seconds), timeout)))
            return HandlerOutcome(ok: true, message: "")
        }
        if h.tcpSocket != nil { return HandlerOutcome(ok: true, message: "tcpSocket hooks are deprecated and do nothing") }
        return HandlerOutcome(ok: false, message: "hook has no handler")
    }
}

/// A TCP connect with a deadline (nonblocking connect + poll).
enum TCPConnect {
    static func connect(host: String, port: UInt16, timeout: Double) -> String? {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return "not an IPv4 address" }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return SystemError.message(errno) }
        defer { close(fd) }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { return nil }
        guard errno == EINPROGRESS else { return SystemError.message(errno) }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let n = poll(&p, 1, Int32(min(Clamp.seconds(timeout) * 1000, Double(Int32.max))))
        if n == 0 { return "i/o timeout" }
        var soErr: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len)
        return soErr == 0 ? nil : SystemError.message(soErr)
    }
}

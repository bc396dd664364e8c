import Foundation
import Yams

/// Where an API server is and how to prove who we are to it: the parts of a kubeconfig a client
/// uses (the current context's cluster and user), with every file reference read and every
/// `-data` field decoded, so the transport gets bytes and nothing else.
public struct KubeConfig: Sendable, Equatable {
    /// `https://host:port` (or `http://` for an `--insecure-http` master).
    public var server: String
    /// PEM of the CA the server's certificate must chain to; nil: the system's roots.
    public var certificateAuthorityPEM: [UInt8]?
    public var insecureSkipTLSVerify: Bool
    /// PEM client certificate and key (both or neither).
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    /// A bearer token (static, bootstrap or service account).
    public var token: String?
    /// The context's namespace (`default` when it names none).
    public var namespace: String

    public init(server: String, certificateAuthorityPEM: [UInt8]? = nil, insecureSkipTLSVerify: Bool = false,
                clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil, token: String? = nil, namespace: String = "default") {
        self.server = server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.token = token
        self.namespace = namespace
    }

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// Reads a kubeconfig file: `context` or its `current-context`; relative file references are
    /// taken from the kubeconfig's own directory, as kubectl does.
    public static func load(path: String, context: String? = nil) throws -> KubeConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid("kubeconfig \(path): cannot read the file (\(String(cString: strerror(errno))))")
        }
        let dir = (path as NSString).deletingLastPathComponent
        do {
            return try parse(String(decoding: data, as: UTF8.self), context: context, baseDirectory: dir.isEmpty ? "." : dir)
        } catch let e as Invalid {
            throw Invalid("kubeconfig \(path): \(e.description)")
        }
    }

    public static func parse(_ text: String, context wanted: String? = nil, baseDirectory: String = ".") throws -> KubeConfig {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw Invalid("not YAML: \("\(error)".replacing("\n", with: " "))") }
        guard let root, case .mapping(let top) = root else { throw Invalid("not a kubeconfig (no top-level mapping)") }
        func named(_ key: String, _ inner: String) throws -> [String: Node.Mapping] {
            var out: [String: Node.Mapping] = [:]
            guard let list = top[key] else { return out }
            guard case .sequence(let seq) = list else { throw Invalid("\(key) is not a list") }
            for item in seq {
                guard case .mapping(let m) = item, let name = m["name"]?.string else { throw Invalid("an entry of \(key) has no name") }
                if case .mapping(let body)? = m[inner] { out[name] = body } else { out[name] = Node.Mapping([]) }
            }
            return out
        }
        let contexts = try named("contexts", "context")
        let clusters = try named("clusters", "cluster")
        let users = try named("users", "user")
        guard let ctxName = wanted ?? top["current-context"]?.string, !ctxName.isEmpty else {
            throw Invalid("no current-context and no context given")
        }
        guard let ctx = contexts[ctxName] else { throw Invalid("context \"\(ctxName)\" does not exist") }
        guard let clusterName = ctx["cluster"]?.string, let cluster = clusters[clusterName] else {
            throw Invalid("context \"\(ctxName)\": cluster \"\(ctx["cluster"]?.string ?? "")\" does not exist")
        }
        let user: Node.Mapping
        if let userName = ctx["user"]?.string, !userName.isEmpty {
            guard let u = users[userName] else { throw Invalid("context \"\(ctxName)\": user \"\(userName)\" does not exist") }
            user = u
        } else {
            user = Node.Mapping([])
        }
        func bytes(_ m: Node.Mapping, _ field: String) throws -> [UInt8]? {
            if let d = m[field + "-data"]?.string, !d.isEmpty {
                guard let raw = Data(base64Encoded: d.filter { !$0.isWhitespace }) else { throw Invalid("\(field)-data is not base64") }
                return Array(raw)
            }
            if let f = m[field]?.string, !f.isEmpty {
                let p = f.hasPrefix("/") ? f : baseDirectory + "/" + f
                guard let raw = FileManager.default.contents(atPath: p) else { throw Invalid("\(field) \(p): cannot read the file") }
                return Array(raw)
            }
            return nil
        }
        guard let server = cluster["server"]?.string, !server.isEmpty else { throw Invalid("cluster \"\(clusterName)\" has no server") }
        guard server.hasPrefix("https://") || server.hasPrefix("http://") else { throw Invalid("server \(server) is not an http(s) URL") }
        var cfg = KubeConfig(server: server.hasSuffix("/") ? String(server.dropLast()) : server)
        cfg.certificateAuthorityPEM = try bytes(cluster, "certificate-authority")
        cfg.insecureSkipTLSVerify = cluster["insecure-skip-tls-verify"]?.bool ?? false
        cfg.clientCertificatePEM = try bytes(user, "client-certificate")
        cfg.clientKeyPEM = try bytes(user, "client-key")
        if (cfg.clientCertificatePEM == nil) != (cfg.clientKeyPEM == nil) {
            throw Invalid("user of context \"\(ctxName)\": a client certificate needs its key (and a key its certificate)")
        }
        if let t = user["token"]?.string, !t.isEmpty {
            cfg.token = t
        } else if let f = user["tokenFile"]?.string, !f.isEmpty {
            let p = f.hasPrefix("/") ? f : baseDirectory + "/" + f
            guard let raw = FileManager.default.contents(atPath: p) else { throw Invalid("tokenFile \(p): cannot read the file") }
            cfg.token = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let ns = ctx["namespace"]?.string, !ns.isEmpty { cfg.namespace = ns }
        return cfg
    }
}

extension KubeConfig {
    /// A kubeconfig file's text for one user of the cluster at `server`: its CA, and a client
    /// certificate or a bearer token (or neither, for plain HTTP).
    public static func text(server: String, caPEM: String?, certPEM: String?, keyPEM: String?, token: String?, user: String) -> String {
        func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
        var cluster = "    server: \(server)\n"
        if let caPEM { cluster += "    certificate-authority-data: \(b64(caPEM))\n" }
        var creds = "{}"
        if let certPEM, let keyPEM {
            creds = "\n    client-certificate-data: \(b64(certPEM))\n    client-key-data: \(b64(keyPEM))"
        } else if let token {
            creds = "\n    token: \(token)"
        }
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: swiftlet
              cluster:
            \(cluster)contexts:
            - name: swiftlet
              context:
                cluster: swiftlet
                user: \(user)
                namespace: default
            current-context: swiftlet
            users:
            - name: \(user)
              user: \(creds)

            """
    }
}

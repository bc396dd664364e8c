import AsyncHTTPClient
import Crypto
import FoundationEssentials
import LinuxSystem
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }
    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in d {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public struct Credential: Sendable, Equatable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
    var basicHeader: String { "Basic " + Data((username + ":" + password).utf8).base64EncodedString() }
}

/// Credentials from a docker-style `config.json` (`auths.<host>.auth` = base64(user:pass), or
/// `username`/`password`). Docker Hub's key `https://index.docker.io/v1/` maps to docker.io.
public enum DockerConfig {
    public static func load(path: String) throws -> [String: Credential] {
        guard Files.exists(path) else { return [:] }
        let json = try JSON.parse(try Files.read(path))
        var out: [String: Credential] = [:]
        guard let auths = try JSONReader(json, path: path).optional("auths") else { return out }
        for (key, entry) in try auths.members() {
            var host = key
            for prefix in ["https://", "http://"] where host.hasPrefix(prefix) { host = String(host.dropFirst(prefix.count)) }
            if let slash = host.firstIndex(of: "/") { host = String(host[..<slash]) }
            if host == "index.docker.io" || host == "registry-1.docker.io" { host = "docker.io" }
            if let auth = try entry.string("auth"), !auth.isEmpty {
                guard let data = Data(base64Encoded: auth), let s = String(data: data, encoding: .utf8),
                      let colon = s.firstIndex(of: ":") else {
                    throw entry.fail("auth is not base64 of user:password")
                }
                out[host] = Credential(username: String(s[..<colon]), password: String(s[s.index(after: colon)...]))
            } else if let u = try entry.string("username"), let p = try entry.string("password") {
                out[host] = Credential(username: u, password: p)
            }
        }
        return out
    }

    public static var defaultPath: String {
        if let dir = getenv("DOCKER_CONFIG") { return String(cString: dir) + "/config.json" }
        return (getenv("HOME").map { String(cString: $0) } ?? "/root") + "/.docker/config.json"
    }
}

/// `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (RFC 7235 auth-params).
public struct AuthChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [String: String]

    public static func parse(_ header: String) -> AuthChallenge? {
        let s = Array(header.utf8)
        var i = 0
        while i < s.count, s[i] == 0x20 { i += 1 }
        let start = i
        while i < s.count, s[i] != 0x20 { i += 1 }
        guard i > start else { return nil }
        let scheme = String(decoding: s[start..<i], as: UTF8.self)
        var params: [String: String] = [:]
        while i < s.count {
            while i < s.count, s[i] == 0x20 || s[i] == UInt8(ascii: ",") { i += 1 }
            let ks = i
            while i < s.count, s[i] != UInt8(ascii: "="), s[i] != UInt8(ascii: ",") { i += 1 }
            let key = String(decoding: s[ks..<i], as: UTF8.self).trimmingSpaces.lowercased()
            guard i < s.count, s[i] == UInt8(ascii: "=") else { continue }
            i += 1
            var value = [UInt8]()
            if i < s.count, s[i] == UInt8(ascii: "\"") {
                i += 1
                while i < s.count, s[i] != UInt8(ascii: "\"") {
                    if s[i] == UInt8(ascii: "\\"), i + 1 < s.count { i += 1 }
                    value.append(s[i])
                    i += 1
                }
                i += 1
            } else {
                while i < s.count, s[i] != UInt8(ascii: ",") { value.append(s[i]); i += 1 }
            }
            if !key.isEmpty { params[key] = String(decoding: value, as: UTF8.self).trimmingSpaces }
        }
        return AuthChallenge(scheme: scheme.lowercased(), parameters: params)
    }
}

public enum RegistryError: Error, Sendable, CustomStringConvertible {
    case unauthorized(host: String, detail: String)
    case denied(url: String)
    case notFound(what: String)
    case digestMismatch(what: String, expected: Digest, actual: String)
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    case http(status: Int, url: String, body: String)
    case transport(url: String, error: String)
    case tooLarge(url: String, limit: Int)

    public var description: String {
        switch self {
        case .unauthorized(let host, let detail): return "unauthorized: authentication to \(host) failed: \(detail)"
        case .denied(let url): return "denied: access to \(url) refused (403)"
        case .notFound(let what): return "not found: \(what)"
        case .digestMismatch(let what, let expected, let actual):
            return "digest mismatch for \(what): expected \(expected), got sha256:\(actual); the content was discarded"
        case .sizeMismatch(let what, let expected, let actual):
            return "size mismatch for \(what): expected \(expected) bytes, got \(actual); the content was discarded"
        case .http(let status, let url, let body): return "GET \(url): HTTP \(status)\(body.isEmpty ? "" : ": " + body)"
        case .transport(let url, let error): return "GET \(url): \(error)"
        case .tooLarge(let url, let limit): return "GET \(url): response larger than \(limit) bytes"
        }
    }

    var retryable: Bool {
        switch self {
        case .transport: return true
        case .http(let status, _, _): return status >= 500 || status == 429 || status == 408
        default: return false
        }
    }
}

public struct RegistryOptions: Sendable {
    /// Hosts (with port) spoken to over plain HTTP. localhost / 127.0.0.1 / ::1 always are.
    public var insecureRegistries: Set<String> = []
    public var credentials: [String: Credential] = [:]
    public var retries = 3
    public var initialBackoff: Duration = .milliseconds(250)
    public init() {}

    public func scheme(for host: String) -> String {
        if insecureRegistries.contains(host) { return "http" }
        let bare = host.hasPrefix("[") ? String(host[..<(host.firstIndex(of: "]") ?? host.endIndex)]) + "]"
            : String(host.split(separator: ":").first ?? "")
        return ["localhost", "127.0.0.1", "[::1]"].contains(bare) || bare.hasPrefix("127.") ? "http" : "https"
    }
}

/// A Distribution-spec v2 client: manifests and blobs, anonymous / basic / bearer-token auth,
/// retries with exponential backoff for transport errors and 5xx.
public final class RegistryClient: Sendable {
    let http: HTTPClient
    public let options: RegistryOptions
    let tokens = TokenCache()

    /// One client per process: 10 s to connect, 60 s without data before a read fails.
    public static let defaultHTTP: HTTPClient = {
        var c = HTTPClient.Configuration()
        c.timeout = .init(connect: .seconds(10), read: .seconds(60))
        c.redirectConfiguration = .follow(max: 5, allowCycles: false)
        // a refused or failed connection is an error at once (our own retries back off and report
        // it, as containerd does); the pool's own retrying would hold it until the connect timeout
        c.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
    }()

    public init(options: RegistryOptions, http: HTTPClient = RegistryClient.defaultHTTP) {
        self.options = options
        self.http = http
    }

    actor TokenCache {
        var byScope: [String: String] = [:]   // host + " " + scope → Authorization header
        func get(_ k: String) -> String? { byScope[k] }
        func set(_ k: String, _ v: String) { byScope[k] = v }
    }

    public struct FetchedManifest: Sendable {
        public var bytes: [UInt8]
        public var contentType: String
        public var digest: Digest
    }

    public func manifest(_ ref: ImageReference, reference: String? = nil) async throws -> FetchedManifest {
        let which = reference ?? ref.manifestReference
        let url = "\(options.scheme(for: ref.registryHost))://\(ref.registryHost)/v2/\(ref.path)/manifests/\(which)"
        let headers: HTTPHeaders = ["Accept": MediaType.acceptManifests.joined(separator: ", ")]
        let (bytes, response) = try await withRetries(url) { () async throws -> ([UInt8], HTTPClientResponse) in
            let response = try await self.send(url: url, host: ref.registryHost, repository: ref.path, headers: headers,
                                               what: "manifest \(ref.path):\(which)")
            let body = try await self.collect(response, url: url, limit: 8 << 20)
            return (body, response)
        }
        let actual = SHA256Hex.of(bytes)
        if let expected = try? Digest.parse(which), expected.hex != actual {
            throw RegistryError.digestMismatch(what: "manifest \(ref.path)@\(which)", expected: expected, actual: actual)
        }
        return FetchedManifest(bytes: bytes, contentType: response.headers.first(name: "Content-Type") ?? "",
                               digest: Digest(sha256Hex: actual))
    }

    /// Fetches a small blob (an image config) into memory, verified.
    public func smallBlob(_ ref: ImageReference, _ d: Descriptor) async throws -> [UInt8] {
        let url = "\(options.scheme(for: ref.registryHost))://\(ref.registryHost)/v2/\(ref.path)/blobs/\(d.digest)"
        let bytes = try await withRetries(url) { () async throws -> [UInt8] in
            let response = try await self.send(url: url, host: ref.registryHost, repository: ref.path, headers: [:],
                                               what: "blob \(d.digest)")
            return try await self.collect(response, url: url, limit: 64 << 20)
        }
        let actual = SHA256Hex.of(bytes)
        guard actual == d.digest.hex else { throw RegistryError.digestMismatch(what: "blob \(d.digest)", expected: d.digest, actual: actual) }
        return bytes
    }

    /// Streams a blob into `fd` (truncated first on every attempt), hashing on the way; throws
    /// on a digest or size mismatch. `progress` gets the bytes written so far.
    public func blob(_ ref: ImageReference, _ d: Descriptor, into fd: Int32,
                     progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        let url = "\(options.scheme(for: ref.registryHost))://\(ref.registryHost)/v2/\(ref.path)/blobs/\(d.digest)"
        try await withRetries(url) { () async throws in
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                throw SystemError(op: "truncate", code: errno, detail: "blob \(d.digest)")
            }
            let response = try await self.send(url: url, host: ref.registryHost, repository: ref.path, headers: [:],
                                               what: "blob \(d.digest)", timeout: .seconds(7200))
            var hasher = SHA256()
            var written: Int64 = 0
            do {
                for try await var chunk in response.body {
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                    while chunk.readableBytes > 0 {
                        let n = chunk.withUnsafeReadableBytes { write(fd, $0.baseAddress, $0.count) }
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw SystemError(op: "write", code: errno, detail: "blob \(d.digest)")
                        }
                        chunk.moveReaderIndex(forwardBy: n)
                        written += Int64(n)
                    }
                    progress?(written)
                }
            } catch let e as SystemError {
                throw e
            } catch {
                throw RegistryError.transport(url: url, error: "\(error)")
            }
            let actual = SHA256Hex.hex(hasher.finalize())
            if d.size >= 0 && written != d.size {
                throw RegistryError.sizeMismatch(what: "blob \(d.digest)", expected: d.size, actual: written)
            }
            if actual != d.digest.hex {
                throw RegistryError.digestMismatch(what: "blob \(d.digest)", expected: d.digest, actual: actual)
            }
        }
    }

    // MARK: - transport

    func withRetries<T: Sendable>(_ url: String, _ body: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        var delay = options.initialBackoff
        while true {
            do {
                return try await body()
            } catch let e as RegistryError where e.retryable && attempt < options.retries {
                attempt += 1
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }

    func collect(_ response: HTTPClientResponse, url: String, limit: Int) async throws -> [UInt8] {
        do {
            let buf = try await response.body.collect(upTo: limit)
            return Array(buf.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw RegistryError.tooLarge(url: url, limit: limit)
        } catch {
            throw RegistryError.transport(url: url, error: "\(error)")
        }
    }

    /// GET with authentication: a cached token for the scope first; on 401 the challenge is
    /// answered (Basic with configured credentials, or a Bearer token from the realm).
    func send(url: String, host: String, repository: String, headers: HTTPHeaders, what: String,
              timeout: Duration = .seconds(60)) async throws -> HTTPClientResponse {
        let scope = "repository:\(repository):pull"
        let cacheKey = host + " " + scope
        var auth = await tokens.get(cacheKey)
        var answered = false
        while true {
            var request = HTTPClientRequest(url: url)
            request.headers = headers
            if let auth { request.headers.replaceOrAdd(name: "Authorization", value: auth) }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .init(timeout))
            } catch {
                throw RegistryError.transport(url: url, error: "\(error)")
            }
            let status = Int(response.status.code)
            switch status {
            case 200..<300:
                return response
            case 401:
                let body = (try? await collect(response, url: url, limit: 64 << 10)).map { errorMessage($0) } ?? ""
                if answered { throw RegistryError.unauthorized(host: host, detail: "credentials rejected\(body.isEmpty ? "" : " (\(body))")") }
                guard let header = response.headers.first(name: "WWW-Authenticate"),
                      let challenge = AuthChallenge.parse(header) else {
                    throw RegistryError.unauthorized(host: host, detail: "401 without a WWW-Authenticate challenge")
                }
                let credential = options.credentials[host] ?? (host == "registry-1.docker.io" ? options.credentials["docker.io"] : nil)
                switch challenge.scheme {
                case "basic":
                    guard let credential else {
                        throw RegistryError.unauthorized(host: host, detail: "registry requires Basic authentication and no credentials are configured for it")
                    }
                    auth = credential.basicHeader
                case "bearer":
                    auth = "Bearer " + (try await fetchToken(challenge, host: host, scope: scope, credential: credential))
                default:
                    throw RegistryError.unauthorized(host: host, detail: "unsupported authentication scheme \(challenge.scheme)")
                }
                answered = true
                await tokens.set(cacheKey, auth!)
            case 403:
                throw RegistryError.denied(url: url)
            case 404:
                throw RegistryError.notFound(what: "\(what) at \(host)")
            default:
                let body = (try? await collect(response, url: url, limit: 64 << 10)).map { errorMessage($0) } ?? ""
                throw RegistryError.http(status: status, url: url, body: body)
            }
        }
    }

    func fetchToken(_ c: AuthChallenge, host: String, scope: String, credential: Credential?) async throws -> String {
        guard let realm = c.parameters["realm"], realm.hasPrefix("http") else {
            throw RegistryError.unauthorized(host: host, detail: "Bearer challenge without a usable realm")
        }
        var query: [String] = []
        if let service = c.parameters["service"] { query.append("service=" + percentEncode(service)) }
        query.append("scope=" + percentEncode(c.parameters["scope"] ?? scope))
        let url = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
        var request = HTTPClientRequest(url: url)
        if let credential { request.headers.add(name: "Authorization", value: credential.basicHeader) }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw RegistryError.transport(url: url, error: "\(error)")
        }
        let body = try await collect(response, url: url, limit: 1 << 20)
        guard response.status.code == 200 else {
            throw RegistryError.unauthorized(host: host, detail: "token endpoint \(realm) answered HTTP \(response.status.code)\(credential == nil ? " (no credentials configured)" : "")")
        }
        let r = JSONReader(try JSON.parse(body), path: "token response")
        guard let token = try r.string("token") ?? r.string("access_token"), !token.isEmpty else {
            throw RegistryError.unauthorized(host: host, detail: "token endpoint \(realm) returned no token")
        }
        return token
    }
}

/// The first `errors[].message` of a registry error body, or its first 200 bytes.
func errorMessage(_ body: [UInt8]) -> String {
    if let json = try? JSON.parse(body), let errors = try? JSONReader(json).optional("errors")?.array(),
       let first = errors.first {
        let code = (try? first.string("code")) ?? nil
        let message = (try? first.string("message")) ?? nil
        return [code, message].compactMap { $0 }.joined(separator: ": ")
    }
    return String(decoding: body.prefix(200), as: UTF8.self).trimmingSpaces
}


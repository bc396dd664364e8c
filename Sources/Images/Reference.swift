/// An image reference normalised the way Docker and containerd do it:
/// `busybox` → `docker.io/library/busybox:latest`, `localhost:5000/app@sha256:…` keeps its host.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public static let defaultDomain = "docker.io"
    public static let defaultTag = "latest"

    /// Registry host, with port if given (`docker.io`, `127.0.0.1:5000`).
    public let domain: String
    /// Repository path inside the registry (`library/busybox`).
    public let path: String
    public let tag: String?
    public let digest: Digest?

    public var repository: String { domain + "/" + path }
    /// The full normalised form; a digest wins over the tag when both are present for pulling,
    /// but both are kept (as containerd does).
    public var description: String {
        var s = repository
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }
    /// What a registry is asked for: the digest if there is one, else the tag.
    public var manifestReference: String { digest?.description ?? tag ?? ImageReference.defaultTag }
    /// The host actually contacted (Docker Hub's API host differs from its name).
    public var registryHost: String { domain == "docker.io" ? "registry-1.docker.io" : domain }

    public init(domain: String, path: String, tag: String?, digest: Digest?) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    public struct InvalidName: Error, Sendable, CustomStringConvertible, Equatable {
        public let reference: String
        public let reason: String
        public var description: String { "InvalidImageName: \"\(reference)\": \(reason)" }
    }

    /// Parses and normalises. A reference with neither tag nor digest gets `latest`.
    public static func parse(_ input: String) throws(InvalidName) -> ImageReference {
        func bad(_ reason: String) -> InvalidName { InvalidName(reference: input, reason: reason) }
        if input.isEmpty { throw bad("empty reference") }
        if input.count > 4096 { throw bad("reference too long") }
        var rest = Substring(input)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let d = String(rest[rest.index(after: at)...])
            do { digest = try Digest.parse(d) } catch { throw bad("invalid digest \"\(d)\": \(error.reason)") }
            rest = rest[..<at]
        }
        var tag: String?
        // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let t = String(rest[rest.index(after: colon)...])
            guard isValidTag(t) else { throw bad("invalid tag \"\(t)\" (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})") }
            tag = t
            rest = rest[..<colon]
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var domain = defaultDomain
        if parts.count > 1, let first = parts.first,
           first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: { $0.isUppercase }) {
            domain = first
            parts.removeFirst()
            guard isValidDomain(domain) else { throw bad("invalid registry host \"\(domain)\"") }
        }
        if domain == "index.docker.io" { domain = defaultDomain }
        if parts.isEmpty || parts.contains(where: \.isEmpty) { throw bad("empty path component") }
        for component in parts {
            if component.contains(where: { $0.isUppercase }) { throw bad("repository name must be lowercase") }
            guard isValidPathComponent(component) else {
                throw bad("invalid repository component \"\(component)\" (lowercase letters, digits, and . _ __ - between them)")
            }
        }
        if domain == defaultDomain && parts.count == 1 { parts.insert("library", at: 0) }
        let path = parts.joined(separator: "/")
        if domain.count + 1 + path.count > 255 { throw bad("repository name longer than 255 characters") }
        if tag == nil && digest == nil { tag = defaultTag }
        return ImageReference(domain: domain, path: path, tag: tag, digest: digest)
    }

    static func isValidTag(_ t: String) -> Bool {
        let u = Array(t.utf8)
        guard !u.isEmpty, u.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") }
        return word(u[0]) && u.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    static func isValidPathComponent(_ c: String) -> Bool {
        let u = Array(c.utf8)
        var i = 0
        func alnumRun() -> Bool {
            let start = i
            while i < u.count, isLowerAlnum(u[i]) { i += 1 }
            return i > start
        }
        guard alnumRun() else { return false }
        while i < u.count {
            let c = u[i]
            if c == UInt8(ascii: ".") { i += 1 }
            else if c == UInt8(ascii: "_") { i += 1; if i < u.count, u[i] == UInt8(ascii: "_") { i += 1 } }
            else if c == UInt8(ascii: "-") { while i < u.count, u[i] == UInt8(ascii: "-") { i += 1 } }
            else { return false }
            guard alnumRun() else { return false }
        }
        return true
    }

    /// host labels (alnum and '-') separated by '.', optional :port; or a bracketed IPv6 address.
    static func isValidDomain(_ d: String) -> Bool {
        var host = Substring(d)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let after = host[host.index(after: close)...]
            if !after.isEmpty { guard after.hasPrefix(":"), isPort(after.dropFirst()) else { return false } }
            return host[host.index(after: host.startIndex)..<close].allSatisfy { $0.isHexDigit || $0 == ":" }
        }
        if let colon = host.lastIndex(of: ":") {
            guard isPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            let u = Array(label.utf8)
            return !u.isEmpty && isAlnum(u.first!) && isAlnum(u.last!) && u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isPort(_ s: Substring) -> Bool { !s.isEmpty && s.count <= 5 && s.allSatisfy(\.isASCIIDigit) && Int(s)! <= 65535 }
}

@inline(__always) func isAlnum(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
}
@inline(__always) func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) }

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// A content digest, `sha256:<64 lowercase hex>` (the only algorithm registries use today;
/// sha512 is accepted syntactically).
public struct Digest: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let algorithm: String
    public let hex: String
    public var description: String { algorithm + ":" + hex }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    public init(sha256Hex: String) {
        algorithm = "sha256"
        hex = sha256Hex
    }

    public static func parse(_ s: String) throws(Invalid) -> Digest {
        guard let colon = s.firstIndex(of: ":") else { throw Invalid(reason: "missing algorithm (want sha256:<hex>)") }
        let alg = String(s[..<colon])
        let hex = String(s[s.index(after: colon)...])
        let want: Int
        switch alg {
        case "sha256": want = 64
        case "sha512": want = 128
        default: throw Invalid(reason: "unsupported digest algorithm \"\(alg)\"")
        }
        guard hex.utf8.count == want, hex.utf8.allSatisfy({ isLowerAlnum($0) && ($0 <= 0x39 || $0 <= 0x66) }) else {
            throw Invalid(reason: "\(alg) digest must be \(want) lowercase hex characters")
        }
        return Digest(algorithm: alg, hex: hex)
    }

    init(algorithm: String, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    public static func < (a: Digest, b: Digest) -> Bool { a.description < b.description }
}

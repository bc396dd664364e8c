import LinuxSystem

/// The `continue` token of a paged list, in kube-apiserver's format: unpadded base64url of
/// `{"v":"meta.k8s.io/v1","rv":<list revision>,"start":"<last key relative to the prefix>\u0000"}`,
/// so a client can hand one server's token to another. rv -1 marks an "inconsistent" token (the
/// fresh one an Expired error carries: continue at the current revision).
public struct ContinueToken: Sendable, Equatable {
    public var resourceVersion: Int64
    /// Where the next page starts: the last returned key (relative to the list's prefix) + NUL.
    public var start: String

    public init(resourceVersion: Int64, lastKey: String) {
        self.resourceVersion = resourceVersion
        self.start = lastKey + "\u{0}"
    }

    init(resourceVersion: Int64, start: String) {
        self.resourceVersion = resourceVersion
        self.start = start
    }

    /// The key to continue after (start without its NUL).
    public var lastKey: String { start.hasSuffix("\u{0}") ? String(start.dropLast()) : start }

    public var encoded: String {
        var o = JSONObject()
        o.set("v", "meta.k8s.io/v1")
        o.set("rv", resourceVersion)
        o.set("start", start)
        return Base64URL.encode(Array(o.json.serialized().utf8))
    }

    public static func decode(_ token: String) throws(APIStatus) -> ContinueToken {
        func bad(_ why: String) -> APIStatus { APIStatus.badRequest("invalid continue token: continue key is not valid: \(why)") }
        let bytes: [UInt8]
        switch Base64URL.decode(token) {
        case .success(let b): bytes = b
        case .failure(let at): throw bad("illegal base64 data at input byte \(at.offset)")
        }
        guard let json = try? JSON.parse(bytes) else { throw bad("invalid character in the encoded key") }
        guard case .string("meta.k8s.io/v1")? = json["v"] else { throw bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)") }
        guard case .number(let n)? = json["rv"], let rv = Int64(n) else { throw bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)") }
        guard case .string(let start)? = json["start"], !start.isEmpty else { throw bad("encoded start key is empty") }
        // the key is relative to the list's prefix: no way out of it
        if start.hasPrefix("/") || start.split(separator: "/").contains("..") {
            throw bad("encoded start key must be a relative path")
        }
        return ContinueToken(resourceVersion: rv, start: start)
    }
}

/// base64url without padding, as Go's base64.RawURLEncoding (errors at the same input byte).
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public struct CorruptInput: Error, Equatable { public let offset: Int }

    public static func encode(_ data: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((data.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= data.count {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            for s in [18, 12, 6, 0] { out.append(alphabet[Int((v >> UInt32(s)) & 63)]) }
            i += 3
        }
        let rest = data.count - i
        if rest > 0 {
            var v = UInt32(data[i]) << 16
            if rest == 2 { v |= UInt32(data[i + 1]) << 8 }
            for s in [18, 12, 6].prefix(rest + 1) { out.append(alphabet[Int((v >> UInt32(s)) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> Result<[UInt8], CorruptInput> {
        var table = [Int16](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int16(i) }
        let s = Array(text.utf8)
        var out: [UInt8] = []
        var acc: UInt32 = 0, n = 0
        for (i, c) in s.enumerated() {
            let v = table[Int(c)]
            guard v >= 0 else { return .failure(CorruptInput(offset: i)) }
            acc = acc << 6 | UInt32(v)
            n += 1
            if n == 4 {
                out += [UInt8(acc >> 16 & 0xff), UInt8(acc >> 8 & 0xff), UInt8(acc & 0xff)]
                acc = 0
                n = 0
            }
        }
        switch n {
        case 0: break
        case 1: return .failure(CorruptInput(offset: s.count - 1))
        case 2: out.append(UInt8(acc >> 4 & 0xff))
        default: out += [UInt8(acc >> 10 & 0xff), UInt8(acc >> 2 & 0xff)]
        }
        return .success(out)
    }
}

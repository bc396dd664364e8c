import Crypto
import Foundation
import LinuxSystem

/// Compact JWS with ES256 only. The header's `alg` must be `ES256`: `none`, HMAC (the
/// "public key as HMAC secret" trick) and every other algorithm are refused before any
/// signature is looked at.
public enum JWT {
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    public static func sign(_ claims: JSON, key: P256.Signing.PrivateKey, keyID: String) throws -> String {
        let header = JSON.object([("alg", .string("ES256")), ("kid", .string(keyID))])
        let input = base64url(Array(header.serialized().utf8)) + "." + base64url(Array(claims.serialized().utf8))
        let sig = try key.signature(for: Array(input.utf8))
        return input + "." + base64url(Array(sig.rawRepresentation))
    }

    /// The claims of a token whose signature `key` verifies.
    public static func verify(_ token: String, key: P256.Signing.PublicKey) throws -> JSON {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw Invalid("not a compact JWS") }
        guard let h = unbase64url(parts[0]), let header = try? JSON.parse(h) else { throw Invalid("malformed header") }
        guard case .string("ES256")? = header["alg"] else { throw Invalid("unsupported signing algorithm") }
        guard let sigBytes = unbase64url(parts[2]), sigBytes.count == 64,
              let sig = try? P256.Signing.ECDSASignature(rawRepresentation: sigBytes) else { throw Invalid("malformed signature") }
        let input = Array((parts[0] + "." + parts[1]).utf8)
        guard key.isValidSignature(sig, for: input) else { throw Invalid("invalid signature") }
        guard let c = unbase64url(parts[1]), let claims = try? JSON.parse(c), case .object = claims else { throw Invalid("malformed claims") }
        return claims
    }

    /// The payload without checking anything (to route a token to the right verifier).
    public static func unverifiedClaims(_ token: String) -> JSON? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let c = unbase64url(parts[1]) else { return nil }
        return try? JSON.parse(c)
    }

    public static func base64url(_ b: [UInt8]) -> String {
        Data(b).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url<S: StringProtocol>(_ s: S) -> [UInt8]? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map { Array($0) }
    }
}

/// What a service-account token says (the `kubernetes.io` private claims of a bound token).
public struct ServiceAccountClaims: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var pod: (name: String, uid: String)?
    public var audiences: [String]
    public var expiration: Int64
    public var issuedAt: Int64
    public var tokenID: String

    public init(namespace: String, name: String, uid: String, pod: (name: String, uid: String)?, audiences: [String],
                expiration: Int64, issuedAt: Int64, tokenID: String) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.pod = pod
        self.audiences = audiences
        self.expiration = expiration
        self.issuedAt = issuedAt
        self.tokenID = tokenID
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.namespace == b.namespace && a.name == b.name && a.uid == b.uid && a.pod?.name == b.pod?.name && a.pod?.uid == b.pod?.uid
            && a.audiences == b.audiences && a.expiration == b.expiration && a.issuedAt == b.issuedAt && a.tokenID == b.tokenID
    }

    public var user: UserInfo {
        var extra: [String: [String]] = ["authentication.kubernetes.io/credential-id": ["JTI=" + tokenID]]
        if let pod {
            extra["authentication.kubernetes.io/pod-name"] = [pod.name]
            extra["authentication.kubernetes.io/pod-uid"] = [pod.uid]
        }
        return UserInfo(name: "system:serviceaccount:\(namespace):\(name)", uid: uid,
                        groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"], extra: extra)
    }
}

/// Issues and checks service-account tokens (the TokenRequest API's JWTs), signed with the
/// master's `sa.key`. Whether the service account (and the bound pod) still exist is the
/// caller's check: it needs the store.
public struct ServiceAccountTokens: Sendable {
    public static let defaultIssuer = "https://kubernetes.default.svc.cluster.local"
    public let key: P256.Signing.PrivateKey
    public let issuer: String
    public let keyID: String

    public init(key: P256.Signing.PrivateKey, issuer: String = defaultIssuer) {
        self.key = key
        self.issuer = issuer
        self.keyID = JWT.base64url(Array(SHA256.hash(data: key.publicKey.derRepresentation)))
    }

    public func issue(_ c: ServiceAccountClaims) throws -> String {
        let sa: [(String, JSON)] = [("name", .string(c.name)), ("uid", .string(c.uid))]
        var priv: [(String, JSON)] = [("namespace", .string(c.namespace))]
        if let pod = c.pod { priv.append(("pod", .object([("name", .string(pod.name)), ("uid", .string(pod.uid))]))) }
        priv.append(("serviceaccount", .object(sa)))
        let claims = JSON.object([
            ("aud", .array(c.audiences.map { .string($0) })), ("exp", .number(String(c.expiration))), ("iat", .number(String(c.issuedAt))),
            ("iss", .string(issuer)), ("jti", .string(c.tokenID)), ("kubernetes.io", .object(priv)), ("nbf", .number(String(c.issuedAt))),
            ("sub", .string("system:serviceaccount:\(c.namespace):\(c.name)")),
        ])
        return try JWT.sign(claims, key: key, keyID: keyID)
    }

    /// The claims of a valid token: signature, issuer, expiry and not-before (60 s of clock skew),
    /// and, when `audiences` is given, at least one shared audience.
    public func validate(_ token: String, now: Int64, audiences: [String]) throws -> ServiceAccountClaims {
        let claims = try JWT.verify(token, key: key.publicKey)
        func str(_ v: JSON?) -> String? { if case .string(let s)? = v { return s }; return nil }
        func num(_ v: JSON?) -> Int64? { if case .number(let n)? = v { return Int64(n) }; return nil }
        guard str(claims["iss"]) == issuer else { throw JWT.Invalid("token issuer is not this cluster") }
        guard let exp = num(claims["exp"]) else { throw JWT.Invalid("token has no expiry") }
        guard now < exp + 60 else { throw JWT.Invalid("token has expired") }
        if let nbf = num(claims["nbf"]), now + 60 < nbf { throw JWT.Invalid("token is not valid yet") }
        var aud: [String] = []
        if case .array(let a)? = claims["aud"] { aud = a.compactMap { str($0) } } else if let s = str(claims["aud"]) { aud = [s] }
        if !audiences.isEmpty, Set(aud).isDisjoint(with: audiences) { throw JWT.Invalid("token audiences \(aud) are not accepted") }
        guard let k = claims["kubernetes.io"], let ns = str(k["namespace"]), let sa = k["serviceaccount"],
              let name = str(sa["name"]), let uid = str(sa["uid"]) else { throw JWT.Invalid("not a service-account token") }
        guard str(claims["sub"]) == "system:serviceaccount:\(ns):\(name)" else { throw JWT.Invalid("token subject does not match its service account") }
        var pod: (String, String)?
        if let p = k["pod"], let pn = str(p["name"]), let pu = str(p["uid"]) { pod = (pn, pu) }
        return ServiceAccountClaims(namespace: ns, name: name, uid: uid, pod: pod, audiences: aud, expiration: exp,
                                    issuedAt: num(claims["iat"]) ?? 0, tokenID: str(claims["jti"]) ?? "")
    }
}

/// Bootstrap tokens: `<id>.<secret>` with a 6-character id and 16-character secret of `[a-z0-9]`,
/// stored as the Secret `bootstrap-token-<id>` (type `bootstrap.kubernetes.io/token`) in kube-system.
public enum BootstrapToken {
    public static func parse(_ token: String) -> (id: String, secret: String)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 6, parts[1].count == 16 else { return nil }
        let ok = { (s: Substring) in s.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) } }
        guard ok(parts[0]), ok(parts[1]) else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The user a valid token stands for, given its secret's `data` (already base64-decoded).
    /// Invalid (wrong secret, expired, not for authentication): nil.
    public static func user(id: String, secret: String, data: [String: String], now: Date) -> UserInfo? {
        guard data["token-id"] == id, let stored = data["token-secret"] else { return nil }
        // constant time: the secret is a password
        let a = Array(stored.utf8), b = Array(secret.utf8)
        var diff = a.count ^ b.count
        for i in 0..<min(a.count, b.count) { diff |= Int(a[i] ^ b[i]) }
        guard diff == 0 else { return nil }
        guard data["usage-bootstrap-authentication"] == "true" else { return nil }
        if let exp = data["expiration"] {
            guard let t = ISO8601DateFormatter().date(from: exp), t > now else { return nil }
        }
        var groups = ["system:bootstrappers"]
        for g in (data["auth-extra-groups"] ?? "").split(separator: ",") {
            let s = g.trimmingCharacters(in: .whitespaces)
            if s.hasPrefix("system:bootstrappers:") { groups.append(s) }
        }
        return UserInfo(name: "system:bootstrap:" + id, groups: groups)
    }
}

/// A static token file (`--token-auth-file`): CSV lines `token,user,uid[,"group1,group2"]`.
public enum TokenFile {
    public static func parse(_ text: String) throws -> [String: UserInfo] {
        var out: [String: UserInfo] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var fields: [String] = []
            var cur = ""
            var quoted = false
            for c in line {
                if c == "\"" { quoted.toggle() } else if c == "," && !quoted { fields.append(cur); cur = "" } else { cur.append(c) }
            }
            fields.append(cur)
            guard fields.count >= 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw PKIError("token file line \(n + 1): want token,user,uid[,\"groups\"]")
            }
            let groups = fields.count > 3 ? fields[3].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } : []
            out[fields[0]] = UserInfo(name: fields[1], uid: fields[2], groups: groups)
        }
        return out
    }
}

import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#endif

public struct PKIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The cluster's certificate authority: ECDSA P-256, signs the API server's serving certificate,
/// client certificates (CN = user, O = groups) and the nodes' CSRs.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let key: P256.Signing.PrivateKey

    public init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A new self-signed CA valid for ten years.
    public static func create(commonName: String = "swiftlet-ca", now: Date = Date()) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let pk = Certificate.PrivateKey(key)
        let name = try DistinguishedName { CommonName(commonName) }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: pk.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: pk.publicKey)
            },
            issuerPrivateKey: pk)
        return CertificateAuthority(certificate: cert, key: key)
    }

    public enum Usage: Sendable {
        case server(dnsNames: [String], ipAddresses: [String])
        case client
    }

    /// A leaf certificate for `publicKey`, signed by this CA.
    public func issue(commonName: String, organizations: [String] = [], publicKey: Certificate.PublicKey, usage: Usage,
                      validity: TimeInterval = 365 * 86400, now: Date = Date()) throws -> Certificate {
        let subject = try DistinguishedName {
            for o in organizations { OrganizationName(o) }
            CommonName(commonName)
        }
        let caPublic = Certificate.PrivateKey(key).publicKey
        var sans: [GeneralName] = []
        if case .server(let dns, let ips) = usage {
            sans = dns.map { .dnsName($0) }
            for ip in ips {
                guard let bytes = Self.ipBytes(ip) else { throw PKIError("serving certificate: \(ip) is not an IP address") }
                sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            }
        }
        let isServer: Bool
        if case .server = usage { isServer = true } else { isServer = false }
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(validity),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([isServer ? .serverAuth : .clientAuth])
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublic).keyIdentifier)
                if !sans.isEmpty { SubjectAlternativeNames(sans) }
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
    }

    /// Was `cert` signed by this CA (and is it valid at `now`)?
    public func verify(_ cert: Certificate, now: Date = Date()) -> Bool {
        guard cert.issuer == certificate.subject, now >= cert.notValidBefore, now <= cert.notValidAfter else { return false }
        return Certificate.PrivateKey(key).publicKey.isValidSignature(cert.signature, for: cert)
    }

    public static func isIPAddress(_ s: String) -> Bool { ipBytes(s) != nil }

    /// The CA stored as PEM files (`ca.crt`, `ca.key`) in `directory`.
    public static func load(directory dir: String) throws -> CertificateAuthority {
        guard let c = try ClusterPKI.readIfExists(dir + "/ca.crt"), let k = try ClusterPKI.readIfExists(dir + "/ca.key") else {
            throw PKIError("no cluster CA in \(dir) (ca.crt, ca.key)")
        }
        do { return CertificateAuthority(certificate: try Certificate(pemEncoded: c), key: try P256.Signing.PrivateKey(pemRepresentation: k)) } catch {
            throw PKIError("load the cluster CA from \(dir): \(error)")
        }
    }

    /// A fresh key and a client certificate for it (CN = `user`, O = `groups`), both as PEM.
    public func issueClient(user: String, groups: [String], validity: TimeInterval = 365 * 86400, now: Date = Date()) throws -> (certificatePEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let cert = try issue(commonName: user, organizations: groups, publicKey: Certificate.PrivateKey(key).publicKey, usage: .client, validity: validity, now: now)
        return (cert.pem, key.pemRepresentation)
    }

    /// A fresh key and a serving certificate for it (CN, O, and the names and addresses it covers).
    public func issueServer(commonName: String, organizations: [String] = [], dnsNames: [String], ipAddresses: [String],
                            validity: TimeInterval = 365 * 86400, now: Date = Date()) throws -> (certificatePEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let cert = try issue(commonName: commonName, organizations: organizations, publicKey: Certificate.PrivateKey(key).publicKey,
                             usage: .server(dnsNames: dnsNames, ipAddresses: ipAddresses), validity: validity, now: now)
        return (cert.pem, key.pemRepresentation)
    }

    static func ipBytes(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

extension Certificate {
    /// The subject's CN (the user) and O values (the groups), as kube-apiserver's x509 authenticator reads them.
    public var kubernetesUser: UserInfo { subject.kubernetesUser }

    public var pem: String { (try? serializeAsPEM().pemString) ?? "" }

    public var dnsNames: [String] {
        guard let sans = try? extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { if case .dnsName(let d) = $0 { return d }; return nil }
    }

    public var ipAddresses: [[UInt8]] {
        guard let sans = try? extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { if case .ipAddress(let b) = $0 { return Array(b.bytes) }; return nil }
    }
}

/// The master's key material under its PKI directory (every key 0600, the directory 0700):
/// `ca.crt`/`ca.key`, the serving pair `apiserver.crt`/`apiserver.key` (re-issued when the names
/// it must cover change), the admin client pair `admin.crt`/`admin.key` (`O=system:masters`), and
/// the master's client pair toward kubelets `apiserver-kubelet-client.crt`/`.key`, and `sa.key`,
/// which signs service-account tokens.
public struct ClusterPKI: Sendable {
    public let directory: String
    public let ca: CertificateAuthority
    public let serving: Certificate
    public let servingKey: P256.Signing.PrivateKey
    public let admin: Certificate
    public let adminKey: P256.Signing.PrivateKey
    /// The master's identity toward node agents (`kube-apiserver-kubelet-client`, O=system:masters).
    public let kubeletClient: Certificate
    public let kubeletClientKey: P256.Signing.PrivateKey
    public let serviceAccountKey: P256.Signing.PrivateKey

    /// Loads what exists and creates what does not. `dnsNames`/`ipAddresses` are what the serving
    /// certificate must name (the Service names of `kubernetes.default` are always added).
    public static func loadOrCreate(directory dir: String, dnsNames: [String], ipAddresses: [String], now: Date = Date()) throws -> ClusterPKI {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(dir, 0o700)
        let ca: CertificateAuthority
        if let certPEM = try readIfExists(dir + "/ca.crt"), let keyPEM = try readIfExists(dir + "/ca.key") {
            do {
                ca = CertificateAuthority(certificate: try Certificate(pemEncoded: certPEM), key: try P256.Signing.PrivateKey(pemRepresentation: keyPEM))
            } catch {
                throw PKIError("load the cluster CA from \(dir): \(error)")
            }
        } else {
            ca = try CertificateAuthority.create(now: now)
            try writeSecret(dir + "/ca.key", ca.key.pemRepresentation)
            try writeFile(dir + "/ca.crt", ca.certificate.pem, mode: 0o644)
        }
        let dns = Array(Set(dnsNames + ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"])).sorted()
        let ips = Array(Set(ipAddresses + ["127.0.0.1"])).sorted()

        func pair(_ name: String, _ make: (P256.Signing.PrivateKey) throws -> Certificate, reuse: (Certificate) -> Bool) throws -> (Certificate, P256.Signing.PrivateKey) {
            if let c = try readIfExists("\(dir)/\(name).crt"), let k = try readIfExists("\(dir)/\(name).key"),
               let cert = try? Certificate(pemEncoded: c), let key = try? P256.Signing.PrivateKey(pemRepresentation: k),
               ca.verify(cert, now: now.addingTimeInterval(30 * 86400)), reuse(cert) {
                return (cert, key)
            }
            let key = P256.Signing.PrivateKey()
            let cert = try make(key)
            try writeSecret("\(dir)/\(name).key", key.pemRepresentation)
            try writeFile("\(dir)/\(name).crt", cert.pem, mode: 0o644)
            return (cert, key)
        }
        let wantedIPs = Set(ips.compactMap { CertificateAuthority.ipBytes($0) })
        let (serving, servingKey) = try pair("apiserver", { key in
            try ca.issue(commonName: "kube-apiserver", publicKey: Certificate.PrivateKey(key).publicKey,
                         usage: .server(dnsNames: dns, ipAddresses: ips), now: now)
        }, reuse: { cert in Set(cert.dnsNames).isSuperset(of: dns) && Set(cert.ipAddresses).isSuperset(of: wantedIPs) })
        let (admin, adminKey) = try pair("admin", { key in
            try ca.issue(commonName: "kubernetes-admin", organizations: ["system:masters"], publicKey: Certificate.PrivateKey(key).publicKey, usage: .client, now: now)
        }, reuse: { _ in true })
        let (kubeletClient, kubeletClientKey) = try pair("apiserver-kubelet-client", { key in
            try ca.issue(commonName: "kube-apiserver-kubelet-client", organizations: ["system:masters"], publicKey: Certificate.PrivateKey(key).publicKey, usage: .client, now: now)
        }, reuse: { _ in true })
        let saKey: P256.Signing.PrivateKey
        if let k = try readIfExists(dir + "/sa.key") {
            do { saKey = try P256.Signing.PrivateKey(pemRepresentation: k) } catch { throw PKIError("load \(dir)/sa.key: \(error)") }
        } else {
            saKey = P256.Signing.PrivateKey()
            try writeSecret(dir + "/sa.key", saKey.pemRepresentation)
        }
        return ClusterPKI(directory: dir, ca: ca, serving: serving, servingKey: servingKey, admin: admin, adminKey: adminKey,
                         kubeletClient: kubeletClient, kubeletClientKey: kubeletClientKey, serviceAccountKey: saKey)
    }

    static func readIfExists(_ path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw PKIError("read \(path): \(error)") }
    }

    /// Written to a temporary name created 0600 and renamed: never readable by others, never half-written.
    public static func writeSecret(_ path: String, _ text: String) throws { try writeFile(path, text, mode: 0o600) }

    public static func writeFile(_ path: String, _ text: String, mode: mode_t) throws {
        let tmp = path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw PKIError("create \(tmp): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { let e = errno; close(fd); unlink(tmp); throw PKIError("write \(tmp): \(String(cString: strerror(e)))") }
            off += n
        }
        fsync(fd)
        close(fd)
        guard rename(tmp, path) == 0 else { let e = errno; unlink(tmp); throw PKIError("rename \(tmp): \(String(cString: strerror(e)))") }
    }
}

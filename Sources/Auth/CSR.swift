import Crypto
import Foundation
import SwiftASN1
import X509

/// A PKCS#10 request as a CertificateSigningRequest carries it (`spec.request`, PEM), parsed and
/// its self-signature checked: the requester holds the key.
public struct CSRRequest: Sendable {
    public let csr: CertificateSigningRequest
    public let commonName: String
    public let organizations: [String]
    public let dnsNames: [String]
    public let ipAddresses: [String]

    public init(pem: String) throws {
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(pemEncoded: pem) } catch {
            throw PKIError("spec.request: not a PEM CERTIFICATE REQUEST: \(error)")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw PKIError("spec.request: the request's signature does not match its public key")
        }
        self.csr = csr
        let user = csr.subject.kubernetesUser
        commonName = user.name
        organizations = user.groups
        var dns: [String] = [], ips: [String] = []
        if let ext = try? csr.attributes.extensionRequest?.extensions, let sans = try? ext.subjectAlternativeNames {
            for san in sans {
                switch san {
                case .dnsName(let d): dns.append(d)
                case .ipAddress(let b): ips.append(CSRRequest.ipText(Array(b.bytes)))
                default: dns.append("<unsupported name \(san)>")
                }
            }
        }
        dnsNames = dns
        ipAddresses = ips
    }

    public static func ipText(_ b: [UInt8]) -> String {
        if b.count == 4 { return b.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        var i = 0
        while i + 1 < b.count { groups.append(String(UInt16(b[i]) << 8 | UInt16(b[i + 1]), radix: 16)); i += 2 }
        return groups.joined(separator: ":")
    }

    /// A new key and the PEM request for it (what a kubelet files).
    public static func make(commonName: String, organizations: [String], dnsNames: [String], ipAddresses: [String]) throws -> (requestPEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            for o in organizations { OrganizationName(o) }
            CommonName(commonName)
        }
        var sans: [GeneralName] = dnsNames.map { .dnsName($0) }
        for ip in ipAddresses {
            guard let b = CertificateAuthority.ipBytes(ip) else { throw PKIError("\(ip) is not an IP address") }
            sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(b))))
        }
        var attributes = CertificateSigningRequest.Attributes()
        if !sans.isEmpty {
            let ext = try Certificate.Extensions { SubjectAlternativeNames(sans) }
            attributes = CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: ext))])
        }
        let csr = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
                                                attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
        return (try csr.serializeAsPEM().pemString, key.pemRepresentation)
    }
}

extension DistinguishedName {
    /// CN = user, O = groups.
    public var kubernetesUser: UserInfo {
        var cn = ""
        var orgs: [String] = []
        for rdn in self {
            for attr in rdn {
                if attr.type == .RDNAttributeType.commonName, let s = String(attr.value) { cn = s }
                if attr.type == .RDNAttributeType.organizationName, let s = String(attr.value) { orgs.append(s) }
            }
        }
        return UserInfo(name: cn, groups: orgs)
    }
}

/// The signers this master runs and what its approver decides, as values.
public enum CSRPolicy {
    public static let kubeletServing = "kubernetes.io/kubelet-serving"
    public static let kubeletClient = "kubernetes.io/kube-apiserver-client-kubelet"

    public enum Decision: Equatable, Sendable {
        case approve(String)
        /// Not for this approver to decide (a person may still approve it).
        case leave(String)
    }

    /// Identity rules of the kubelet-serving signer (kube-controller-manager's): CN
    /// `system:node:<name>`, O exactly `system:nodes`, server usages only, at least one name.
    public static func kubeletServingProblem(_ r: CSRRequest, usages: [String]) -> String? {
        guard r.commonName.hasPrefix("system:node:"), r.commonName.count > "system:node:".count else {
            return "the subject's CN must be system:node:<node name>, not \"\(r.commonName)\""
        }
        guard r.organizations == ["system:nodes"] else { return "the subject's O must be exactly system:nodes" }
        let allowed: Set<String> = ["digital signature", "key encipherment", "server auth"]
        guard usages.contains("server auth"), Set(usages).isSubset(of: allowed) else {
            return "usages must include \"server auth\" and be among \(allowed.sorted())"
        }
        guard !(r.dnsNames.isEmpty && r.ipAddresses.isEmpty) else { return "the request names no DNS name or IP address" }
        return nil
    }

    /// Identity rules of the kubelet-client signer (a node's client certificate): CN
    /// `system:node:<name>`, O exactly `system:nodes`, client usages only, no names at all.
    public static func kubeletClientProblem(_ r: CSRRequest, usages: [String]) -> String? {
        guard r.commonName.hasPrefix("system:node:"), r.commonName.count > "system:node:".count else {
            return "the subject's CN must be system:node:<node name>, not \"\(r.commonName)\""
        }
        guard r.organizations == ["system:nodes"] else { return "the subject's O must be exactly system:nodes" }
        let allowed: Set<String> = ["digital signature", "key encipherment", "client auth"]
        guard usages.contains("client auth"), Set(usages).isSubset(of: allowed) else {
            return "usages must include \"client auth\" and be among \(allowed.sorted())"
        }
        guard r.dnsNames.isEmpty && r.ipAddresses.isEmpty else { return "a client certificate names no DNS name or IP address" }
        return nil
    }

    /// Which permission approving a node client request needs of its requester (what
    /// kube-controller-manager's approver asks): a node renewing its own certificate needs
    /// `certificatesigningrequests/selfnodeclient`, anyone else (a bootstrap token)
    /// `certificatesigningrequests/nodeclient`. nil: not a request this approver takes.
    public static func kubeletClientPermission(_ r: CSRRequest, usages: [String], username: String) -> String? {
        guard kubeletClientProblem(r, usages: usages) == nil else { return nil }
        return username == r.commonName ? "selfnodeclient" : "nodeclient"
    }

    /// Approves a kubelet's serving certificate automatically when the node asks for itself and
    /// only for names the Node reports: its name, its Hostname/InternalDNS/ExternalDNS addresses
    /// and its InternalIP/ExternalIP addresses. `nodeAddresses` is nil when there is no such Node.
    public static func approveKubeletServing(_ r: CSRRequest, usages: [String], username: String, groups: [String],
                                             nodeAddresses: [(type: String, address: String)]?) -> Decision {
        if let p = kubeletServingProblem(r, usages: usages) { return .leave(p) }
        guard username == r.commonName, groups.contains("system:nodes") else {
            return .leave("filed by \(username), not by the node \(r.commonName) itself")
        }
        let node = String(r.commonName.dropFirst("system:node:".count))
        guard let addrs = nodeAddresses else { return .leave("node \(node) is not registered yet") }
        let names = Set([node] + addrs.filter { ["Hostname", "InternalDNS", "ExternalDNS"].contains($0.type) }.map(\.address))
        let ips = Set(addrs.filter { ["InternalIP", "ExternalIP"].contains($0.type) }.map(\.address))
        if let extra = r.dnsNames.first(where: { !names.contains($0) }) { return .leave("DNS name \(extra) is not one of node \(node)'s") }
        if let extra = r.ipAddresses.first(where: { !ips.contains($0) }) { return .leave("IP address \(extra) is not one of node \(node)'s") }
        return .approve("the node's own serving certificate, for names and addresses its Node reports")
    }

    /// The signed certificate (PEM) for an approved request: the requested subject and names, the
    /// requested lifetime if shorter than a year.
    public static func sign(_ r: CSRRequest, ca: CertificateAuthority, expirationSeconds: Int?, client: Bool = false, now: Date = Date()) throws -> String {
        let validity = TimeInterval(min(expirationSeconds ?? 365 * 86400, 365 * 86400))
        let cert = try ca.issue(commonName: r.commonName, organizations: r.organizations, publicKey: r.csr.publicKey,
                                usage: client ? .client : .server(dnsNames: r.dnsNames, ipAddresses: r.ipAddresses), validity: max(600, validity), now: now)
        return cert.pem
    }
}

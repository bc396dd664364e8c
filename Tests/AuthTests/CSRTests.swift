import Auth
import Crypto
import Foundation
import Testing
import X509

@Suite("Certificate requests: the kubelet-serving approver and signer")
struct CSRTests {
    let addresses: [(type: String, address: String)] = [("InternalIP", "10.0.0.5"), ("Hostname", "worker-1")]

    func request(cn: String = "system:node:worker-1", orgs: [String] = ["system:nodes"], dns: [String] = ["worker-1"],
                 ips: [String] = ["10.0.0.5"]) throws -> CSRRequest {
        try CSRRequest(pem: CSRRequest.make(commonName: cn, organizations: orgs, dnsNames: dns, ipAddresses: ips).requestPEM)
    }

    @Test("a request round-trips: subject, names and addresses")
    func parse() throws {
        let r = try request(dns: ["worker-1", "worker-1.lan"], ips: ["10.0.0.5", "fd00::5"])
        #expect(r.commonName == "system:node:worker-1")
        #expect(r.organizations == ["system:nodes"])
        #expect(r.dnsNames == ["worker-1", "worker-1.lan"])
        #expect(r.ipAddresses == ["10.0.0.5", "fd00:0:0:0:0:0:0:5"])
        #expect(throws: PKIError.self) { try CSRRequest(pem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n") }
    }

    @Test("a request whose signature is not its key's is refused")
    func forged() throws {
        let good = try CSRRequest(pem: CSRRequest.make(commonName: "system:node:a", organizations: ["system:nodes"], dnsNames: ["a"], ipAddresses: []).requestPEM)
        let other = P256.Signing.PrivateKey()
        let forged = try CertificateSigningRequest(version: .v1, subject: good.csr.subject, publicKey: Certificate.PublicKey(other.publicKey),
                                                   attributes: good.csr.attributes, signatureAlgorithm: good.csr.signatureAlgorithm,
                                                   signature: good.csr.signature)
        #expect(throws: PKIError.self) { try CSRRequest(pem: forged.serializeAsPEM().pemString) }
    }

    @Test("the node's own names: approved")
    func approve() throws {
        let d = CSRPolicy.approveKubeletServing(try request(), usages: ["digital signature", "server auth"], username: "system:node:worker-1",
                                                groups: ["system:nodes", "system:authenticated"], nodeAddresses: addresses)
        guard case .approve = d else { Issue.record("\(d)"); return }
    }

    @Test("another node's request, a foreign name or address, client usage, no Node: left for a person")
    func leave() throws {
        let usages = ["digital signature", "server auth"]
        let cases: [(CSRRequest, [String], String, [(type: String, address: String)]?, String)] = [
            (try request(), usages, "system:node:worker-2", addresses, "not by the node"),
            (try request(dns: ["worker-1", "kubernetes.default.svc"]), usages, "system:node:worker-1", addresses, "DNS name kubernetes.default.svc"),
            (try request(ips: ["10.0.0.5", "127.0.0.1"]), usages, "system:node:worker-1", addresses, "IP address 127.0.0.1"),
            (try request(), ["digital signature", "client auth"], "system:node:worker-1", addresses, "usages"),
            (try request(orgs: ["system:nodes", "system:masters"]), usages, "system:node:worker-1", addresses, "O must be exactly"),
            (try request(cn: "admin"), usages, "admin", addresses, "CN must be"),
            (try request(), usages, "system:node:worker-1", nil, "not registered"),
        ]
        for (r, u, user, addrs, why) in cases {
            let d = CSRPolicy.approveKubeletServing(r, usages: u, username: user, groups: ["system:nodes"], nodeAddresses: addrs)
            guard case .leave(let m) = d else { Issue.record("approved: \(why)"); continue }
            #expect(m.contains(why), "\(m)")
        }
    }

    @Test("signed: the CA's, the request's key and names, server auth")
    func sign() throws {
        let ca = try CertificateAuthority.create()
        let r = try request()
        let pem = try CSRPolicy.sign(r, ca: ca, expirationSeconds: 3600)
        let cert = try Certificate(pemEncoded: pem)
        #expect(ca.verify(cert))
        #expect(cert.publicKey == r.csr.publicKey)
        #expect(cert.kubernetesUser == UserInfo(name: "system:node:worker-1", groups: ["system:nodes"]))
        #expect(cert.dnsNames == ["worker-1"])
        #expect(cert.notValidAfter.timeIntervalSince(cert.notValidBefore) < 3600 + 301)
        #expect(try cert.extensions.extendedKeyUsage?.contains(.serverAuth) == true)
    }

    @Test("node client requests: the identity rules, and which permission approving asks of the requester")
    func nodeClient() throws {
        let client = ["digital signature", "client auth"]
        let r = try request(dns: [], ips: [])
        #expect(CSRPolicy.kubeletClientProblem(r, usages: client) == nil)
        #expect(CSRPolicy.kubeletClientPermission(r, usages: client, username: "system:bootstrap:abcdef") == "nodeclient")
        #expect(CSRPolicy.kubeletClientPermission(r, usages: client, username: "system:node:worker-1") == "selfnodeclient")
        #expect(CSRPolicy.kubeletClientProblem(try request(), usages: client)?.contains("no DNS name") == true)
        #expect(CSRPolicy.kubeletClientProblem(r, usages: ["digital signature", "server auth"])?.contains("client auth") == true)
        #expect(CSRPolicy.kubeletClientPermission(try request(orgs: ["system:masters"], dns: [], ips: []), usages: client, username: "x") == nil)
        let ca = try CertificateAuthority.create()
        let cert = try Certificate(pemEncoded: try CSRPolicy.sign(r, ca: ca, expirationSeconds: nil, client: true))
        #expect(try cert.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        #expect(try cert.extensions.extendedKeyUsage?.contains(.serverAuth) == false)
    }
}

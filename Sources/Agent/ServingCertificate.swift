import Auth
import Foundation
import KubeClient
import LinuxSystem
import Logging
import X509

/// The kubelet API's serving certificate from the master, as a kubelet with
/// `serverTLSBootstrap` gets it: a `kubernetes.io/kubelet-serving` CertificateSigningRequest
/// for the node's names, signed once approved (the master approves a node's own names itself).
/// The pair is kept under the agent's pki dir (key 0600) and reused while valid for the same names.
public enum ServingCertificate {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func reusable(certPEM: String, dnsNames: [String], ipAddresses: [String], now: Date) -> Bool {
        guard let cert = try? Certificate(pemEncoded: certPEM) else { return false }
        guard cert.notValidAfter > now.addingTimeInterval(7 * 86400) else { return false }
        guard let sans = try? cert.extensions.subjectAlternativeNames else { return false }
        var dns: Set<String> = [], ips: Set<String> = []
        for n in sans {
            if case .dnsName(let d) = n { dns.insert(d) }
            if case .ipAddress(let b) = n { ips.insert(CSRRequest.ipText(Array(b.bytes))) }
        }
        return dns == Set(dnsNames) && ips == Set(ipAddresses)
    }

    public static func obtain(client: KubeClient, nodeName: String, dnsNames: [String], ipAddresses: [String], directory: String,
                              logger: Logger) async throws -> (certificatePEM: String, keyPEM: String) {
        let certPath = directory + "/kubelet-server.crt", keyPath = directory + "/kubelet-server.key"
        if let c = try? Files.readString(certPath), let k = try? Files.readString(keyPath),
           reusable(certPEM: c, dnsNames: dnsNames, ipAddresses: ipAddresses, now: Date()) {
            return (c, k)
        }
        let made = try CSRRequest.make(commonName: "system:node:" + nodeName, organizations: ["system:nodes"],
                                       dnsNames: dnsNames, ipAddresses: ipAddresses)
        let body = JSON.object([
            ("apiVersion", .string("certificates.k8s.io/v1")), ("kind", .string("CertificateSigningRequest")),
            ("metadata", .object([("generateName", .string("csr-"))])),
            ("spec", .object([("request", .string(Data(made.requestPEM.utf8).base64EncodedString())),
                              ("signerName", .string(CSRPolicy.kubeletServing)),
                              ("usages", .array([.string("digital signature"), .string("server auth")]))])),
        ])
        let created = try await client.create(.csrs, body)
        let name = created.meta("name")
        logger.info("requested the kubelet API's serving certificate", metadata: ["csr": "\(name)"])
        var waitingLogged = false
        let started = ContinuousClock.now
        while true {
            let csr = try await client.get(.csrs, name: name)
            if case .string(let b64)? = csr["status"]?["certificate"], let der = Data(base64Encoded: b64), !der.isEmpty {
                let pem = String(decoding: der, as: UTF8.self)
                try Files.makeDirectories(directory, mode: 0o700)
                try Files.write(keyPath, Array(made.keyPEM.utf8), mode: 0o600, atomic: true)
                try Files.write(certPath, Array(pem.utf8), mode: 0o644, atomic: true)
                return (pem, made.keyPEM)
            }
            if case .array(let conds)? = csr["status"]?["conditions"] {
                for c in conds where c["status"] == .string("True") {
                    if case .string(let t)? = c["type"], t == "Denied" || t == "Failed" {
                        var msg = ""
                        if case .string(let m)? = c["message"] { msg = m }
                        throw Failure(description: "certificate request \(name) was \(t.lowercased()): \(msg)")
                    }
                }
            }
            if !waitingLogged && ContinuousClock.now - started > .seconds(10) {
                waitingLogged = true
                logger.warning("the kubelet API waits for its serving certificate: approve it with `kubectl certificate approve \(name)`")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

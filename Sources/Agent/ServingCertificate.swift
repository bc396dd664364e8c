import Auth
import Foundation
import KubeClient
import LinuxSystem
import Logging
import X509

/// Certificates the agent gets from the master as a kubelet does: a CertificateSigningRequest for
/// a fresh key, then the signed certificate once the request is approved.
public enum CertificateRequest {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Files the request and waits for the certificate (or its denial). `what` names it in the log.
    public static func file(client: KubeClient, signer: String, commonName: String, organizations: [String], dnsNames: [String] = [],
                            ipAddresses: [String] = [], usages: [String], what: String, logger: Logger) async throws -> (certificatePEM: String, keyPEM: String) {
        let made = try CSRRequest.make(commonName: commonName, organizations: organizations, dnsNames: dnsNames, ipAddresses: ipAddresses)
        let body = JSON.object([
            ("apiVersion", .string("certificates.k8s.io/v1")), ("kind", .string("CertificateSigningRequest")),
            ("metadata", .object([("generateName", .string("csr-"))])),
            ("spec", .object([("request", .string(Data(made.requestPEM.utf8).base64EncodedString())),
                              ("signerName", .string(signer)), ("usages", .array(usages.map { .string($0) }))])),
        ])
        let created = try await client.create(.csrs, body)
        let name = created.meta("name")
        logger.info("requested \(what)", metadata: ["csr": "\(name)"])
        var waitingLogged = false
        let started = ContinuousClock.now
        while true {
            let csr = try await client.get(.csrs, name: name)
            if case .string(let b64)? = csr["status"]?["certificate"], let der = Data(base64Encoded: b64), !der.isEmpty {
                return (String(decoding: der, as: UTF8.self), made.keyPEM)
            }
            if case .array(let conds)? = csr["status"]?["conditions"] {
                for c in conds where c["status"] == .string("True") {
                    if case .string(let t)? = c["type"], t == "Denied" || t == "Failed" {
                        var msg = ""
                        if case .string(let m)? = c["message"] { msg = m }
                        throw Failure(description: "certificate request \(name) (\(what)) was \(t.lowercased()): \(msg)")
                    }
                }
            }
            if !waitingLogged && ContinuousClock.now - started > .seconds(10) {
                waitingLogged = true
                logger.warning("waiting for \(what): approve it with `kubectl certificate approve \(name)`")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// The names and addresses a certificate covers, and whether it is valid a week from now.
    static func covers(_ cert: Certificate, dnsNames: [String], ipAddresses: [String], now: Date) -> Bool {
        guard cert.notValidAfter > now.addingTimeInterval(7 * 86400), let sans = try? cert.extensions.subjectAlternativeNames else { return false }
        var dns: Set<String> = [], ips: Set<String> = []
        for n in sans {
            if case .dnsName(let d) = n { dns.insert(d) }
            if case .ipAddress(let b) = n { ips.insert(CSRRequest.ipText(Array(b.bytes))) }
        }
        return dns == Set(dnsNames) && ips == Set(ipAddresses)
    }
}

/// The kubelet API's serving certificate from the master, as a kubelet with
/// `serverTLSBootstrap` gets it (`kubernetes.io/kubelet-serving`, for the names the Node
/// reports; the master approves a node's own names itself). The pair is kept under the agent's
/// pki dir (key 0600) and reused while valid for the same names.
public enum ServingCertificate {
    public static func obtain(client: KubeClient, nodeName: String, dnsNames: [String], ipAddresses: [String], directory: String,
                              logger: Logger) async throws -> (certificatePEM: String, keyPEM: String) {
        let certPath = directory + "/kubelet-server.crt", keyPath = directory + "/kubelet-server.key"
        if let c = try? Files.readString(certPath), let k = try? Files.readString(keyPath), let cert = try? Certificate(pemEncoded: c),
           CertificateRequest.covers(cert, dnsNames: dnsNames, ipAddresses: ipAddresses, now: Date()) {
            return (c, k)
        }
        let pair = try await CertificateRequest.file(client: client, signer: CSRPolicy.kubeletServing, commonName: "system:node:" + nodeName,
                                                     organizations: ["system:nodes"], dnsNames: dnsNames, ipAddresses: ipAddresses,
                                                     usages: ["digital signature", "server auth"], what: "the kubelet API's serving certificate", logger: logger)
        try Files.makeDirectories(directory, mode: 0o700)
        try Files.write(keyPath, Array(pair.keyPEM.utf8), mode: 0o600, atomic: true)
        try Files.write(certPath, Array(pair.certificatePEM.utf8), mode: 0o644, atomic: true)
        return pair
    }
}

/// TLS bootstrap: a node that has only a bootstrap token (`--bootstrap-kubeconfig`) files a
/// `kubernetes.io/kube-apiserver-client-kubelet` request for `system:node:<name>`; once the
/// master signs it, the node's own kubeconfig is written (0600) and used from then on.
public enum NodeBootstrap {
    /// True when `path` holds a kubeconfig whose client certificate is this node's and valid
    /// for a day more.
    public static func usable(path: String, nodeName: String, now: Date = Date()) -> Bool {
        guard let k = try? KubeConfig.load(path: path), let pem = k.clientCertificatePEM,
              let cert = try? Certificate(pemEncoded: String(decoding: pem, as: UTF8.self)) else { return false }
        return cert.kubernetesUser.name == "system:node:" + nodeName && cert.notValidAfter > now.addingTimeInterval(86400)
    }

    public static func run(bootstrap: KubeConfig, kubeconfigPath: String, nodeName: String, logger: Logger) async throws {
        let client = try KubeClient(config: bootstrap, userAgent: "swiftlet-agent (\(nodeName), bootstrap)")
        defer { Task { await client.shutdown() } }
        let pair = try await CertificateRequest.file(client: client, signer: CSRPolicy.kubeletClient, commonName: "system:node:" + nodeName,
                                                     organizations: ["system:nodes"], usages: ["digital signature", "client auth"],
                                                     what: "the node's client certificate", logger: logger)
        let text = KubeConfig.text(server: bootstrap.server, caPEM: bootstrap.certificateAuthorityPEM.map { String(decoding: $0, as: UTF8.self) },
                                   certPEM: pair.certificatePEM, keyPEM: pair.keyPEM, token: nil, user: "system:node:" + nodeName)
        let dir = (kubeconfigPath as NSString).deletingLastPathComponent
        if !dir.isEmpty { try Files.makeDirectories(dir, mode: 0o700) }
        try Files.write(kubeconfigPath, Array(text.utf8), mode: 0o600, atomic: true)
        logger.info("bootstrapped: the node's kubeconfig written", metadata: ["kubeconfig": "\(kubeconfigPath)"])
    }
}

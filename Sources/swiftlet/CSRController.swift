import Auth
import Foundation
import KubeClient
import LinuxSystem
import Logging

/// The master's certificate controller for `kubernetes.io/kubelet-serving` and
/// `kubernetes.io/kube-apiserver-client-kubelet` (TLS bootstrap), a client of the API
/// like kube-controller-manager's: it approves a node's request for its own serving certificate
/// when the names are the Node's (CSRPolicy), and signs approved requests with the cluster CA.
/// Requests it will not approve stay pending for an administrator (`kubectl certificate approve`).
actor CSRController {
    let client: KubeClient
    let ca: CertificateAuthority
    let log: Logger
    let informer: Informer
    var tasks: [Task<Void, Never>] = []
    var reported: Set<String> = []

    init(client: KubeClient, ca: CertificateAuthority, logger: Logger) {
        self.client = client
        self.ca = ca
        log = logger
        informer = Informer(client: client, resource: .csrs)
    }

    func start() async {
        await informer.addHandler { [self] e in
            if case .deleted = e { return }
            await self.handle(e.object)
        }
        let informer = self.informer
        tasks.append(Task { await informer.run() })
        // a request left pending because its Node was not registered yet is looked at again
        tasks.append(Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                for o in await informer.items() { await self.handle(o) }
            }
        })
    }

    static func replacing(_ obj: JSON, _ key: String, _ value: JSON) -> JSON {
        guard case .object(var m) = obj else { return obj }
        m.removeAll { $0.0 == key }
        m.append((key, value))
        return .object(m)
    }

    static func strings(_ v: JSON?) -> [String] {
        guard case .array(let a)? = v else { return [] }
        return a.compactMap { if case .string(let s) = $0 { return s }; return nil }
    }

    func handle(_ csr: JSON) async {
        let name = csr.meta("name")
        let spec = csr["spec"]
        guard case .string(let signer)? = spec?["signerName"], signer == CSRPolicy.kubeletServing || signer == CSRPolicy.kubeletClient else { return }
        let isClient = signer == CSRPolicy.kubeletClient
        if case .string(let c)? = csr["status"]?["certificate"], !c.isEmpty { return }
        var conditions: [JSON] = []
        if case .array(let cs)? = csr["status"]?["conditions"] { conditions = cs }
        let decided = Set(conditions.compactMap { c -> String? in c["status"] == .string("True") ? (c["type"].flatMap { if case .string(let s) = $0 { return s }; return nil }) : nil })
        if decided.contains("Denied") || decided.contains("Failed") { return }
        guard case .string(let b64)? = spec?["request"], let der = Data(base64Encoded: b64),
              let request = try? CSRRequest(pem: String(decoding: der, as: UTF8.self)) else { return }
        let usages = Self.strings(spec?["usages"])
        let now = Timestamp.now().rfc3339Nano
        if !decided.contains("Approved") {
            var username = ""
            if case .string(let u)? = spec?["username"] { username = u }
            let node = String(request.commonName.dropFirst("system:node:".count))
            if isClient {
                await approveClient(csr, request, usages: usages, username: username, conditions: conditions, now: now)
                return
            }
            var addresses: [(type: String, address: String)]?
            if request.commonName.hasPrefix("system:node:"), let n = try? await client.get(.nodes, name: node) {
                var list: [(type: String, address: String)] = []
                if case .array(let a)? = n["status"]?["addresses"] {
                    for x in a { if case .string(let t)? = x["type"], case .string(let v)? = x["address"] { list.append((t, v)) } }
                }
                addresses = list
            }
            switch CSRPolicy.approveKubeletServing(request, usages: usages, username: username, groups: Self.strings(spec?["groups"]), nodeAddresses: addresses) {
            case .leave(let why):
                if reported.insert(name).inserted { log.info("certificate request left for an administrator", metadata: ["csr": "\(name)", "reason": "\(why)"]) }
                return
            case .approve(let why):
                let cond = JSON.object([("type", .string("Approved")), ("status", .string("True")), ("reason", .string("AutoApproved")),
                                        ("message", .string("swiftlet: " + why)), ("lastUpdateTime", .string(now)), ("lastTransitionTime", .string(now))])
                let status = Self.replacing(csr["status"] ?? .object([]), "conditions", .array(conditions + [cond]))
                do {
                    _ = try await client.update(.csrs, name: name, Self.replacing(csr, "status", status), subresource: "approval")
                    log.info("certificate request approved", metadata: ["csr": "\(name)", "node": "\(node)"])
                } catch {
                    log.warning("approving certificate request \(name): \(error)")
                }
                return   // its update comes back through the watch, approved
            }
        }
        var status = csr["status"] ?? .object([])
        if let problem = isClient ? CSRPolicy.kubeletClientProblem(request, usages: usages) : CSRPolicy.kubeletServingProblem(request, usages: usages) {
            let cond = JSON.object([("type", .string("Failed")), ("status", .string("True")), ("reason", .string("SignerValidationFailure")),
                                    ("message", .string(problem)), ("lastUpdateTime", .string(now)), ("lastTransitionTime", .string(now))])
            status = Self.replacing(status, "conditions", .array(conditions + [cond]))
        } else {
            var expiration: Int?
            if case .number(let n)? = spec?["expirationSeconds"] { expiration = Int(n) }
            do {
                let pem = try CSRPolicy.sign(request, ca: ca, expirationSeconds: expiration, client: isClient)
                status = Self.replacing(status, "certificate", .string(Data(pem.utf8).base64EncodedString()))
            } catch {
                log.error("signing certificate request \(name): \(error)")
                return
            }
        }
        do {
            _ = try await client.update(.csrs, name: name, Self.replacing(csr, "status", status), subresource: "status")
            log.info("certificate request signed", metadata: ["csr": "\(name)", "subject": "\(request.commonName)"])
        } catch {
            log.warning("writing the certificate of request \(name): \(error)")
        }
    }

    /// A node client certificate (TLS bootstrap, renewal): approved when the requester holds
    /// `create` on `certificatesigningrequests/nodeclient` (or `selfnodeclient` for a node's own),
    /// asked of the master with a SubjectAccessReview.
    func approveClient(_ csr: JSON, _ request: CSRRequest, usages: [String], username: String, conditions: [JSON], now: String) async {
        let name = csr.meta("name")
        guard let sub = CSRPolicy.kubeletClientPermission(request, usages: usages, username: username) else {
            if reported.insert(name).inserted {
                log.info("certificate request left for an administrator", metadata: ["csr": "\(name)", "reason": "\(CSRPolicy.kubeletClientProblem(request, usages: usages) ?? "")"])
            }
            return
        }
        var groups: [JSON] = []
        if case .array(let g)? = csr["spec"]?["groups"] { groups = g }
        let review = JSON.object([
            ("apiVersion", .string("authorization.k8s.io/v1")), ("kind", .string("SubjectAccessReview")),
            ("spec", .object([("user", .string(username)), ("groups", .array(groups)),
                              ("resourceAttributes", .object([("verb", .string("create")), ("group", .string("certificates.k8s.io")),
                                                              ("resource", .string("certificatesigningrequests")), ("subresource", .string(sub))]))])),
        ])
        let allowed: Bool
        do {
            let r = try await client.create(Resource(group: "authorization.k8s.io", resource: "subjectaccessreviews", namespaced: false), review)
            allowed = r["status"]?["allowed"] == .bool(true)
        } catch {
            log.warning("reviewing certificate request \(name): \(error)")
            return
        }
        guard allowed else {
            if reported.insert(name).inserted {
                log.info("certificate request left for an administrator", metadata: ["csr": "\(name)", "reason": "\(username) may not create certificatesigningrequests/\(sub)"])
            }
            return
        }
        let cond = JSON.object([("type", .string("Approved")), ("status", .string("True")), ("reason", .string("AutoApproved")),
                                ("message", .string("swiftlet: auto approving a node client certificate (\(sub))")),
                                ("lastUpdateTime", .string(now)), ("lastTransitionTime", .string(now))])
        let status = Self.replacing(csr["status"] ?? .object([]), "conditions", .array(conditions + [cond]))
        do {
            _ = try await client.update(.csrs, name: name, Self.replacing(csr, "status", status), subresource: "approval")
            log.info("certificate request approved", metadata: ["csr": "\(name)", "subject": "\(request.commonName)"])
        } catch {
            log.warning("approving certificate request \(name): \(error)")
        }
    }
}

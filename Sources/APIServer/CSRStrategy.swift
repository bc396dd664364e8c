import APIMachinery
import Auth
import Foundation
import LinuxSystem

/// CertificateSigningRequests as kube-apiserver keeps them: the requester's identity recorded
/// on create, the request checked (a parseable PKCS#10 whose signature matches its key), the spec
/// immutable, and approving or signing allowed only to who holds `approve`/`sign` on the signer.
enum CSRStrategy {
    static func prepareForCreate(_ obj: inout JSON, caller: UserInfo?) throws {
        var causes: [APIStatus.Cause] = []
        let name = obj["metadata"]?["name"]?.stringValue ?? ""
        let spec = obj["spec"]
        if (spec?["signerName"]?.stringValue ?? "").isEmpty {
            causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.signerName"))
        }
        if (spec?["usages"]?.arrayValue ?? []).isEmpty {
            causes.append(.init(reason: "FieldValueRequired", message: "Required value", field: "spec.usages"))
        }
        if let e = spec?["expirationSeconds"]?.int64Value, e < 600 {
            causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \(e): may not specify a duration less than 600 seconds (10 minutes)", field: "spec.expirationSeconds"))
        }
        if let b64 = spec?["request"]?.stringValue, let der = Data(base64Encoded: b64) {
            do { _ = try CSRRequest(pem: String(decoding: der, as: UTF8.self)) } catch {
                causes.append(.init(reason: "FieldValueInvalid", message: "Invalid value: \"<PEM>\": \(error)", field: "spec.request"))
            }
        } else {
            causes.append(.init(reason: "FieldValueRequired", message: "Required value: a base64 PEM certificate request", field: "spec.request"))
        }
        if !causes.isEmpty { throw APIStatus.invalid(kind: "CertificateSigningRequest", group: "certificates.k8s.io", name: name, causes: causes) }
        // who asked is what the server says, never what the request claims
        let u = caller ?? UserInfo(name: "", groups: [])
        obj.set(["spec", "username"], .string(u.name))
        obj.set(["spec", "groups"], .array(u.groups.map { .string($0) }))
        obj.set(["spec", "uid"], u.uid.isEmpty ? nil : .string(u.uid))
        obj.set(["spec", "extra"], nil)
        obj.set(["status"], nil)
    }

    /// The condition types set True.
    static func decided(_ o: JSON) -> Set<String> {
        Set((o["status"]?["conditions"]?.arrayValue ?? []).compactMap { c -> String? in
            c["status"]?.stringValue == "True" ? c["type"]?.stringValue : nil
        })
    }

    static func admitSigners(new: JSON, old: JSON, user: UserInfo, policy: RBACPolicy?, attributes a: RequestAttributes) throws {
        let signer = old["spec"]?["signerName"]?.stringValue ?? ""
        let name = old["metadata"]?["name"]?.stringValue ?? ""
        let now = decided(new), was = decided(old)
        if now.contains("Approved") && now.contains("Denied") {
            throw APIStatus.invalid(kind: "CertificateSigningRequest", group: "certificates.k8s.io", name: name,
                                    causes: [.init(reason: "FieldValueInvalid", message: "Approved and Denied conditions are mutually exclusive", field: "status.conditions")])
        }
        if was.contains("Approved") && !now.contains("Approved") || was.contains("Denied") && !now.contains("Denied") {
            throw APIStatus.invalid(kind: "CertificateSigningRequest", group: "certificates.k8s.io", name: name,
                                    causes: [.init(reason: "FieldValueForbidden", message: "updates may not remove an Approved or Denied condition", field: "status.conditions")])
        }
        func may(_ verb: String) -> Bool {
            guard let policy else { return false }
            let domain = signer.split(separator: "/").first.map { String($0) + "/*" } ?? ""
            return [signer, domain].contains { n in
                policy.authorize(user, RequestAttributes(verb: verb, apiGroup: "certificates.k8s.io", apiVersion: "v1", resource: "signers", name: n)) == .allow
            }
        }
        if now != was, !may("approve") {
            throw APIStatus(code: 403, reason: "Forbidden",
                            message: "certificatesigningrequests.certificates.k8s.io \"\(name)\" is forbidden: user not permitted to approve requests with signerName \"\(signer)\"",
                            name: name, group: "certificates.k8s.io", kind: "certificatesigningrequests")
        }
        if new["status"]?["certificate"] != old["status"]?["certificate"], !may("sign") {
            throw APIStatus(code: 403, reason: "Forbidden",
                            message: "certificatesigningrequests.certificates.k8s.io \"\(name)\" is forbidden: user not permitted to sign requests with signerName \"\(signer)\"",
                            name: name, group: "certificates.k8s.io", kind: "certificatesigningrequests")
        }
    }
}

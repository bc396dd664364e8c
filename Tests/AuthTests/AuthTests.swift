import Auth
import Crypto
import Foundation
import LinuxSystem
import Testing
import X509

// MARK: - tokens

@Suite("JWS (ES256 only)")
struct JWTTests {
    let key = P256.Signing.PrivateKey()
    let claims = JSON.object([("sub", .string("system:serviceaccount:default:app")), ("exp", .number("4102444800"))])

    @Test("a signed token verifies with its key and gives back its claims")
    func roundTrip() throws {
        let t = try JWT.sign(claims, key: key, keyID: "k1")
        #expect(try JWT.verify(t, key: key.publicKey) == claims)
    }

    @Test("another key, a changed payload, a changed signature: refused")
    func tampering() throws {
        let t = try JWT.sign(claims, key: key, keyID: "k1")
        #expect(throws: JWT.Invalid.self) { try JWT.verify(t, key: P256.Signing.PrivateKey().publicKey) }
        let parts = t.split(separator: ".").map(String.init)
        let forged = JSON.object([("sub", .string("system:serviceaccount:kube-system:admin")), ("exp", .number("4102444800"))])
        let swapped = parts[0] + "." + JWT.base64url(Array(forged.serialized().utf8)) + "." + parts[2]
        #expect(throws: JWT.Invalid.self) { try JWT.verify(swapped, key: key.publicKey) }
        var sig = Array(parts[2])
        sig[5] = sig[5] == "A" ? "B" : "A"
        #expect(throws: JWT.Invalid.self) { try JWT.verify(parts[0] + "." + parts[1] + "." + String(sig), key: key.publicKey) }
        #expect(throws: JWT.Invalid.self) { try JWT.verify(parts[0] + "." + parts[1], key: key.publicKey) }
        #expect(throws: JWT.Invalid.self) { try JWT.verify("", key: key.publicKey) }
    }

    @Test("alg none and HS256 signed with the public key are refused before any signature check")
    func algorithmConfusion() throws {
        let payload = JWT.base64url(Array(claims.serialized().utf8))
        let none = JWT.base64url(Array(#"{"alg":"none"}"#.utf8)) + "." + payload + "."
        #expect(throws: JWT.Invalid.self) { try JWT.verify(none, key: key.publicKey) }
        let hsHeader = JWT.base64url(Array(#"{"alg":"HS256"}"#.utf8))
        let input = hsHeader + "." + payload
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: key.publicKey.derRepresentation))
        let hs = input + "." + JWT.base64url(Array(mac))
        #expect(throws: JWT.Invalid.self) { try JWT.verify(hs, key: key.publicKey) }
    }
}

@Suite("Service-account tokens")
struct ServiceAccountTokenTests {
    let tokens = ServiceAccountTokens(key: P256.Signing.PrivateKey())
    let now: Int64 = 1_800_000_000

    func claims(exp: Int64? = nil, pod: (name: String, uid: String)? = nil, aud: [String] = ["https://kubernetes.default.svc.cluster.local"]) -> ServiceAccountClaims {
        ServiceAccountClaims(namespace: "default", name: "app", uid: "sa-uid-1", pod: pod, audiences: aud,
                             expiration: exp ?? now + 3600, issuedAt: now, tokenID: "jti-1")
    }

    @Test("a bound token round-trips: namespace, name, uid, pod, audiences, expiry")
    func roundTrip() throws {
        let c = claims(pod: ("web-1", "pod-uid-9"))
        let got = try tokens.validate(try tokens.issue(c), now: now + 10, audiences: c.audiences)
        #expect(got == c)
        #expect(got.user.name == "system:serviceaccount:default:app")
        #expect(got.user.groups == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
        #expect(got.user.extra["authentication.kubernetes.io/pod-uid"] == ["pod-uid-9"])
    }

    @Test("expired (past the 60 s skew), not yet valid, or for another audience: refused")
    func refusals() throws {
        let t = try tokens.issue(claims(exp: now + 600))
        #expect(throws: JWT.Invalid.self) { try tokens.validate(t, now: now + 661, audiences: []) }
        #expect(throws: (any Error).self) { try tokens.validate(t, now: now - 61, audiences: []) }
        #expect(throws: JWT.Invalid.self) { try tokens.validate(t, now: now, audiences: ["vault"]) }
        _ = try tokens.validate(t, now: now + 659, audiences: [])
    }

    @Test("a token of another issuer or signed by another master's key is refused")
    func otherIssuers() throws {
        let foreign = ServiceAccountTokens(key: tokens.key, issuer: "https://evil.example")
        #expect(throws: JWT.Invalid.self) { try tokens.validate(try foreign.issue(claims()), now: now, audiences: []) }
        let otherKey = ServiceAccountTokens(key: P256.Signing.PrivateKey())
        #expect(throws: JWT.Invalid.self) { try tokens.validate(try otherKey.issue(claims()), now: now, audiences: []) }
    }

    @Test("a validly signed JWT whose subject names another account is refused")
    func subjectMismatch() throws {
        let forged = JSON.object([
            ("aud", .array([.string("https://kubernetes.default.svc.cluster.local")])), ("exp", .number(String(now + 3600))),
            ("iss", .string(ServiceAccountTokens.defaultIssuer)),
            ("kubernetes.io", .object([("namespace", .string("default")), ("serviceaccount", .object([("name", .string("app")), ("uid", .string("u"))]))])),
            ("sub", .string("system:serviceaccount:kube-system:admin")),
        ])
        let t = try JWT.sign(forged, key: tokens.key, keyID: tokens.keyID)
        #expect(throws: JWT.Invalid.self) { try tokens.validate(t, now: now, audiences: []) }
    }
}

@Suite("Bootstrap tokens and the token file")
struct BootstrapAndTokenFileTests {
    let data = ["token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
                "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token, system:masters"]

    @Test("the <6>.<16> format of [a-z0-9]", arguments: [
        ("abcdef.0123456789abcdef", true), ("ABCDEF.0123456789abcdef", false), ("abcde.0123456789abcdef", false),
        ("abcdef.0123456789abcde", false), ("abcdef0123456789abcdef", false), ("abcdef.0123456789abcdef.x", false), ("", false),
    ])
    func format(_ token: String, _ valid: Bool) {
        #expect((BootstrapToken.parse(token) != nil) == valid)
    }

    @Test("the right secret authenticates as system:bootstrap:<id>; extra groups only under system:bootstrappers:")
    func user() throws {
        let u = try #require(BootstrapToken.user(id: "abcdef", secret: "0123456789abcdef", data: data, now: Date()))
        #expect(u.name == "system:bootstrap:abcdef")
        #expect(u.groups == ["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token"])
    }

    @Test("a wrong secret, an expired token or one not meant for authentication: nobody")
    func refusals() {
        #expect(BootstrapToken.user(id: "abcdef", secret: "0123456789abcdee", data: data, now: Date()) == nil)
        #expect(BootstrapToken.user(id: "zzzzzz", secret: "0123456789abcdef", data: data, now: Date()) == nil)
        var expired = data
        expired["expiration"] = "2020-01-01T00:00:00Z"
        #expect(BootstrapToken.user(id: "abcdef", secret: "0123456789abcdef", data: expired, now: Date()) == nil)
        var unusable = data
        unusable["usage-bootstrap-authentication"] = nil
        #expect(BootstrapToken.user(id: "abcdef", secret: "0123456789abcdef", data: unusable, now: Date()) == nil)
    }

    @Test("token file lines: token,user,uid[,\"groups\"], comments and blanks skipped; a short line is an error naming it")
    func tokenFile() throws {
        let users = try TokenFile.parse("# users\n\nt0k3n,alice,1001,\"dev,ops\"\nother,bob,1002\n")
        #expect(users["t0k3n"] == UserInfo(name: "alice", uid: "1001", groups: ["dev", "ops"]))
        #expect(users["other"] == UserInfo(name: "bob", uid: "1002"))
        #expect(throws: PKIError.self) { try TokenFile.parse("ok,a,1\nbroken,only-user\n") }
        do { _ = try TokenFile.parse("ok,a,1\nbroken,only-user\n") } catch { #expect("\(error)".contains("line 2")) }
    }
}

// MARK: - RBAC

@Suite("RBAC")
struct RBACTests {
    let alice = UserInfo(name: "alice", groups: ["dev", "system:authenticated"])

    func get(_ resource: String, _ sub: String = "", group: String = "", ns: String = "default", name: String = "x", verb: String = "get") -> RequestAttributes {
        RequestAttributes(verb: verb, apiGroup: group, apiVersion: "v1", resource: resource, subresource: sub, namespace: ns, name: name)
    }

    @Test("rules: verbs, groups, subresources (res/sub, res/*, */sub), names, non-resource URLs")
    func ruleMatching() {
        let pods = PolicyRule(verbs: ["get", "list"], apiGroups: [""], resources: ["pods"])
        #expect(pods.allows(get("pods")))
        #expect(!pods.allows(get("pods", verb: "delete")))
        #expect(!pods.allows(get("pods", "log")))
        #expect(!pods.allows(get("pods", group: "apps")))
        #expect(PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["pods/log"]).allows(get("pods", "log")))
        #expect(PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["pods/*"]).allows(get("pods", "exec")))
        #expect(PolicyRule(verbs: ["get"], apiGroups: ["apps"], resources: ["*/scale"]).allows(get("deployments", "scale", group: "apps")))
        #expect(!PolicyRule(verbs: ["get"], apiGroups: ["apps"], resources: ["*/scale"]).allows(get("deployments", group: "apps")))
        let named = PolicyRule(verbs: ["get", "list"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["cfg"])
        #expect(named.allows(get("configmaps", name: "cfg")))
        #expect(!named.allows(get("configmaps", name: "other")))
        #expect(!named.allows(get("configmaps", name: "", verb: "list")))
        let urls = PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/apis/*"])
        #expect(urls.allows(.nonResource("get", "/healthz")))
        #expect(urls.allows(.nonResource("get", "/apis/apps/v1")))
        #expect(!urls.allows(.nonResource("get", "/metrics")))
        #expect(!urls.allows(.nonResource("post", "/healthz")))
        #expect(!urls.allows(get("pods")))
    }

    @Test("bindings: a RoleBinding grants only in its namespace; groups and service accounts as subjects")
    func bindings() {
        let policy = RBACPolicy(
            clusterRoles: Dictionary(uniqueKeysWithValues: DefaultPolicy.clusterRoles.map { ($0.name, $0.rules) }),
            roles: ["team": ["reader": [PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["secrets"])]]],
            clusterRoleBindings: DefaultPolicy.clusterRoleBindings,
            roleBindings: [
                RoleBinding(name: "devs-edit", namespace: "team", roleRef: RoleRef(kind: "ClusterRole", name: "edit"), subjects: [Subject(kind: "Group", name: "dev")]),
                RoleBinding(name: "ci-read", namespace: "team", roleRef: RoleRef(kind: "Role", name: "reader"), subjects: [Subject(kind: "ServiceAccount", name: "ci")]),
            ])
        #expect(policy.authorize(alice, get("pods", ns: "team", verb: "create")) == .allow)
        #expect(policy.authorize(alice, get("pods", ns: "default", verb: "create")) == .noOpinion)
        #expect(policy.authorize(alice, get("roles", group: "rbac.authorization.k8s.io", ns: "team", verb: "create")) == .noOpinion)
        let ci = UserInfo(name: "system:serviceaccount:team:ci", groups: ["system:serviceaccounts"])
        #expect(policy.authorize(ci, get("secrets", ns: "team")) == .allow)
        #expect(policy.authorize(ci, get("secrets", ns: "default")) == .noOpinion)
        let impostor = UserInfo(name: "system:serviceaccount:other:ci")
        #expect(policy.authorize(impostor, get("secrets", ns: "team")) == .noOpinion)
        // every authenticated user may discover and ask about itself, nothing more
        #expect(policy.authorize(alice, .nonResource("get", "/apis")) == .allow)
        #expect(policy.authorize(alice, get("selfsubjectaccessreviews", group: "authorization.k8s.io", ns: "", name: "", verb: "create")) == .allow)
        #expect(policy.authorize(alice, .nonResource("get", "/metrics")) == .noOpinion)
        #expect(policy.authorize(UserInfo.anonymous, .nonResource("get", "/healthz")) == .allow)
        #expect(policy.authorize(UserInfo.anonymous, .nonResource("get", "/apis")) == .noOpinion)
        #expect(policy.authorize(UserInfo(name: "root", groups: ["system:masters"]), get("anything", group: "x.io", verb: "delete")) == .allow)
    }

    @Test("the default view role reads workloads but not secrets; edit writes them but not roles")
    func defaultRoles() {
        let roles = Dictionary(uniqueKeysWithValues: DefaultPolicy.clusterRoles.map { ($0.name, $0.rules) })
        let view = roles["view"] ?? [], edit = roles["edit"] ?? [], admin = roles["admin"] ?? []
        #expect(view.contains { $0.allows(get("deployments", group: "apps", verb: "list")) })
        #expect(!view.contains { $0.allows(get("secrets")) })
        #expect(!view.contains { $0.allows(get("pods", "exec", verb: "create")) })
        #expect(edit.contains { $0.allows(get("secrets", verb: "update")) })
        #expect(edit.contains { $0.allows(get("pods", "exec", verb: "create")) })
        #expect(!edit.contains { $0.allows(get("rolebindings", group: "rbac.authorization.k8s.io", verb: "create")) })
        #expect(admin.contains { $0.allows(get("rolebindings", group: "rbac.authorization.k8s.io", verb: "create")) })
    }

    @Test("escalation: a role may only grant what its author holds")
    func escalation() {
        let held = [PolicyRule(verbs: ["get", "list"], apiGroups: [""], resources: ["pods", "pods/*"]),
                    PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["cfg"])]
        #expect(RBACPolicy.uncovered([PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["pods", "pods/log"])], by: held).isEmpty)
        #expect(RBACPolicy.uncovered([PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["cfg"])], by: held).isEmpty)
        // a wildcard is covered only by a wildcard; an unnamed grant is more than a named one
        #expect(RBACPolicy.uncovered([PolicyRule(verbs: ["*"], apiGroups: [""], resources: ["pods"])], by: held).count == 1)
        #expect(RBACPolicy.uncovered([PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["*"])], by: held).count == 1)
        #expect(RBACPolicy.uncovered([PolicyRule(verbs: ["get"], apiGroups: [""], resources: ["configmaps"])], by: held).count == 1)
        #expect(RBACPolicy.uncovered([PolicyRule(verbs: ["get", "delete"], apiGroups: [""], resources: ["pods"])], by: held)
            == [PolicyRule(verbs: ["delete"], apiGroups: [""], resources: ["pods"])])
    }

    @Test("kube-apiserver's forbidden messages")
    func messages() {
        let bob = UserInfo(name: "bob")
        #expect(get("pods", ns: "default", name: "", verb: "list").forbiddenMessage(bob, reason: "")
            == #"pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default""#)
        #expect(get("deployments", "scale", group: "apps", ns: "", name: "web", verb: "update").forbiddenMessage(bob, reason: "")
            == #"deployments.apps/scale "web" is forbidden: User "bob" cannot update resource "deployments/scale" in API group "apps" at the cluster scope"#)
        #expect(RequestAttributes.nonResource("get", "/metrics").forbiddenMessage(bob, reason: "")
            == #"forbidden: User "bob" cannot get path "/metrics""#)
    }
}

// MARK: - identities and the Node authorizer

@Suite("Identities and the Node authorizer")
struct NodeAuthorizerTests {
    func req(_ verb: String, _ resource: String, _ sub: String = "", group: String = "", ns: String = "", name: String = "") -> RequestAttributes {
        RequestAttributes(verb: verb, apiGroup: group, apiVersion: "v1", resource: resource, subresource: sub, namespace: ns, name: name)
    }

    @Test("a node identity needs both the name and the group; service-account names parse strictly")
    func identities() {
        #expect(UserInfo(name: "system:node:n1", groups: ["system:nodes"]).nodeName == "n1")
        #expect(UserInfo(name: "system:node:n1").nodeName == nil)
        #expect(UserInfo(name: "system:node:", groups: ["system:nodes"]).nodeName == nil)
        #expect(UserInfo(name: "system:serviceaccount:ns:sa").serviceAccount! == ("ns", "sa"))
        #expect(UserInfo(name: "system:serviceaccount:ns:sa:extra").serviceAccount == nil)
        #expect(UserInfo(name: "system:serviceaccount::sa").serviceAccount == nil)
    }

    @Test("its own Node and Lease only; secrets only by name and only when a bound pod references them")
    func decisions() {
        #expect(NodeAuthorizer.decide(node: "n1", req("patch", "nodes", "status", name: "n1"), nodeNameSelector: nil) == .allow)
        // one Secret watched by metadata.name: the same question as a get of it; a list of all: no
        #expect(NodeAuthorizer.decide(node: "n1", req("watch", "secrets", ns: "a", name: "s"), nodeNameSelector: nil) == .ifReferenced(resource: "secrets", namespace: "a", name: "s"))
        #expect(NodeAuthorizer.decide(node: "n1", req("list", "configmaps", ns: "a", name: "c"), nodeNameSelector: nil) == .ifReferenced(resource: "configmaps", namespace: "a", name: "c"))
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("list", "secrets", ns: "a"), nodeNameSelector: nil) {} else { Issue.record("a node may list all secrets") }
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("delete", "secrets", ns: "a", name: "s"), nodeNameSelector: nil) {} else { Issue.record("a node may delete a secret") }
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("patch", "nodes", "status", name: "n2"), nodeNameSelector: nil) {} else { Issue.record("n1 may patch n2") }
        #expect(NodeAuthorizer.decide(node: "n1", req("update", "leases", group: "coordination.k8s.io", ns: "kube-node-lease", name: "n1"), nodeNameSelector: nil) == .allow)
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("update", "leases", group: "coordination.k8s.io", ns: "kube-node-lease", name: "n2"), nodeNameSelector: nil) {} else { Issue.record("n1 may renew n2's lease") }
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("update", "leases", group: "coordination.k8s.io", ns: "default", name: "n1"), nodeNameSelector: nil) {} else { Issue.record("lease outside kube-node-lease") }
        #expect(NodeAuthorizer.decide(node: "n1", req("get", "secrets", ns: "default", name: "db"), nodeNameSelector: nil)
            == .ifReferenced(resource: "secrets", namespace: "default", name: "db"))
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("list", "secrets", ns: "default"), nodeNameSelector: nil) {} else { Issue.record("a node may list secrets") }
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("update", "secrets", ns: "default", name: "db"), nodeNameSelector: nil) {} else { Issue.record("a node may write secrets") }
        #expect(NodeAuthorizer.decide(node: "n1", req("list", "pods"), nodeNameSelector: "n1") == .allow)
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("list", "pods"), nodeNameSelector: "n2") {} else { Issue.record("a node may list another node's pods") }
        if case .noOpinion = NodeAuthorizer.decide(node: "n1", req("list", "pods"), nodeNameSelector: nil) {} else { Issue.record("a node may list all pods") }
        #expect(NodeAuthorizer.decide(node: "n1", req("patch", "pods", "status", ns: "default", name: "web"), nodeNameSelector: nil)
            == .ifPodBound(namespace: "default", name: "web"))
        #expect(NodeAuthorizer.podReferences(serviceAccount: "app", secrets: ["db"], configMaps: [], claims: [], resource: "secrets", name: "db"))
        #expect(!NodeAuthorizer.podReferences(serviceAccount: "app", secrets: ["db"], configMaps: [], claims: [], resource: "secrets", name: "other"))
        #expect(NodeAuthorizer.podReferences(serviceAccount: "app", secrets: [], configMaps: [], claims: [], resource: "serviceaccounts", name: "app"))
    }
}

// MARK: - PKI

@Suite("Cluster PKI")
struct PKITests {
    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-pki-\(UUID().uuidString)").path
        return d + "/pki"
    }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
    }

    @Test("first start: keys 0600 in a 0700 directory; the next start reuses the CA and keys")
    func createAndReload() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let a = try ClusterPKI.loadOrCreate(directory: dir, dnsNames: ["master1"], ipAddresses: ["10.0.0.5"])
        #expect(mode(dir) == 0o700)
        for k in ["ca.key", "apiserver.key", "admin.key", "sa.key"] { #expect(mode(dir + "/" + k) == 0o600, "\(k)") }
        #expect(Set(a.serving.dnsNames).isSuperset(of: ["master1", "localhost", "kubernetes.default.svc"]))
        #expect(a.serving.ipAddresses.contains([10, 0, 0, 5]) && a.serving.ipAddresses.contains([127, 0, 0, 1]))
        #expect(a.admin.kubernetesUser == UserInfo(name: "kubernetes-admin", groups: ["system:masters"]))
        #expect(a.ca.verify(a.serving) && a.ca.verify(a.admin))
        let b = try ClusterPKI.loadOrCreate(directory: dir, dnsNames: ["master1"], ipAddresses: ["10.0.0.5"])
        #expect(b.ca.certificate == a.ca.certificate)
        #expect(b.serving == a.serving)
        #expect(b.serviceAccountKey.rawRepresentation == a.serviceAccountKey.rawRepresentation)
        // a new address: the serving certificate is re-issued by the same CA
        let c = try ClusterPKI.loadOrCreate(directory: dir, dnsNames: ["master1"], ipAddresses: ["10.0.0.6"])
        #expect(c.serving != a.serving && c.ca.certificate == a.ca.certificate)
        #expect(c.serving.ipAddresses.contains([10, 0, 0, 6]))
    }

    @Test("a certificate from another CA, or past its validity, does not verify")
    func verification() throws {
        let ca = try CertificateAuthority.create()
        let other = try CertificateAuthority.create()
        let key = P256.Signing.PrivateKey()
        let forged = try other.issue(commonName: "kubernetes-admin", organizations: ["system:masters"],
                                     publicKey: Certificate.PrivateKey(key).publicKey, usage: .client)
        #expect(!ca.verify(forged))
        let old = try ca.issue(commonName: "bob", publicKey: Certificate.PrivateKey(key).publicKey, usage: .client, validity: 3600,
                               now: Date().addingTimeInterval(-7200))
        #expect(!ca.verify(old))
        #expect(ca.verify(old, now: Date().addingTimeInterval(-5000)))
        #expect(throws: PKIError.self) {
            try ca.issue(commonName: "x", publicKey: Certificate.PrivateKey(key).publicKey, usage: .server(dnsNames: [], ipAddresses: ["not-an-ip"]))
        }
    }
}

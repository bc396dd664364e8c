import LinuxSystem
import Testing
@testable import Images

#if canImport(Glibc)
import Glibc
#endif

@Suite("Image references")
struct ReferenceTests {
    @Test("normalisation as Docker/containerd do it", arguments: [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("me/app:v1.2-rc_3", "docker.io/me/app:v1.2-rc_3"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b/c:tag", "localhost:5000/a/b/c:tag"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("registry.example.com/team/app__x.y-z", "registry.example.com/team/app__x.y-z:latest"),
        ("[::1]:5000/app:1", "[::1]:5000/app:1"),
    ])
    func normalise(input: String, expected: String) throws {
        #expect(try ImageReference.parse(input).description == expected)
    }

    @Test("digests: kept with the tag, pulled by digest")
    func digests() throws {
        let hex = String(repeating: "ab", count: 32)
        let r = try ImageReference.parse("quay.io/x/y:1@sha256:\(hex)")
        #expect(r.domain == "quay.io" && r.path == "x/y" && r.tag == "1")
        #expect(r.manifestReference == "sha256:\(hex)")
        let d = try ImageReference.parse("busybox@sha256:\(hex)")
        #expect(d.tag == nil && d.description == "docker.io/library/busybox@sha256:\(hex)")
        #expect(d.registryHost == "registry-1.docker.io")
    }

    @Test("invalid references name the reason", arguments: [
        ("", "empty reference"),
        ("Busybox", "repository name must be lowercase"),
        ("busybox:", "invalid tag"),
        ("busybox:-x", "invalid tag"),
        ("a//b", "empty path component"),
        ("busybox@sha256:abc", "must be 64 lowercase hex"),
        ("busybox@md5:abc", "unsupported digest algorithm"),
        ("bad_-name", "invalid repository component"),
        ("host:99999/app", "invalid registry host"),
        ("-host.com/app", "invalid registry host"),
    ])
    func invalid(input: String, reason: String) {
        do {
            _ = try ImageReference.parse(input)
            Issue.record("\(input) parsed")
        } catch {
            #expect(error.description.contains(reason), "\(error)")
            #expect(error.description.hasPrefix("InvalidImageName"))
        }
    }
}

@Suite("Manifests and configs")
struct ManifestTests {
    let d1 = "sha256:" + String(repeating: "1", count: 64)
    let d2 = "sha256:" + String(repeating: "2", count: 64)

    @Test("index: the host platform is chosen, variants optional")
    func index() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
         {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"\(d1)","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
         {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"\(d2)","size":11,"platform":{"os":"linux","architecture":"amd64"}}]}
        """
        guard case .index(let list) = try ManifestParser.parse(Array(json.utf8)) else { Issue.record("not an index"); return }
        #expect(ManifestParser.select(list, for: Platform(os: "linux", architecture: "amd64"))?.digest.description == d2)
        #expect(ManifestParser.select(list, for: Platform(os: "linux", architecture: "arm64"))?.digest.description == d1)
        #expect(ManifestParser.select(list, for: Platform(os: "linux", architecture: "s390x")) == nil)
    }

    @Test("image manifest from Content-Type when mediaType is absent; bad layers refused")
    func manifest() throws {
        let json = """
        {"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(d1)","size":5},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"\(d2)","size":7}]}
        """
        guard case .image(let m) = try ManifestParser.parse(Array(json.utf8), contentType: "application/vnd.oci.image.manifest.v1+json; charset=utf-8") else {
            Issue.record("not a manifest"); return
        }
        #expect(m.layers.count == 1 && m.layers[0].size == 7 && m.config.digest.description == d1)
        let bad = json.replacingOccurrences("tar+zstd", "squashfs")
        #expect(throws: ManifestError.self) { try ManifestParser.parse(Array(bad.utf8)) }
        let schema1 = #"{"schemaVersion":1,"name":"x","fsLayers":[]}"#
        do { _ = try ManifestParser.parse(Array(schema1.utf8)); Issue.record("schema 1 accepted") } catch {
            #expect(error.description.contains("schema 1"))
        }
        let badDigest = json.replacingOccurrences(d2, "sha256:xyz")
        do { _ = try ManifestParser.parse(Array(badDigest.utf8)); Issue.record("bad digest accepted") } catch {
            #expect(error.description.contains("layers") && error.description.contains("digest"), "\(error)")
        }
    }

    @Test("image config: process fields and diff_ids; nulls allowed")
    func config() throws {
        let json = """
        {"architecture":"amd64","os":"linux","config":{"User":"app:staff","Env":["A=1","PATH=/bin"],"Entrypoint":null,
         "Cmd":["sh"],"WorkingDir":"/w","StopSignal":"SIGQUIT","ExposedPorts":{"80/tcp":{}},"Labels":null},
         "rootfs":{"type":"layers","diff_ids":["\(d1)","\(d2)"]}}
        """
        let c = try ImageConfig.parse(Array(json.utf8))
        #expect(c.user == "app:staff" && c.entrypoint == [] && c.cmd == ["sh"] && c.workingDir == "/w")
        #expect(c.stopSignal == "SIGQUIT" && c.exposedPorts == ["80/tcp"] && c.diffIDs.count == 2)
    }

    @Test("chain IDs")
    func chains() throws {
        let a = try Digest.parse("sha256:" + String(repeating: "0", count: 63) + "1")
        let b = try Digest.parse("sha256:" + String(repeating: "0", count: 63) + "2")
        let c = chainIDs([a, b])
        #expect(c[0] == a)
        // printf 'sha256:0…1 sha256:0…2' | sha256sum
        #expect(c[1].hex == "e0213565073dd272477933ef550455db21856966e444074f1492aef0939305ac")
    }
}

@Suite("Registry auth")
struct AuthTests {
    @Test("WWW-Authenticate challenges")
    func challenges() {
        let b = AuthChallenge.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#)
        #expect(b?.scheme == "bearer")
        #expect(b?.parameters["realm"] == "https://auth.docker.io/token")
        #expect(b?.parameters["scope"] == "repository:library/busybox:pull")
        let basic = AuthChallenge.parse(#"Basic realm="Registry Realm""#)
        #expect(basic?.scheme == "basic" && basic?.parameters["realm"] == "Registry Realm")
        #expect(AuthChallenge.parse(#"Bearer realm=unquoted, error="invalid_token""#)?.parameters == ["realm": "unquoted", "error": "invalid_token"])
    }

    @Test("docker config.json credentials")
    func dockerConfig() throws {
        let path = "/tmp/swiftlet-test-dockercfg-\(getpid()).json"
        defer { unlink(path) }
        // "dXNlcjpwYTpzcw==" is base64("user:pa:ss")
        try Files.write(path, #"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},"reg.local:5000":{"username":"u","password":"p"}}}"#)
        let creds = try DockerConfig.load(path: path)
        #expect(creds["docker.io"] == Credential(username: "user", password: "pa:ss"))
        #expect(creds["reg.local:5000"] == Credential(username: "u", password: "p"))
        #expect(try DockerConfig.load(path: path + ".missing").isEmpty)
    }

    @Test("plain HTTP only for loopback and configured hosts")
    func schemes() {
        var o = RegistryOptions()
        o.insecureRegistries = ["reg.lan:5000"]
        #expect(o.scheme(for: "localhost:5000") == "http")
        #expect(o.scheme(for: "127.0.0.1:5000") == "http")
        #expect(o.scheme(for: "[::1]:5000") == "http")
        #expect(o.scheme(for: "reg.lan:5000") == "http")
        #expect(o.scheme(for: "reg.lan") == "https")
        #expect(o.scheme(for: "registry-1.docker.io") == "https")
    }
}

@Suite("Image → container defaults")
struct DefaultsTests {
    var image: ImageConfig {
        var c = ImageConfig()
        c.entrypoint = ["/entry"]
        c.cmd = ["--serve"]
        c.env = ["PATH=/usr/bin", "A=image"]
        c.workingDir = "/app"
        c.user = "app"
        return c
    }

    @Test("Kubernetes command/args rules")
    func commandArgs() {
        #expect(ProcessDefaults.resolve(image: image).args == ["/entry", "--serve"])
        #expect(ProcessDefaults.resolve(image: image, args: ["x"]).args == ["/entry", "x"])
        #expect(ProcessDefaults.resolve(image: image, command: ["/bin/sh"]).args == ["/bin/sh"])
        #expect(ProcessDefaults.resolve(image: image, command: ["/bin/sh"], args: ["-c", "true"]).args == ["/bin/sh", "-c", "true"])
        #expect(ProcessDefaults.resolve(image: image, command: [], args: []).args == ["/entry", "--serve"])
    }

    @Test("env merge, workdir, user, stop signal")
    func fields() {
        let p = ProcessDefaults.resolve(image: image, env: ["A=pod", "B=2"], workingDir: "")
        #expect(p.env == ["PATH=/usr/bin", "A=pod", "B=2"])
        #expect(p.workingDir == "/app" && p.user == "app" && p.stopSignal == "SIGTERM")
        #expect(ProcessDefaults.resolve(image: ImageConfig()).env.first?.hasPrefix("PATH=") == true)
        #expect(ProcessDefaults.resolve(image: ImageConfig(), workingDir: "/x").workingDir == "/x")
        #expect(ProcessDefaults.resolve(image: ImageConfig()).workingDir == "/")
    }

    @Test("users and groups resolved in the image's files")
    func users() throws {
        let passwd = UserDatabase.parsePasswd("root:x:0:0:root:/root:/bin/sh\n# c\napp:x:1000:1000::/home/app:/bin/sh\nbroken\n")
        let group = UserDatabase.parseGroup("root:x:0:\nstaff:x:50:app,other\napp:x:1000:\nwheel:x:10:app\n")
        #expect(passwd.count == 2)
        #expect(try UserDatabase.resolve("", passwd: passwd, group: group) == ResolvedUser(uid: 0, gid: 0, additionalGids: [], home: "/root"))
        #expect(try UserDatabase.resolve("app", passwd: passwd, group: group) == ResolvedUser(uid: 1000, gid: 1000, additionalGids: [50, 10], home: "/home/app"))
        #expect(try UserDatabase.resolve("app:staff", passwd: passwd, group: group).gid == 50)
        #expect(try UserDatabase.resolve("app:staff", passwd: passwd, group: group).additionalGids == [])
        #expect(try UserDatabase.resolve("4242", passwd: passwd, group: group) == ResolvedUser(uid: 4242, gid: 0, additionalGids: [], home: nil))
        #expect(try UserDatabase.resolve("1000:7", passwd: passwd, group: group).gid == 7)
        #expect(throws: UserError.self) { try UserDatabase.resolve("ghost", passwd: passwd, group: group) }
        #expect(throws: UserError.self) { try UserDatabase.resolve("app:ghosts", passwd: passwd, group: group) }
    }

    @Test("overlay options: full paths when they fit, short links beyond a page, nil when nothing fits")
    func mountOptions() {
        let full = (0..<3).map { "/var/lib/swiftlet/images/layers/sha256/\(String(repeating: String($0), count: 64))/fs" }
        let short = (0..<3).map { "/s/l/\($0)" }
        #expect(Snapshotter.mountOptions(layerPaths: full, shortPaths: short, upper: "/u", work: "/w")
                == "lowerdir=\(full[2]):\(full[1]):\(full[0]),upperdir=/u,workdir=/w")
        let many = (0..<60).map { "/var/lib/swiftlet/images/layers/sha256/\(String(repeating: "a", count: 62))\($0 + 10)/fs" }
        let manyShort = (0..<60).map { "/var/lib/swiftlet/images/l/\($0 + 10)" }
        let o = Snapshotter.mountOptions(layerPaths: many, shortPaths: manyShort, upper: "/u", work: "/w")
        #expect(o?.hasPrefix("lowerdir=/var/lib/swiftlet/images/l/69:") == true)
        let huge = (0..<200).map { "/var/lib/swiftlet/images/l/\($0 + 100)" }
        #expect(Snapshotter.mountOptions(layerPaths: huge, shortPaths: huge, upper: "/u", work: "/w") == nil)
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

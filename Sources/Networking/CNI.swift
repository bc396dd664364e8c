import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// CNI 1.0 plugin execution: network lists (.conflist) chained with prevResult, ADD/CHECK/DEL,
/// CNI_ARGS with the Kubernetes keys, the portMappings capability, and the ADD result cached on
/// disk so DEL works after an agent restart.
public struct CNINetwork: Sendable {
    public let confDir: String
    public let binDirs: [String]
    public let cacheDir: String

    public init(confDir: String = "/etc/cni/net.d", binDirs: [String] = ["/usr/lib/cni", "/opt/cni/bin"],
                cacheDir: String = "/var/lib/swiftlet/cni") {
        self.confDir = confDir
        self.binDirs = binDirs
        self.cacheDir = cacheDir
    }

    public struct NetworkList: Sendable {
        public var name: String
        public var cniVersion: String
        public var plugins: [JSON]
    }

    public struct PodRef: Sendable {
        public var namespace: String
        public var name: String
        public var containerID: String
        public var netns: String
        public var ifname: String = "eth0"
        public var portMappings: [PortMapping] = []
        public init(namespace: String, name: String, containerID: String, netns: String, portMappings: [PortMapping] = []) {
            self.namespace = namespace
            self.name = name
            self.containerID = containerID
            self.netns = netns
            self.portMappings = portMappings
        }
    }

    /// The first network configuration in lexical order (.conflist, .conf or .json), as libcni does.
    public func loadNetwork() throws -> NetworkList {
        let files = ((try? Files.list(confDir)) ?? []).filter { $0.hasSuffix(".conflist") || $0.hasSuffix(".conf") || $0.hasSuffix(".json") }
        guard let file = files.first else { throw NetworkError("no CNI network configuration in \(confDir)") }
        let path = confDir + "/" + file
        let json: JSON
        do { json = try JSON.parse(try Files.read(path)) } catch { throw NetworkError("\(path): \(error)") }
        return try CNINetwork.parseList(json, path: path)
    }

    public static func parseList(_ json: JSON, path: String) throws -> NetworkList {
        let r = JSONReader(json)
        do {
            let name = try r.required("name").string()
            let version = try r.string("cniVersion") ?? "1.0.0"
            if let plugins = try r.optional("plugins") {
                let list = try plugins.array().map(\.value)
                guard !list.isEmpty else { throw NetworkError("\(path): plugins: must not be empty") }
                for (i, p) in list.enumerated() where p["type"] == nil { throw NetworkError("\(path): plugins[\(i)].type: Required value") }
                return NetworkList(name: name, cniVersion: version, plugins: list)
            }
            guard json["type"] != nil else { throw NetworkError("\(path): type: Required value") }
            return NetworkList(name: name, cniVersion: version, plugins: [json])
        } catch let e as JSONReader.FieldError {
            throw NetworkError("\(path): \(e)")
        }
    }

    func pluginPath(_ type: String) throws -> String {
        guard !type.contains("/") else { throw NetworkError("CNI plugin type \"\(type)\" must be a plain name") }
        for d in binDirs where Files.isRegularFile(d + "/" + type) { return d + "/" + type }
        throw NetworkError("CNI plugin \"\(type)\" not found in \(binDirs.joined(separator: ":"))")
    }

    /// The config a plugin gets: its own object plus name, cniVersion, prevResult and the
    /// runtimeConfig entries for the capabilities it declares.
    static func pluginConfig(_ plugin: JSON, list: NetworkList, prevResult: JSON?, pod: PodRef) -> JSON {
        guard case .object(var members) = plugin else { return plugin }
        members.removeAll { ["name", "cniVersion", "prevResult", "runtimeConfig"].contains($0.0) }
        members.insert(("cniVersion", .string(list.cniVersion)), at: 0)
        members.insert(("name", .string(list.name)), at: 1)
        if let prevResult { members.append(("prevResult", prevResult)) }
        if plugin["capabilities"]?["portMappings"] == .bool(true), !pod.portMappings.isEmpty {
            let pm = JSON.array(pod.portMappings.map { p in
                .object([("hostPort", .number(String(p.hostPort))), ("containerPort", .number(String(p.containerPort))),
                         ("protocol", .string(p.proto))])
            })
            members.append(("runtimeConfig", .object([("portMappings", pm)])))
        }
        return .object(members)
    }

    /// Runs one plugin; returns its stdout JSON (nil for an empty output, as DEL may give).
    func exec(_ command: String, plugin: JSON, config: JSON, pod: PodRef, ifname: String) throws -> JSON? {
        guard case .string(let type)? = plugin["type"] else { throw NetworkError("CNI plugin without a type") }
        let path = try pluginPath(type)
        let env = [
            "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(pod.containerID)", "CNI_NETNS=\(pod.netns)", "CNI_IFNAME=\(ifname)",
            "CNI_PATH=\(binDirs.joined(separator: ":"))",
            "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=\(pod.namespace);K8S_POD_NAME=\(pod.name);K8S_POD_INFRA_CONTAINER_ID=\(pod.containerID)",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        let (inR, inW) = try Pipes.make()
        let (outR, outW) = try Pipes.make()
        let pid = try Spawn.spawn(path, args: [path], env: env, fds: [(inR.raw, 0), (outW.raw, 1)])
        inR.close()
        outW.close()
        let input = Array(config.serialized().utf8)
        input.withUnsafeBytes { _ = write(inW.raw, $0.baseAddress, $0.count) }
        inW.close()
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(outR.raw, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[..<n]
        }
        let status = Spawn.wait(pid)
        let json = out.isEmpty ? nil : try? JSON.parse(out)
        if status != 0 {
            let msg = json?["msg"].flatMap { if case .string(let s) = $0 { return s } else { return nil } } ?? String(decoding: out, as: UTF8.self)
            let details = json?["details"].flatMap { if case .string(let s) = $0 { return s } else { return nil } }
            throw NetworkError("CNI \(type) \(command) failed (status \(status)): \(msg)\(details.map { " (\($0))" } ?? "")")
        }
        return json
    }

    func cachePath(_ list: NetworkList, _ pod: PodRef, _ ifname: String) -> String {
        "\(cacheDir)/results/\(list.name)-\(pod.containerID)-\(ifname)"
    }

    /// loopback for "lo" (when the plugin is installed), then the network list for eth0.
    public func add(_ pod: PodRef) throws -> PodNetworkResult {
        let list = try loadNetwork()
        if (try? pluginPath("loopback")) != nil {
            let lo = JSON.object([("cniVersion", .string(list.cniVersion)), ("name", .string("cni-loopback")), ("type", .string("loopback"))])
            _ = try exec("ADD", plugin: lo, config: lo, pod: pod, ifname: "lo")
        }
        var prev: JSON?
        for (i, p) in list.plugins.enumerated() {
            do {
                prev = try exec("ADD", plugin: p, config: CNINetwork.pluginConfig(p, list: list, prevResult: prev, pod: pod), pod: pod, ifname: pod.ifname)
            } catch {
                // undo what was added so far, newest first
                for q in list.plugins[..<i].reversed() {
                    _ = try? exec("DEL", plugin: q, config: CNINetwork.pluginConfig(q, list: list, prevResult: prev, pod: pod), pod: pod, ifname: pod.ifname)
                }
                throw error
            }
        }
        guard let result = prev else { throw NetworkError("CNI \(list.name): ADD returned no result") }
        try Files.makeDirectories(cacheDir + "/results", mode: 0o700)
        var cached = JSONObject()
        cached.set("kind", "cniCacheV1")
        cached.set("containerId", pod.containerID)
        cached.set("ifName", pod.ifname)
        cached.set("networkName", list.name)
        cached.set("netns", pod.netns)
        cached.set("namespace", pod.namespace)
        cached.set("name", pod.name)
        cached.set("portMappings", pod.portMappings.map { "\($0.hostPort):\($0.containerPort)/\($0.proto)" })
        cached.set("result", result)
        try Files.write(cachePath(list, pod, pod.ifname), cached.json.serialized(), mode: 0o600, atomic: true)
        return try CNINetwork.podResult(result, ifname: pod.ifname)
    }

    /// DEL in reverse order with the cached ADD result as prevResult; works after a restart (the
    /// cache is on disk) and when nothing was added (plugins' DEL is idempotent).
    public func remove(_ podArg: PodRef) throws {
        let list = try loadNetwork()
        var pod = podArg
        let cacheFile = cachePath(list, pod, pod.ifname)
        var prev: JSON?
        if let bytes = try? Files.read(cacheFile), let cached = try? JSON.parse(bytes) {
            prev = cached["result"]
            if case .array(let pm)? = cached["portMappings"], pod.portMappings.isEmpty {
                pod.portMappings = pm.compactMap { if case .string(let s) = $0 { return PortMapping(s) } else { return nil } }
            }
        }
        var firstError: (any Error)?
        for p in list.plugins.reversed() {
            do { _ = try exec("DEL", plugin: p, config: CNINetwork.pluginConfig(p, list: list, prevResult: prev, pod: pod), pod: pod, ifname: pod.ifname) }
            catch { if firstError == nil { firstError = error } }
        }
        if (try? pluginPath("loopback")) != nil {
            let lo = JSON.object([("cniVersion", .string(list.cniVersion)), ("name", .string("cni-loopback")), ("type", .string("loopback"))])
            _ = try? exec("DEL", plugin: lo, config: lo, pod: pod, ifname: "lo")
        }
        if let firstError { throw firstError }
        unlink(cacheFile)
    }

    /// CHECK with the cached result.
    public func check(_ pod: PodRef) throws {
        let list = try loadNetwork()
        guard let bytes = try? Files.read(cachePath(list, pod, pod.ifname)), let cached = try? JSON.parse(bytes), let prev = cached["result"] else {
            throw NetworkError("CNI CHECK: no cached ADD result for \(pod.containerID)")
        }
        for p in list.plugins {
            _ = try exec("CHECK", plugin: p, config: CNINetwork.pluginConfig(p, list: list, prevResult: prev, pod: pod), pod: pod, ifname: pod.ifname)
        }
    }

    /// The pod address from a CNI result: the first IPv4 in `ips` on the container interface.
    public static func podResult(_ result: JSON, ifname: String) throws -> PodNetworkResult {
        let r = JSONReader(result)
        var ifaceIndex: [Int: String] = [:]
        for (i, itf) in (try r.optional("interfaces")?.array() ?? []).enumerated() {
            if let n = try itf.string("name") { ifaceIndex[i] = n }
        }
        for ip in try r.optional("ips")?.array() ?? [] {
            let address = try ip.required("address").string()
            let parts = address.split(separator: "/")
            guard parts.count == 2, IPv4(String(parts[0])) != nil else { continue }
            if let idx: Int = try ip.integer("interface"), let name = ifaceIndex[idx], name != ifname { continue }
            return PodNetworkResult(ip: String(parts[0]), prefix: Int(parts[1]) ?? 32, gateway: try ip.string("gateway") ?? "",
                                    interface: ifname, hostInterface: "")
        }
        throw NetworkError("CNI result has no IPv4 address for \(ifname)")
    }
}

import ArgumentParser
import LinuxSystem
import Networking

#if canImport(Glibc)
import Glibc
#endif

/// `swiftlet net`: the pod network outside the agent (for operators, tests and benchmarks).
struct Net: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pod networking: node bridge, per-pod veth + IPAM, NAT/hostPorts, or CNI plugins.",
        subcommands: [Setup.self, Teardown.self, Add.self, Del.self, Check.self, List.self, Reclaim.self, NetnsCmd.self, Bench.self])

    /// Network settings as plain values (shared by the ArgumentParser commands and the fast path).
    struct Settings {
        var bridge = "swiftlet0"
        var subnet = "10.88.0.0/24"
        var mtu: Int?
        var noNAT = false
        var noHostPorts = false
        var stateDir = "/var/lib/swiftlet/network"
        var cni = false
        var cniConfDir = "/etc/cni/net.d"
        var cniBinDir = ["/usr/lib/cni", "/opt/cni/bin"]

        func bridgeNetwork() -> BridgeNetwork {
            var c = NetworkConfig()
            c.bridge = bridge
            guard let s = IPv4Subnet(subnet) else { fail(NetworkError("--subnet: \"\(subnet)\" is not an IPv4 CIDR with a /8../30 prefix")) }
            c.subnet = s
            c.mtu = mtu
            c.nat = !noNAT
            c.hostPorts = !noHostPorts
            c.stateDir = stateDir
            return BridgeNetwork(config: c)
        }

        func cniNetwork() -> CNINetwork { CNINetwork(confDir: cniConfDir, binDirs: cniBinDir, cacheDir: stateDir + "/cni") }
    }

    struct Options: ParsableArguments {
        @Option(help: "Node bridge name.") var bridge = "swiftlet0"
        @Option(help: "Pod subnet of this node.") var subnet = "10.88.0.0/24"
        @Option(help: "MTU (default: the default-route interface's).") var mtu: Int?
        @Flag(name: .customLong("no-nat"), help: "Do not masquerade pod traffic leaving the subnet.") var noNAT = false
        @Flag(name: .customLong("no-host-ports"), help: "Disable hostPort mappings.") var noHostPorts = false
        @Option(name: .customLong("state-dir"), help: "IPAM and CNI cache directory.") var stateDir = "/var/lib/swiftlet/network"
        @Flag(help: "Use CNI plugins instead of the built-in bridge network.") var cni = false
        @Option(name: .customLong("cni-conf-dir")) var cniConfDir = "/etc/cni/net.d"
        @Option(name: .customLong("cni-bin-dir"), help: "Plugin directories (repeatable).") var cniBinDir: [String] = ["/usr/lib/cni", "/opt/cni/bin"]

        var settings: Settings {
            Settings(bridge: bridge, subnet: subnet, mtu: mtu, noNAT: noNAT, noHostPorts: noHostPorts, stateDir: stateDir,
                     cni: cni, cniConfDir: cniConfDir, cniBinDir: cniBinDir)
        }
        func bridgeNetwork() -> BridgeNetwork { settings.bridgeNetwork() }
        func cniNetwork() -> CNINetwork { settings.cniNetwork() }
    }

    struct Setup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the node bridge, gateway address and NAT/hostPort tables.")
        @OptionGroup var o: Options
        func run() throws { do { try o.bridgeNetwork().setupNode() } catch { fail(error) } }
    }

    struct Teardown: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the node bridge and the nftables table.")
        @OptionGroup var o: Options
        func run() throws { do { try o.bridgeNetwork().teardownNode() } catch { fail(error) } }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Attach a pod's network namespace; prints the result as JSON.")
        @OptionGroup var o: Options
        @Option(help: "Pinned network namespace of the pod.") var netns: String
        @Option(name: .customLong("port"), help: "hostPort mapping HOST:CONTAINER[/tcp|udp|sctp] (repeatable).") var ports: [String] = []
        @Option(help: "Pod namespace (CNI_ARGS).") var namespace = "default"
        @Option(help: "Pod name (CNI_ARGS; default: the id).") var name: String?
        @OptionGroup var files: PodFileOptions
        @Argument var id: String
        func run() throws { Add.perform(o.settings, id: id, netns: netns, ports: ports, namespace: namespace, name: name, files: files.settings) }

        static func perform(_ o: Settings, id: String, netns: String, ports: [String], namespace: String, name: String?,
                            files: PodFileSettings = PodFileSettings()) {
            var maps: [PortMapping] = []
            for p in ports {
                guard let m = PortMapping(p) else { fail(NetworkError("--port: \"\(p)\" is not HOST:CONTAINER[/tcp|udp|sctp]")) }
                maps.append(m)
            }
            do {
                let r: PodNetworkResult
                if o.cni {
                    r = try o.cniNetwork().add(.init(namespace: namespace, name: name ?? id, containerID: id, netns: netns, portMappings: maps))
                } else {
                    r = try o.bridgeNetwork().add(id: id, netns: netns, hostPorts: maps)
                }
                if let dir = files.dir {
                    var aliases: [PodFiles.HostAlias] = []
                    for a in files.aliases {
                        let parts = a.split(separator: "=", maxSplits: 1)
                        guard parts.count == 2, IPv4(String(parts[0])) != nil else { throw NetworkError("--host-alias: \"\(a)\" is not IP=name[,name...]") }
                        aliases.append(.init(ip: String(parts[0]), hostnames: parts[1].split(separator: ",").map(String.init)))
                    }
                    guard let policy = PodFiles.DNSPolicy(rawValue: files.dnsPolicy) else {
                        throw NetworkError("--dns-policy: \"\(files.dnsPolicy)\" is not ClusterFirst, ClusterFirstWithHostNet, Default or None")
                    }
                    try PodFiles.write(to: dir, podIPs: [r.ip], hostname: files.hostname ?? name ?? id, namespace: namespace,
                                       aliases: aliases, policy: policy, clusterDNS: files.clusterDNS)
                }
                var j = JSONObject()
                j.set("ip", r.ip)
                j.set("prefix", r.prefix)
                j.set("gateway", r.gateway)
                j.set("interface", r.interface)
                j.set("hostInterface", r.hostInterface.isEmpty ? nil : r.hostInterface)
                stdoutWrite(j.json.serialized() + "\n")
            } catch { fail(error) }
        }
    }

    struct Del: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach a pod (idempotent).")
        @OptionGroup var o: Options
        @Option(help: "Network namespace (CNI mode).") var netns = ""
        @Option var namespace = "default"
        @Option var name: String?
        @Flag(name: .customLong("remove-netns"), help: "Sandbox teardown: also remove the pinned --netns (the kernel then destroys the veth with it).")
        var removeNetns = false
        @Argument var id: String
        func run() throws { Del.perform(o.settings, id: id, netns: netns, namespace: namespace, name: name, removeNetns: removeNetns) }

        static func perform(_ o: Settings, id: String, netns: String, namespace: String, name: String?, removeNetns: Bool) {
            if removeNetns && netns.isEmpty { fail(NetworkError("--remove-netns needs --netns")) }
            do {
                if o.cni {
                    try o.cniNetwork().remove(.init(namespace: namespace, name: name ?? id, containerID: id, netns: netns))
                    if removeNetns { try NetNS.remove(netns) }
                } else {
                    try o.bridgeNetwork().remove(id: id, removingNetns: removeNetns ? netns : nil)
                }
            } catch { fail(error) }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "CNI CHECK of a pod's network.")
        @OptionGroup var o: Options
        @Option var netns: String
        @Option var namespace = "default"
        @Option var name: String?
        @Argument var id: String
        func run() throws {
            do { try o.cniNetwork().check(.init(namespace: namespace, name: name ?? id, containerID: id, netns: netns)) } catch { fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List address allocations.")
        @OptionGroup var o: Options
        func run() throws {
            do {
                for a in try o.bridgeNetwork().ipam.allocations() {
                    stdoutWrite("\(a.owner)\t\(a.ip)\t\(a.hostInterface)\t\(a.hostPorts.map { "\($0.hostPort):\($0.containerPort)/\($0.proto)" }.joined(separator: ","))\n")
                }
            } catch { fail(error) }
        }
    }

    struct Reclaim: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release allocations of pods not listed (start-up cleanup).")
        @OptionGroup var o: Options
        @Argument(help: "Ids of pods that still exist.") var keep: [String] = []
        func run() throws {
            do { for id in try o.bridgeNetwork().reclaim(keeping: Set(keep)) { stdoutWrite("released \(id)\n") } } catch { fail(error) }
        }
    }

    struct NetnsCmd: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "netns", abstract: "Create or remove a pinned network namespace.")
        @Argument(help: "add or del") var action: String
        @Argument var path: String
        func run() throws {
            do {
                switch action {
                case "add": try NetNS.create(path)
                case "del": try NetNS.remove(path)
                default: fail(NetworkError("netns: use add or del"))
                }
            } catch { fail(error) }
        }
    }
}

extension Net {
    /// In-process ADD/teardown timing, the way the agent uses the network (a library call, no
    /// process per operation). Used by scripts/bench-network.sh.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Benchmark: N in-process ADD and teardown cycles (node network must be set up).")
        @OptionGroup var o: Options
        @Option(help: "Directory for the pinned namespaces.") var dir: String
        @Argument var count: Int = 30
        func run() throws {
            let net = o.bridgeNetwork()
            var adds: [Double] = [], teardowns: [Double] = []
            func now() -> Double { var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts); return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6 }
            do {
                for i in 0..<(count + 3) {
                    let ns = "\(dir)/bench-\(i)"
                    try NetNS.create(ns)
                    let t0 = now()
                    _ = try net.add(id: "bench-\(i)", netns: ns)
                    let t1 = now()
                    try net.remove(id: "bench-\(i)", removingNetns: ns)
                    let t2 = now()
                    if i >= 3 { adds.append(t1 - t0); teardowns.append(t2 - t1) }
                }
            } catch { fail(error) }
            func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            stdoutWrite("add \(median(adds)) teardown \(median(teardowns))\n")
        }
    }
}

/// Per-pod /etc/hosts and /etc/resolv.conf written by `net add --pod-files DIR`.
struct PodFileSettings {
    var dir: String?
    var hostname: String?
    var aliases: [String] = []
    var dnsPolicy = "ClusterFirst"
    var clusterDNS: [String] = []
}

struct PodFileOptions: ParsableArguments {
    @Option(name: .customLong("pod-files"), help: "Write the pod's hosts and resolv.conf into this directory.") var dir: String?
    @Option(help: "Pod hostname for /etc/hosts (default: --name or the id).") var hostname: String?
    @Option(name: .customLong("host-alias"), help: "hostAliases entry IP=name[,name...] (repeatable).") var aliases: [String] = []
    @Option(name: .customLong("dns-policy"), help: "ClusterFirst, ClusterFirstWithHostNet, Default or None.") var dnsPolicy = "ClusterFirst"
    @Option(name: .customLong("cluster-dns"), help: "Cluster DNS server (repeatable).") var clusterDNS: [String] = []
    var settings: PodFileSettings { PodFileSettings(dir: dir, hostname: hostname, aliases: aliases, dnsPolicy: dnsPolicy, clusterDNS: clusterDNS) }
}

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
        subcommands: [Setup.self, Teardown.self, Add.self, Del.self, Check.self, List.self, Reclaim.self, NetnsCmd.self])

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
        @Argument var id: String
        func run() throws {
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
        @Argument var id: String
        func run() throws {
            do {
                if o.cni { try o.cniNetwork().remove(.init(namespace: namespace, name: name ?? id, containerID: id, netns: netns)) }
                else { try o.bridgeNetwork().remove(id: id) }
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

import LinuxSystem
import Testing
@testable import Networking

#if canImport(Glibc)
import Glibc
#endif

@Suite("IPv4 and IPAM")
struct IPAMTests {
    @Test("addresses and subnets")
    func parse() throws {
        #expect(IPv4("10.88.0.5")?.description == "10.88.0.5")
        #expect(IPv4("10.88.0.256") == nil && IPv4("1.2.3") == nil && IPv4("a.b.c.d") == nil && IPv4("01.2.3.4x") == nil)
        let s = try #require(IPv4Subnet("10.88.0.77/24"))
        #expect(s.description == "10.88.0.0/24" && s.gateway.description == "10.88.0.1" && s.broadcast.description == "10.88.0.255")
        #expect(s.contains(IPv4("10.88.0.200")!) && !s.contains(IPv4("10.88.1.1")!))
        #expect(IPv4Subnet("10.0.0.0/31") == nil && IPv4Subnet("10.0.0.0") == nil)
        #expect(IPv4("10.0.0.1")!.bigEndian == UInt32(0x0A00_0001).bigEndian)
    }

    @Test("round-robin allocation skips network, gateway, broadcast and taken addresses")
    func allocator() throws {
        let a = IPAllocator(subnet: IPv4Subnet("10.0.0.0/29")!)   // usable .1-.6, gateway .1
        #expect(a.next(taken: [], after: nil)?.description == "10.0.0.2")
        #expect(a.next(taken: [IPv4("10.0.0.2")!], after: nil)?.description == "10.0.0.3")
        #expect(a.next(taken: [], after: IPv4("10.0.0.4"))?.description == "10.0.0.5")
        #expect(a.next(taken: [], after: IPv4("10.0.0.6"))?.description == "10.0.0.2")   // wraps
        let all = Set(["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"].map { IPv4($0)! })
        #expect(a.next(taken: all, after: nil) == nil)
    }

    func tempDir() -> String {
        let d = "/tmp/swiftlet-ipam-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        try? Files.makeDirectories(d)
        return d
    }

    @Test("the store persists, is idempotent per owner, refuses duplicate hostPorts, releases")
    func store() throws {
        let dir = tempDir()
        defer { try? Files.removeTree(dir) }
        let s = IPAMStore(directory: dir, subnet: IPv4Subnet("10.1.0.0/24")!)
        let a = try s.allocate(owner: "p1", hostInterface: "veth1", hostPorts: [PortMapping(hostPort: 8080, containerPort: 80)])
        #expect(a.ip.description == "10.1.0.2")
        #expect(try s.allocate(owner: "p1", hostInterface: "veth1").ip == a.ip)
        #expect(throws: IPAMError.self) { try s.allocate(owner: "p2", hostInterface: "veth2", hostPorts: [PortMapping(hostPort: 8080, containerPort: 81)]) }
        let b = try s.allocate(owner: "p2", hostInterface: "veth2")
        #expect(b.ip.description == "10.1.0.3")
        // a second store (another process, or after a restart) sees the same state
        let again = IPAMStore(directory: dir, subnet: IPv4Subnet("10.1.0.0/24")!)
        #expect(try again.allocations().map(\.owner) == ["p1", "p2"])
        #expect(try again.allocations()[0].hostPorts == [PortMapping(hostPort: 8080, containerPort: 80)])
        try again.release(owner: "p1")
        #expect(try s.allocations().map(\.owner) == ["p2"])
        #expect(try s.allocate(owner: "p3", hostInterface: "veth3").ip.description == "10.1.0.4")
    }

    @Test("concurrent allocations never share an address")
    func concurrent() async throws {
        let dir = tempDir()
        defer { try? Files.removeTree(dir) }
        let s = IPAMStore(directory: dir, subnet: IPv4Subnet("10.2.0.0/24")!)
        let ips = try await withThrowingTaskGroup(of: String.self) { g in
            for i in 0..<40 { g.addTask { try s.allocate(owner: "p\(i)", hostInterface: "v\(i)").ip.description } }
            var out: [String] = []
            for try await ip in g { out.append(ip) }
            return out
        }
        #expect(ips.count == 40 && Set(ips).count == 40)
    }

    @Test("port mappings", arguments: [("8080:80", true), ("53:53/udp", true), ("0:80", false), ("80", false), ("1:2/icmp", false)])
    func ports(_ c: (String, Bool)) { #expect((PortMapping(c.0) != nil) == c.1) }

    @Test("host veth names fit IFNAMSIZ and are stable")
    func names() {
        let n = BridgeNetwork.hostInterfaceName(for: "default_web-7d4b9c_uid-1234")
        #expect(n.count == 12 && n.hasPrefix("veth"))
        #expect(n == BridgeNetwork.hostInterfaceName(for: "default_web-7d4b9c_uid-1234"))
        #expect(n != BridgeNetwork.hostInterfaceName(for: "other"))
    }

    @Test("MTU of the default-route interface")
    func mtu() {
        let table = "Iface\tDestination\tGateway\tFlags\nbr0\t0000A8C0\t00000000\t0001\neth0\t00000000\t0100A8C0\t0003\n"
        #expect(BridgeNetwork.defaultRouteMTU(routeTable: table, mtuOf: { $0 == "eth0" ? 9001 : nil }) == 9001)
        #expect(BridgeNetwork.defaultRouteMTU(routeTable: "Iface\tDestination\n", mtuOf: { _ in 9001 }) == 1500)
    }

    @Test("nftables scripts")
    func nft() {
        let s = NFTables.setupScript(subnet: IPv4Subnet("10.88.0.0/24")!, nat: true, hostPorts: true)
        #expect(s.hasPrefix("add table ip swiftlet\n"))
        #expect(!s.contains("delete table"))   // re-running keeps the hostports entries
        #expect(s.contains("flush chain ip swiftlet postrouting\n"))
        #expect(s.contains("ip saddr 10.88.0.0/24 ip daddr != 10.88.0.0/24 masquerade"))
        #expect(s.contains("dnat ip to meta l4proto . th dport map @hostports"))
        #expect(!NFTables.setupScript(subnet: IPv4Subnet("10.88.0.0/24")!, nat: false, hostPorts: false).contains("masquerade"))
        #expect(NFTables.hostPortScript(add: true, ip: IPv4("10.88.0.5")!, ports: [PortMapping(hostPort: 8080, containerPort: 80)])
                == "add element ip swiftlet hostports { tcp . 8080 : 10.88.0.5 . 80 }\n")
    }
}

@Suite("pod /etc/hosts and resolv.conf")
struct PodFilesTests {
    @Test("hosts: localhost, pod IP with hostname, aliases")
    func hosts() {
        let h = PodFiles.hosts(podIPs: ["10.88.0.5"], hostname: "web", namespace: "default",
                               aliases: [.init(ip: "1.2.3.4", hostnames: ["foo.local", "bar.local"])])
        #expect(h.contains("127.0.0.1\tlocalhost\n"))
        #expect(h.contains("10.88.0.5\tweb\n"))
        #expect(h.hasSuffix("# Entries added by HostAliases.\n1.2.3.4\tfoo.local\tbar.local\n"))
        let sd = PodFiles.hosts(podIPs: ["10.88.0.5"], hostname: "web-0", subdomain: "web", namespace: "prod")
        #expect(sd.contains("10.88.0.5\tweb-0.web.prod.svc.cluster.local\tweb-0\n"))
    }

    let host = PodFiles.parseResolv("# generated\nnameserver 192.168.1.1\nnameserver 8.8.8.8\nsearch corp.example\noptions edns0\n")

    @Test("ClusterFirst: cluster DNS, search path, ndots:5")
    func clusterFirst() {
        let r = PodFiles.resolvConf(policy: .clusterFirst, hostNetwork: false, namespace: "prod", clusterDNS: ["10.43.0.10"], hostResolv: host)
        #expect(r == "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.43.0.10\noptions ndots:5\n")
    }

    @Test("Default, hostNetwork fallback, None with dnsConfig, no cluster DNS")
    func otherPolicies() {
        let d = PodFiles.resolvConf(policy: .default, hostNetwork: false, namespace: "x", clusterDNS: ["10.43.0.10"], hostResolv: host)
        #expect(d == "search corp.example\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0\n")
        let hn = PodFiles.resolvConf(policy: .clusterFirst, hostNetwork: true, namespace: "x", clusterDNS: ["10.43.0.10"], hostResolv: host)
        #expect(hn == d)
        let none = PodFiles.resolvConf(policy: .none, hostNetwork: false, namespace: "x", clusterDNS: [], hostResolv: host,
                                       podDNSConfig: .init(nameservers: ["1.1.1.1"], searches: ["a.b"], options: [("ndots", "2"), ("edns0", nil)]))
        #expect(none == "search a.b\nnameserver 1.1.1.1\noptions ndots:2 edns0\n")
        let noDNS = PodFiles.resolvConf(policy: .clusterFirst, hostNetwork: false, namespace: "x", clusterDNS: [], hostResolv: host)
        #expect(noDNS == d)
    }

    @Test("at most 3 nameservers; dnsConfig options override")
    func limits() {
        let r = PodFiles.resolvConf(policy: .clusterFirst, hostNetwork: false, namespace: "n", clusterDNS: ["10.0.0.10"], hostResolv: host,
                                    podDNSConfig: .init(nameservers: ["1.1.1.1", "2.2.2.2", "3.3.3.3"], options: [("ndots", "1")]))
        #expect(r.split(separator: "\n").filter { $0.hasPrefix("nameserver") }.count == 3)
        #expect(r.hasSuffix("options ndots:1\n"))
    }
}

@Suite("CNI")
struct CNITests {
    let list = CNINetwork.NetworkList(name: "k8s", cniVersion: "1.0.0", plugins: [])

    @Test("plugin config: name, version, prevResult, portMappings runtimeConfig")
    func config() throws {
        let plugin = try JSON.parse(#"{"type":"portmap","capabilities":{"portMappings":true},"name":"ignored"}"#)
        var pod = CNINetwork.PodRef(namespace: "ns", name: "p", containerID: "c1", netns: "/run/x")
        pod.portMappings = [PortMapping(hostPort: 8080, containerPort: 80)]
        let prev = try JSON.parse(#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}"#)
        let c = CNINetwork.pluginConfig(plugin, list: list, prevResult: prev, pod: pod)
        #expect(c["name"] == .string("k8s") && c["cniVersion"] == .string("1.0.0"))
        #expect(c["prevResult"] == prev)
        #expect(c["runtimeConfig"]?["portMappings"] == .array([.object([("hostPort", .number("8080")), ("containerPort", .number("80")), ("protocol", .string("tcp"))])]))
        let bridge = CNINetwork.pluginConfig(try JSON.parse(#"{"type":"bridge"}"#), list: list, prevResult: nil, pod: pod)
        #expect(bridge["runtimeConfig"] == nil && bridge["prevResult"] == nil)
    }

    @Test("pod address from a result")
    func result() throws {
        let r = try JSON.parse(#"{"cniVersion":"1.0.0","interfaces":[{"name":"cni0"},{"name":"veth1"},{"name":"eth0","sandbox":"/run/x"}],"ips":[{"address":"10.88.0.7/16","gateway":"10.88.0.1","interface":2}]}"#)
        let p = try CNINetwork.podResult(r, ifname: "eth0")
        #expect(p.ip == "10.88.0.7" && p.prefix == 16 && p.gateway == "10.88.0.1")
        #expect(throws: NetworkError.self) { try CNINetwork.podResult(try JSON.parse(#"{"ips":[]}"#), ifname: "eth0") }
    }

    @Test("conflist and single-plugin conf")
    func lists() throws {
        let l = try CNINetwork.parseList(try JSON.parse(#"{"name":"n","cniVersion":"0.4.0","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#), path: "x")
        #expect(l.plugins.count == 2 && l.cniVersion == "0.4.0")
        let single = try CNINetwork.parseList(try JSON.parse(#"{"name":"n","type":"bridge"}"#), path: "x")
        #expect(single.plugins.count == 1)
        #expect(throws: NetworkError.self) { try CNINetwork.parseList(try JSON.parse(#"{"name":"n","plugins":[{"bridge":"x"}]}"#), path: "x") }
        #expect(throws: NetworkError.self) { try CNINetwork.parseList(try JSON.parse(#"{"plugins":[]}"#), path: "x") }
    }
}

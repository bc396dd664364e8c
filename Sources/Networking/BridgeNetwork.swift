import CShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

public struct NetworkError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a pod got from the network.
public struct PodNetworkResult: Equatable, Sendable {
    public var ip: String
    public var prefix: Int
    public var gateway: String
    public var interface: String
    public var hostInterface: String
}

public struct NetworkConfig: Sendable {
    public var bridge = "swiftlet0"
    public var subnet = IPv4Subnet("10.88.0.0/24")!
    public var mtu: Int?                      // nil: the default-route interface's MTU
    public var nat = true                     // masquerade traffic leaving the pod subnet
    public var hostPorts = true               // hostPort DNAT
    public var stateDir = "/var/lib/swiftlet/network"
    public var podInterface = "eth0"
    public init() {}
}

/// Pinned network namespaces for pod sandboxes (bind mounts under the run dir).
public enum NetNS {
    public static func create(_ path: String) throws {
        var err = [CChar](repeating: 0, count: 512)
        if sl_netns_create(path, &err, 512) < 0 { throw NetworkError("netns create: \(String(cString: err)): \(SystemError.message(errno))") }
    }

    public static func remove(_ path: String) throws {
        var err = [CChar](repeating: 0, count: 512)
        let rc = sl_netns_remove(path, &err, 512)
        if rc < 0 { throw NetworkError("netns remove: \(String(cString: err)): \(SystemError.message(-rc)) (errno \(-rc))") }
    }
}

/// The built-in network: a node bridge holding the gateway, one veth per pod (its peer created
/// directly in the pod namespace as eth0), IPAM with a locked state file, nftables for NAT and
/// hostPorts. All link/address/route work is rtnetlink in CShims; no `ip` processes.
public struct BridgeNetwork: Sendable {
    public let config: NetworkConfig
    public let ipam: IPAMStore

    public init(config: NetworkConfig) {
        self.config = config
        self.ipam = IPAMStore(directory: config.stateDir, subnet: config.subnet)
    }

    static func errString(_ err: [CChar]) -> String { String(cString: err) }

    static func check(_ rc: Int32, _ err: [CChar]) throws -> Int32 {
        if rc < 0 { throw NetworkError("\(errString(err)): \(SystemError.message(-rc)) (errno \(-rc))") }
        return rc
    }

    /// MTU of the interface holding the default route (/proc/net/route), else 1500.
    public static func defaultRouteMTU(routeTable: String? = try? Files.readString("/proc/net/route"),
                                       mtuOf: (String) -> Int? = { Int((try? Files.readString("/sys/class/net/\($0)/mtu"))?.split(separator: "\n").first ?? "") }) -> Int {
        for line in (routeTable ?? "").split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if f.count > 2, f[1] == "00000000", let mtu = mtuOf(String(f[0])) { return mtu }
        }
        return 1500
    }

    var mtu: Int { config.mtu ?? BridgeNetwork.defaultRouteMTU() }

    /// Host-side veth name for a pod: "veth" + 8 hex digits of a hash of its id (IFNAMSIZ 15).
    public static func hostInterfaceName(for id: String) -> String {
        var h: UInt32 = 0x811c_9dc5
        for b in id.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        let hex = String(h, radix: 16)
        return "veth" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// Node set-up: the bridge with the gateway address, NAT and hostPort tables (idempotent).
    public func setupNode() throws {
        let fd = try socket()
        defer { close(fd) }
        var err = [CChar](repeating: 0, count: 512)
        _ = try BridgeNetwork.check(sl_nl_bridge_ensure(fd, config.bridge, config.subnet.gateway.bigEndian, Int32(config.subnet.prefix),
                                                         Int32(mtu), &err, 512), err)
        if config.nat || config.hostPorts {
            try NFTables.apply(NFTables.setupScript(subnet: config.subnet, nat: config.nat, hostPorts: config.hostPorts))
        }
        if config.nat {
            // forwarding is what NAT is for; enabled only when NAT is on, and the previous value
            // is kept so teardown can restore it
            let current = (try? Files.readString(forwardSysctl))?.split(separator: "\n").first.map(String.init) ?? "0"
            if current != "1" {
                try Files.makeDirectories(config.stateDir, mode: 0o700)
                if !Files.exists(forwardSaved) { try Files.write(forwardSaved, current, atomic: true) }
                try Files.writeExisting(forwardSysctl, "1")
            }
        }
    }

    let forwardSysctl = "/proc/sys/net/ipv4/ip_forward"
    var forwardSaved: String { config.stateDir + "/ip_forward.before" }

    public func teardownNode() throws {
        let fd = try socket()
        defer { close(fd) }
        let rc = sl_nl_link_del(fd, config.bridge)
        if rc < 0 && rc != -ENODEV { throw NetworkError("delete bridge \(config.bridge): \(SystemError.message(-rc))") }
        try NFTables.removeTable()
        if let before = try? Files.readString(forwardSaved) {
            try Files.writeExisting(forwardSysctl, before)
            unlink(forwardSaved)
        }
    }

    func socket() throws -> Int32 {
        var err = [CChar](repeating: 0, count: 512)
        return try BridgeNetwork.check(sl_nl_socket_in(nil, &err, 512), err)
    }

    /// ADD: address from IPAM, veth into the pod namespace, hostPorts. Cleans up on failure.
    public func add(id: String, netns: String, hostPorts: [PortMapping] = []) throws -> PodNetworkResult {
        let hostIf = BridgeNetwork.hostInterfaceName(for: id)
        if !hostPorts.isEmpty && !config.hostPorts { throw NetworkError("hostPort mappings are disabled in this network's configuration") }
        let alloc = try ipam.allocate(owner: id, hostInterface: hostIf, hostPorts: hostPorts)
        do {
            let fd = try socket()
            defer { close(fd) }
            let bridge = sl_nl_ifindex(fd, config.bridge)
            guard bridge > 0 else { throw NetworkError("bridge \(config.bridge) does not exist (node network not set up)") }
            var err = [CChar](repeating: 0, count: 512)
            func attach() -> Int32 {
                sl_pod_net_add(fd, netns, hostIf, config.podInterface, bridge, Int32(mtu), alloc.ip.bigEndian,
                               Int32(config.subnet.prefix), config.subnet.gateway.bigEndian, &err, 512)
            }
            var rc = attach()
            if rc == -EEXIST && sl_nl_ifindex(fd, hostIf) > 0 {
                // a previous sandbox of this pod whose namespace the kernel is still destroying
                _ = sl_nl_link_del(fd, hostIf)
                rc = attach()
            }
            _ = try BridgeNetwork.check(rc, err)
            if !hostPorts.isEmpty {
                do { try NFTables.apply(NFTables.hostPortScript(add: true, ip: alloc.ip, ports: hostPorts)) } catch {
                    _ = sl_nl_link_del(fd, hostIf)
                    throw error
                }
            }
        } catch {
            try? ipam.release(owner: id)
            throw error
        }
        return PodNetworkResult(ip: alloc.ip.description, prefix: config.subnet.prefix, gateway: config.subnet.gateway.description,
                                interface: config.podInterface, hostInterface: hostIf)
    }

    /// DEL: idempotent; removes the hostPort rules and the address, and the veth pair.
    ///
    /// With `removingNetns` (sandbox teardown), the pod's pinned namespace is removed instead of
    /// deleting the veth: the kernel then destroys both ends with the namespace asynchronously,
    /// rather than this call waiting ~25 ms for the synchronous unregister of the link.
    public func remove(id: String, removingNetns netns: String? = nil) throws {
        let alloc = try ipam.allocations().first { $0.owner == id }
        let hostIf = alloc?.hostInterface ?? BridgeNetwork.hostInterfaceName(for: id)
        if let netns {
            try NetNS.remove(netns)
        } else {
            let fd = try socket()
            defer { close(fd) }
            let rc = sl_nl_link_del(fd, hostIf)
            if rc < 0 && rc != -ENODEV { throw NetworkError("delete \(hostIf): \(SystemError.message(-rc)) (errno \(-rc))") }
        }
        if let a = alloc, !a.hostPorts.isEmpty {
            try NFTables.apply(NFTables.hostPortScript(add: false, ip: a.ip, ports: a.hostPorts))
        }
        try ipam.release(owner: id)
    }

    /// Start-up reconciliation: releases addresses (and veths, hostPorts) of pods not in `live`.
    @discardableResult
    public func reclaim(keeping live: Set<String>, alsoKeeping keep: (String) -> Bool = { _ in false }) throws -> [String] {
        let stale = try ipam.allocations().map(\.owner).filter { !live.contains($0) && !keep($0) }
        for id in stale { try remove(id: id) }
        return stale
    }
}

/// nftables rules in a table of our own (`ip swiftlet`), applied with `nft -f -`.
public enum NFTables {
    public static let table = "swiftlet"

    /// Idempotent: chains are (re)declared and flushed, the hostports map is kept, so running
    /// it again (agent restart, a second agent instance) keeps the pods' hostPort entries.
    public static func setupScript(subnet: IPv4Subnet, nat: Bool, hostPorts: Bool) -> String {
        var s = "add table ip \(table)\n"
        func chain(_ name: String, _ hook: String, _ rules: [String]) {
            s += "add chain ip \(table) \(name) { \(hook); policy accept; }\nflush chain ip \(table) \(name)\n"
            for r in rules { s += "add rule ip \(table) \(name) \(r)\n" }
        }
        if hostPorts {
            s += "add map ip \(table) hostports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
            let dnat = "fib daddr type local dnat ip to meta l4proto . th dport map @hostports"
            chain("prerouting", "type nat hook prerouting priority dstnat", [dnat])
            chain("output", "type nat hook output priority -100", [dnat])
        }
        var post: [String] = []
        if nat { post.append("ip saddr \(subnet) ip daddr != \(subnet) masquerade") }
        // hairpin: a pod reaching its own hostPort through the node address
        if hostPorts { post.append("ct status dnat ip saddr \(subnet) ip daddr \(subnet) masquerade") }
        chain("postrouting", "type nat hook postrouting priority srcnat", post)
        return s
    }

    public static func hostPortScript(add: Bool, ip: IPv4, ports: [PortMapping]) -> String {
        ports.map { "\(add ? "add" : "delete") element ip \(table) hostports { \($0.proto) . \($0.hostPort) : \(ip) . \($0.containerPort) }\n" }.joined()
    }

    static func nftPath() -> String? {
        ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first { Files.exists($0) }
    }

    public static func apply(_ script: String) throws {
        guard let nft = nftPath() else { throw NetworkError("nft not found (apt-get install nftables): needed for NAT and hostPorts") }
        let (r, w) = try Pipes.make()
        let (er, ew) = try Pipes.make()
        let pid = try Spawn.spawn(nft, args: ["nft", "-f", "-"], env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], fds: [(r.raw, 0), (ew.raw, 2)])
        r.close()
        ew.close()
        let bytes = Array(script.utf8)
        bytes.withUnsafeBytes { _ = write(w.raw, $0.baseAddress, $0.count) }
        w.close()
        var reader = LineReader(fd: er.raw)
        var msg: [String] = []
        while let l = reader.next() { msg.append(l) }
        let status = Spawn.wait(pid)
        if status != 0 { throw NetworkError("nft failed (status \(status)): \(msg.prefix(3).joined(separator: " | "))") }
    }

    public static func removeTable() throws {
        if nftPath() == nil { return }
        try apply("table ip \(table)\ndelete table ip \(table)\n")
    }
}

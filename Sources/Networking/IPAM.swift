import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 address as a host-order integer.
public struct IPv4: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let b = UInt32(p), b <= 255 else { return nil }
            v = v << 8 | b
        }
        value = v
    }

    public var description: String { "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)" }
    /// Network byte order, for netlink.
    public var bigEndian: UInt32 { value.bigEndian }
    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }
}

/// An IPv4 subnet ("10.88.0.0/24").
public struct IPv4Subnet: Hashable, Sendable, CustomStringConvertible {
    public let network: IPv4
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let a = IPv4(String(parts[0])), let p = Int(parts[1]), (8...30).contains(p) else { return nil }
        prefix = p
        network = IPv4(a.value & IPv4Subnet.mask(p))
    }

    static func mask(_ p: Int) -> UInt32 { p == 0 ? 0 : ~UInt32(0) << UInt32(32 - p) }
    public var mask: UInt32 { IPv4Subnet.mask(prefix) }
    public var broadcast: IPv4 { IPv4(network.value | ~mask) }
    /// The first usable address: the node's gateway on the bridge.
    public var gateway: IPv4 { IPv4(network.value + 1) }
    public func contains(_ a: IPv4) -> Bool { a.value & mask == network.value }
    public var description: String { "\(network)/\(prefix)" }
    public var usable: ClosedRange<UInt32> { (network.value + 1)...(broadcast.value - 1) }
}

public struct Allocation: Equatable, Sendable {
    public var ip: IPv4
    public var owner: String
    public var hostInterface: String
    public var hostPorts: [PortMapping]
}

public struct PortMapping: Equatable, Sendable, Hashable {
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var proto: String   // tcp, udp, sctp
    public init(hostPort: UInt16, containerPort: UInt16, proto: String = "tcp") {
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.proto = proto
    }

    /// "8080:80/tcp" or "8080:80"
    public init?(_ text: String) {
        let protoSplit = text.split(separator: "/")
        let ports = protoSplit[0].split(separator: ":")
        guard ports.count == 2, let h = UInt16(ports[0]), let c = UInt16(ports[1]), h > 0, c > 0 else { return nil }
        let p = protoSplit.count > 1 ? String(protoSplit[1]).lowercased() : "tcp"
        guard ["tcp", "udp", "sctp"].contains(p) else { return nil }
        self.init(hostPort: h, containerPort: c, proto: p)
    }
}

public struct IPAMError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// Pure allocation: the next free address after the last one handed out (round robin, as the
/// host-local plugin does), skipping the network, gateway and broadcast addresses.
public struct IPAllocator: Sendable {
    public let subnet: IPv4Subnet
    public init(subnet: IPv4Subnet) { self.subnet = subnet }

    public func next(taken: Set<IPv4>, after last: IPv4?) -> IPv4? {
        let range = subnet.usable
        let first = subnet.gateway.value + 1
        guard first <= range.upperBound else { return nil }
        let count = range.upperBound - first + 1
        var start = first
        if let l = last, l.value >= first, l.value < range.upperBound { start = l.value + 1 }
        for i in 0..<count {
            let candidate = first + (start - first + i) % count
            let ip = IPv4(candidate)
            if !taken.contains(ip) { return ip }
        }
        return nil
    }
}

/// IPAM state persisted as JSON under the state dir, guarded by an flock so concurrent pod starts
/// (threads or processes) never hand out the same address; survives agent restarts.
public struct IPAMStore: Sendable {
    public let directory: String
    public let subnet: IPv4Subnet

    public init(directory: String, subnet: IPv4Subnet) {
        self.directory = directory
        self.subnet = subnet
    }

    var stateFile: String { directory + "/ipam.json" }
    var lockFile: String { directory + "/ipam.lock" }

    public struct State: Equatable, Sendable {
        public var last: IPv4?
        public var allocations: [Allocation] = []
    }

    /// Runs `body` with the state under an exclusive lock; writes it back when changed.
    public func withLock<T>(_ body: (inout State) throws -> T) throws -> T {
        do { try Files.makeDirectories(directory, mode: 0o700) } catch { throw error }
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError(op: "open", code: errno, detail: lockFile) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw SystemError(op: "flock", code: errno, detail: lockFile) }
        }
        var state = try load()
        let before = state
        let result = try body(&state)
        if state != before { try save(state) }
        return result
    }

    func load() throws -> State {
        guard let bytes = try? Files.read(stateFile) else { return State() }
        let r = JSONReader(try JSON.parse(bytes))
        var s = State()
        if let l = try r.string("last") { s.last = IPv4(l) }
        for a in try r.optional("allocations")?.array() ?? [] {
            guard let ip = IPv4(try a.required("ip").string()) else { throw IPAMError(message: "\(stateFile): bad address") }
            var ports: [PortMapping] = []
            for p in try a.optional("hostPorts")?.array() ?? [] {
                ports.append(PortMapping(hostPort: try p.required("hostPort").integer(), containerPort: try p.required("containerPort").integer(),
                                         proto: try p.string("protocol") ?? "tcp"))
            }
            s.allocations.append(Allocation(ip: ip, owner: try a.required("owner").string(),
                                            hostInterface: try a.string("hostInterface") ?? "", hostPorts: ports))
        }
        return s
    }

    func save(_ s: State) throws {
        var o = JSONObject()
        o.set("subnet", subnet.description)
        o.set("last", s.last?.description)
        o.set("allocations", JSON.array(s.allocations.map { a in
            var ao = JSONObject()
            ao.set("ip", a.ip.description)
            ao.set("owner", a.owner)
            ao.set("hostInterface", a.hostInterface)
            if !a.hostPorts.isEmpty {
                ao.set("hostPorts", JSON.array(a.hostPorts.map { p in
                    var po = JSONObject()
                    po.set("hostPort", p.hostPort)
                    po.set("containerPort", p.containerPort)
                    po.set("protocol", p.proto)
                    return po.json
                }))
            }
            return ao.json
        }))
        // atomic rename: a crash leaves the old or the new state, never a torn file
        try Files.write(stateFile, o.json.serialized(pretty: true), mode: 0o600, atomic: true)
    }

    /// Allocates an address for `owner` (idempotent: an owner keeps its address).
    public func allocate(owner: String, hostInterface: String, hostPorts: [PortMapping] = []) throws -> Allocation {
        try withLock { s in
            if let existing = s.allocations.first(where: { $0.owner == owner }) { return existing }
            for p in hostPorts {
                if let other = s.allocations.first(where: { $0.hostPorts.contains { $0.hostPort == p.hostPort && $0.proto == p.proto } }) {
                    throw IPAMError(message: "host port \(p.hostPort)/\(p.proto) is already used by \(other.owner)")
                }
            }
            let alloc = IPAllocator(subnet: subnet)
            guard let ip = alloc.next(taken: Set(s.allocations.map(\.ip)), after: s.last) else {
                throw IPAMError(message: "no free address left in \(subnet)")
            }
            let a = Allocation(ip: ip, owner: owner, hostInterface: hostInterface, hostPorts: hostPorts)
            s.allocations.append(a)
            s.last = ip
            return a
        }
    }

    @discardableResult
    public func release(owner: String) throws -> Allocation? {
        try withLock { s in
            guard let i = s.allocations.firstIndex(where: { $0.owner == owner }) else { return nil }
            return s.allocations.remove(at: i)
        }
    }

    public func allocations() throws -> [Allocation] { try withLock { $0.allocations } }
}

import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The node's own IPv4 address (status.hostIP, hostNetwork pods' IP), found the way the kubelet
/// does without --node-ip: the address of the interface carrying the default route, else the
/// first global address that is not the pod bridge's.
public enum NodeAddress {
    /// Interface names of default routes in a /proc/net/route text.
    public static func defaultRouteInterfaces(procNetRoute text: String) -> [String] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard f.count > 7, f[1] == "00000000", f[7] == "00000000" else { return nil }
            return String(f[0])
        }
    }

    /// (interface, IPv4) pairs of this network namespace, loopback excluded.
    public static func addresses() -> [(name: String, ip: String)] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var out: [(String, String)] = []
        var p = head
        while let a = p {
            defer { p = a.pointee.ifa_next }
            guard let sa = a.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET),
                  a.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
            var buf = [CChar](repeating: 0, count: 64)
            var sin = UnsafeRawPointer(sa).load(as: sockaddr_in.self)
            inet_ntop(AF_INET, &sin.sin_addr, &buf, 64)
            out.append((String(cString: a.pointee.ifa_name), String(cString: buf)))
        }
        return out
    }

    /// The node's address: that of the default route's interface; without a default route the
    /// first address of another interface (the pods' bridge excluded; a veth counts, test and
    /// container hosts often have nothing else); with none at all, loopback.
    public static func detect(excludingInterfaces excluded: Set<String>) -> String? {
        choose(addresses: addresses(), defaultRoutes: defaultRouteInterfaces(procNetRoute: (try? Files.readString("/proc/net/route")) ?? ""),
               excluding: excluded)
    }

    public static func choose(addresses all: [(name: String, ip: String)], defaultRoutes: [String], excluding excluded: Set<String>) -> String {
        let addrs = all.filter { !excluded.contains($0.name) }
        for d in defaultRoutes { if let a = addrs.first(where: { $0.name == d }) { return a.ip } }
        return addrs.first?.ip ?? "127.0.0.1"
    }
}

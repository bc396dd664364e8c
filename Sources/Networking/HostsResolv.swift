import LinuxSystem

/// /etc/hosts and /etc/resolv.conf for a pod, the kubelet's way (kubelet_pods.go
/// makeEtcHostsMount / ensureHostsFile, pkg/kubelet/network/dns).
public enum PodFiles {
    public struct HostAlias: Equatable, Sendable {
        public var ip: String
        public var hostnames: [String]
        public init(ip: String, hostnames: [String]) {
            self.ip = ip
            self.hostnames = hostnames
        }
    }

    /// The managed hosts file: localhost entries, the pod's IPs with its hostname (FQDN first
    /// when a subdomain is set), then hostAliases.
    public static func hosts(podIPs: [String], hostname: String, subdomain: String? = nil, namespace: String,
                             clusterDomain: String = "cluster.local", aliases: [HostAlias] = []) -> String {
        var out = "# Kubernetes-managed hosts file.\n"
        out += "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
        out += "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
        for ip in podIPs {
            if let sd = subdomain, !sd.isEmpty {
                out += "\(ip)\t\(hostname).\(sd).\(namespace).svc.\(clusterDomain)\t\(hostname)\n"
            } else {
                out += "\(ip)\t\(hostname)\n"
            }
        }
        if !aliases.isEmpty {
            out += "\n# Entries added by HostAliases.\n"
            for a in aliases { out += "\(a.ip)\t\(a.hostnames.joined(separator: "\t"))\n" }
        }
        return out
    }

    /// hostNetwork pods: the node's hosts file plus aliases.
    public static func hostNetworkHosts(nodeHosts: String, aliases: [HostAlias]) -> String {
        guard !aliases.isEmpty else { return nodeHosts }
        var out = nodeHosts.hasSuffix("\n") || nodeHosts.isEmpty ? nodeHosts : nodeHosts + "\n"
        out += "\n# Entries added by HostAliases.\n"
        for a in aliases { out += "\(a.ip)\t\(a.hostnames.joined(separator: "\t"))\n" }
        return out
    }

    public enum DNSPolicy: String, Sendable {
        case clusterFirst = "ClusterFirst", clusterFirstWithHostNet = "ClusterFirstWithHostNet", `default` = "Default", none = "None"
    }

    public struct DNSConfig: Equatable, Sendable {
        public var nameservers: [String] = []
        public var searches: [String] = []
        public var options: [(name: String, value: String?)] = []
        public init(nameservers: [String] = [], searches: [String] = [], options: [(name: String, value: String?)] = []) {
            self.nameservers = nameservers
            self.searches = searches
            self.options = options
        }
        public static func == (a: DNSConfig, b: DNSConfig) -> Bool {
            a.nameservers == b.nameservers && a.searches == b.searches && a.options.map { "\($0.name)=\($0.value ?? "")" } == b.options.map { "\($0.name)=\($0.value ?? "")" }
        }
    }

    /// Parses a resolv.conf (nameserver/search/domain/options lines).
    public static func parseResolv(_ text: String) -> DNSConfig {
        var c = DNSConfig()
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let k = f.first, !k.hasPrefix("#"), !k.hasPrefix(";") else { continue }
            switch k {
            case "nameserver": if f.count > 1 { c.nameservers.append(f[1]) }
            case "search", "domain": c.searches = Array(f.dropFirst())
            case "options":
                for o in f.dropFirst() {
                    let kv = o.split(separator: ":", maxSplits: 1)
                    c.options.append((String(kv[0]), kv.count > 1 ? String(kv[1]) : nil))
                }
            default: break
            }
        }
        return c
    }

    /// resolv.conf for a pod per dnsPolicy; limits: 3 nameservers, 32 search domains / 2048 chars.
    public static func resolvConf(policy: DNSPolicy, hostNetwork: Bool, namespace: String, clusterDNS: [String],
                                  clusterDomain: String = "cluster.local", hostResolv: DNSConfig,
                                  podDNSConfig: DNSConfig? = nil) -> String {
        var c = DNSConfig()
        var effective = policy
        if policy == .clusterFirst && hostNetwork { effective = .default }
        if (effective == .clusterFirst || effective == .clusterFirstWithHostNet) && clusterDNS.isEmpty { effective = .default }
        switch effective {
        case .clusterFirst, .clusterFirstWithHostNet:
            c.nameservers = clusterDNS
            c.searches = ["\(namespace).svc.\(clusterDomain)", "svc.\(clusterDomain)", clusterDomain] + hostResolv.searches
            c.options = [("ndots", "5")]
        case .default:
            c = hostResolv
        case .none:
            break
        }
        if let extra = podDNSConfig {
            c.nameservers += extra.nameservers.filter { !c.nameservers.contains($0) }
            c.searches += extra.searches.filter { !c.searches.contains($0) }
            for o in extra.options {
                c.options.removeAll { $0.name == o.name }
                c.options.append(o)
            }
        }
        var searches: [String] = []
        var total = 0
        for s in c.searches where !searches.contains(s) && searches.count < 32 && total + s.count <= 2048 {
            searches.append(s)
            total += s.count + 1
        }
        var out = ""
        if !searches.isEmpty { out += "search \(searches.joined(separator: " "))\n" }
        for ns in c.nameservers.prefix(3) { out += "nameserver \(ns)\n" }
        if !c.options.isEmpty {
            let opts = c.options.map { o in o.value.map { "\(o.name):\($0)" } ?? o.name }
            out += "options \(opts.joined(separator: " "))\n"
        }
        return out
    }
}

extension PodFiles {
    /// Writes `hosts` and `resolv.conf` for a pod into `dir` (atomically), ready to be
    /// bind-mounted at /etc/hosts and /etc/resolv.conf in each of its containers.
    public static func write(to dir: String, podIPs: [String], hostname: String, namespace: String, aliases: [HostAlias] = [],
                             policy: DNSPolicy = .clusterFirst, hostNetwork: Bool = false, clusterDNS: [String] = [],
                             clusterDomain: String = "cluster.local", hostResolvPath: String = "/etc/resolv.conf",
                             podDNSConfig: DNSConfig? = nil) throws {
        try Files.makeDirectories(dir, mode: 0o755)
        let hostsText = hostNetwork
            ? hostNetworkHosts(nodeHosts: (try? Files.readString("/etc/hosts")) ?? "", aliases: aliases)
            : hosts(podIPs: podIPs, hostname: hostname, namespace: namespace, clusterDomain: clusterDomain, aliases: aliases)
        try Files.write(dir + "/hosts", hostsText, mode: 0o644, atomic: true)
        let host = parseResolv((try? Files.readString(hostResolvPath)) ?? "")
        try Files.write(dir + "/resolv.conf", resolvConf(policy: policy, hostNetwork: hostNetwork, namespace: namespace,
                                                         clusterDNS: clusterDNS, clusterDomain: clusterDomain,
                                                         hostResolv: host, podDNSConfig: podDNSConfig), mode: 0o644, atomic: true)
    }
}

import Networking
import Yams

/// Every agent setting; each has a command-line flag and a key in the YAML config file
/// (`--config`), flags winning.
public struct AgentConfig: Codable, Sendable, Equatable {
    public var nodeName: String = "swiftlet-node"
    public var manifestsDir: String = "/etc/swiftlet/manifests"
    /// Persistent state: pods/<uid>/, images/, network/.
    public var rootDir: String = "/var/lib/swiftlet"
    /// Runtime state on tmpfs: container state dirs, sandbox pins, the API socket.
    public var runDir: String = "/run/swiftlet"
    public var podLogsDir: String = "/var/log/pods"
    public var imageStore: String?
    public var socketPath: String?
    /// kubelet's healthz port is 10248 on 127.0.0.1; 0 disables.
    public var healthzPort: Int = 10248
    public var healthzAddress: String = "127.0.0.1"
    public var fileCheckFrequencySeconds: Double = 20
    public var containerLogMaxSize: String = "10Mi"
    public var containerLogMaxFiles: Int = 5
    public var backoffInitialSeconds: Double = 10
    public var backoffMaxSeconds: Double = 300
    public var backoffResetSeconds: Double = 600
    public var bridge: String = "swiftlet0"
    public var podSubnet: String = "10.88.0.0/24"
    public var clusterDNS: [String] = []
    public var clusterDomain: String = "cluster.local"
    public var insecureRegistries: [String] = []
    public var registryConfig: String?
    /// Run pods even where the cgroup v2 controllers are missing (requests/limits not enforced).
    public var allowUnenforcedResources: Bool = false
    public var logLevel: String = "info"
    /// seccompProfile type Localhost: profiles are read from here (kubelet: /var/lib/kubelet/seccomp).
    public var seccompProfileRoot: String?
    /// Sysctls pods may set beyond the safe set ("net.core.*" style patterns allowed).
    public var allowedUnsafeSysctls: [String] = []
    /// More ConfigMap/Secret files for static pods (besides those in the manifests dir).
    public var objectsDir: String?
    /// The node's address (status.hostIP, hostNetwork pods); detected when unset.
    public var nodeIP: String?
    /// The agent's cgroup subtree (relative to the cgroup2 root): <cgroupRoot>/kubepods/...
    public var cgroupRoot: String = "swiftlet"
    /// Image GC: above this usage of the image filesystem (percent), unused images are removed
    /// until usage is at the low threshold (kubelet: 85 / 80), none younger than the minimum age.
    public var imageGCHighThresholdPercent: Int = 85
    public var imageGCLowThresholdPercent: Int = 80
    public var imageMinimumGCAgeSeconds: Double = 120
    /// Hard eviction thresholds (kubelet --eviction-hard); the kubelet's defaults.
    public var evictionHard: [String] = EvictionThreshold.defaults.map(\.description)
    /// How long a pressure condition stays True after its threshold was last crossed.
    public var evictionPressureTransitionSeconds: Double = 300
    /// How often the node is measured for pressure (kubelet housekeeping: 10 s).
    public var housekeepingIntervalSeconds: Double = 10

    /// The master: a kubeconfig (server, CA, client certificate or token). nil: static pods only.
    public var kubeconfig: String?
    /// Labels the Node is registered with (besides kubernetes.io/hostname, os, arch).
    public var nodeLabels: [String: String] = [:]
    /// Taints the Node is registered with: `key[=value]:Effect`.
    public var registerWithTaints: [String] = []
    /// The pods this node takes (status.capacity.pods).
    public var maxPods: Int = 110
    /// How often the node's status is computed (sent when it changed, or every 5 minutes).
    public var nodeStatusUpdateFrequencySeconds: Double = 10
    /// The kubelet API (logs, exec for the master): TLS on this address and port (0: off).
    public var port: Int = 10250
    public var address: String = "0.0.0.0"
    /// Its serving pair; unset: issued by the cluster CA (`swiftlet up`) or requested from the
    /// master as a kubelet-serving CertificateSigningRequest.
    public var tlsCertFile: String?
    public var tlsPrivateKeyFile: String?
    /// The CA whose client certificates the kubelet API accepts (default: the master's CA).
    public var clientCAFile: String?

    /// A `swiftlet run` instance: its own pods/containers/sandboxes dirs under run/<instance>
    /// (not a config-file setting). nil: the agent.
    public var instance: String?
    /// Leave a removed pod's log dir (`swiftlet run` prints the last lines, then removes it).
    public var keepPodLogs = false

    public init() {}

    public var imageStorePath: String { imageStore ?? rootDir + "/images" }
    public var seccompProfileRootPath: String { seccompProfileRoot ?? rootDir + "/seccomp" }
    public var apiSocket: String { socketPath ?? runDir + "/agent.sock" }
    public var podsDir: String { instance.map { rootDir + "/run/" + $0 + "/pods" } ?? rootDir + "/pods" }
    public var ociRoot: String { runDir + (instance.map { "/run/" + $0 } ?? "/agent") + "/containers" }
    public var sandboxRoot: String { runDir + (instance.map { "/run/" + $0 } ?? "/agent") + "/sandboxes" }
    /// Container ids and IPAM owners of `swiftlet run` instances start with this; the agent's
    /// orphan cleanup leaves them alone.
    public static let runPrefix = "run-"
    public var networkStateDir: String { rootDir + "/network" }

    public var backoff: BackoffPolicy {
        BackoffPolicy(initial: .milliseconds(Int64(backoffInitialSeconds * 1000)), max: .milliseconds(Int64(backoffMaxSeconds * 1000)),
                      resetAfter: .milliseconds(Int64(backoffResetSeconds * 1000)))
    }

    public var networkConfig: NetworkConfig {
        var c = NetworkConfig()
        c.bridge = bridge
        if let s = IPv4Subnet(podSubnet) { c.subnet = s }
        c.stateDir = networkStateDir
        return c
    }

    /// Reads a YAML config file; unknown keys are an error (a typo should not be ignored).
    public static func load(path: String, text: String) throws -> AgentConfig {
        if let node = try Yams.compose(yaml: text), case .mapping(let m) = node {
            let known = Set(AgentConfig.CodingKeys.allCases.map(\.stringValue))
            for (k, _) in m {
                if let key = k.string, !known.contains(key) { throw ConfigError("\(path): unknown setting \"\(key)\"") }
            }
        }
        do { return try YAMLDecoder().decode(AgentConfig.self, from: text) } catch {
            throw ConfigError("\(path): \(error)")
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case nodeName, manifestsDir, rootDir, runDir, podLogsDir, imageStore, socketPath, healthzPort, healthzAddress,
             fileCheckFrequencySeconds, containerLogMaxSize, containerLogMaxFiles, backoffInitialSeconds, backoffMaxSeconds,
             backoffResetSeconds, bridge, podSubnet, clusterDNS, clusterDomain, insecureRegistries, registryConfig,
             allowUnenforcedResources, logLevel, cgroupRoot, nodeIP, seccompProfileRoot, allowedUnsafeSysctls, objectsDir,
             imageGCHighThresholdPercent, imageGCLowThresholdPercent, imageMinimumGCAgeSeconds, evictionHard,
             evictionPressureTransitionSeconds, housekeepingIntervalSeconds, kubeconfig, nodeLabels, registerWithTaints, maxPods,
             nodeStatusUpdateFrequencySeconds, port, address, tlsCertFile, tlsPrivateKeyFile, clientCAFile
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AgentConfig()
        nodeName = try c.decodeIfPresent(String.self, forKey: .nodeName) ?? d.nodeName
        manifestsDir = try c.decodeIfPresent(String.self, forKey: .manifestsDir) ?? d.manifestsDir
        rootDir = try c.decodeIfPresent(String.self, forKey: .rootDir) ?? d.rootDir
        runDir = try c.decodeIfPresent(String.self, forKey: .runDir) ?? d.runDir
        podLogsDir = try c.decodeIfPresent(String.self, forKey: .podLogsDir) ?? d.podLogsDir
        imageStore = try c.decodeIfPresent(String.self, forKey: .imageStore)
        socketPath = try c.decodeIfPresent(String.self, forKey: .socketPath)
        healthzPort = try c.decodeIfPresent(Int.self, forKey: .healthzPort) ?? d.healthzPort
        healthzAddress = try c.decodeIfPresent(String.self, forKey: .healthzAddress) ?? d.healthzAddress
        fileCheckFrequencySeconds = try c.decodeIfPresent(Double.self, forKey: .fileCheckFrequencySeconds) ?? d.fileCheckFrequencySeconds
        containerLogMaxSize = try c.decodeIfPresent(String.self, forKey: .containerLogMaxSize) ?? d.containerLogMaxSize
        containerLogMaxFiles = try c.decodeIfPresent(Int.self, forKey: .containerLogMaxFiles) ?? d.containerLogMaxFiles
        backoffInitialSeconds = try c.decodeIfPresent(Double.self, forKey: .backoffInitialSeconds) ?? d.backoffInitialSeconds
        backoffMaxSeconds = try c.decodeIfPresent(Double.self, forKey: .backoffMaxSeconds) ?? d.backoffMaxSeconds
        backoffResetSeconds = try c.decodeIfPresent(Double.self, forKey: .backoffResetSeconds) ?? d.backoffResetSeconds
        bridge = try c.decodeIfPresent(String.self, forKey: .bridge) ?? d.bridge
        podSubnet = try c.decodeIfPresent(String.self, forKey: .podSubnet) ?? d.podSubnet
        clusterDNS = try c.decodeIfPresent([String].self, forKey: .clusterDNS) ?? d.clusterDNS
        clusterDomain = try c.decodeIfPresent(String.self, forKey: .clusterDomain) ?? d.clusterDomain
        insecureRegistries = try c.decodeIfPresent([String].self, forKey: .insecureRegistries) ?? d.insecureRegistries
        registryConfig = try c.decodeIfPresent(String.self, forKey: .registryConfig)
        allowUnenforcedResources = try c.decodeIfPresent(Bool.self, forKey: .allowUnenforcedResources) ?? d.allowUnenforcedResources
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        cgroupRoot = try c.decodeIfPresent(String.self, forKey: .cgroupRoot) ?? d.cgroupRoot
        nodeIP = try c.decodeIfPresent(String.self, forKey: .nodeIP)
        seccompProfileRoot = try c.decodeIfPresent(String.self, forKey: .seccompProfileRoot)
        allowedUnsafeSysctls = try c.decodeIfPresent([String].self, forKey: .allowedUnsafeSysctls) ?? []
        objectsDir = try c.decodeIfPresent(String.self, forKey: .objectsDir)
        imageGCHighThresholdPercent = try c.decodeIfPresent(Int.self, forKey: .imageGCHighThresholdPercent) ?? d.imageGCHighThresholdPercent
        imageGCLowThresholdPercent = try c.decodeIfPresent(Int.self, forKey: .imageGCLowThresholdPercent) ?? d.imageGCLowThresholdPercent
        imageMinimumGCAgeSeconds = try c.decodeIfPresent(Double.self, forKey: .imageMinimumGCAgeSeconds) ?? d.imageMinimumGCAgeSeconds
        evictionHard = try c.decodeIfPresent([String].self, forKey: .evictionHard) ?? d.evictionHard
        evictionPressureTransitionSeconds = try c.decodeIfPresent(Double.self, forKey: .evictionPressureTransitionSeconds) ?? d.evictionPressureTransitionSeconds
        housekeepingIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .housekeepingIntervalSeconds) ?? d.housekeepingIntervalSeconds
        kubeconfig = try c.decodeIfPresent(String.self, forKey: .kubeconfig)
        nodeLabels = try c.decodeIfPresent([String: String].self, forKey: .nodeLabels) ?? [:]
        registerWithTaints = try c.decodeIfPresent([String].self, forKey: .registerWithTaints) ?? []
        maxPods = try c.decodeIfPresent(Int.self, forKey: .maxPods) ?? d.maxPods
        nodeStatusUpdateFrequencySeconds = try c.decodeIfPresent(Double.self, forKey: .nodeStatusUpdateFrequencySeconds) ?? d.nodeStatusUpdateFrequencySeconds
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        address = try c.decodeIfPresent(String.self, forKey: .address) ?? d.address
        tlsCertFile = try c.decodeIfPresent(String.self, forKey: .tlsCertFile)
        tlsPrivateKeyFile = try c.decodeIfPresent(String.self, forKey: .tlsPrivateKeyFile)
        clientCAFile = try c.decodeIfPresent(String.self, forKey: .clientCAFile)
    }

    /// The parsed eviction thresholds; the image store keeps its own threshold's share free.
    public func evictionThresholds() throws(ConfigError) -> [EvictionThreshold] {
        var out: [EvictionThreshold] = []
        for t in evictionHard { out.append(try EvictionThreshold.parse(t)) }
        guard (0...100).contains(imageGCHighThresholdPercent), (0...100).contains(imageGCLowThresholdPercent),
              imageGCLowThresholdPercent <= imageGCHighThresholdPercent else {
            throw ConfigError("imageGCLowThresholdPercent (\(imageGCLowThresholdPercent)) must be at most imageGCHighThresholdPercent (\(imageGCHighThresholdPercent)), both within 0-100")
        }
        return out
    }

    /// The share of the image filesystem an unpack must leave free: the imagefs threshold.
    public var imagefsMinFreeFraction: Double {
        for t in (try? evictionThresholds()) ?? [] where t.signal == .imagefsAvailable {
            if case .percentage(let p) = t.value { return p / 100 }
        }
        return 0.15
    }
}

public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

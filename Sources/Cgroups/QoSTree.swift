#if canImport(Glibc)
import Glibc
#endif
import LinuxSystem

/// The kubelet-shaped tree `<root>/kubepods/{burstable,besteffort}/pod<uid>/<container>`
/// (Guaranteed pods directly under kubepods). Interior groups get controllers in
/// cgroup.subtree_control; containers are leaves, entered with CLONE_INTO_CGROUP.
public struct QoSTree: Sendable {
    public let hierarchy: CgroupHierarchy
    /// Relative path of the tree's parent inside the hierarchy ("" = the hierarchy root).
    public let base: String
    public let controllers: [String]

    public init(hierarchy: CgroupHierarchy, base: String = "", controllers: [String] = ["cpu", "memory", "pids"]) {
        self.hierarchy = hierarchy
        self.base = base
        self.controllers = controllers
    }

    func path(_ rel: String) -> String { hierarchy.absolute(base.isEmpty ? rel : base + "/" + rel) }

    public var kubepods: Cgroup { Cgroup(path: path("kubepods")) }

    /// Cgroup v2 forbids processes in interior groups that delegate controllers ("no internal
    /// processes"): move the calling process into its own leaf first, e.g. `<base>/swiftlet-agent`.
    public func evacuateSelf(into leaf: String = "swiftlet-agent") throws(SystemError) {
        let g = Cgroup(path: path(leaf))
        try g.create()
        try g.write("cgroup.procs", "0")
    }

    /// Creates kubepods and the QoS tiers with controllers enabled down to the pod level.
    public func ensureTiers() throws {
        let available = hierarchy.controllers()
        let want = controllers.filter { available.contains($0) }
        for tier in ["kubepods", "kubepods/burstable", "kubepods/besteffort"] {
            try Cgroup(path: path(tier)).create()
        }
        // enable down to the tiers themselves (the "probe" leaf is never created)
        try hierarchy.enableControllers(want, forLeaf: path("kubepods/burstable/probe"))
        try hierarchy.enableControllers(want, forLeaf: path("kubepods/besteffort/probe"))
        // besteffort tier: the minimum weight (shares 2), as the kubelet's QoS manager sets
        if want.contains("cpu") { try Cgroup(path: path("kubepods/besteffort")).write("cpu.weight", "1") }
    }

    /// Creates (or updates) a pod's group with its resources; returns it.
    @discardableResult
    public func ensurePod(qos: QoSClass, uid: String, resources: ContainerResources) throws -> Cgroup {
        try ensureTiers()
        let g = Cgroup(path: path(KubeMapping.podCgroup(qos: qos, podUID: uid)))
        try g.create()
        try hierarchy.enableControllers(controllers.filter { hierarchy.controllers().contains($0) }, forLeaf: g.path + "/ctr")
        try g.apply(CgroupMapping.writes(resources).filter { hierarchy.controllers().contains($0.controller) })
        return g
    }

    /// A container leaf under its pod, with the container's resources applied.
    public func containerGroup(pod: Cgroup, name: String, resources: ContainerResources) throws -> Cgroup {
        let g = Cgroup(path: pod.path + "/" + name)
        try g.create()
        try g.apply(CgroupMapping.writes(resources).filter { hierarchy.controllers().contains($0.controller) })
        return g
    }

    /// Kills everything in the pod and removes its groups, children first.
    public func removePod(qos: QoSClass, uid: String) throws {
        let g = Cgroup(path: path(KubeMapping.podCgroup(qos: qos, podUID: uid)))
        guard g.exists else { return }
        g.kill()
        try g.remove()
    }
}

import Prometheus

/// What a request was, in the labels kube-apiserver's request metrics use. Only resources the
/// registry serves get a resource label, so a client cannot grow the label set with made-up paths.
public struct RequestClass: Sendable, Equatable {
    public var verb: String
    public var group = ""
    public var version = ""
    public var resource = ""
    public var subresource = ""
    /// `resource` (one object), `namespace` (a namespace's collection), `cluster` (all of them), or empty.
    public var scope = ""
    public var dryRun = ""

    public init(verb: String, group: String = "", version: String = "", resource: String = "", subresource: String = "", scope: String = "", dryRun: String = "") {
        self.verb = verb
        self.group = group
        self.version = version
        self.resource = resource
        self.subresource = subresource
        self.scope = scope
        self.dryRun = dryRun
    }

    public init(_ req: APIRequest, registry: ResourceRegistry) {
        verb = req.method
        var segs = req.path.split(separator: "/").map(String.init)
        guard let head = segs.first, head == "api" || head == "apis" else { return }
        let (group, version): (String, String)
        if head == "api", segs.count >= 2 { (group, version) = ("", segs[1]); segs.removeFirst(2) }
        else if head == "apis", segs.count >= 3 { (group, version) = (segs[1], segs[2]); segs.removeFirst(3) }
        else { return }
        var watch = false
        if segs.first == "watch" { watch = true; segs.removeFirst() }
        var namespaced = false
        if segs.count >= 3, segs[0] == "namespaces", registry.lookup(group: group, version: version, resource: segs[2])?.namespaced == true {
            namespaced = true
            segs.removeFirst(2)
        }
        guard let r = segs.first, let info = registry.lookup(group: group, version: version, resource: r), segs.count <= 3 else { return }
        self.group = group
        self.version = version
        resource = info.resource
        if segs.count == 3, info.subresource(segs[2]) != nil { subresource = segs[2] }
        let named = segs.count >= 2
        scope = named ? "resource" : namespaced ? "namespace" : "cluster"
        if req.q("dryRun") == "All" { dryRun = "All" }
        switch (req.method, named) {
        case ("GET", false): verb = watch || req.flag("watch") ? "WATCH" : "LIST"
        case ("GET", true): verb = watch ? "WATCH" : "GET"
        case ("PATCH", _) where req.contentType == "application/apply-patch+yaml": verb = "APPLY"
        case ("DELETE", false): verb = "DELETECOLLECTION"
        default: break
        }
    }
}

/// `/metrics` in Prometheus' text format, with kube-apiserver's names: `apiserver_request_total`,
/// `apiserver_request_duration_seconds` (its buckets), `apiserver_storage_objects` (counted in the
/// store when scraped) and the store's own request latency (`etcd_request_duration_seconds` on
/// etcd, `sqlite_request_duration_seconds` on SQLite).
public final class MasterMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let storageMetric: String

    /// kube-apiserver's buckets (seconds), the same for request and store latency.
    static let buckets: [Duration] = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60]
        .map { .nanoseconds(Int64($0 * 1e9)) }

    public init(storageBackend: String) {
        storageMetric = storageBackend == "etcd" ? "etcd_request_duration_seconds" : "sqlite_request_duration_seconds"
    }

    public func observe(_ c: RequestClass, code: Int, elapsed: Duration) {
        let base: [(String, String)] = [("component", "apiserver"), ("dry_run", c.dryRun), ("group", c.group), ("resource", c.resource),
                                        ("scope", c.scope), ("subresource", c.subresource), ("verb", c.verb), ("version", c.version)]
        registry.makeCounter(descriptor: Self.requests, labels: [("code", String(code))] + base).increment()
        registry.makeDurationHistogram(descriptor: Self.durations, labels: base, buckets: Self.buckets).record(elapsed)
    }

    /// One store call: `operation` is get/list/create/update/delete/count, `type` the resource.
    public func observeStorage(operation: String, type: String, elapsed: Duration) {
        registry.makeDurationHistogram(descriptor: MetricNameDescriptor(metricName: storageMetric, unitName: "",
                                                                        helpText: "Seconds per store call, by operation and resource."),
                                       labels: [("operation", operation), ("type", type)], buckets: Self.buckets).record(elapsed)
    }

    public func setStoredObjects(resource: String, count: Int) {
        registry.makeGauge(descriptor: Self.objects, labels: [("resource", resource)]).set(to: Double(count))
    }

    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    static var requests: MetricNameDescriptor { MetricNameDescriptor(metricName: "apiserver_request", unitName: "total",
                                               helpText: "API requests answered, by verb, resource, scope, dry run and status code.") }
    static var durations: MetricNameDescriptor { MetricNameDescriptor(metricName: "apiserver_request_duration", unitName: "seconds",
                                                helpText: "Seconds from a request to its response headers, by verb, resource and scope.") }
    static var objects: MetricNameDescriptor { MetricNameDescriptor(metricName: "apiserver_storage", unitName: "objects",
                                              helpText: "Objects in the store per resource, counted at the last scrape.") }
}

import APIMachinery
import LinuxSystem

/// Kinds served at more than one version are stored once, at one version, and converted on the
/// way in and out (kube-apiserver's storage versions): core/v1 `Event` ⇄ `events.k8s.io/v1`
/// `Event`, and `autoscaling/v2` ⇄ `autoscaling/v1` `HorizontalPodAutoscaler`. What the other
/// version cannot express travels in annotations, as kube-apiserver's conversions keep it, so a
/// round trip through either version loses nothing.
enum Conversion {
    /// The version objects of this resource are stored at, when it is served at several.
    static func storageVersion(_ info: ResourceInfo) -> String? {
        switch (info.group, info.resource) {
        case ("", "events"), ("events.k8s.io", "events"): return "v1"
        case ("autoscaling", "horizontalpodautoscalers"): return "autoscaling/v2"
        default: return nil
        }
    }

    /// The object as it is stored (from the version it was served at).
    static func toStorage(_ info: ResourceInfo, _ obj: JSON) -> JSON {
        guard let target = storageVersion(info) else { return obj }
        var o = convert(obj, from: info.apiVersion, to: target)
        o.set(["apiVersion"], .string(target))
        return o
    }

    /// The stored object at the version `info` serves.
    static func fromStorage(_ info: ResourceInfo, _ stored: JSON) -> JSON {
        guard let sv = storageVersion(info) else { return stored }
        return convert(stored, from: stored["apiVersion"]?.stringValue ?? sv, to: info.apiVersion)
    }

    static func convert(_ obj: JSON, from: String, to: String) -> JSON {
        if from == to { return obj }
        switch (from, to) {
        case ("v1", "events.k8s.io/v1"): return coreEventToEvents(obj)
        case ("events.k8s.io/v1", "v1"): return eventsEventToCore(obj)
        case ("autoscaling/v2", "autoscaling/v1"): return hpaV2ToV1(obj)
        case ("autoscaling/v1", "autoscaling/v2"): return hpaV1ToV2(obj)
        default: return obj
        }
    }

    // MARK: events

    /// core/v1 field → events.k8s.io/v1 field (top level; the rest have the same names).
    static let eventRenames: [(String, String)] = [
        ("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
        ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"), ("reportingComponent", "reportingController"),
    ]

    static func rename(_ obj: JSON, _ pairs: [(String, String)]) -> JSON {
        guard let members = obj.objectMembers else { return obj }
        let map = Dictionary(uniqueKeysWithValues: pairs)
        return .object(members.map { (map[$0.0] ?? $0.0, $0.1) })
    }

    static func coreEventToEvents(_ obj: JSON) -> JSON {
        rename(obj, eventRenames)
    }

    static func eventsEventToCore(_ obj: JSON) -> JSON {
        rename(obj, eventRenames.map { ($0.1, $0.0) })
    }

    // MARK: horizontal pod autoscalers

    static let metricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
    static let currentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
    static let conditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
    static let behaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior"

    static func isCPUUtilization(_ m: JSON) -> Bool {
        m["type"]?.stringValue == "Resource" && m["resource"]?["name"]?.stringValue == "cpu"
            && m["resource"]?["target"]?["type"]?.stringValue == "Utilization"
    }

    static func annotate(_ o: inout JSON, _ key: String, _ value: JSON?) {
        guard let value else { return }
        o.set(["metadata", "annotations", key], .string(value.serialized()))
    }

    static func takeAnnotation(_ o: inout JSON, _ key: String) -> JSON? {
        guard let s = o["metadata"]?["annotations"]?[key]?.stringValue else { return nil }
        o.set(["metadata", "annotations", key], nil)
        if o["metadata"]?["annotations"]?.objectMembers?.isEmpty == true { o.set(["metadata", "annotations"], nil) }
        return try? JSON.parse(s)
    }

    static func hpaV2ToV1(_ obj: JSON) -> JSON {
        var o = obj
        let metrics = obj["spec"]?["metrics"]?.arrayValue ?? []
        o.set(["spec", "metrics"], nil)
        o.set(["spec", "behavior"], nil)
        if let cpu = metrics.first(where: isCPUUtilization), let u = cpu["resource"]?["target"]?["averageUtilization"] {
            o.set(["spec", "targetCPUUtilizationPercentage"], u)
        }
        let others = metrics.filter { !isCPUUtilization($0) }
        if !others.isEmpty { annotate(&o, metricsAnnotation, .array(others)) }
        annotate(&o, behaviorAnnotation, obj["spec"]?["behavior"])
        let current = obj["status"]?["currentMetrics"]?.arrayValue ?? []
        o.set(["status", "currentMetrics"], nil)
        o.set(["status", "conditions"], nil)
        if let cpu = current.first(where: { $0["type"]?.stringValue == "Resource" && $0["resource"]?["name"]?.stringValue == "cpu" }),
           let u = cpu["resource"]?["current"]?["averageUtilization"] {
            o.set(["status", "currentCPUUtilizationPercentage"], u)
        }
        let otherCurrent = current.filter { !($0["type"]?.stringValue == "Resource" && $0["resource"]?["name"]?.stringValue == "cpu") }
        if !otherCurrent.isEmpty { annotate(&o, currentMetricsAnnotation, .array(otherCurrent)) }
        if let c = obj["status"]?["conditions"], c.arrayValue?.isEmpty == false { annotate(&o, conditionsAnnotation, c) }
        if o["status"] == nil, obj["status"] != nil { o.set(["status"], .object([])) }
        return o
    }

    static func hpaV1ToV2(_ obj: JSON) -> JSON {
        var o = obj
        var metrics: [JSON] = []
        if let u = obj["spec"]?["targetCPUUtilizationPercentage"] {
            metrics.append(.object([("type", .string("Resource")), ("resource", .object([
                ("name", .string("cpu")), ("target", .object([("type", .string("Utilization")), ("averageUtilization", u)])),
            ]))]))
        }
        o.set(["spec", "targetCPUUtilizationPercentage"], nil)
        metrics += takeAnnotation(&o, metricsAnnotation)?.arrayValue ?? []
        if metrics.isEmpty {
            // autoscaling/v2's default: 80% of the CPU requested
            metrics.append(.object([("type", .string("Resource")), ("resource", .object([
                ("name", .string("cpu")), ("target", .object([("type", .string("Utilization")), ("averageUtilization", .int(80))])),
            ]))]))
        }
        o.set(["spec", "metrics"], .array(metrics))
        if let b = takeAnnotation(&o, behaviorAnnotation) { o.set(["spec", "behavior"], b) }
        var current: [JSON] = []
        if let u = obj["status"]?["currentCPUUtilizationPercentage"] {
            current.append(.object([("type", .string("Resource")), ("resource", .object([
                ("name", .string("cpu")), ("current", .object([("averageUtilization", u)])),
            ]))]))
        }
        o.set(["status", "currentCPUUtilizationPercentage"], nil)
        current += takeAnnotation(&o, currentMetricsAnnotation)?.arrayValue ?? []
        if !current.isEmpty { o.set(["status", "currentMetrics"], .array(current)) }
        if let c = takeAnnotation(&o, conditionsAnnotation) { o.set(["status", "conditions"], c) }
        return o
    }
}

import LinuxSystem

/// Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns
/// kubectl shows per kind, computed on the stored JSON so every field counts, whether or not a
/// Swift type models it.
public struct TableColumn: Sendable, Equatable {
    public var name: String
    public var type: String
    public var format: String
    public var description: String
    /// 0: always shown; 1: only with `-o wide`.
    public var priority: Int

    public init(_ name: String, type: String = "string", format: String = "", priority: Int = 0, _ description: String) {
        self.name = name
        self.type = type
        self.format = format
        self.priority = priority
        self.description = description
    }

    public var json: JSON {
        var o = JSONObject()
        o.set("name", name)
        o.set("type", type)
        o.set("format", format)
        o.set("description", description)
        o.set("priority", priority)
        return o.json
    }
}

public enum Table {
    /// A Table of `rows` (cells, and the object or its PartialObjectMetadata).
    public static func json(columns: [TableColumn], rows: [(cells: [JSON], object: JSON?)], resourceVersion: String?, continueToken: String? = nil) -> JSON {
        var meta = JSONObject()
        meta.set("resourceVersion", resourceVersion)
        meta.set("continue", continueToken)
        var o = JSONObject()
        o.set("kind", "Table")
        o.set("apiVersion", "meta.k8s.io/v1")
        o.set("metadata", meta.json)
        o.set("columnDefinitions", JSON.array(columns.map(\.json)))
        o.set("rows", JSON.array(rows.map { r in
            var x = JSONObject()
            x.set("cells", JSON.array(r.cells))
            x.set("object", r.object)
            return x.json
        }))
        return o.json
    }

    /// `?includeObject=Metadata` (the default): the object reduced to PartialObjectMetadata.
    public static func partialMetadata(_ object: JSON) -> JSON {
        var o = JSONObject()
        o.set("kind", "PartialObjectMetadata")
        o.set("apiVersion", "meta.k8s.io/v1")
        o.set("metadata", object["metadata"] ?? .object([]))
        return o.json
    }
}

/// kubectl's age format (apimachinery duration.HumanDuration): 90s, 5m3s, 3h10m, 2d5h, 3y20d.
public enum HumanDuration {
    public static func format(seconds d: Int64) -> String {
        if d < -1 { return "<invalid>" }
        if d < 0 { return "0s" }
        if d < 120 { return "\(d)s" }
        let minutes = d / 60
        if minutes < 10 {
            let s = d % 60
            return s == 0 ? "\(minutes)m" : "\(minutes)m\(s)s"
        }
        if minutes < 180 { return "\(minutes)m" }
        let hours = d / 3600
        if hours < 8 {
            let m = minutes % 60
            return m == 0 ? "\(hours)h" : "\(hours)h\(m)m"
        }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 {
            let h = hours % 24
            return h == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(h)h"
        }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let dy = (hours / 24) % 365
            return dy == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(dy)d"
        }
        return "\(hours / 24 / 365)y"
    }

    /// Age of an RFC 3339 timestamp at `now` (Unix seconds); "<unknown>" without one.
    public static func since(_ timestamp: String?, now: Int64) -> String {
        guard let t = timestamp, let s = RFC3339.seconds(t) else { return "<unknown>" }
        return format(seconds: now - s)
    }
}

/// Seconds since the epoch of an RFC 3339 timestamp (`2026-12-02T06:10:18Z`, offsets, fractions).
public enum RFC3339 {
    public static func seconds(_ s: String) -> Int64? {
        let c = Array(s.utf8)
        guard c.count >= 20 else { return nil }
        func num(_ a: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for i in a..<(a + n) {
                guard c[i] >= 48 && c[i] <= 57 else { return nil }
                v = v * 10 + Int64(c[i] - 48)
            }
            return v
        }
        guard let y = num(0, 4), c[4] == 45, let mo = num(5, 2), c[7] == 45, let d = num(8, 2), c[10] == 84 || c[10] == 116,
              let h = num(11, 2), c[13] == 58, let mi = num(14, 2), c[16] == 58, let se = num(17, 2), (1...12).contains(mo) else { return nil }
        var i = 19
        if i < c.count && c[i] == 46 { i += 1; while i < c.count && c[i] >= 48 && c[i] <= 57 { i += 1 } }
        var offset: Int64 = 0
        guard i < c.count else { return nil }
        if c[i] == 90 || c[i] == 122 {
            i += 1
        } else if (c[i] == 43 || c[i] == 45) && i + 6 <= c.count, let oh = num(i + 1, 2), c[i + 3] == 58, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (c[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == c.count else { return nil }
        // days from civil (proleptic Gregorian)
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + h * 3600 + mi * 60 + se - offset
    }
}

/// `kubectl get pods` (printPod of kube-apiserver 1.28): NAME, READY, STATUS, RESTARTS, AGE and,
/// wide, IP, NODE, NOMINATED NODE, READINESS GATES.
public enum PodTable {
    public static let columns: [TableColumn] = [
        TableColumn("Name", format: "name", "The pod's name, unique within its namespace."),
        TableColumn("Ready", "Ready containers out of all (sidecars included)."),
        TableColumn("Status", "What the pod's containers are doing, as kubectl summarizes it."),
        TableColumn("Restarts", "Container restarts, and how long ago the last one was."),
        TableColumn("Age", "Time since the pod was created."),
        TableColumn("IP", priority: 1, "The pod's first IP address."),
        TableColumn("Node", priority: 1, "The node the pod is bound to."),
        TableColumn("Nominated Node", priority: 1, "The node preemption made room on, if any."),
        TableColumn("Readiness Gates", priority: 1, "Readiness gate conditions that are True, out of all."),
    ]

    static func str(_ v: JSON?) -> String? { if case .string(let s)? = v { return s }; return nil }
    /// 0 for what no Int64 holds (a stored 1e30 must not trap a list)
    static func int(_ v: JSON?) -> Int64 { if case .number(let n)? = v { return Int64(n) ?? Double(n).flatMap { Int64(exactly: $0.rounded(.towardZero)) } ?? 0 }; return 0 }
    static func arr(_ v: JSON?) -> [JSON] { if case .array(let a)? = v { return a }; return [] }
    static func bool(_ v: JSON?) -> Bool { if case .bool(let b)? = v { return b }; return false }

    public static func cells(_ pod: JSON, now: Int64) -> [JSON] {
        let spec = pod["spec"], status = pod["status"], meta = pod["metadata"]
        var restarts: Int64 = 0
        var sidecarRestarts: Int64 = 0
        var ready = 0
        var lastRestart: Int64 = 0
        var lastSidecarRestart: Int64 = 0
        var total = arr(spec?["containers"]).count
        var sidecars = Set<String>()
        for c in arr(spec?["initContainers"]) where str(c["restartPolicy"]) == "Always" {
            if let n = str(c["name"]) { sidecars.insert(n) }
            total += 1
        }
        var reason = str(status?["phase"]) ?? ""
        if let r = str(status?["reason"]), !r.isEmpty { reason = r }
        if arr(status?["conditions"]).contains(where: { str($0["type"]) == "PodScheduled" && str($0["reason"]) == "SchedulingGated" }) {
            reason = "SchedulingGated"
        }
        func finished(_ c: JSON) -> Int64? { str(c["lastState"]?["terminated"]?["finishedAt"]).flatMap(RFC3339.seconds) }

        var initializing = false
        let inits = arr(status?["initContainerStatuses"])
        let initCount = arr(spec?["initContainers"]).count
        for (i, c) in inits.enumerated() {
            restarts += int(c["restartCount"])
            if let f = finished(c) { lastRestart = max(lastRestart, f) }
            let name = str(c["name"]) ?? ""
            let isSidecar = sidecars.contains(name)
            if isSidecar {
                sidecarRestarts += int(c["restartCount"])
                if let f = finished(c) { lastSidecarRestart = max(lastSidecarRestart, f) }
                if bool(c["started"]) && bool(c["ready"]) { ready += 1 }
            }
            let state = c["state"]
            if let t = state?["terminated"], int(t["exitCode"]) == 0 { continue }
            if isSidecar && bool(c["started"]) { continue }
            if let t = state?["terminated"] {
                if let r = str(t["reason"]), !r.isEmpty { reason = "Init:" + r }
                else if int(t["signal"]) != 0 { reason = "Init:Signal:\(int(t["signal"]))" }
                else { reason = "Init:ExitCode:\(int(t["exitCode"]))" }
            } else if let r = str(state?["waiting"]?["reason"]), !r.isEmpty, r != "PodInitializing" {
                reason = "Init:" + r
            } else {
                reason = "Init:\(i)/\(initCount)"
            }
            initializing = true
            break
        }
        let initialized = arr(status?["conditions"]).contains { str($0["type"]) == "Initialized" && str($0["status"]) == "True" }
        if !initializing || initialized {
            restarts = sidecarRestarts
            lastRestart = lastSidecarRestart
            var running = false
            for c in arr(status?["containerStatuses"]).reversed() {
                restarts += int(c["restartCount"])
                if let f = finished(c) { lastRestart = max(lastRestart, f) }
                let state = c["state"]
                if let r = str(state?["waiting"]?["reason"]), !r.isEmpty {
                    reason = r
                } else if let t = state?["terminated"] {
                    if let r = str(t["reason"]), !r.isEmpty { reason = r }
                    else if int(t["signal"]) != 0 { reason = "Signal:\(int(t["signal"]))" }
                    else { reason = "ExitCode:\(int(t["exitCode"]))" }
                } else if bool(c["ready"]) && state?["running"] != nil {
                    running = true
                    ready += 1
                }
            }
            if reason == "Completed" && running {
                let podReady = arr(status?["conditions"]).contains { str($0["type"]) == "Ready" && str($0["status"]) == "True" }
                reason = podReady ? "Running" : "NotReady"
            }
        }
        if meta?["deletionTimestamp"] != nil {
            reason = str(status?["reason"]) == "NodeLost" ? "Unknown" : "Terminating"
        }
        var restartText = String(restarts)
        if restarts != 0 && lastRestart != 0 { restartText += " (\(HumanDuration.format(seconds: now - lastRestart)) ago)" }
        let ip = arr(status?["podIPs"]).first.flatMap { str($0["ip"]) } ?? str(status?["podIP"])
        var gates = "<none>"
        let rg = arr(spec?["readinessGates"])
        if !rg.isEmpty {
            let conds = arr(status?["conditions"])
            let trueCount = rg.filter { g in conds.contains { str($0["type"]) == str(g["conditionType"]) && str($0["status"]) == "True" } }.count
            gates = "\(trueCount)/\(rg.count)"
        }
        func orNone(_ s: String?) -> JSON { .string((s?.isEmpty ?? true) ? "<none>" : s!) }
        return [.string(str(meta?["name"]) ?? ""), .string("\(ready)/\(total)"), .string(reason), .string(restartText),
                .string(HumanDuration.since(str(meta?["creationTimestamp"]), now: now)),
                orNone(ip), orNone(str(spec?["nodeName"])), orNone(str(status?["nominatedNodeName"])), .string(gates)]
    }
}

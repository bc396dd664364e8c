import KubeModel

/// Crash-loop backoff as the kubelet does it: 10 s doubling to 300 s per container, forgotten
/// after the container ran for 10 minutes without failing.
public struct BackoffPolicy: Sendable, Equatable {
    public var initial: Duration = .seconds(10)
    public var max: Duration = .seconds(300)
    public var resetAfter: Duration = .seconds(600)
    public init(initial: Duration = .seconds(10), max: Duration = .seconds(300), resetAfter: Duration = .seconds(600)) {
        self.initial = initial
        self.max = max
        self.resetAfter = resetAfter
    }

    /// Delay before the next start after `failures` consecutive early exits (1 = first restart).
    public func delay(failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var d = initial
        for _ in 1..<failures {
            d = d * 2
            if d >= max { return max }
        }
        return Swift.min(d, max)
    }
}

public enum RestartDecision {
    /// Whether a container that exited with `exitCode` is started again under `policy`.
    public static func shouldRestart(policy: String, exitCode: Int32) -> Bool {
        switch policy {
        case "Always": return true
        case "OnFailure": return exitCode != 0
        default: return false
        }
    }
}

/// The kubelet's terminated-state reason for an exit.
public func terminatedReason(exitCode: Int32, oomKilled: Bool) -> String {
    if oomKilled { return "OOMKilled" }
    return exitCode == 0 ? "Completed" : "Error"
}

/// Pod phase and conditions from container statuses (kubelet getPhase / status generation).
public enum PodPhase {
    public static func phase(restartPolicy: String, statuses: [ContainerStatus], sandboxReady: Bool) -> String {
        if statuses.isEmpty { return "Pending" }
        var running = 0, waiting = 0, succeeded = 0, failed = 0, unknown = 0
        for s in statuses {
            if s.state?.running != nil { running += 1 }
            else if let t = s.state?.terminated { if t.exitCode == 0 { succeeded += 1 } else { failed += 1 } }
            else if let w = s.state?.waiting {
                // a container waiting to be restarted after having run counts by its last state
                if let last = s.lastState?.terminated {
                    if restartPolicy == "Never" || (restartPolicy == "OnFailure" && last.exitCode == 0) {
                        if last.exitCode == 0 { succeeded += 1 } else { failed += 1 }
                    } else {
                        waiting += 1
                    }
                } else {
                    _ = w
                    waiting += 1
                }
            } else { unknown += 1 }
        }
        if unknown > 0 { return "Unknown" }
        if waiting > 0 { return running > 0 ? "Running" : "Pending" }
        if running > 0 { return "Running" }
        // everything terminated
        switch restartPolicy {
        case "Always": return "Running"   // will be restarted
        case "OnFailure": return failed > 0 ? "Running" : "Succeeded"
        default: return failed > 0 ? "Failed" : "Succeeded"
        }
    }

    public static func conditions(phase: String, statuses: [ContainerStatus], initialized: Bool, scheduled: String,
                                  previous: [PodCondition], now: String, sandboxReady: Bool) -> [PodCondition] {
        let containersReady = !statuses.isEmpty && statuses.allSatisfy(\.ready)
        var notReady: String?
        if !containersReady {
            let names = statuses.filter { !$0.ready }.map(\.name)
            notReady = "containers with unready status: [\(names.joined(separator: " "))]"
        }
        let completed = phase == "Succeeded" || phase == "Failed"
        func cond(_ type: String, _ ok: Bool, reason: String? = nil, message: String? = nil) -> PodCondition {
            let status = ok ? "True" : "False"
            let prev = previous.first { $0.type == type }
            let since = prev?.status == status ? (prev?.lastTransitionTime ?? now) : now
            return PodCondition(type: type, status: status, lastTransitionTime: since, reason: ok ? nil : reason, message: ok ? nil : message)
        }
        return [
            cond("PodReadyToStartContainers", sandboxReady),
            cond("Initialized", initialized, reason: "ContainersNotInitialized"),
            cond("Ready", containersReady && !completed, reason: completed ? "PodCompleted" : "ContainersNotReady", message: notReady),
            cond("ContainersReady", containersReady && !completed, reason: completed ? "PodCompleted" : "ContainersNotReady", message: notReady),
            PodCondition(type: "PodScheduled", status: "True", lastTransitionTime: scheduled),
        ]
    }
}

/// `$(VAR)` expansion as Kubernetes does it for env values, command and args: `$$` escapes,
/// unknown references stay as written.
public enum VarExpansion {
    public static func expand(_ s: String, _ lookup: (String) -> String?) -> String {
        let u = Array(s.utf8)
        var out = [UInt8]()
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "$"), i + 1 < u.count {
                if u[i + 1] == UInt8(ascii: "$") { out.append(UInt8(ascii: "$")); i += 2; continue }
                if u[i + 1] == UInt8(ascii: "("), let close = u[(i + 2)...].firstIndex(of: UInt8(ascii: ")")) {
                    let name = String(decoding: u[(i + 2)..<close], as: UTF8.self)
                    if let v = lookup(name) { out += Array(v.utf8) } else { out += u[i...close] }
                    i = close + 1
                    continue
                }
            }
            out.append(u[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A pod's events as the kubelet records them (type, reason, message, from the container they
/// concern), a repeat of the same event counted instead of added (the client-go event
/// correlator's aggregation), the newest `capacity` kept. Pure: the caller passes the time.
public struct PodEvent: Codable, Sendable, Equatable {
    public var type: String
    public var reason: String
    public var message: String
    public var fieldPath: String?
    public var count: Int
    public var firstTimestamp: String
    public var lastTimestamp: String
}

public struct EventLog: Sendable, Equatable {
    public private(set) var events: [PodEvent] = []
    public let capacity: Int
    public init(capacity: Int = 100) { self.capacity = capacity }

    public mutating func record(type: String = "Normal", reason: String, message: String, fieldPath: String? = nil, at now: String) {
        if let i = events.firstIndex(where: { $0.reason == reason && $0.message == message && $0.fieldPath == fieldPath && $0.type == type }) {
            var e = events.remove(at: i)
            e.count += 1
            e.lastTimestamp = now
            events.append(e)
        } else {
            events.append(PodEvent(type: type, reason: reason, message: message, fieldPath: fieldPath, count: 1, firstTimestamp: now, lastTimestamp: now))
        }
        if events.count > capacity { events.removeFirst(events.count - capacity) }
    }
}

/// Manifest seconds as waits and deadlines. The API bounds few of them (a grace period may be
/// any non-negative int64), and a deadline `now + 2^63 s` does not fit the clocks: every wait
/// taken from a manifest goes through here, negative → 0, at most Int32.max s (68 years).
public enum Clamp {
    public static let maxSeconds: Int64 = Int64(Int32.max)
    public static func seconds(_ v: Int64) -> Int64 { Swift.min(Swift.max(v, 0), maxSeconds) }
    public static func seconds(_ v: Double) -> Double { v.isNaN ? 0 : Swift.min(Swift.max(v, 0), Double(maxSeconds)) }
    public static func duration(_ v: Int64) -> Duration { .seconds(seconds(v)) }
    public static func duration(_ v: Double) -> Duration { .milliseconds(Int64(seconds(v) * 1000)) }
}

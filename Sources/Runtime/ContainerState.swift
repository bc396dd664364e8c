import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// What the runtime keeps about a container in `<root>/<id>/state.json`.
public struct ContainerRecord: Sendable, Equatable {
    public var id: String
    public var pid: Int32
    public var startTime: UInt64
    public var monitorPid: Int32
    /// The monitor's start time (clock ticks after boot), 0 when not known (older records).
    public var monitorStartTime: UInt64 = 0
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var cgroupPath: String?
    public var cgroupCreated: [String]
    public var annotations: [String: String]?
    public var namespaces: [String]
    public var hooks: OCISpec.Hooks?
    // defaults for `exec`
    public var env: [String]
    public var cwd: String
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public var capabilities: [UInt64]
    public var noNewPrivileges: Bool
    public var logPath: String?
}

/// The exit record written by the monitor (`exit.json`).
public struct ExitRecord: Sendable, Equatable {
    public var exitCode: Int32
    public var signal: Int32
    /// Kubernetes termination reason: Completed, Error or OOMKilled.
    public var reason: String
    public var oomKilled: Bool
    public var finishedAt: String
    public var error: String?
}

public enum ContainerStatus: String, Sendable {
    case creating, created, running, stopped
}

/// The OCI `state` output.
public struct OCIState: Sendable, Equatable {
    public var ociVersion: String
    public var id: String
    public var status: String
    public var pid: Int32
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?
}

public struct StateDirectory: Sendable {
    public let root: String
    public let id: String
    public var path: String { root + "/" + id }
    public var stateFile: String { path + "/state.json" }
    public var exitFile: String { path + "/exit.json" }
    public var fifo: String { path + "/exec.fifo" }
    public var seccompFile: String { path + "/seccomp.bpf" }

    public init(root: String, id: String) {
        self.root = root
        self.id = id
    }

    public func load() throws -> ContainerRecord {
        let bytes: [UInt8]
        do { bytes = try Files.read(stateFile) } catch {
            if error.code == ENOENT || error.code == ENOTDIR { throw RuntimeError.notFound(id) }
            throw RuntimeError.system(error)
        }
        do { return try ContainerRecord(json: JSONReader(try JSON.parse(bytes))) } catch {
            throw RuntimeError.state("container \"\(id)\": corrupt state file \(stateFile): \(error)")
        }
    }

    public func save(_ r: ContainerRecord) throws {
        try Files.write(stateFile, r.json.serialized(), mode: 0o600, atomic: true)
    }

    public func exitRecord() -> ExitRecord? {
        guard let bytes = try? Files.read(exitFile), let json = try? JSON.parse(bytes) else { return nil }
        return try? ExitRecord(json: JSONReader(json))
    }

    /// Is the recorded process still the one we started (pid + start time, not a zombie)?
    public static func alive(_ r: ContainerRecord) -> Bool {
        guard r.pid > 0, let st = ProcFS.startTime(pid: r.pid), st == r.startTime else { return false }
        return ProcFS.state(pid: r.pid) != "Z"
    }

    /// Is the recorded monitor still running (pid + start time when known, not a zombie)?
    public static func monitorAlive(_ r: ContainerRecord) -> Bool {
        guard r.monitorPid > 0, let st = ProcFS.startTime(pid: r.monitorPid) else { return false }
        if r.monitorStartTime != 0 && st != r.monitorStartTime { return false }
        return ProcFS.state(pid: r.monitorPid) != "Z"
    }

    public func status(_ r: ContainerRecord) -> ContainerStatus {
        if Files.exists(exitFile) { return .stopped }
        // not yet created: the monitor is still setting the container up (or was interrupted)
        if r.pid == 0 { return StateDirectory.monitorAlive(r) ? .creating : .stopped }
        guard StateDirectory.alive(r) else { return .stopped }
        return Files.exists(fifo) ? .created : .running
    }

    /// A container whose monitor died without recording an exit: nothing carries its logs or
    /// will record how it ends (containerd's dead-shim case).
    public func monitorLost(_ r: ContainerRecord) -> Bool {
        r.pid > 0 && r.monitorPid > 0 && !Files.exists(exitFile) && !StateDirectory.monitorAlive(r)
    }

    /// The exit record of a container whose monitor is gone. `killed`: it was still running and
    /// the runtime killed it (137, SIGKILL); otherwise how it ended is not known (255, reason
    /// Unknown: it died with its monitor through its parent-death signal, or on its own).
    public func writeLostExit(_ r: ContainerRecord, killed: Bool) {
        var o = JSONObject()
        o.set("exitCode", killed ? Int32(137) : Int32(255))
        o.set("signal", killed ? Int32(SIGKILL) : Int32(0))
        o.set("reason", killed ? "Error" : "Unknown")
        o.set("oomKilled", false)
        o.set("finishedAt", Timestamp.now().rfc3339Nano)
        o.set("error", "the container's monitor (pid \(r.monitorPid)) exited unexpectedly" + (killed ? "; the container was killed" : ""))
        try? Files.write(exitFile, o.json.serialized() + "\n", mode: 0o644, atomic: true)
    }
}

/// Runs `body`, turning a `SystemError` into `RuntimeError.system` (module boundary).
func systemErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as SystemError { throw RuntimeError.system(e) }
}

public enum RuntimeError: Error, CustomStringConvertible, Sendable {
    case spec(SpecError)
    case system(SystemError)
    case notFound(String)
    case exists(String)
    case state(String)
    /// A failure inside the container setup, reported as {stage, errno, detail}.
    case child(stage: String, errno: Int32, detail: String)
    case hook(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .spec(let e): return "invalid config.json: \(e)"
        case .system(let e): return e.description
        case .notFound(let id): return "container \"\(id)\" does not exist"
        case .exists(let id): return "container \"\(id)\" already exists"
        case .state(let s): return s
        case .child(let stage, let errno, let detail):
            let what = detail.isEmpty ? stage : "\(stage) \(detail)"
            return "\(what): \(SystemError.message(errno)) (errno \(errno))"
        case .hook(let s): return s
        case .invalid(let s): return s
        }
    }

    /// Exit status a CLI should use: 127 when the command could not be found/executed.
    public var exitCode: Int32 {
        if case .child(let stage, _, _) = self, stage == "exec" { return 127 }
        return 1
    }
}

extension ContainerRecord {
    init(json r: JSONReader) throws {
        let caps = try r.optional("capabilities")?.array() ?? []
        var capValues: [UInt64] = []
        for c in caps { capValues.append(try c.integer()) }
        var gids: [UInt32] = []
        for g in try r.optional("additionalGids")?.array() ?? [] { gids.append(try g.integer()) }
        var hooks: OCISpec.Hooks?
        if let h = try r.optional("hooks") { hooks = try OCISpec.Hooks(json: h) }
        self.init(id: try r.required("id").string(), pid: try r.required("pid").integer(), startTime: try r.required("startTime").integer(),
                  monitorPid: try r.required("monitorPid").integer(), monitorStartTime: try r.integer("monitorStartTime") ?? 0,
                  bundle: try r.required("bundle").string(),
                  rootfs: try r.required("rootfs").string(), created: try r.required("created").string(),
                  owner: try r.string("owner") ?? "root", cgroupPath: try r.string("cgroupPath"),
                  cgroupCreated: try r.strings("cgroupCreated") ?? [], annotations: try r.stringMap("annotations"),
                  namespaces: try r.strings("namespaces") ?? [], hooks: hooks, env: try r.strings("env") ?? [],
                  cwd: try r.string("cwd") ?? "/", uid: try r.integer("uid") ?? 0, gid: try r.integer("gid") ?? 0,
                  additionalGids: gids, capabilities: capValues, noNewPrivileges: try r.bool("noNewPrivileges") ?? false,
                  logPath: try r.string("logPath"))
    }

    var json: JSON {
        var o = JSONObject()
        o.set("id", id)
        o.set("pid", pid)
        o.set("startTime", startTime)
        o.set("monitorPid", monitorPid)
        o.set("monitorStartTime", monitorStartTime)
        o.set("bundle", bundle)
        o.set("rootfs", rootfs)
        o.set("created", created)
        o.set("owner", owner)
        o.set("cgroupPath", cgroupPath)
        o.set("cgroupCreated", cgroupCreated)
        o.set("annotations", annotations)
        o.set("namespaces", namespaces)
        o.set("hooks", hooks?.json)
        o.set("env", env)
        o.set("cwd", cwd)
        o.set("uid", uid)
        o.set("gid", gid)
        o.set("additionalGids", JSON.array(additionalGids.map { .number(String($0)) }))
        o.set("capabilities", JSON.array(capabilities.map { .number(String($0)) }))
        o.set("noNewPrivileges", noNewPrivileges)
        o.set("logPath", logPath)
        return o.json
    }
}

extension ExitRecord {
    init(json r: JSONReader) throws {
        let code: Int32 = try r.required("exitCode").integer()
        let oom = try r.bool("oomKilled") ?? false
        self.init(exitCode: code, signal: try r.integer("signal") ?? 0,
                  reason: try r.string("reason") ?? (oom ? "OOMKilled" : code == 0 ? "Completed" : "Error"),
                  oomKilled: oom, finishedAt: try r.string("finishedAt") ?? "", error: try r.string("error"))
    }
}

extension OCIState {
    public var json: JSON {
        var o = JSONObject()
        o.set("ociVersion", ociVersion)
        o.set("id", id)
        o.set("status", status)
        o.set("pid", pid)
        o.set("bundle", bundle)
        o.set("rootfs", rootfs)
        o.set("created", created)
        o.set("owner", owner)
        o.set("annotations", annotations)
        return o.json
    }
}

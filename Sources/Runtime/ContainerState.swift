import FoundationEssentials
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// What the runtime keeps about a container in `<root>/<id>/state.json`.
public struct ContainerRecord: Codable, Sendable, Equatable {
    public var id: String
    public var pid: Int32
    public var startTime: UInt64
    public var monitorPid: Int32
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
public struct ExitRecord: Codable, Sendable, Equatable {
    public var exitCode: Int32
    public var signal: Int32
    public var finishedAt: String
    public var error: String?
}

public enum ContainerStatus: String, Codable, Sendable {
    case creating, created, running, stopped
}

/// The OCI `state` output.
public struct OCIState: Codable, Sendable, Equatable {
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
    public var planFile: String { path + "/plan" }
    public var seccompFile: String { path + "/seccomp.bpf" }

    public init(root: String, id: String) {
        self.root = root
        self.id = id
    }

    public func load() throws -> ContainerRecord {
        let bytes: [UInt8]
        do { bytes = try Files.read(stateFile) } catch {
            if error.code == ENOENT { throw RuntimeError.notFound(id) }
            throw RuntimeError.system(error)
        }
        do { return try JSONDecoder().decode(ContainerRecord.self, from: Data(bytes)) } catch {
            throw RuntimeError.state("container \"\(id)\": corrupt state file \(stateFile): \(error)")
        }
    }

    public func save(_ r: ContainerRecord) throws {
        let data = try JSONEncoder().encode(r)
        try Files.write(stateFile, Array(data), mode: 0o600, atomic: true)
    }

    public func exitRecord() -> ExitRecord? {
        guard let bytes = try? Files.read(exitFile) else { return nil }
        return try? JSONDecoder().decode(ExitRecord.self, from: Data(bytes))
    }

    /// Is the recorded process still the one we started (pid + start time, not a zombie)?
    public static func alive(_ r: ContainerRecord) -> Bool {
        guard r.pid > 0, let st = ProcFS.startTime(pid: r.pid), st == r.startTime else { return false }
        return ProcFS.state(pid: r.pid) != "Z"
    }

    public func status(_ r: ContainerRecord) -> ContainerStatus {
        if Files.exists(exitFile) { return .stopped }
        guard StateDirectory.alive(r) else { return .stopped }
        return Files.exists(fifo) ? .created : .running
    }
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

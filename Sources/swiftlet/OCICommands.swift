import ArgumentParser
import LinuxSystem
import Runtime

#if canImport(Glibc)
import Glibc
#endif

struct OCIGlobal: ParsableArguments {
    @Option(name: .long, help: "Directory for container state.")
    var root: String = "/run/swiftlet/oci"

    @Option(name: .long, help: "Path of swiftlet-monitor (default: next to this executable).")
    var monitor: String?

    func runtime() -> OCIRuntime {
        let m = monitor ?? Files.executableDirectory() + "/swiftlet-monitor"
        return OCIRuntime(root: root, monitorPath: m, warn: { stderrLine("swiftlet: warning: \($0)") })
    }
}

func encodeJSON(_ v: JSON, pretty: Bool = true) -> String { v.serialized(pretty: pretty) }

struct OCI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oci",
        abstract: "runc-compatible commands over an OCI bundle.",
        subcommands: [Spec.self, Create.self, Start.self, State.self, Kill.self, Delete.self, Run.self, Exec.self,
                      List.self, Ps.self]
    )

    struct Spec: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a default config.json into the bundle directory.")
        @Option(name: [.short, .long], help: "Bundle directory.") var bundle: String = "."
        @Option(name: .long, help: "Root filesystem path in the config.") var rootfs: String = "rootfs"
        @Flag(name: .long, help: "Overwrite an existing config.json.") var force = false
        func run() throws {
            let path = bundle + "/config.json"
            if Files.exists(path) && !force { fail(RuntimeError.invalid("\(path) already exists (use --force)")) }
            do { try Files.write(path, encodeJSON(DefaultProfile.spec(rootfs: rootfs).json) + "\n") } catch { fail(error) }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a container; its process waits for `start`.")
        @OptionGroup var global: OCIGlobal
        @Option(name: [.short, .long], help: "Bundle directory.") var bundle: String = "."
        @Option(name: .customLong("pid-file"), help: "Write the container's pid here.") var pidFile: String?
        @Option(name: .customLong("cri-log"), help: "Capture stdout/stderr into this CRI-format log file.") var criLog: String?
        @Option(name: .customLong("log-max-size"), help: "Rotate the CRI log at this many bytes (0: never).") var logMaxSize: UInt64 = 0
        @Option(name: .customLong("log-max-files"), help: "Rotated CRI log files to keep, including the live one.") var logMaxFiles: UInt32 = 5
        @Option(name: .customLong("preserve-fds"), help: "Pass this many extra fds (from 3) to the process.") var preserveFds: UInt32 = 0
        @Flag(name: .customLong("detach-stdio"), help: "Give the container /dev/null as stdio.") var detachStdio = false
        @Flag(name: .customLong("allow-unenforced-resources"), help: "Run even if linux.resources cannot be enforced.") var allowUnenforced = false
        @Argument var id: String
        func run() throws {
            var o = CreateOptions()
            o.pidFile = pidFile
            o.logPath = criLog
            o.logMaxBytes = logMaxSize
            o.logMaxFiles = logMaxFiles
            o.preserveFds = preserveFds
            o.detachStdio = detachStdio
            o.allowUnenforcedResources = allowUnenforced
            let rt = global.runtime()
            do {
                try holdingTermination({ try rt.create(id: id, bundle: bundle, options: o) },
                                       undo: { try? rt.delete(id: id, force: true) })
            } catch { fail(error) }
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a created container.")
        @OptionGroup var global: OCIGlobal
        @Argument var id: String
        func run() throws { do { try global.runtime().start(id: id) } catch { fail(error) } }
    }

    struct State: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the state of a container (OCI JSON).")
        @OptionGroup var global: OCIGlobal
        @Argument var id: String
        func run() throws {
            do { stdoutWrite(encodeJSON(try global.runtime().state(id: id).json) + "\n") } catch { fail(error) }
        }
    }

    struct Kill: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a signal (default TERM) to the container.")
        @OptionGroup var global: OCIGlobal
        @Flag(name: [.short, .long], help: "Signal every process in the container's cgroup.") var all = false
        @Argument var id: String
        @Argument var signal: String = "TERM"
        func run() throws {
            do { try global.runtime().kill(id: id, signal: try OCIRuntime.parseSignal(signal), all: all) } catch { fail(error) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a container and its resources.")
        @OptionGroup var global: OCIGlobal
        @Flag(name: [.short, .long], help: "Kill the container first if it is running.") var force = false
        @Argument var id: String
        func run() throws { do { try global.runtime().delete(id: id, force: force) } catch { fail(error) } }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create, start and wait for a container; exit with its status.")
        @OptionGroup var global: OCIGlobal
        @Option(name: [.short, .long], help: "Bundle directory.") var bundle: String = "."
        @Option(name: .customLong("pid-file")) var pidFile: String?
        @Option(name: .customLong("cri-log"), help: "Capture stdout/stderr into this CRI-format log file.") var criLog: String?
        @Option(name: .customLong("preserve-fds")) var preserveFds: UInt32 = 0
        @Flag(name: .customLong("allow-unenforced-resources")) var allowUnenforced = false
        @Argument var id: String
        func run() throws {
            var o = CreateOptions()
            o.pidFile = pidFile
            o.logPath = criLog
            o.preserveFds = preserveFds
            o.allowUnenforcedResources = allowUnenforced
            let code: Int32
            do { code = try global.runtime().run(id: id, bundle: bundle, options: o) } catch { fail(error) }
            Glibc.exit(code)
        }
    }

    struct Exec: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a process inside a running container.")
        @OptionGroup var global: OCIGlobal
        @Option(name: [.short, .long], help: "Extra environment KEY=VALUE.") var env: [String] = []
        @Option(name: .long, help: "Working directory.") var cwd: String?
        @Option(name: [.short, .long], help: "uid[:gid] to run as.") var user: String?
        @Flag(name: [.short, .long], help: "Allocate a terminal (a pty on the container's devpts).") var tty = false
        @Argument var id: String
        @Argument(parsing: .captureForPassthrough) var command: [String] = []
        func run() throws {
            var o = OCIRuntime.ExecOptions()
            o.env = env
            o.cwd = cwd
            if let user {
                let parts = user.split(separator: ":")
                guard let u = parts.first.flatMap({ UInt32($0) }) else { fail(RuntimeError.invalid("--user: expected uid[:gid], got \"\(user)\"")) }
                o.uid = u
                o.gid = parts.count > 1 ? UInt32(parts[1]) : u
            }
            let cmd = command.first == "--" ? Array(command.dropFirst()) : command
            do {
                if tty { Glibc.exit(try global.runtime().execTerminal(id: id, args: cmd, options: o, stdin: true)) }
                try global.runtime().exec(id: id, args: cmd, options: o)
            } catch { fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List containers.")
        @OptionGroup var global: OCIGlobal
        @Option(name: [.short, .long], help: "table or json") var format: String = "table"
        @Flag(name: [.short, .long], help: "Print only ids.") var quiet = false
        func run() throws {
            let states = global.runtime().list()
            if quiet { for s in states { stdoutWrite(s.id + "\n") }; return }
            if format == "json" { stdoutWrite(encodeJSON(.array(states.map(\.json)), pretty: false) + "\n"); return }
            var rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
            for s in states { rows.append([s.id, "\(s.pid)", s.status, s.bundle, s.created, s.owner]) }
            let widths = (0..<6).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for r in rows {
                stdoutWrite(r.enumerated().map { i, v in i == 5 ? v : v + String(repeating: " ", count: widths[i] - v.count + 3) }.joined() + "\n")
            }
        }
    }

    struct Ps: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the processes of a container.")
        @OptionGroup var global: OCIGlobal
        @Option(name: [.short, .long], help: "table or json") var format: String = "table"
        @Argument var id: String
        func run() throws {
            let pids: [Int32]
            do { pids = try global.runtime().pids(id: id) } catch { fail(error) }
            if format == "json" { stdoutWrite(encodeJSON(.array(pids.map { .number(String($0)) }), pretty: false) + "\n"); return }
            stdoutWrite("PID        CMD\n")
            for p in pids {
                let cmd = (try? Files.read("/proc/\(p)/cmdline")).map { Substring(String(decoding: $0.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)).trimmingCharacters(in: " ") } ?? ""
                stdoutWrite("\(p)" + String(repeating: " ", count: max(1, 11 - "\(p)".count)) + cmd + "\n")
            }
        }
    }
}

import ArgumentParser
import LinuxSystem
import Runtime

#if canImport(Glibc)
import Glibc
#endif

@main
struct Swiftlet: ParsableCommand {
    static func main() {
        let argv = FastPath.normalize(CommandLine.arguments)
        // the runtime: a hook that exits before reading its state must not kill it half-way
        // (exit 141 leaving state behind); writes fail with EPIPE instead. Spawned processes get
        // default dispositions back (Spawn resets every signal). Other commands keep the default,
        // so `swiftlet logs -f | head` ends as a pipeline should.
        if argv.count > 1 && argv[1] == "oci" { signal(SIGPIPE, SIG_IGN) }
        if FastPath.run(argv) { return }
        do {
            var command = try parseAsRoot(Array(argv.dropFirst()))
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "A Kubernetes node agent with its own Linux container runtime.",
        version: "0.1.0",
        subcommands: [UpCommand.self, AgentCommand.self, MasterCommand.self, SchedulerCommand.self, RunCommand.self, PsCommand.self, InspectCommand.self, EventsCommand.self, NodeCommand.self, LogsCommand.self, ExecCommand.self,
                      OCI.self, Images.self, Check.self, Net.self]
    )
}

func stderrLine(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func stdoutWrite(_ s: String) {
    let failed = s.withCString { p -> Bool in
        var off = 0
        let n = strlen(p)
        while off < n {
            let w = write(1, p + off, n - off)
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { return errno == EPIPE }
            off += w
        }
        return false
    }
    // the reader went away (SIGPIPE ignored): end as the signal would have
    if failed { Glibc.exit(141) }
}

/// Prints a runtime error the runc way and exits with its status.
func fail(_ error: any Error) -> Never {
    stderrLine("swiftlet: \(error)")
    if let e = error as? RuntimeError { Glibc.exit(e.exitCode) }
    Glibc.exit(1)
}

/// Runs `body` (a `create`) with the terminating signals a user or supervisor sends (INT, TERM,
/// HUP, QUIT) held back, so the runtime is never stopped half-way through writing state. One that
/// arrived meanwhile is honoured afterwards: `undo` removes what a successful `body` made, then the signal
/// takes its default effect. Children start with an empty mask (Spawn resets it).
func holdingTermination(_ body: () throws -> Void, undo: () -> Void) rethrows {
    var held = sigset_t()
    sigemptyset(&held)
    for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&held, s) }
    var previous = sigset_t()
    sigprocmask(SIG_BLOCK, &held, &previous)
    defer { sigprocmask(SIG_SETMASK, &previous, nil) }
    func interrupted() -> Bool {
        var pending = sigset_t()
        sigpending(&pending)
        return [SIGINT, SIGTERM, SIGHUP, SIGQUIT].contains { sigismember(&pending, $0) == 1 }
    }
    // a failed body has undone its own work (and may have failed because the id was taken)
    try body()
    if interrupted() { undo() }
}

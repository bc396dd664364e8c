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
        subcommands: [AgentCommand.self, RunCommand.self, PsCommand.self, InspectCommand.self, LogsCommand.self, ExecCommand.self,
                      OCI.self, Images.self, Check.self, Net.self]
    )
}

func stderrLine(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func stdoutWrite(_ s: String) {
    _ = s.withCString { write(1, $0, strlen($0)) }
}

/// Prints a runtime error the runc way and exits with its status.
func fail(_ error: any Error) -> Never {
    stderrLine("swiftlet: \(error)")
    if let e = error as? RuntimeError { Glibc.exit(e.exitCode) }
    Glibc.exit(1)
}

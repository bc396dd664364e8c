import ArgumentParser
import Runtime

#if canImport(Glibc)
import Glibc
#endif

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what this host supports for Swiftlet; exit non-zero if a required item is missing.")

    func run() throws {
        let items = HostCheck.evaluate(HostCheck.gather())
        var missing = 0
        for i in items {
            let mark: String
            switch i.status {
            case .ok: mark = "ok     "
            case .warning: mark = "warning"
            case .missing: mark = i.required ? "MISSING" : "missing"
            }
            if i.status == .missing && i.required { missing += 1 }
            stdoutWrite("\(mark)  \(i.name)\(i.detail.isEmpty ? "" : ": " + i.detail)\n")
        }
        stdoutWrite(missing == 0 ? "\nall required items present\n"
                    : "\n\(missing) required item\(missing == 1 ? "" : "s") missing: containers with resource limits will be refused (oci --allow-unenforced-resources runs them without enforcement)\n")
        if missing > 0 { Glibc.exit(1) }
    }
}

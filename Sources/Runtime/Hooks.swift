import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// OCI hooks: run with the container state JSON on stdin; a timeout kills the hook.
public enum Hooks {
    public static func run(_ hook: OCISpec.Hook, state: OCIState, kind: String) throws {
        let json = Array(state.json.serialized().utf8)
        let (inR, inW) = try systemErrors { try Pipes.make() }
        let args = hook.args ?? [hook.path]
        let pid: pid_t
        do {
            pid = try Spawn.spawn(hook.path, args: args.isEmpty ? [hook.path] : args, env: hook.env ?? [], fds: [(inR.raw, 0)])
        } catch {
            throw RuntimeError.hook("\(kind) hook \(hook.path): \(error)")
        }
        inR.close()
        json.withUnsafeBytes { _ = write(inW.raw, $0.baseAddress, $0.count) }
        inW.close()
        let deadlineMs = (hook.timeout ?? 0) > 0 ? hook.timeout! * 1000 : Int.max
        var waited = 0
        var status: Int32?
        while status == nil {
            status = Spawn.tryWait(pid)
            if status != nil { break }
            if waited >= deadlineMs {
                kill(pid, SIGKILL)
                _ = Spawn.wait(pid)
                throw RuntimeError.hook("\(kind) hook \(hook.path): timed out after \(hook.timeout ?? 0)s")
            }
            usleep(1000)
            waited += 1
        }
        if let s = status, s != 0 { throw RuntimeError.hook("\(kind) hook \(hook.path) failed with status \(s)") }
    }
}

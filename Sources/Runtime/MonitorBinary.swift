import CShims
import LinuxSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The monitor is never executed from its installed file. A process joining a container runs
/// the monitor's image until it execs the container's program; should anything in the container
/// reach that image (`/proc/PID/exe`, the CVE-2019-5736 pattern: open it, wait for the binary to
/// be idle or upgraded, write it), it finds a sealed in-memory copy: a memfd with write, grow,
/// shrink and re-seal forbidden, so every write fails with EPERM, for root with all capabilities
/// too, and nothing on the host's disk is reachable through it. The copy is made once per
/// process (an agent spawns thousands of monitors from one) and again when the installed binary
/// changes; it leaves nothing behind (no file, no mount).
public enum MonitorBinary {
    /// The fd a spawned monitor finds its own image at while it starts (it closes it at once).
    public static let childSlot: Int32 = 99

    struct Key: Equatable { var dev: UInt64, ino: UInt64, size: Int64, mtime: Int, mtimeNsec: Int }
    static let cache = Mutex<[String: (key: Key, fd: Int32)]>([:])

    /// The sealed copy of `installed` (close-on-exec, kept open for the life of the process).
    public static func sealed(installed: String) throws(SystemError) -> Int32 {
        var st = stat()
        guard stat(installed, &st) == 0 else { throw SystemError(op: "stat", code: errno, detail: installed) }
        let key = Key(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), size: Int64(st.st_size),
                      mtime: st.st_mtim.tv_sec, mtimeNsec: st.st_mtim.tv_nsec)
        let result: Result<Int32, SystemError> = cache.withLock { c in
            if let hit = c[installed], hit.key == key { return .success(hit.fd) }
            let fd = sl_sealed_copy(installed, "swiftlet-monitor")
            guard fd >= 0 else { return .failure(SystemError(op: "sealed copy", code: -fd, detail: installed)) }
            // an older copy may still be in use by a spawn on another thread: it stays open
            c[installed] = (key, fd)
            return .success(fd)
        }
        return try result.get()
    }

    /// The path that executes the copy in this process (for execv).
    public static func selfPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }
    /// The path a spawned child executes, with the copy mapped to `childSlot`.
    public static var childPath: String { "/proc/self/fd/\(childSlot)" }
}

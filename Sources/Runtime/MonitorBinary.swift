import CShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The monitor is started from a read-only bind mount of its binary, never from the installed
/// file itself. A process joining a container runs the monitor's image until it execs the
/// container's program; should anything in the container reach that image (`/proc/PID/exe`, the
/// CVE-2019-5736 pattern: keep an O_PATH fd, wait for the binary to be idle or upgraded, reopen
/// it for writing), the path resolves on a read-only mount and every write fails with EROFS,
/// for root with all capabilities too. The mount is made once per boot under the runtime's state
/// directory (`<root>/.monitor/swiftlet-monitor`) and remade when the installed binary is replaced
/// (another inode), so one mount serves every container: no per-start copy (runc's memfd clone
/// costs a copy of the binary per container, and our monitor lives as long as the container).
public enum MonitorBinary {
    /// The entry of the state root that holds the mount (not a container id).
    public static let directoryName = ".monitor"

    /// Where the read-only copy of `installed` is mounted, for a runtime rooted at `root`.
    public static func mountPath(root: String) -> String {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        return (r == "/" ? "" : r) + "/" + directoryName + "/swiftlet-monitor"
    }

    /// The path to execute: the read-only mount of `installed`, made or refreshed if needed.
    public static func prepare(installed: String, root: String) throws(SystemError) -> String {
        let target = mountPath(root: root)
        if isCurrent(target: target, installed: installed) { return target }
        let dir = String(target[..<target.lastIndex(of: "/")!])
        try Files.makeDirectories(dir, mode: 0o755)
        let lockPath = dir + "/.lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw SystemError(op: "open", code: errno, detail: lockPath) }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            if errno != EINTR { throw SystemError(op: "flock", code: errno, detail: lockPath) }
        }
        if isCurrent(target: target, installed: installed) { return target }
        // a stale mount (the binary was upgraded): detach it, bind the new one
        while sl_is_mount_point(target) == 1 { if umount2(target, Int32(MNT_DETACH)) != 0 { break } }
        let f = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o755)
        guard f >= 0 else { throw SystemError(op: "create mount point", code: errno, detail: target) }
        close(f)
        guard mount(installed, target, nil, UInt(MS_BIND), nil) == 0 else {
            throw SystemError(op: "bind mount", code: errno, detail: "\(installed) on \(target)")
        }
        guard mount(nil, target, nil, UInt(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV), nil) == 0 else {
            let e = errno
            umount2(target, Int32(MNT_DETACH))
            throw SystemError(op: "remount read-only", code: e, detail: target)
        }
        return target
    }

    /// `target` is a read-only mount of the same file as `installed`.
    static func isCurrent(target: String, installed: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(installed, &a) == 0, lstat(target, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino else { return false }
        var v = statvfs()
        return statvfs(target, &v) == 0 && (v.f_flag & UInt(ST_RDONLY)) != 0 && sl_is_mount_point(target) == 1
    }
}

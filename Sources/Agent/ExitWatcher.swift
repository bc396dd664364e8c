import CShims
import LinuxSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Waits for process exits with pidfds, all polled by one thread (a pipe wakes it when the
/// set changes). Used on the monitors: a monitor exits right after recording its container's
/// exit; it is our child only if this agent started it (then it is reaped here).
public final class ExitWatcher: @unchecked Sendable {
    struct Waiter {
        var pid: Int32
        /// The status (as Spawn.wait decodes it), nil when given up on.
        var resume: CheckedContinuation<Int32?, Never>
    }
    let waiters = Mutex<[Int32: Waiter]>([:])   // by pidfd
    let wakeR: Int32
    let wakeW: Int32

    public init() {
        var fds: [Int32] = [0, 0]
        _ = sl_pipe_cloexec(&fds)
        wakeR = fds[0]
        wakeW = fds[1]
        _ = fcntl(wakeR, F_SETFL, fcntl(wakeR, F_GETFL) | O_NONBLOCK)
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        pthread_create(&thread, nil, { arg in
            Unmanaged<ExitWatcher>.fromOpaque(arg!).takeRetainedValue().loop()
            return nil
        }, box.toOpaque())
        pthread_detach(thread)
    }

    /// Returns when `pid` has exited (at once if it is already gone).
    public func wait(pid: Int32) async {
        _ = await wait(pid: pid, timeout: nil)
    }

    /// True when `pid` exited, false when `timeout` passed first.
    public func wait(pid: Int32, timeout: Duration?) async -> Bool {
        await status(pid: pid, timeout: timeout) != nil
    }

    /// The exit status of `pid` (a child of this process, reaped here; -1 if it was reaped
    /// elsewhere), or nil when `timeout` passed first.
    public func status(pid: Int32, timeout: Duration? = nil) async -> Int32? {
        guard pid > 0 else { return -1 }
        let fd = sl_pidfd_open(pid, 0)
        if fd < 0 { return reap(pid) }
        return await withCheckedContinuation { (c: CheckedContinuation<Int32?, Never>) in
            waiters.withLock { $0[fd] = Waiter(pid: pid, resume: c) }
            var b: UInt8 = 1
            _ = write(wakeW, &b, 1)
            if let timeout {
                Task {
                    try? await Task.sleep(for: timeout)
                    // still waiting: give up (the poll thread skips fds no longer registered)
                    if let w = self.waiters.withLock({ $0.removeValue(forKey: fd) }) {
                        var b: UInt8 = 1
                        _ = write(self.wakeW, &b, 1)
                        w.resume.resume(returning: nil)
                        self.closeLater(fd)
                    }
                }
            }
        }
    }

    /// fds given up on are closed by the poll thread (it may be polling them right now).
    let retired = Mutex<[Int32]>([])
    func closeLater(_ fd: Int32) { retired.withLock { $0.append(fd) } }

    @discardableResult
    func reap(_ pid: Int32) -> Int32 {
        Spawn.tryWait(pid) ?? -1
    }

    func loop() {
        var buf = [UInt8](repeating: 0, count: 256)
        while true {
            let fds = waiters.withLock { Array($0.keys) }
            var pfds = [pollfd(fd: wakeR, events: Int16(POLLIN), revents: 0)] + fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&pfds, nfds_t(pfds.count), -1)
            if n < 0 { if errno == EINTR { continue }; return }
            if pfds[0].revents != 0 { _ = read(wakeR, &buf, buf.count) }
            for fd in retired.withLock({ r in defer { r.removeAll() }; return r }) { close(fd) }
            for p in pfds.dropFirst() where p.revents != 0 {
                guard let w = waiters.withLock({ $0.removeValue(forKey: p.fd) }) else { continue }
                close(p.fd)
                w.resume.resume(returning: reap(w.pid))
            }
        }
    }
}

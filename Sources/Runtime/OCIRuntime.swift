import CShims
import Cgroups
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

public struct CreateOptions: Sendable {
    public var pidFile: String?
    /// Capture stdout/stderr into a CRI-format log file (held by the monitor).
    public var logPath: String?
    public var logMaxBytes: UInt64 = 0
    public var logMaxFiles: UInt32 = 0
    /// Give the container /dev/null as stdio instead of the caller's (when no log is set).
    public var detachStdio = false
    public var preserveFds: UInt32 = 0
    /// `run`: no exec fifo, the process starts as soon as it is created.
    public var startImmediately = false
    /// Run even if linux.resources cannot be enforced (a warning is printed).
    public var allowUnenforcedResources = false
    public init() {}
}

/// The runc-compatible container lifecycle over OCI bundles.
public struct OCIRuntime: Sendable {
    public let root: String
    public let monitorPath: String
    public let warn: @Sendable (String) -> Void

    public init(root: String, monitorPath: String, warn: @escaping @Sendable (String) -> Void) {
        self.root = root
        self.monitorPath = monitorPath
        self.warn = warn
    }

    public static func validateID(_ id: String) throws {
        let ok = !id.isEmpty && id.count <= 1024 && id != "." && id != ".."
            && id.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 43
            }
        if !ok { throw RuntimeError.invalid("invalid container id \"\(id)\": use letters, digits, '_', '+', '-' and '.'") }
    }

    func dir(_ id: String) -> StateDirectory { StateDirectory(root: root, id: id) }

    /// The monitor as it is executed: a sealed in-memory copy of `monitorPath` (see MonitorBinary).
    public func monitorImage() throws -> Int32 {
        do { return try MonitorBinary.sealed(installed: monitorPath) } catch { throw RuntimeError.system(error) }
    }

    /// The stored record of a container (pids, monitor, bundle, log path).
    public func record(id: String) throws -> ContainerRecord { try dir(id).load() }

    // MARK: create

    /// Undo actions for a partially created container, run in reverse on failure.
    final class Undo {
        var actions: [() -> Void] = []
        func add(_ a: @escaping () -> Void) { actions.append(a) }
        func run() { for a in actions.reversed() { a() } }
    }

    @discardableResult
    public func create(id: String, bundle: String, options: CreateOptions = CreateOptions()) throws -> ContainerRecord {
        var o = options
        o.startImmediately = false
        return try createContainer(id: id, bundle: bundle, options: o).record
    }

    /// A created container; for `run`, the monitor's report pipe stays open to await the exit.
    struct Created {
        var record: ContainerRecord
        var reportFD: Int32?
        var monitor: pid_t
    }

    func createContainer(id: String, bundle bundleArg: String, options: CreateOptions) throws -> Created {
        try OCIRuntime.validateID(id)
        let bundle = LaunchPlanner.resolve(bundleArg, against: Files.readLink("/proc/self/cwd") ?? "/")
        let spec = try SpecLoader.load(bundle: bundle)
        var plan: LaunchPlan
        do { plan = try LaunchPlanner.plan(spec: spec, bundle: bundle, host: .current()) } catch { throw RuntimeError.spec(error) }
        for w in plan.warnings { warn(w) }

        let translated: (resources: ContainerResources, warnings: [String])
        do { translated = try ResourceTranslation.fromOCI(spec.linux?.resources) } catch { throw RuntimeError.spec(error) }
        for w in translated.warnings { warn(w) }
        let writes = CgroupMapping.writes(translated.resources)

        do { try Files.makeDirectories(root, mode: 0o700) } catch { throw RuntimeError.system(error) }
        let d = dir(id)
        // mkdir is the lock against a duplicate id
        if mkdir(d.path, 0o711) != 0 {
            if errno == EEXIST { throw RuntimeError.exists(id) }
            throw RuntimeError.system(SystemError(op: "mkdir", code: errno, detail: d.path))
        }
        let undo = Undo()
        undo.add { try? Files.removeTree(d.path) }
        if options.preserveFds > UInt32(SL_PRESERVE_FD_MAX) {
            undo.run()
            throw RuntimeError.invalid("--preserve-fds \(options.preserveFds): at most \(SL_PRESERVE_FD_MAX) descriptors can be passed")
        }
        do {
            return try createInDirectory(id: id, d: d, bundle: bundle, spec: spec, plan: &plan, writes: writes,
                                         options: options, undo: undo)
        } catch {
            undo.run()
            throw error
        }
    }

    private func createInDirectory(id: String, d: StateDirectory, bundle: String, spec: OCISpec, plan: inout LaunchPlan,
                                   writes: [CgroupWrite], options: CreateOptions, undo: Undo) throws -> Created {
        if let s = plan.seccomp {
            do { plan.seccompBPF = try SeccompCache.compile(s) } catch { throw RuntimeError.system(error) }
            try? Files.write(d.seccompFile, plan.seccompBPF, mode: 0o600)
        }

        // cgroup: our own leaf in the cgroup2 hierarchy, entered with CLONE_INTO_CGROUP
        var cgroupCreated: [String] = []
        if let h = CgroupHierarchy.discover() {
            let rel: String
            if let p = spec.linux?.cgroupsPath, !p.isEmpty { rel = p.hasPrefix("/") ? p : "swiftlet/" + p } else { rel = "swiftlet/" + id }
            let group = Cgroup(path: h.absolute(rel))
            if group.exists && !group.processes().isEmpty {
                throw RuntimeError.invalid("linux.cgroupsPath: cgroup \(group.path) already has processes")
            }
            do { cgroupCreated = try group.create() } catch { throw RuntimeError.system(error) }
            let created = cgroupCreated
            undo.add { for dir in created.reversed() { rmdir(dir) } }
            if !writes.isEmpty {
                do {
                    try h.enableControllers(CgroupMapping.controllers(writes), forLeaf: group.path)
                    try group.apply(writes)
                } catch let e as MissingControllerError {
                    guard options.allowUnenforcedResources else { throw RuntimeError.invalid("linux.resources: \(e)") }
                    warn("linux.resources not enforced: \(e)")
                } catch let e as SystemError {
                    throw RuntimeError.system(e)
                }
            }
            plan.cgroupPath = group.path
            // recorded before anything runs, so an interrupted create is found and undone
            let creating = ContainerRecord(
                id: id, pid: 0, startTime: 0, monitorPid: 0, bundle: bundle, rootfs: plan.rootfs,
                created: Timestamp.now().rfc3339Nano, owner: "root", cgroupPath: group.path, cgroupCreated: cgroupCreated,
                annotations: spec.annotations, namespaces: [], hooks: nil, env: [], cwd: "/", uid: 0, gid: 0,
                additionalGids: [], capabilities: [], noNewPrivileges: false, logPath: options.logPath)
            try wrap { try d.save(creating) }
        } else if !writes.isEmpty && !options.allowUnenforcedResources {
            throw RuntimeError.invalid("linux.resources: no cgroup v2 hierarchy is mounted; resource limits cannot be enforced")
        } else {
            warn("no cgroup v2 hierarchy found: the container runs without its own cgroup")
        }

        if !options.startImmediately {
            if sl_mkfifo(d.fifo, 0o600) != 0 { throw RuntimeError.system(SystemError(op: "mkfifo", code: errno, detail: d.fifo)) }
            // a process in its own user namespace is not the host's root: it may write (only)
            if plan.uidMap != nil { chmod(d.fifo, 0o622) }
            plan.execFifo = d.fifo
        }
        plan.stateDir = d.path
        plan.logPath = options.logPath
        plan.logMaxBytes = options.logMaxBytes
        plan.logMaxFiles = options.logMaxFiles
        plan.detachStdio = options.detachStdio
        plan.preserveFds = options.preserveFds
        let createHooks = (spec.hooks?.prestart ?? []) + (spec.hooks?.createRuntime ?? [])
        plan.hookBarrier = !createHooks.isEmpty
        // the plan travels in a memfd: nothing to write to or clean from the state dir
        let planFD = try wrap { try Files.memfd(name: "swiftlet-plan", PlanEncoder.encode(plan)) }
        var record = ContainerRecord(
            id: id, pid: 0, startTime: 0, monitorPid: 0, bundle: bundle, rootfs: plan.rootfs,
            created: Timestamp.now().rfc3339Nano, owner: "root", cgroupPath: plan.cgroupPath, cgroupCreated: cgroupCreated,
            annotations: spec.annotations, namespaces: (spec.linux?.namespaces ?? []).map(\.type), hooks: spec.hooks,
            env: plan.env, cwd: plan.cwd, uid: plan.uid, gid: plan.gid, additionalGids: plan.additionalGids,
            capabilities: [plan.capabilities.bounding, plan.capabilities.effective, plan.capabilities.permitted,
                           plan.capabilities.inheritable, plan.capabilities.ambient],
            noNewPrivileges: plan.noNewPrivileges, logPath: options.logPath)
        let (repR, repW) = try wrap { try Pipes.make() }
        let ctl = plan.hookBarrier ? try wrap { try Pipes.make() } : nil
        var fds: [(parent: Int32, child: Int32)] = [(repW.raw, 3), (planFD.raw, 5)]
        let image = try monitorImage()
        let exe = MonitorBinary.childPath
        var args = ["swiftlet-monitor", "create", "fd:5", "3"]
        if let ctl { fds.append((ctl.0.raw, 4)); args.append("4") }
        // --preserve-fds: the caller's 3.. wait at SL_PRESERVE_FD_BASE in the monitor
        for i in 0..<Int32(options.preserveFds) { fds.append((3 + i, Int32(SL_PRESERVE_FD_BASE) + i)) }
        fds.append((image, MonitorBinary.childSlot))
        let monitor = try wrap { try Spawn.spawn(exe, args: args, env: [], fds: fds, setsid: true) }
        repW.close()
        planFD.close()
        ctl?.0.close()
        record.monitorPid = monitor
        record.monitorStartTime = ProcFS.startTime(pid: monitor) ?? 0
        undo.add { Glibc.kill(monitor, SIGKILL); _ = Spawn.wait(monitor) }
        try wrap { try d.save(record) }

        var reader = LineReader(fd: repR.raw)
        var pid: Int32 = 0
        while pid == 0 {
            guard let line = reader.next() else {
                let status = Spawn.wait(monitor)
                throw RuntimeError.state("container \"\(id)\": monitor exited (status \(status)) before the container was created")
            }
            if line.hasPrefix("pid ") {
                pid = Int32(line.dropFirst(4)) ?? -1
            } else if line.hasPrefix("hooks ") {
                let p = Int32(line.dropFirst(6)) ?? 0
                // as runc and crun report it to these hooks (and the validation suite expects):
                // the namespaces exist and the process waits, so the container counts as created
                let state = OCIState(ociVersion: spec.ociVersion, id: id, status: "created", pid: p, bundle: bundle,
                                     rootfs: plan.rootfs, created: record.created, owner: "root", annotations: spec.annotations)
                do {
                    for h in createHooks { try Hooks.run(h, state: state, kind: "createRuntime") }
                } catch {
                    if let ctl { _ = write(ctl.1.raw, "x", 1) }
                    _ = Spawn.wait(monitor)
                    throw error
                }
                if let ctl { _ = write(ctl.1.raw, "g", 1) }
            } else if line.hasPrefix("error ") {
                let parts = line.dropFirst(6).split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
                _ = Spawn.wait(monitor)
                throw RuntimeError.child(stage: parts.count > 0 ? String(parts[0]) : "create",
                                         errno: parts.count > 1 ? Int32(parts[1]) ?? 0 : 0,
                                         detail: parts.count > 2 ? String(parts[2]) : "")
            }
        }
        record.pid = pid
        record.startTime = ProcFS.startTime(pid: pid) ?? 0
        try wrap { try d.save(record) }
        if let f = options.pidFile { try wrap { try Files.write(f, "\(pid)", atomic: true) } }
        // `run` keeps the report pipe to wait for the "exit" line; `create` lets the detached
        // monitor go (it is reparented when this process exits)
        return Created(record: record, reportFD: options.startImmediately ? repR.take() : nil, monitor: monitor)
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T { try systemErrors(body) }

    // MARK: start

    public func start(id: String) throws {
        let d = dir(id)
        let r = try d.load()
        switch d.status(r) {
        case .created: break
        case .running: throw RuntimeError.state("cannot start container \"\(id)\": already running")
        case .creating: throw RuntimeError.state("cannot start container \"\(id)\": it is still being created")
        case .stopped: throw RuntimeError.state("cannot start container \"\(id)\": it is stopped")
        }
        let fd = open(d.fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError.system(SystemError(op: "open", code: errno, detail: d.fifo)) }
        defer { close(fd) }
        // the container's init opens the fifo for writing and writes one byte, then execs
        var waited = 0
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, 100)
            if rc > 0 {
                var b: UInt8 = 0
                let n = read(fd, &b, 1)
                if n == 1 { break }
            }
            waited += 100
            if !StateDirectory.alive(r) { throw RuntimeError.state("cannot start container \"\(id)\": its process exited") }
            if waited > 10_000 { throw RuntimeError.state("cannot start container \"\(id)\": init did not respond within 10s") }
        }
        unlink(d.fifo)
        let state = try self.state(id: id)
        for h in r.hooks?.poststart ?? [] {
            do { try Hooks.run(h, state: state, kind: "poststart") } catch { warn("\(error)") }
        }
    }

    // MARK: state / list

    public func state(id: String) throws -> OCIState {
        let d = dir(id)
        let r = try d.load()
        if d.monitorLost(r) { stopLost(d, r) }
        let status = d.status(r)
        return OCIState(ociVersion: "1.0.2", id: r.id, status: status.rawValue, pid: status == .stopped ? 0 : r.pid,
                        bundle: r.bundle, rootfs: r.rootfs, created: r.created, owner: r.owner, annotations: r.annotations)
    }

    public func list() -> [OCIState] {
        guard let names = try? Files.list(root) else { return [] }
        return names.compactMap { try? state(id: $0) }
    }

    /// Every container directory, including ones whose create was interrupted before a record
    /// was written (they are not in `list()`, but `delete(id:force:)` removes them).
    public func ids() -> [String] {
        ((try? Files.list(root)) ?? []).filter { (try? OCIRuntime.validateID($0)) != nil && Files.isDirectory(root + "/" + $0) }
    }

    /// The monitor died and nothing supervises the container: stop what is left of it and record
    /// an unknown exit, so every reader sees it stopped, once.
    func stopLost(_ d: StateDirectory, _ r: ContainerRecord) {
        warn("container \(r.id): its monitor (pid \(r.monitorPid)) is gone; stopping the container")
        var killed = false
        let pidfd = sl_pidfd_open(r.pid, 0)
        if pidfd >= 0 {
            if StateDirectory.alive(r) { killed = sl_pidfd_send_signal(pidfd, SIGKILL) == 0 }
            close(pidfd)
        }
        if let cg = r.cgroupPath, Files.isDirectory(cg) { Cgroup(path: cg).kill() }
        d.writeLostExit(r, killed: killed)
    }

    public func exitRecord(id: String) -> ExitRecord? { dir(id).exitRecord() }

    // MARK: kill

    public static func parseSignal(_ s: String) throws -> Int32 {
        if let n = Int32(s), n > 0, n < 65 { return n }
        let name = s.uppercased().hasPrefix("SIG") ? String(s.uppercased().dropFirst(3)) : s.uppercased()
        let table: [String: Int32] = [
            "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
            "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
            "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
            "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
        ]
        if let n = table[name] { return n }
        if name.hasPrefix("RTMIN+"), let k = Int32(name.dropFirst(6)), k >= 0, 34 + k <= 64 { return 34 + k }
        throw RuntimeError.invalid("unknown signal \"\(s)\"")
    }

    public func kill(id: String, signal: Int32, all: Bool = false) throws {
        let d = dir(id)
        let r = try d.load()
        guard d.status(r) != .stopped else { throw RuntimeError.state("cannot kill container \"\(id)\": container not running") }
        if all, let cg = r.cgroupPath {
            let group = Cgroup(path: cg)
            if signal == SIGKILL { group.kill() } else { for p in group.allProcesses() { Glibc.kill(p, signal) } }
            return
        }
        // pidfd + start-time check: never signal a recycled pid
        let pidfd = sl_pidfd_open(r.pid, 0)
        guard pidfd >= 0 else { throw RuntimeError.system(SystemError(op: "pidfd_open", code: errno, detail: "pid \(r.pid)")) }
        defer { close(pidfd) }
        guard ProcFS.startTime(pid: r.pid) == r.startTime else { throw RuntimeError.state("cannot kill container \"\(id)\": container not running") }
        if sl_pidfd_send_signal(pidfd, signal) != 0 {
            throw RuntimeError.system(SystemError(op: "kill", code: errno, detail: "container \(id) pid \(r.pid)"))
        }
    }

    // MARK: delete

    public func delete(id: String, force: Bool = false) throws {
        let d = dir(id)
        let r: ContainerRecord
        do { r = try d.load() } catch RuntimeError.notFound(let id) {
            // a directory without a record: a create interrupted before anything was started
            guard force, Files.isDirectory(d.path) else { throw RuntimeError.notFound(id) }
            do { try Files.removeTree(d.path) } catch { throw RuntimeError.system(error) }
            return
        }
        try delete(record: r, force: force)
    }

    func delete(record r: ContainerRecord, force: Bool) throws {
        let id = r.id
        let d = dir(id)
        let status = d.status(r)
        if status == .running && !force {
            throw RuntimeError.state("cannot delete container \"\(id)\" that is not stopped: running (use --force)")
        }
        if status == .creating || (r.pid == 0 && StateDirectory.monitorAlive(r)) {
            // interrupted create: the monitor is killed, its init child dies with it (PDEATHSIG)
            Glibc.kill(r.monitorPid, SIGKILL)
        }
        if status != .stopped || r.pid == 0 {
            if let cg = r.cgroupPath, Files.isDirectory(cg) { Cgroup(path: cg).kill() }
            if StateDirectory.alive(r) { Glibc.kill(r.pid, SIGKILL) }
            // wait until the monitor recorded the exit (or the process is gone)
            var waited = 0
            while !Files.exists(d.exitFile) && (StateDirectory.alive(r) || StateDirectory.monitorAlive(r)) && waited < 5000 {
                usleep(2000)
                waited += 2
            }
        }
        if let cg = r.cgroupPath {
            let group = Cgroup(path: cg)
            if !group.allProcesses().isEmpty { group.kill() }
            if r.cgroupCreated.contains(cg) || r.cgroupCreated.isEmpty {
                do { try group.remove() } catch { warn("\(error)") }
            }
            for dir in r.cgroupCreated.reversed() where dir != cg { rmdir(dir) }
        }
        let state = OCIState(ociVersion: "1.0.2", id: id, status: "stopped", pid: 0, bundle: r.bundle, rootfs: r.rootfs,
                             created: r.created, owner: r.owner, annotations: r.annotations)
        for h in r.hooks?.poststop ?? [] {
            do { try Hooks.run(h, state: state, kind: "poststop") } catch { warn("\(error)") }
        }
        if !r.namespaces.contains("mount") { unmountShared(rootfs: r.rootfs) }
        do { try Files.removeTree(d.path) } catch { throw RuntimeError.system(error) }
    }

    /// A container without a mount namespace of its own made its mounts (proc, dev, binds, masks)
    /// in ours, under its rootfs: take them down, deepest first. The rootfs itself stays as the
    /// caller made it.
    func unmountShared(rootfs: String) {
        for f in ProcFS.unmountAll(under: rootfs) { warn("delete: unmount \(f.path): \(String(cString: strerror(f.errno)))") }
    }

    // MARK: run

    /// create + start + wait + delete; returns the container's exit status (128+n for signals).
    public func run(id: String, bundle: String, options: CreateOptions = CreateOptions()) throws -> Int32 {
        var o = options
        o.startImmediately = true
        let created = try createContainer(id: id, bundle: bundle, options: o)
        let record = created.record, monitor = created.monitor
        guard let fd = created.reportFD else { throw RuntimeError.state("internal: no report pipe for \(id)") }
        sl_forward_signals_to(record.pid)
        if let hooks = record.hooks?.poststart, !hooks.isEmpty, let state = try? self.state(id: id) {
            for h in hooks {
                do { try Hooks.run(h, state: state, kind: "poststart") } catch { warn("\(error)") }
            }
        }
        var reader = LineReader(fd: fd)
        var code: Int32 = -1
        while let line = reader.next() {
            if line.hasPrefix("exit ") {
                code = Int32(line.dropFirst(5).split(separator: " ").first ?? "") ?? -1
                break
            }
        }
        close(fd)
        let mstatus = Spawn.wait(monitor)
        sl_forward_signals_to(-1)
        if code < 0 { code = dir(id).exitRecord()?.exitCode ?? mstatus }
        if let exit = dir(id).exitRecord() {
            if let e = exit.error { warn(e) }
            if exit.oomKilled { warn("container \(id) was killed by the OOM killer (OOMKilled)") }
        }
        try delete(record: record, force: true)
        return code
    }

    // MARK: exec

    public struct ExecOptions: Sendable {
        public var env: [String] = []
        public var cwd: String?
        public var uid: UInt32?
        public var gid: UInt32?
        public var additionalGids: [UInt32]?
        public var noNewPrivileges: Bool?
        public init() {}
    }

    /// The plan for a process joining container `id` (exec).
    func execPlan(id: String, args: [String], options: ExecOptions) throws -> (LaunchPlan, ContainerRecord) {
        guard !args.isEmpty else { throw RuntimeError.invalid("exec: a command is required") }
        let d = dir(id)
        let r = try d.load()
        guard d.status(r) == .running else { throw RuntimeError.state("cannot exec in container \"\(id)\": container is not running") }
        var plan = LaunchPlan()
        for t in r.namespaces {
            guard let flag = Namespaces.flags[t], let name = Namespaces.procName[t] else { continue }
            plan.joins.append(NamespaceJoin(type: UInt32(truncatingIfNeeded: flag), path: "/proc/\(r.pid)/ns/\(name)"))
        }
        // a container sharing the runtime's mount namespace lives in a chroot: enter the same one
        if !r.namespaces.contains("mount") { plan.rootfs = "/proc/\(r.pid)/root" }
        plan.args = args
        var env = r.env
        for e in options.env {
            let key = e.split(separator: "=", maxSplits: 1).first.map(String.init) ?? e
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(e)
        }
        plan.env = env
        plan.cwd = options.cwd ?? r.cwd
        plan.uid = options.uid ?? r.uid
        plan.gid = options.gid ?? r.gid
        plan.additionalGids = options.additionalGids ?? r.additionalGids
        if r.capabilities.count == 5 {
            plan.capabilities = CapabilitySets(bounding: r.capabilities[0], effective: r.capabilities[1], permitted: r.capabilities[2],
                                               inheritable: r.capabilities[3], ambient: r.capabilities[4])
        }
        plan.noNewPrivileges = options.noNewPrivileges ?? r.noNewPrivileges
        plan.seccompBPF = (try? Files.read(d.seccompFile)) ?? []
        plan.cgroupPath = r.cgroupPath
        return (plan, r)
    }

    /// Replaces this process with the monitor in exec mode (foreground; its exit status is the
    /// process's). Only returns by throwing.
    public func exec(id: String, args: [String], options: ExecOptions = ExecOptions()) throws -> Never {
        let (plan, _) = try execPlan(id: id, args: args, options: options)
        // the plan stays readable across execv through a memfd whose close-on-exec flag is cleared
        let planFD = try wrap { try Files.memfd(name: "swiftlet-exec-plan", PlanEncoder.encode(plan)) }
        _ = fcntl(planFD.raw, F_SETFD, 0)
        let exe = MonitorBinary.selfPath(try monitorImage())
        let strings: [String] = ["swiftlet-monitor", "exec", "fd:\(planFD.raw)"]
        let cargs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
        // nothing but stdio and the plan crosses into the monitor (it closes the rest as well)
        _ = sl_close_range_cloexec(3)
        _ = fcntl(planFD.raw, F_SETFD, 0)
        execv(exe, cargs)
        let e = errno
        throw RuntimeError.system(SystemError(op: "execv", code: e, detail: exe))
    }

    public struct ExecResult: Sendable, Equatable {
        public var status: Int32
        public var output: [UInt8]
        public var timedOut: Bool
    }

    /// Runs a process in container `id` to completion (probes, hooks): stdin /dev/null, stdout
    /// and stderr captured (the first `maxOutput` bytes), killed at `timeout` (the monitor's
    /// death takes the process with it: PDEATHSIG). Blocks the calling thread.
    public func execCapture(id: String, args: [String], timeout: Duration, maxOutput: Int = 10 * 1024) throws -> ExecResult {
        let (plan, _) = try execPlan(id: id, args: args, options: ExecOptions())
        let planFD = try wrap { try Files.memfd(name: "swiftlet-exec-plan", PlanEncoder.encode(plan)) }
        defer { planFD.close() }
        let image = try monitorImage()
        let (r, w) = try wrap { try Pipes.make() }
        let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if devnull >= 0 { close(devnull) } }
        let pid: pid_t
        do {
            pid = try Spawn.spawn(MonitorBinary.childPath, args: ["swiftlet-monitor", "exec", "fd:3"], env: [],
                                  fds: [(devnull, 0), (w.raw, 1), (w.raw, 2), (planFD.raw, 3), (image, MonitorBinary.childSlot)], setsid: true)
        } catch {
            r.close()
            w.close()
            throw RuntimeError.system(error)
        }
        w.close()
        defer { r.close() }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Timestamp.monotonicNanos() + UInt64(max(0, Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18) * 1e9)
        var timedOut = false
        while true {
            let now = Timestamp.monotonicNanos()
            if now >= deadline { timedOut = true; break }
            var p = pollfd(fd: r.raw, events: Int16(POLLIN), revents: 0)
            let n = poll(&p, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 { continue }
            let got = read(r.raw, &buf, buf.count)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            if out.count < maxOutput { out += buf[0..<min(got, maxOutput - out.count)] }
        }
        if timedOut {
            // the monitor kills the process (SIGALRM), then exits with its status
            _ = Glibc.kill(pid, SIGALRM)
            for _ in 0..<100 {
                if let s = Spawn.tryWait(pid) { return ExecResult(status: s, output: out, timedOut: true) }
                usleep(10_000)
            }
            _ = Glibc.kill(pid, SIGKILL)
        }
        let status = Spawn.wait(pid)
        return ExecResult(status: status, output: out, timedOut: timedOut)
    }

    /// exec with a terminal (`-t`): a pty pair on the container's own devpts, the process in a
    /// new session with the pty as its controlling terminal, this process relaying between its
    /// stdin/stdout (raw mode when they are a terminal) and the pty, window size followed.
    /// Returns the process's exit status.
    public func execTerminal(id: String, args: [String], options: ExecOptions = ExecOptions(), stdin: Bool) throws -> Int32 {
        var (plan, r) = try execPlan(id: id, args: args, options: options)
        plan.controllingTTY = true
        // as containerd does for a terminal: a TERM unless the container sets one
        if !plan.env.contains(where: { $0.hasPrefix("TERM=") }) { plan.env.append("TERM=xterm") }
        var master: Int32 = -1, slave: Int32 = -1
        let ptmx = "/proc/\(r.pid)/root"
        let rc = sl_pty_open(ptmx, &master, &slave)
        if rc < 0 { throw RuntimeError.system(SystemError(op: "open pty", code: -rc, detail: ptmx)) }
        defer { close(master) }
        if sl_tty_size(1) >= 0 { _ = sl_tty_set_size(master, sl_tty_size(1)) } else { _ = sl_tty_set_size(master, (24 << 16) | 80) }
        let planFD = try wrap { try Files.memfd(name: "swiftlet-exec-plan", PlanEncoder.encode(plan)) }
        let image = try monitorImage()
        let pid: pid_t
        do {
            pid = try Spawn.spawn(MonitorBinary.childPath, args: ["swiftlet-monitor", "exec", "fd:3"],
                                  fds: [(slave, 0), (slave, 1), (slave, 2), (planFD.raw, 3), (image, MonitorBinary.childSlot)])
        } catch {
            close(slave)
            throw RuntimeError.system(error)
        }
        close(slave)
        planFD.close()
        var saved = termios()
        let raw = stdin && isatty(0) == 1 && sl_tty_raw(0, &saved) == 0
        defer { if raw { _ = sl_tty_restore(0, &saved) } }
        TerminalRelay.run(master: master, input: stdin ? 0 : -1, output: 1, sizeFrom: isatty(1) == 1 ? 1 : (isatty(0) == 1 ? 0 : -1))
        return Spawn.wait(pid)
    }

    /// A process started in a container whose stdio the caller relays (the kubelet API's exec).
    /// The fds are this process's ends, close-on-exec; the caller owns and closes them. With a
    /// terminal, `terminal` is the pty master (input and output both) and the others are nil.
    public struct StreamingExec: Sendable {
        public var pid: pid_t
        public var stdin: Int32?
        public var stdout: Int32?
        public var stderr: Int32?
        public var terminal: Int32?
    }

    /// Starts `args` in container `id` with pipes for the streams asked for (/dev/null for the
    /// others), or a pty on the container's devpts when `tty` (initial size `rows`×`cols`).
    /// Does not wait: the caller reaps `pid`.
    public func execStreaming(id: String, args: [String], stdin: Bool, stdout: Bool, stderr: Bool, tty: Bool,
                              rows: UInt16 = 24, cols: UInt16 = 80) throws -> StreamingExec {
        var (plan, r) = try execPlan(id: id, args: args, options: ExecOptions())
        let image = try monitorImage()
        let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard devnull >= 0 else { throw RuntimeError.system(SystemError(op: "open", code: errno, detail: "/dev/null")) }
        defer { close(devnull) }
        if tty {
            plan.controllingTTY = true
            if !plan.env.contains(where: { $0.hasPrefix("TERM=") }) { plan.env.append("TERM=xterm") }
            var master: Int32 = -1, slave: Int32 = -1
            let rc = sl_pty_open("/proc/\(r.pid)/root", &master, &slave)
            if rc < 0 { throw RuntimeError.system(SystemError(op: "open pty", code: -rc, detail: "container \(id)")) }
            _ = sl_tty_set_size(master, (Int(rows == 0 ? 24 : rows) << 16) | Int(cols == 0 ? 80 : cols))
            let planFD: FileDescriptor
            do { planFD = try wrap { try Files.memfd(name: "swiftlet-exec-plan", PlanEncoder.encode(plan)) } } catch {
                close(master); close(slave)
                throw error
            }
            defer { planFD.close() }
            do {
                let pid = try Spawn.spawn(MonitorBinary.childPath, args: ["swiftlet-monitor", "exec", "fd:3"], env: [],
                                          fds: [(slave, 0), (slave, 1), (slave, 2), (planFD.raw, 3), (image, MonitorBinary.childSlot)], setsid: true)
                close(slave)
                return StreamingExec(pid: pid, stdin: nil, stdout: nil, stderr: nil, terminal: master)
            } catch {
                close(master); close(slave)
                throw RuntimeError.system(error)
            }
        }
        var opened: [FileDescriptor] = []
        func pipe() throws -> (FileDescriptor, FileDescriptor) {
            let p = try wrap { try Pipes.make() }
            opened += [p.0, p.1]
            return p
        }
        do {
            let inPipe = stdin ? try pipe() : nil
            let outPipe = stdout ? try pipe() : nil
            let errPipe = stderr ? try pipe() : nil
            let planFD = try wrap { try Files.memfd(name: "swiftlet-exec-plan", PlanEncoder.encode(plan)) }
            opened.append(planFD)
            let pid = try wrap {
                try Spawn.spawn(MonitorBinary.childPath, args: ["swiftlet-monitor", "exec", "fd:3"], env: [],
                                fds: [(inPipe?.0.raw ?? devnull, 0), (outPipe?.1.raw ?? devnull, 1), (errPipe?.1.raw ?? devnull, 2),
                                      (planFD.raw, 3), (image, MonitorBinary.childSlot)], setsid: true)
            }
            // the child's ends and the plan are the child's now
            for fd in [inPipe?.0, outPipe?.1, errPipe?.1, planFD].compactMap({ $0 }) { fd.close() }
            // the parent's ends leave the wrappers (which would close them) to the caller
            return StreamingExec(pid: pid, stdin: inPipe?.1.take(), stdout: outPipe?.0.take(), stderr: errPipe?.0.take(), terminal: nil)
        } catch {
            for fd in opened { fd.close() }
            throw error
        }
    }

    // MARK: ps

    public func pids(id: String) throws -> [Int32] {
        let d = dir(id)
        let r = try d.load()
        if let cg = r.cgroupPath, Files.isDirectory(cg) { return Cgroup(path: cg).allProcesses().sorted() }
        return StateDirectory.alive(r) ? [r.pid] : []
    }
}

/// Compiled seccomp filters are cached by profile content under /run/swiftlet/seccomp-cache,
/// since building the default profile with libseccomp costs milliseconds per container.
enum SeccompCache {
    static let dir = "/run/swiftlet/seccomp-cache"

    static func key(_ s: OCISpec.Seccomp) -> String {
        let bytes = Array(s.json.serialized().utf8)
        // FNV-1a 64 over the canonical JSON, twice with different seeds to make collisions implausible
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325, h2: UInt64 = 0x8422_2325_cbf2_9ce4
        for b in bytes {
            h1 = (h1 ^ UInt64(b)) &* 0x100_0000_01b3
            h2 = (h2 ^ UInt64(b)) &* 0x100_0000_01b3 &+ 0x9e37
        }
        return String(h1, radix: 16) + String(h2, radix: 16) + "-\(bytes.count)"
    }

    static func compile(_ s: OCISpec.Seccomp) throws(SystemError) -> [UInt8] {
        let path = dir + "/" + key(s) + ".bpf"
        if let cached = try? Files.read(path), !cached.isEmpty, cached.count % 8 == 0 { return cached }
        let bpf = try SeccompProfile.compile(s)
        if (try? Files.makeDirectories(dir, mode: 0o700)) != nil {
            try? Files.write(path, bpf, mode: 0o600, atomic: true)
        }
        return bpf
    }
}

/// OCI linux.resources -> cgroup v2 writes. What v2 can express is applied (blockIO as io.weight
/// and io.max, hugepageLimits as hugetlb.<size>.max, rdma as rdma.max, cpu.idle); what only v1
/// had is refused when it would change behaviour (net_cls/net_prio, realtime CPU time, disabling
/// the OOM killer), and named in a warning when the kernel already does it another way (kernel
/// memory is charged to memory.max; swappiness and blkio leaf weights have no v2 knob).
enum ResourceTranslation {
    static func fromOCI(_ r: OCISpec.Resources?) throws(SpecError) -> (resources: ContainerResources, warnings: [String]) {
        guard let r else { return (ContainerResources(), []) }
        var out = ContainerResources(memoryLimit: r.memory?.limit, memoryReservation: r.memory?.reservation,
                                     memorySwap: r.memory?.swap, cpuShares: r.cpu?.shares, cpuQuota: r.cpu?.quota,
                                     cpuPeriod: r.cpu?.period, cpusetCpus: r.cpu?.cpus, cpusetMems: r.cpu?.mems,
                                     pidsLimit: r.pids?.limit, unified: r.unified ?? [:])
        var warnings: [String] = []
        if let m = r.memory {
            if m.kernel != nil || m.kernelTCP != nil {
                warnings.append("linux.resources.memory.kernel/kernelTCP: cgroup v2 has no separate kernel memory limit; kernel memory counts against memory.max")
            }
            if let s = m.swappiness, s <= 100 {
                warnings.append("linux.resources.memory.swappiness: cgroup v2 has no per-group swappiness; the host's vm.swappiness applies")
            }
            if m.disableOOMKiller == true {
                throw SpecError("linux.resources.memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer for a group")
            }
        }
        if let c = r.cpu {
            if (c.realtimeRuntime ?? 0) != 0 || (c.realtimePeriod ?? 0) != 0 {
                throw SpecError("linux.resources.cpu.realtimeRuntime", "cgroup v2 has no realtime CPU bandwidth (cpu.rt_*)")
            }
            if let idle = c.idle {
                guard idle == 0 || idle == 1 else { throw SpecError("linux.resources.cpu.idle", "must be 0 or 1, got \(idle)") }
                out.extraWrites.append(CgroupWrite("cpu.idle", String(idle)))
            }
        }
        if let b = r.blockIO {
            func v2Weight(_ w: UInt16, _ field: String) throws(SpecError) -> UInt64 {
                guard (10...1000).contains(w) else { throw SpecError(field, "must be between 10 and 1000, got \(w)") }
                return 1 + (UInt64(w) - 10) * 9999 / 990
            }
            if let w = b.weight { out.extraWrites.append(CgroupWrite("io.weight", "default \(try v2Weight(w, "linux.resources.blockIO.weight"))")) }
            for (i, d) in b.weightDevice.enumerated() {
                if let w = d.weight {
                    out.extraWrites.append(CgroupWrite("io.weight", "\(d.major):\(d.minor) \(try v2Weight(w, "linux.resources.blockIO.weightDevice[\(i)].weight"))"))
                }
            }
            if b.leafWeight != nil || b.weightDevice.contains(where: { $0.leafWeight != nil }) {
                warnings.append("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights; io.weight applies to the whole group")
            }
            var limits: [String: [String]] = [:], order: [String] = []
            for (key, list) in [("rbps", b.throttleReadBpsDevice), ("wbps", b.throttleWriteBpsDevice),
                                ("riops", b.throttleReadIOPSDevice), ("wiops", b.throttleWriteIOPSDevice)] {
                for d in list {
                    let dev = "\(d.major):\(d.minor)"
                    if limits[dev] == nil { order.append(dev) }
                    limits[dev, default: []].append("\(key)=\(d.rate == 0 ? "max" : String(d.rate))")
                }
            }
            for dev in order { out.extraWrites.append(CgroupWrite("io.max", "\(dev) \(limits[dev]!.joined(separator: " "))")) }
        }
        for (i, h) in (r.hugepageLimits ?? []).enumerated() {
            let size = h.pageSize
            guard let unit = size.firstIndex(where: { !$0.isNumber }), unit != size.startIndex,
                  ["KB", "MB", "GB"].contains(String(size[unit...])) else {
                throw SpecError("linux.resources.hugepageLimits[\(i)].pageSize", "expected a size like 2MB or 1GB, got \"\(size)\"")
            }
            out.extraWrites.append(CgroupWrite("hugetlb.\(size).max", String(h.limit)))
        }
        for (name, v) in (r.rdma ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\n" }) else {
                throw SpecError("linux.resources.rdma", "invalid device name \"\(name)\"")
            }
            var parts: [String] = []
            if let h = v.hcaHandles { parts.append("hca_handle=\(h)") }
            if let o = v.hcaObjects { parts.append("hca_object=\(o)") }
            if !parts.isEmpty { out.extraWrites.append(CgroupWrite("rdma.max", "\(name) \(parts.joined(separator: " "))")) }
        }
        if let n = r.network, n.classID != nil || !n.priorities.isEmpty {
            throw SpecError("linux.resources.network", "classID and priorities are cgroup v1 controllers (net_cls, net_prio) that cgroup v2 does not have")
        }
        return (out, warnings)
    }
}

/// Copies input → pty master and master → output until the terminal's other side is closed by
/// every process (EIO/EOF on the master). Window size changes of `sizeFrom` are passed on.
enum TerminalRelay {
    static func run(master: Int32, input: Int32, output: Int32, sizeFrom: Int32) {
        var buf = [UInt8](repeating: 0, count: 32 * 1024)
        var inputOpen = input >= 0
        var size = sizeFrom >= 0 ? sl_tty_size(sizeFrom) : -1
        while true {
            var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
            if inputOpen { fds.append(pollfd(fd: input, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), 250)
            if n < 0 && errno != EINTR { return }
            if sizeFrom >= 0 {
                let now = sl_tty_size(sizeFrom)
                if now != size, now >= 0 { size = now; _ = sl_tty_set_size(master, now) }
            }
            if n <= 0 { continue }
            if fds[0].revents != 0 {
                let got = read(master, &buf, buf.count)
                if got <= 0 { if got < 0 && errno == EINTR { continue }; return }
                if !writeAll(output, buf, got) { return }
            }
            if inputOpen && fds.count > 1 && fds[1].revents != 0 {
                let got = read(input, &buf, buf.count)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 {
                    // end of input: the terminal's end-of-file character, as a user's ^D
                    inputOpen = false
                    var eot: UInt8 = 4
                    _ = write(master, &eot, 1)
                    continue
                }
                if !writeAll(master, buf, got) { return }
            }
        }
    }

    static func writeAll(_ fd: Int32, _ buf: [UInt8], _ count: Int) -> Bool {
        var off = 0
        while off < count {
            let w = buf.withUnsafeBytes { write(fd, $0.baseAddress! + off, count - off) }
            if w < 0 { if errno == EINTR { continue }; return false }
            off += w
        }
        return true
    }
}

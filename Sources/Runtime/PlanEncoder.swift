import CShims

/// Serialises a `LaunchPlan` into the record stream `sl_plan_parse` reads (see cshims.h).
public enum PlanEncoder {
    struct Writer {
        var bytes: [UInt8] = []
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func record(_ tag: sl_tag, _ body: (inout Writer) -> Void) {
            var inner = Writer()
            body(&inner)
            u32(tag.rawValue)
            u32(UInt32(inner.bytes.count))
            bytes.append(contentsOf: inner.bytes)
        }
        mutating func str(_ s: String) {
            bytes.append(contentsOf: s.utf8.filter { $0 != 0 })
            bytes.append(0)
        }
        mutating func strings(_ tag: sl_tag, _ values: String...) { record(tag) { w in for v in values { w.str(v) } } }
        mutating func flag(_ tag: sl_tag) { record(tag) { _ in } }
    }

    public static func encode(_ p: LaunchPlan) -> [UInt8] {
        var w = Writer()
        w.record(SL_T_MAGIC) { $0.u32(SL_PLAN_MAGIC) }
        w.record(SL_T_CLONE_FLAGS) { $0.u64(p.cloneFlags) }
        for j in p.joins { w.record(SL_T_NSJOIN) { $0.u32(j.type); $0.str(j.path) } }
        if !p.rootfs.isEmpty { w.strings(SL_T_ROOTFS, p.rootfs) }
        if p.rootReadonly { w.flag(SL_T_ROOT_READONLY) }
        if p.rootPropagation != 0 { w.record(SL_T_ROOT_PROPAGATION) { $0.u64(p.rootPropagation) } }
        for m in p.mounts {
            w.record(SL_T_MOUNT) { r in
                r.u64(m.flags)
                r.u64(m.propagation)
                r.u32(m.kind.rawValue | (m.destinationIsFile ? SL_MOUNT_DEST_FILE : 0))
                r.u32(0)
                r.str(m.source)
                r.str(m.destination)
                r.str(m.fsType)
                r.str(m.data)
            }
        }
        for d in p.devices {
            w.record(SL_T_DEVICE) { r in
                r.u32(UInt32(d.type.asciiValue ?? 99))
                r.u32(d.major)
                r.u32(d.minor)
                r.u32(d.mode)
                r.u32(d.uid)
                r.u32(d.gid)
                r.str(d.path)
            }
        }
        for s in p.symlinks { w.strings(SL_T_SYMLINK, s.target, s.link) }
        for m in p.maskedPaths { w.strings(SL_T_MASKED, m) }
        for r in p.readonlyPaths { w.strings(SL_T_READONLY, r) }
        if let h = p.hostname { w.strings(SL_T_HOSTNAME, h) }
        if let d = p.domainname { w.strings(SL_T_DOMAINNAME, d) }
        if let l = p.securityLabel { w.strings(SL_T_LSM_EXEC, l.attr, l.value) }
        for s in p.sysctls { w.strings(SL_T_SYSCTL, s.key, s.value) }
        for r in p.rlimits { w.record(SL_T_RLIMIT) { $0.u32(r.resource); $0.u32(0); $0.u64(r.soft); $0.u64(r.hard) } }
        if let adj = p.oomScoreAdj { w.record(SL_T_OOM_SCORE_ADJ) { $0.u32(UInt32(bitPattern: adj)) } }
        w.record(SL_T_USER) { $0.u32(p.uid); $0.u32(p.gid); $0.u32(p.umask ?? 0xffff_ffff) }
        for g in p.additionalGids { w.record(SL_T_ADDITIONAL_GID) { $0.u32(g) } }
        let c = p.capabilities
        w.record(SL_T_CAPS) { $0.u64(c.bounding); $0.u64(c.effective); $0.u64(c.permitted); $0.u64(c.inheritable); $0.u64(c.ambient) }
        if p.noNewPrivileges { w.flag(SL_T_NO_NEW_PRIVS) }
        if !p.seccompBPF.isEmpty { w.record(SL_T_SECCOMP) { $0.bytes.append(contentsOf: p.seccompBPF) } }
        w.strings(SL_T_CWD, p.cwd)
        for a in p.args { w.strings(SL_T_ARG, a) }
        for e in p.env { w.strings(SL_T_ENV, e) }
        if let cg = p.cgroupPath { w.strings(SL_T_CGROUP, cg) }
        if let f = p.execFifo { w.strings(SL_T_EXEC_FIFO, f) }
        if let l = p.logPath {
            w.record(SL_T_LOG) { $0.u64(p.logMaxBytes); $0.u32(p.logMaxFiles); $0.u32(0); $0.str(l) }
        }
        if let s = p.stateDir { w.strings(SL_T_STATE_DIR, s) }
        if let u = p.uidMap { w.strings(SL_T_UID_MAP, u) }
        if let g = p.gidMap { w.strings(SL_T_GID_MAP, g) }
        if p.hookBarrier { w.flag(SL_T_HOOK_BARRIER) }
        if p.preserveFds > 0 { w.record(SL_T_PRESERVE_FDS) { $0.u32(p.preserveFds) } }
        if p.detachStdio { w.flag(SL_T_DETACH_STDIO) }
        if p.controllingTTY { w.flag(SL_T_CONTROLLING_TTY) }
        if let rules = p.deviceRules {
            w.flag(SL_T_DEVICE_FILTER)
            for r in rules {
                w.record(SL_T_DEVICE_RULE) { b in
                    b.u32(UInt32(r.type.asciiValue ?? 97))
                    b.u32(r.access)
                    b.u64(UInt64(bitPattern: r.major))
                    b.u64(UInt64(bitPattern: r.minor))
                    b.u32(r.allow ? 1 : 0)
                    b.u32(0)
                }
            }
        }
        return w.bytes
    }
}

import LinuxSystem

// Explicit JSON mapping for the OCI spec (see JSON.swift for why not Codable on this path).
// Errors name the field path, e.g. `process.user.uid: Required value`.

public typealias FieldError = JSONReader.FieldError

extension OCISpec {
    public init(json r: JSONReader) throws(FieldError) {
        self.init(ociVersion: try r.required("ociVersion").string())
        if let p = try r.optional("process") { process = try Process(json: p) }
        if let root = try r.optional("root") {
            self.root = Root(path: try root.required("path").string(), readonly: try root.bool("readonly"))
        }
        hostname = try r.string("hostname")
        domainname = try r.string("domainname")
        if let m = try r.optional("mounts") {
            var list: [Mount] = []
            for e in try m.array() {
                list.append(Mount(destination: try e.required("destination").string(), type: try e.string("type"),
                                  source: try e.string("source"), options: try e.strings("options")))
            }
            mounts = list
        }
        if let h = try r.optional("hooks") { hooks = try Hooks(json: h) }
        annotations = try r.stringMap("annotations")
        if let l = try r.optional("linux") { linux = try Linux(json: l) }
    }

    public var json: JSON {
        var o = JSONObject()
        o.set("ociVersion", ociVersion)
        o.set("process", process?.json)
        if let root {
            var ro = JSONObject()
            ro.set("path", root.path)
            ro.set("readonly", root.readonly)
            o.set("root", ro.json)
        }
        o.set("hostname", hostname)
        o.set("domainname", domainname)
        o.set("mounts", mounts.map { JSON.array($0.map(\.json)) })
        o.set("hooks", hooks?.json)
        o.set("annotations", annotations)
        o.set("linux", linux?.json)
        return o.json
    }
}

extension OCISpec.Mount {
    var json: JSON {
        var o = JSONObject()
        o.set("destination", destination)
        o.set("type", type)
        o.set("source", source)
        o.set("options", options)
        return o.json
    }
}

extension OCISpec.Process {
    init(json r: JSONReader) throws(FieldError) {
        let u = try r.required("user")
        var user = OCISpec.User(uid: try u.required("uid").integer(), gid: try u.required("gid").integer())
        user.umask = try u.integer("umask")
        if let g = try u.optional("additionalGids") {
            var gids: [UInt32] = []
            for e in try g.array() { gids.append(try e.integer()) }
            user.additionalGids = gids
        }
        self.init(terminal: try r.bool("terminal"), user: user, args: try r.strings("args"), env: try r.strings("env"),
                  cwd: try r.required("cwd").string())
        if let c = try r.optional("capabilities") {
            capabilities = OCISpec.Capabilities(bounding: try c.strings("bounding"), effective: try c.strings("effective"),
                                                inheritable: try c.strings("inheritable"), permitted: try c.strings("permitted"),
                                                ambient: try c.strings("ambient"))
        }
        if let rl = try r.optional("rlimits") {
            var list: [OCISpec.Rlimit] = []
            for e in try rl.array() {
                list.append(OCISpec.Rlimit(type: try e.required("type").string(), hard: try e.required("hard").integer(),
                                           soft: try e.required("soft").integer()))
            }
            rlimits = list
        }
        noNewPrivileges = try r.bool("noNewPrivileges")
        oomScoreAdj = try r.integer("oomScoreAdj")
        apparmorProfile = try r.string("apparmorProfile")
        selinuxLabel = try r.string("selinuxLabel")
    }

    var json: JSON {
        var o = JSONObject()
        o.set("terminal", terminal)
        var u = JSONObject()
        u.set("uid", user.uid)
        u.set("gid", user.gid)
        u.set("umask", user.umask)
        if let g = user.additionalGids { u.set("additionalGids", JSON.array(g.map { .number(String($0)) })) }
        o.set("user", u.json)
        o.set("args", args)
        o.set("env", env)
        o.set("cwd", cwd)
        if let c = capabilities {
            var co = JSONObject()
            co.set("bounding", c.bounding)
            co.set("effective", c.effective)
            co.set("inheritable", c.inheritable)
            co.set("permitted", c.permitted)
            co.set("ambient", c.ambient)
            o.set("capabilities", co.json)
        }
        if let rl = rlimits {
            o.set("rlimits", JSON.array(rl.map { l in
                var lo = JSONObject()
                lo.set("type", l.type)
                lo.set("hard", l.hard)
                lo.set("soft", l.soft)
                return lo.json
            }))
        }
        o.set("noNewPrivileges", noNewPrivileges)
        o.set("oomScoreAdj", oomScoreAdj)
        o.set("apparmorProfile", apparmorProfile)
        o.set("selinuxLabel", selinuxLabel)
        return o.json
    }
}

extension OCISpec.Hooks {
    init(json r: JSONReader) throws(FieldError) {
        func list(_ key: String) throws(FieldError) -> [OCISpec.Hook]? {
            guard let a = try r.optional(key) else { return nil }
            var out: [OCISpec.Hook] = []
            for e in try a.array() {
                out.append(OCISpec.Hook(path: try e.required("path").string(), args: try e.strings("args"),
                                        env: try e.strings("env"), timeout: try e.integer("timeout")))
            }
            return out
        }
        self.init(prestart: try list("prestart"), createRuntime: try list("createRuntime"),
                  poststart: try list("poststart"), poststop: try list("poststop"))
        createContainer = try list("createContainer")
        startContainer = try list("startContainer")
    }

    var json: JSON {
        func list(_ hooks: [OCISpec.Hook]?) -> JSON? {
            hooks.map { JSON.array($0.map { h in
                var o = JSONObject()
                o.set("path", h.path)
                o.set("args", h.args)
                o.set("env", h.env)
                o.set("timeout", h.timeout)
                return o.json
            }) }
        }
        var o = JSONObject()
        o.set("prestart", list(prestart))
        o.set("createRuntime", list(createRuntime))
        o.set("createContainer", list(createContainer))
        o.set("startContainer", list(startContainer))
        o.set("poststart", list(poststart))
        o.set("poststop", list(poststop))
        return o.json
    }
}

extension OCISpec.Linux {
    init(json r: JSONReader) throws(FieldError) {
        self.init()
        if let n = try r.optional("namespaces") {
            var list: [OCISpec.Namespace] = []
            for e in try n.array() { list.append(OCISpec.Namespace(type: try e.required("type").string(), path: try e.string("path"))) }
            namespaces = list
        }
        func mappings(_ key: String) throws(FieldError) -> [OCISpec.IDMapping]? {
            guard let m = try r.optional(key) else { return nil }
            var list: [OCISpec.IDMapping] = []
            for e in try m.array() {
                list.append(OCISpec.IDMapping(containerID: try e.required("containerID").integer(),
                                              hostID: try e.required("hostID").integer(), size: try e.required("size").integer()))
            }
            return list
        }
        uidMappings = try mappings("uidMappings")
        gidMappings = try mappings("gidMappings")
        if let d = try r.optional("devices") {
            var list: [OCISpec.Device] = []
            for e in try d.array() {
                list.append(OCISpec.Device(type: try e.required("type").string(), path: try e.required("path").string(),
                                           major: try e.integer("major"), minor: try e.integer("minor"),
                                           fileMode: try e.integer("fileMode"), uid: try e.integer("uid"), gid: try e.integer("gid")))
            }
            devices = list
        }
        cgroupsPath = try r.string("cgroupsPath")
        if let res = try r.optional("resources") { resources = try OCISpec.Resources(json: res) }
        rootfsPropagation = try r.string("rootfsPropagation")
        if let s = try r.optional("seccomp") { seccomp = try OCISpec.Seccomp(json: s) }
        sysctl = try r.stringMap("sysctl")
        maskedPaths = try r.strings("maskedPaths")
        readonlyPaths = try r.strings("readonlyPaths")
        mountLabel = try r.string("mountLabel")
    }

    var json: JSON {
        var o = JSONObject()
        if let ns = namespaces {
            o.set("namespaces", JSON.array(ns.map { n in
                var no = JSONObject()
                no.set("type", n.type)
                no.set("path", n.path)
                return no.json
            }))
        }
        func maps(_ m: [OCISpec.IDMapping]?) -> JSON? {
            m.map { JSON.array($0.map { x in
                var mo = JSONObject()
                mo.set("containerID", x.containerID)
                mo.set("hostID", x.hostID)
                mo.set("size", x.size)
                return mo.json
            }) }
        }
        o.set("uidMappings", maps(uidMappings))
        o.set("gidMappings", maps(gidMappings))
        if let d = devices {
            o.set("devices", JSON.array(d.map { x in
                var dobj = JSONObject()
                dobj.set("type", x.type)
                dobj.set("path", x.path)
                dobj.set("major", x.major)
                dobj.set("minor", x.minor)
                dobj.set("fileMode", x.fileMode)
                dobj.set("uid", x.uid)
                dobj.set("gid", x.gid)
                return dobj.json
            }))
        }
        o.set("cgroupsPath", cgroupsPath)
        o.set("resources", resources?.json)
        o.set("rootfsPropagation", rootfsPropagation)
        o.set("seccomp", seccomp?.json)
        o.set("sysctl", sysctl)
        o.set("maskedPaths", maskedPaths)
        o.set("readonlyPaths", readonlyPaths)
        o.set("mountLabel", mountLabel)
        return o.json
    }
}

extension OCISpec.Resources {
    init(json r: JSONReader) throws(FieldError) {
        self.init()
        if let m = try r.optional("memory") {
            memory = Memory(limit: try m.integer("limit"), reservation: try m.integer("reservation"), swap: try m.integer("swap"))
            memory?.kernel = try m.integer("kernel")
            memory?.kernelTCP = try m.integer("kernelTCP")
            memory?.swappiness = try m.integer("swappiness")
            memory?.disableOOMKiller = try m.bool("disableOOMKiller")
        }
        if let c = try r.optional("cpu") {
            cpu = CPU(shares: try c.integer("shares"), quota: try c.integer("quota"), period: try c.integer("period"),
                      cpus: try c.string("cpus"), mems: try c.string("mems"))
            cpu?.realtimeRuntime = try c.integer("realtimeRuntime")
            cpu?.realtimePeriod = try c.integer("realtimePeriod")
            cpu?.idle = try c.integer("idle")
        }
        if let b = try r.optional("blockIO") {
            var io = BlockIO()
            io.weight = try b.integer("weight")
            io.leafWeight = try b.integer("leafWeight")
            for e in try b.optional("weightDevice")?.array() ?? [] {
                io.weightDevice.append(DeviceWeight(major: try e.required("major").integer(), minor: try e.required("minor").integer(),
                                                    weight: try e.integer("weight"), leafWeight: try e.integer("leafWeight")))
            }
            func rates(_ key: String) throws(FieldError) -> [DeviceRate] {
                var out: [DeviceRate] = []
                for e in try b.optional(key)?.array() ?? [] {
                    out.append(DeviceRate(major: try e.required("major").integer(), minor: try e.required("minor").integer(),
                                          rate: try e.required("rate").integer()))
                }
                return out
            }
            io.throttleReadBpsDevice = try rates("throttleReadBpsDevice")
            io.throttleWriteBpsDevice = try rates("throttleWriteBpsDevice")
            io.throttleReadIOPSDevice = try rates("throttleReadIOPSDevice")
            io.throttleWriteIOPSDevice = try rates("throttleWriteIOPSDevice")
            blockIO = io
        }
        if let h = try r.optional("hugepageLimits") {
            var list: [HugepageLimit] = []
            for e in try h.array() { list.append(HugepageLimit(pageSize: try e.required("pageSize").string(), limit: try e.required("limit").integer())) }
            hugepageLimits = list
        }
        if let d = try r.optional("rdma") {
            var m: [String: RDMA] = [:]
            for (name, e) in try d.members() { m[name] = RDMA(hcaHandles: try e.integer("hcaHandles"), hcaObjects: try e.integer("hcaObjects")) }
            rdma = m
        }
        if let n = try r.optional("network") {
            var net = Network(classID: try n.integer("classID"))
            for e in try n.optional("priorities")?.array() ?? [] { net.priorities[try e.required("name").string()] = try e.required("priority").integer() }
            network = net
        }
        if let p = try r.optional("pids") { pids = Pids(limit: try p.required("limit").integer()) }
        unified = try r.stringMap("unified")
        if let d = try r.optional("devices") {
            var list: [DeviceRule] = []
            for e in try d.array() {
                list.append(DeviceRule(allow: try e.required("allow").bool(), type: try e.string("type"), major: try e.integer("major"),
                                       minor: try e.integer("minor"), access: try e.string("access")))
            }
            devices = list
        }
    }

    var json: JSON {
        var o = JSONObject()
        if let m = memory {
            var mo = JSONObject()
            mo.set("limit", m.limit)
            mo.set("reservation", m.reservation)
            mo.set("swap", m.swap)
            mo.set("kernel", m.kernel)
            mo.set("kernelTCP", m.kernelTCP)
            mo.set("swappiness", m.swappiness)
            mo.set("disableOOMKiller", m.disableOOMKiller)
            o.set("memory", mo.json)
        }
        if let c = cpu {
            var co = JSONObject()
            co.set("shares", c.shares)
            co.set("quota", c.quota)
            co.set("period", c.period)
            co.set("cpus", c.cpus)
            co.set("mems", c.mems)
            co.set("realtimeRuntime", c.realtimeRuntime)
            co.set("realtimePeriod", c.realtimePeriod)
            co.set("idle", c.idle)
            o.set("cpu", co.json)
        }
        if let p = pids {
            var po = JSONObject()
            po.set("limit", p.limit)
            o.set("pids", po.json)
        }
        if let b = blockIO {
            var bo = JSONObject()
            bo.set("weight", b.weight)
            bo.set("leafWeight", b.leafWeight)
            if !b.weightDevice.isEmpty {
                bo.set("weightDevice", JSON.array(b.weightDevice.map { w in
                    var x = JSONObject()
                    x.set("major", w.major); x.set("minor", w.minor); x.set("weight", w.weight); x.set("leafWeight", w.leafWeight)
                    return x.json
                }))
            }
            for (key, list) in [("throttleReadBpsDevice", b.throttleReadBpsDevice), ("throttleWriteBpsDevice", b.throttleWriteBpsDevice),
                                ("throttleReadIOPSDevice", b.throttleReadIOPSDevice), ("throttleWriteIOPSDevice", b.throttleWriteIOPSDevice)] where !list.isEmpty {
                bo.set(key, JSON.array(list.map { d in
                    var x = JSONObject()
                    x.set("major", d.major); x.set("minor", d.minor); x.set("rate", d.rate)
                    return x.json
                }))
            }
            o.set("blockIO", bo.json)
        }
        if let h = hugepageLimits {
            o.set("hugepageLimits", JSON.array(h.map { l in
                var x = JSONObject()
                x.set("pageSize", l.pageSize); x.set("limit", l.limit)
                return x.json
            }))
        }
        if let r = rdma {
            o.set("rdma", JSON.object(r.sorted { $0.key < $1.key }.map { (k, v) in
                var x = JSONObject()
                x.set("hcaHandles", v.hcaHandles); x.set("hcaObjects", v.hcaObjects)
                return (k, x.json)
            }))
        }
        if let n = network {
            var no = JSONObject()
            no.set("classID", n.classID)
            if !n.priorities.isEmpty {
                no.set("priorities", JSON.array(n.priorities.sorted { $0.key < $1.key }.map { (k, v) in
                    var x = JSONObject()
                    x.set("name", k); x.set("priority", v)
                    return x.json
                }))
            }
            o.set("network", no.json)
        }
        o.set("unified", unified)
        if let d = devices {
            o.set("devices", JSON.array(d.map { x in
                var dobj = JSONObject()
                dobj.set("allow", x.allow)
                dobj.set("type", x.type)
                dobj.set("major", x.major)
                dobj.set("minor", x.minor)
                dobj.set("access", x.access)
                return dobj.json
            }))
        }
        return o.json
    }
}

extension OCISpec.Seccomp {
    init(json r: JSONReader) throws(FieldError) {
        self.init(defaultAction: try r.required("defaultAction").string(), defaultErrnoRet: try r.integer("defaultErrnoRet"),
                  architectures: try r.strings("architectures"))
        flags = try r.strings("flags")
        if let s = try r.optional("syscalls") {
            var list: [OCISpec.Syscall] = []
            for e in try s.array() {
                var args: [OCISpec.SeccompArg]?
                if let a = try e.optional("args") {
                    var al: [OCISpec.SeccompArg] = []
                    for x in try a.array() {
                        al.append(OCISpec.SeccompArg(index: try x.required("index").integer(), value: try x.required("value").integer(),
                                                     valueTwo: try x.integer("valueTwo"), op: try x.required("op").string()))
                    }
                    args = al
                }
                list.append(OCISpec.Syscall(names: try e.required("names").strings(), action: try e.required("action").string(),
                                            errnoRet: try e.integer("errnoRet"), args: args))
            }
            syscalls = list
        }
    }

    var json: JSON {
        var o = JSONObject()
        o.set("defaultAction", defaultAction)
        o.set("defaultErrnoRet", defaultErrnoRet)
        o.set("architectures", architectures)
        o.set("flags", flags)
        if let s = syscalls {
            o.set("syscalls", JSON.array(s.map { x in
                var so = JSONObject()
                so.set("names", x.names)
                so.set("action", x.action)
                so.set("errnoRet", x.errnoRet)
                if let a = x.args {
                    so.set("args", JSON.array(a.map { y in
                        var ao = JSONObject()
                        ao.set("index", y.index)
                        ao.set("value", y.value)
                        ao.set("valueTwo", y.valueTwo)
                        ao.set("op", y.op)
                        return ao.json
                    }))
                }
                return so.json
            }))
        }
        return o.json
    }
}

extension OCISpec.Seccomp {
    /// A seccomp profile in the OCI `linux.seccomp` JSON form (kubelet Localhost profiles).
    public static func parse(_ bytes: [UInt8]) throws -> OCISpec.Seccomp {
        try OCISpec.Seccomp(json: JSONReader(try JSON.parse(bytes)))
    }
}

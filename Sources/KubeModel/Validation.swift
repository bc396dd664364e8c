/// Pod validation as pure functions, messages in the API server's style
/// (`spec.containers[1].image: Required value`).
public enum PodValidation {
    public static let restartPolicies = ["Always", "OnFailure", "Never"]
    public static let dnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    public static let pullPolicies = ["Always", "IfNotPresent", "Never"]
    public static let protocols = ["TCP", "UDP", "SCTP"]

    public static func isDNS1123Label(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 63 else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }
        return alnum(u.first!) && alnum(u.last!) && u.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }

    public static func isDNS1123Subdomain(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNS1123Label(String($0)) }
    }

    /// `[-._a-zA-Z][-._a-zA-Z0-9]*`
    public static func isEnvVarName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty else { return false }
        func ok(_ c: UInt8, first: Bool) -> Bool {
            (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
                || (!first && c >= 0x30 && c <= 0x39)
        }
        return ok(u[0], first: true) && u.dropFirst().allSatisfy { ok($0, first: false) }
    }

    public static let subdomainMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    static let labelMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"

    /// All problems found, in field order. Empty means valid.
    public static func validate(_ pod: Pod) -> [ManifestError] {
        var errs: [ManifestError] = []
        func err(_ f: String, _ m: String) { errs.append(ManifestError(field: f, message: m)) }
        func invalid(_ f: String, _ v: String, _ why: String) { err(f, "Invalid value: \"\(v)\": \(why)") }
        func unsupported(_ f: String, _ v: String, _ allowed: [String]) {
            err(f, "Unsupported value: \"\(v)\": supported values: " + allowed.map { "\"\($0)\"" }.joined(separator: ", "))
        }

        if let name = pod.metadata.name, !name.isEmpty {
            if !isDNS1123Subdomain(name) { invalid("metadata.name", name, subdomainMsg) }
        } else {
            err("metadata.name", "Required value: name or generateName is required")
        }
        if let ns = pod.metadata.namespace, !ns.isEmpty, !isDNS1123Label(ns) { invalid("metadata.namespace", ns, labelMsg) }
        let spec = pod.spec
        if let r = spec.restartPolicy, !restartPolicies.contains(r) { unsupported("spec.restartPolicy", r, restartPolicies) }
        if let d = spec.dnsPolicy, !dnsPolicies.contains(d) { unsupported("spec.dnsPolicy", d, dnsPolicies) }
        if let g = spec.terminationGracePeriodSeconds, g < 0 { err("spec.terminationGracePeriodSeconds", "Invalid value: \(g): must be greater than or equal to 0") }
        if let a = spec.activeDeadlineSeconds, a <= 0 || a > Int64(Int32.max) { err("spec.activeDeadlineSeconds", "Invalid value: \(a): must be between 1 and 2147483647, inclusive") }
        func checkID(_ f: String, _ v: Int64?) {
            if let v, v < 0 || v > Int64(Int32.max) { err(f, "Invalid value: \(v): must be between 0 and 2147483647, inclusive") }
        }
        if let psc = spec.securityContext {
            checkID("spec.securityContext.runAsUser", psc.runAsUser)
            checkID("spec.securityContext.runAsGroup", psc.runAsGroup)
            checkID("spec.securityContext.fsGroup", psc.fsGroup)
            for (i, g) in (psc.supplementalGroups ?? []).enumerated() { checkID("spec.securityContext.supplementalGroups[\(i)]", g) }
        }
        func checkMode(_ f: String, _ m: Int32?) {
            if let m, m < 0 || m > 0o777 { err(f, "Invalid value: \(m): must be a number between 0 and 0777 (octal), both inclusive") }
        }
        // validateLocalDescendingPath + validateLocalNonReservedPath: items land inside the volume
        func checkItemPath(_ f: String, _ p: String) {
            if p.isEmpty { err(f, "Required value"); return }
            if p.hasPrefix("/") { invalid(f, p, "must be a relative path") }
            if p.split(separator: "/", omittingEmptySubsequences: false).contains("..") { invalid(f, p, "must not contain '..'") }
            if p.hasPrefix("..") { invalid(f, p, "must not start with '..'") }
        }
        func checkKeyToPaths(_ f: String, _ items: [KeyToPath]?) {
            for (j, it) in (items ?? []).enumerated() {
                if it.key.isEmpty { err(f + "[\(j)].key", "Required value") }
                checkItemPath(f + "[\(j)].path", it.path)
                checkMode(f + "[\(j)].mode", it.mode)
            }
        }
        func checkDownward(_ f: String, _ items: [DownwardAPIVolumeFile]?) {
            for (j, it) in (items ?? []).enumerated() {
                checkItemPath(f + "[\(j)].path", it.path)
                checkMode(f + "[\(j)].mode", it.mode)
            }
        }
        if let h = spec.hostname, !isDNS1123Label(h) { invalid("spec.hostname", h, labelMsg) }

        var volumeNames = Set<String>()
        for (i, v) in (spec.volumes ?? []).enumerated() {
            let f = "spec.volumes[\(i)]"
            if !isDNS1123Label(v.name) { invalid(f + ".name", v.name, labelMsg) }
            if !volumeNames.insert(v.name).inserted { err(f + ".name", "Duplicate value: \"\(v.name)\"") }
            if v.sourceCount == 0 { err(f, "Required value: must specify a volume type") }
            if v.sourceCount > 1 { err(f, "Forbidden: may not specify more than 1 volume type") }
            if let hp = v.hostPath, !hp.path.hasPrefix("/") { invalid(f + ".hostPath.path", hp.path, "must be an absolute path") }
            if let m = v.emptyDir?.medium, m != "" && m != "Memory" && !m.hasPrefix("HugePages") { unsupported(f + ".emptyDir.medium", m, ["", "Memory"]) }
            if let q = v.emptyDir?.sizeLimit, q < .zero { err(f + ".emptyDir.sizeLimit", "Invalid value: \"\(q)\": must be greater than or equal to 0") }
            if let c = v.configMap {
                checkMode(f + ".configMap.defaultMode", c.defaultMode)
                checkKeyToPaths(f + ".configMap.items", c.items)
            }
            if let c = v.secret {
                checkMode(f + ".secret.defaultMode", c.defaultMode)
                checkKeyToPaths(f + ".secret.items", c.items)
            }
            if let d = v.downwardAPI {
                checkMode(f + ".downwardAPI.defaultMode", d.defaultMode)
                checkDownward(f + ".downwardAPI.items", d.items)
            }
            if let p = v.projected {
                checkMode(f + ".projected.defaultMode", p.defaultMode)
                for (k, src) in (p.sources ?? []).enumerated() {
                    let sf = f + ".projected.sources[\(k)]"
                    if let c = src.configMap { checkKeyToPaths(sf + ".configMap.items", c.items) }
                    if let c = src.secret { checkKeyToPaths(sf + ".secret.items", c.items) }
                    if let d = src.downwardAPI { checkDownward(sf + ".downwardAPI.items", d.items) }
                }
            }
        }

        if spec.containers.isEmpty { err("spec.containers", "Required value") }
        var names = Set<String>()
        func checkContainer(_ c: Container, _ f: String, isInit: Bool) {
            if c.name.isEmpty { err(f + ".name", "Required value") }
            else if !isDNS1123Label(c.name) { invalid(f + ".name", c.name, labelMsg) }
            else if !names.insert(c.name).inserted { err(f + ".name", "Duplicate value: \"\(c.name)\"") }
            if (c.image ?? "").trimmingWhitespace.isEmpty { err(f + ".image", "Required value") }
            if let p = c.imagePullPolicy, !pullPolicies.contains(p) { unsupported(f + ".imagePullPolicy", p, pullPolicies) }
            if let r = c.restartPolicy {
                if !isInit { err(f + ".restartPolicy", "Forbidden: may not be set for non-init containers") }
                else if r != "Always" { unsupported(f + ".restartPolicy", r, ["Always"]) }
            }
            var portNames = Set<String>()
            for (j, p) in (c.ports ?? []).enumerated() {
                let pf = f + ".ports[\(j)]"
                if p.containerPort < 1 || p.containerPort > 65535 { err(pf + ".containerPort", "Invalid value: \(p.containerPort): must be between 1 and 65535, inclusive") }
                if let h = p.hostPort, h < 0 || h > 65535 { err(pf + ".hostPort", "Invalid value: \(h): must be between 1 and 65535, inclusive") }
                if let pr = p.protocol, !protocols.contains(pr) { unsupported(pf + ".protocol", pr, protocols) }
                if let n = p.name {
                    if n.isEmpty || n.count > 15 || !isDNS1123Label(n) { invalid(pf + ".name", n, "must be no more than 15 characters and a lowercase RFC 1123 label") }
                    else if !portNames.insert(n).inserted { err(pf + ".name", "Duplicate value: \"\(n)\"") }
                }
            }
            for (j, e) in (c.env ?? []).enumerated() {
                let ef = f + ".env[\(j)]"
                if e.name.isEmpty { err(ef + ".name", "Required value") }
                else if !isEnvVarName(e.name) { invalid(ef + ".name", e.name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit") }
                if let src = e.valueFrom {
                    if e.value != nil && !(e.value!.isEmpty) { err(ef + ".valueFrom", "Invalid value: \"\": may not be specified when `value` is not empty") }
                    let n = [src.fieldRef != nil, src.resourceFieldRef != nil, src.configMapKeyRef != nil, src.secretKeyRef != nil].filter { $0 }.count
                    if n != 1 { err(ef + ".valueFrom", "Invalid value: \"\": may not have more than one field specified at a time") }
                }
            }
            for (j, m) in (c.volumeMounts ?? []).enumerated() {
                let mf = f + ".volumeMounts[\(j)]"
                if !volumeNames.contains(m.name) { err(mf + ".name", "Not found: \"\(m.name)\"") }
                if !m.mountPath.hasPrefix("/") && !m.mountPath.isEmpty { invalid(mf + ".mountPath", m.mountPath, "must be an absolute path") }
                if m.mountPath.isEmpty { err(mf + ".mountPath", "Required value") }
                if let s = m.subPath, s.hasPrefix("/") || s.split(separator: "/").contains("..") { invalid(mf + ".subPath", s, "must be a relative path without '..'") }
                if let p = m.mountPropagation, !["None", "HostToContainer", "Bidirectional"].contains(p) {
                    unsupported(mf + ".mountPropagation", p, ["Bidirectional", "HostToContainer", "None"])
                }
            }
            for (pn, probe) in [("livenessProbe", c.livenessProbe), ("readinessProbe", c.readinessProbe), ("startupProbe", c.startupProbe)] {
                guard let probe else { continue }
                let pf = f + "." + pn
                let handlers = [probe.exec != nil, probe.httpGet != nil, probe.tcpSocket != nil, probe.grpc != nil].filter { $0 }.count
                if handlers == 0 { err(pf, "Required value: must specify a handler type") }
                if handlers > 1 { err(pf, "Forbidden: may not specify more than 1 handler type") }
                for (k, v) in [("initialDelaySeconds", probe.initialDelaySeconds), ("timeoutSeconds", probe.timeoutSeconds),
                               ("periodSeconds", probe.periodSeconds), ("successThreshold", probe.successThreshold),
                               ("failureThreshold", probe.failureThreshold)] {
                    if let v, v < (k == "initialDelaySeconds" ? 0 : 1) { err("\(pf).\(k)", "Invalid value: \(v): must be greater than or equal to \(k == "initialDelaySeconds" ? 0 : 1)") }
                }
                if pn != "readinessProbe", let s = probe.successThreshold, s != 1 { err(pf + ".successThreshold", "Invalid value: \(s): must be 1") }
                if let g = probe.terminationGracePeriodSeconds {
                    if pn == "readinessProbe" { err(pf + ".terminationGracePeriodSeconds", "Invalid value: \(g): must not be set for readinessProbes") }
                    else if g <= 0 { err(pf + ".terminationGracePeriodSeconds", "Invalid value: \(g): must be greater than 0") }
                }
            }
            if let sc = c.securityContext {
                checkID(f + ".securityContext.runAsUser", sc.runAsUser)
                checkID(f + ".securityContext.runAsGroup", sc.runAsGroup)
            }
            for (hn, h) in [("postStart", c.lifecycle?.postStart), ("preStop", c.lifecycle?.preStop)] {
                guard let h else { continue }
                let hf = f + ".lifecycle." + hn
                let n = [h.exec != nil, h.httpGet != nil, h.tcpSocket != nil, h.sleep != nil].filter { $0 }.count
                if n == 0 { err(hf, "Required value: must specify a handler type") }
                if n > 1 { err(hf, "Forbidden: may not specify more than 1 handler type") }
                if let sl = h.sleep, (spec.terminationGracePeriodSeconds ?? 30) >= 0 {
                    let grace = spec.terminationGracePeriodSeconds ?? 30
                    if sl.seconds < 0 || sl.seconds > grace {
                        err(hf + ".sleep.seconds", "Invalid value: \(sl.seconds): must be non-negative and less than terminationGracePeriodSeconds (\(grace))")
                    }
                }
            }
            let limits = c.resources?.limits ?? [:]
            for (k, req) in c.resources?.requests ?? [:] {
                if let lim = limits[k], req > lim { err(f + ".resources.requests", "Invalid value: \"\(req)\": must be less than or equal to \(k) limit of \(lim)") }
            }
            for (k, q) in (c.resources?.requests ?? [:]).merging(limits, uniquingKeysWith: { a, _ in a }) where q < .zero {
                err(f + ".resources", "Invalid value: \"\(q)\": \(k) must be greater than or equal to 0")
            }
        }
        for (i, c) in (spec.initContainers ?? []).enumerated() { checkContainer(c, "spec.initContainers[\(i)]", isInit: true) }
        for (i, c) in spec.containers.enumerated() { checkContainer(c, "spec.containers[\(i)]", isInit: false) }
        return errs
    }
}

/// Defaulting as the API server (SetDefaults_*) and kubelet apply it, as a pure function.
public enum PodDefaults {
    public static func apply(_ pod: Pod) -> Pod {
        var p = pod
        if (p.metadata.namespace ?? "").isEmpty { p.metadata.namespace = "default" }
        if p.spec.restartPolicy == nil { p.spec.restartPolicy = "Always" }
        if p.spec.terminationGracePeriodSeconds == nil { p.spec.terminationGracePeriodSeconds = 30 }
        if p.spec.dnsPolicy == nil { p.spec.dnsPolicy = "ClusterFirst" }
        if p.spec.schedulerName == nil { p.spec.schedulerName = "default-scheduler" }
        if p.spec.enableServiceLinks == nil { p.spec.enableServiceLinks = true }
        if p.spec.securityContext == nil { p.spec.securityContext = PodSecurityContext() }
        let hostNetwork = p.spec.hostNetwork ?? false
        p.spec.containers = p.spec.containers.map { defaulted($0, hostNetwork: hostNetwork) }
        if let ic = p.spec.initContainers { p.spec.initContainers = ic.map { defaulted($0, hostNetwork: hostNetwork) } }
        if let vols = p.spec.volumes {
            p.spec.volumes = vols.map { v in
                var v = v
                if v.hostPath != nil && v.hostPath?.type == nil { v.hostPath?.type = "" }
                if v.configMap != nil && v.configMap?.defaultMode == nil { v.configMap?.defaultMode = 0o644 }
                if v.secret != nil && v.secret?.defaultMode == nil { v.secret?.defaultMode = 0o644 }
                if v.downwardAPI != nil && v.downwardAPI?.defaultMode == nil { v.downwardAPI?.defaultMode = 0o644 }
                if v.projected != nil && v.projected?.defaultMode == nil { v.projected?.defaultMode = 0o644 }
                return v
            }
        }
        return p
    }

    /// Always for `:latest` or no tag, IfNotPresent otherwise (a digest counts as a tag).
    public static func pullPolicy(image: String) -> String {
        var ref = Substring(image)
        if let at = ref.firstIndex(of: "@") { _ = at; return "IfNotPresent" }
        if let slash = ref.lastIndex(of: "/") { ref = ref[ref.index(after: slash)...] }
        guard let colon = ref.lastIndex(of: ":") else { return "Always" }
        return ref[ref.index(after: colon)...] == "latest" ? "Always" : "IfNotPresent"
    }

    public static func defaulted(_ c: Container, hostNetwork: Bool) -> Container {
        var c = c
        if c.imagePullPolicy == nil { c.imagePullPolicy = pullPolicy(image: c.image ?? "") }
        if c.terminationMessagePath == nil { c.terminationMessagePath = "/dev/termination-log" }
        if c.terminationMessagePolicy == nil { c.terminationMessagePolicy = "File" }
        if let ports = c.ports {
            c.ports = ports.map { p in
                var p = p
                if p.protocol == nil { p.protocol = "TCP" }
                if hostNetwork && (p.hostPort ?? 0) == 0 { p.hostPort = p.containerPort }
                return p
            }
        }
        // requests default to limits where only limits are given
        if var r = c.resources, let limits = r.limits {
            var req = r.requests ?? [:]
            for (k, v) in limits where req[k] == nil { req[k] = v }
            r.requests = req
            c.resources = r
        }
        func probe(_ p: Probe?) -> Probe? {
            guard var p else { return nil }
            if p.timeoutSeconds == nil { p.timeoutSeconds = 1 }
            if p.periodSeconds == nil { p.periodSeconds = 10 }
            if p.successThreshold == nil { p.successThreshold = 1 }
            if p.failureThreshold == nil { p.failureThreshold = 3 }
            if p.initialDelaySeconds == nil { p.initialDelaySeconds = 0 }
            if p.httpGet != nil {
                if p.httpGet?.path == nil { p.httpGet?.path = "/" }
                if p.httpGet?.scheme == nil { p.httpGet?.scheme = "HTTP" }
            }
            return p
        }
        c.livenessProbe = probe(c.livenessProbe)
        c.readinessProbe = probe(c.readinessProbe)
        c.startupProbe = probe(c.startupProbe)
        return c
    }
}

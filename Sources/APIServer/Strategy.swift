import APIMachinery
import KubeModel
import LinuxSystem

/// Per-kind behaviour on create and update, as kube-apiserver's registry strategies and the
/// admission plugins this project relies on do it: defaults, status handling, generation,
/// validation. Everything works on the stored JSON, so fields no Swift type models survive.
public enum Strategy {
    /// Kinds whose `metadata.generation` counts spec changes.
    static let generationKinds: Set<String> = [
        "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController", "Job", "CronJob",
        "HorizontalPodAutoscaler", "Service", "Namespace", "ControllerRevision",
    ]
    /// Kinds whose main resource ignores `.status` (it is written through `/status`).
    static func hasStatusSubresource(_ info: ResourceInfo) -> Bool { info.subresource("status") != nil }

    // MARK: create

    public static func prepareForCreate(_ info: ResourceInfo, _ obj: inout JSON) {
        switch info.kind {
        case "Node":
            break  // "Nodes allow *all* fields, including status, to be set on create"
        case "Namespace":
            obj.set(["status"], .object([("phase", .string("Active"))]))
        default:
            if hasStatusSubresource(info) { obj.set(["status"], nil) }
        }
        if generationKinds.contains(info.kind) && info.kind != "Service" && info.kind != "Namespace" {
            obj.set(["metadata", "generation"], .int(1))
        }
    }

    public static func defaults(_ info: ResourceInfo, _ obj: inout JSON) {
        switch info.kind {
        case "Pod":
            var spec = obj["spec"] ?? .object([])
            defaultPodSpec(&spec)
            podAdmission(&spec)
            obj.set(["spec"], spec)
            if obj["status"]?["phase"] == nil {
                obj.set(["status"], .object([("phase", .string("Pending")), ("qosClass", .string(qosClass(spec)))]))
            }
        case "Namespace":
            let name = obj["metadata"]?["name"]?.stringValue ?? ""
            obj.setDefault(["spec", "finalizers"], .array([.string("kubernetes")]))
            obj.set(["metadata", "labels", "kubernetes.io/metadata.name"], .string(name))
            obj.setDefault(["status", "phase"], .string("Active"))
        case "Secret":
            obj.setDefault(["type"], .string("Opaque"))
        case "Service":
            obj.setDefault(["spec", "type"], .string("ClusterIP"))
            obj.setDefault(["spec", "sessionAffinity"], .string("None"))
            if var ports = obj["spec"]?["ports"]?.arrayValue {
                for i in ports.indices {
                    ports[i].setDefault(["protocol"], .string("TCP"))
                    if let p = ports[i]["port"] { ports[i].setDefault(["targetPort"], p) }
                }
                obj.set(["spec", "ports"], .array(ports))
            }
            obj.setDefault(["spec", "internalTrafficPolicy"], .string("Cluster"))
        case "Deployment":
            obj.setDefault(["spec", "replicas"], .int(1))
            obj.setDefault(["spec", "revisionHistoryLimit"], .int(10))
            obj.setDefault(["spec", "progressDeadlineSeconds"], .int(600))
            obj.setDefault(["spec", "strategy", "type"], .string("RollingUpdate"))
            if obj["spec"]?["strategy"]?["type"]?.stringValue == "RollingUpdate" {
                obj.setDefault(["spec", "strategy", "rollingUpdate", "maxUnavailable"], .string("25%"))
                obj.setDefault(["spec", "strategy", "rollingUpdate", "maxSurge"], .string("25%"))
            }
            defaultTemplate(&obj)
        case "ReplicaSet":
            obj.setDefault(["spec", "replicas"], .int(1))
            defaultTemplate(&obj)
        case "ReplicationController":
            obj.setDefault(["spec", "replicas"], .int(1))
            if let labels = obj["spec"]?["template"]?["metadata"]?["labels"] {
                obj.setDefault(["spec", "selector"], labels)
                obj.setDefault(["metadata", "labels"], labels)
            }
            defaultTemplate(&obj)
        case "StatefulSet":
            obj.setDefault(["spec", "replicas"], .int(1))
            obj.setDefault(["spec", "podManagementPolicy"], .string("OrderedReady"))
            obj.setDefault(["spec", "revisionHistoryLimit"], .int(10))
            obj.setDefault(["spec", "updateStrategy", "type"], .string("RollingUpdate"))
            if obj["spec"]?["updateStrategy"]?["type"]?.stringValue == "RollingUpdate" {
                obj.setDefault(["spec", "updateStrategy", "rollingUpdate", "partition"], .int(0))
            }
            obj.setDefault(["spec", "persistentVolumeClaimRetentionPolicy"],
                           .object([("whenDeleted", .string("Retain")), ("whenScaled", .string("Retain"))]))
            defaultTemplate(&obj)
        case "DaemonSet":
            obj.setDefault(["spec", "revisionHistoryLimit"], .int(10))
            obj.setDefault(["spec", "updateStrategy", "type"], .string("RollingUpdate"))
            if obj["spec"]?["updateStrategy"]?["type"]?.stringValue == "RollingUpdate" {
                obj.setDefault(["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], .int(1))
                obj.setDefault(["spec", "updateStrategy", "rollingUpdate", "maxSurge"], .int(0))
            }
            defaultTemplate(&obj)
        case "Job":
            defaultJobSpec(&obj, path: ["spec"])
        case "CronJob":
            obj.setDefault(["spec", "concurrencyPolicy"], .string("Allow"))
            obj.setDefault(["spec", "suspend"], .bool(false))
            obj.setDefault(["spec", "successfulJobsHistoryLimit"], .int(3))
            obj.setDefault(["spec", "failedJobsHistoryLimit"], .int(1))
            if var jt = obj["spec"]?["jobTemplate"] {
                var spec = jt["spec"] ?? .object([])
                spec.setDefault(["backoffLimit"], .int(6))
                spec.setDefault(["completionMode"], .string("NonIndexed"))
                spec.setDefault(["suspend"], .bool(false))
                if var t = spec["template"]?["spec"] { defaultPodSpec(&t); spec.set(["template", "spec"], t) }
                jt.set(["spec"], spec)
                obj.set(["spec", "jobTemplate"], jt)
            }
        default:
            break
        }
    }

    static func defaultJobSpec(_ obj: inout JSON, path: [String]) {
        let parallel = obj[path: path + ["parallelism"]]
        let completions = obj[path: path + ["completions"]]
        if completions == nil && parallel == nil {
            obj.set(path + ["completions"], .int(1))
            obj.set(path + ["parallelism"], .int(1))
        }
        obj.setDefault(path + ["parallelism"], .int(1))
        obj.setDefault(path + ["backoffLimit"], .int(6))
        obj.setDefault(path + ["completionMode"], .string("NonIndexed"))
        obj.setDefault(path + ["suspend"], .bool(false))
        obj.setDefault(path + ["podReplacementPolicy"], .string("TerminatingOrFailed"))
        // The job's own selector, unless the user manages it (manualSelector).
        if obj[path: path + ["manualSelector"]] != .bool(true), let uid = obj["metadata"]?["uid"]?.stringValue {
            let name = obj["metadata"]?["name"]?.stringValue ?? ""
            obj.setDefault(path + ["selector"], .object([("matchLabels", .object([("batch.kubernetes.io/controller-uid", .string(uid))]))]))
            for (k, v) in [("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", name), ("controller-uid", uid), ("job-name", name)] {
                obj.setDefault(path + ["template", "metadata", "labels", k], .string(v))
            }
        }
        if var t = obj[path: path + ["template", "spec"]] {
            defaultPodSpec(&t)
            obj.set(path + ["template", "spec"], t)
        }
    }

    static func defaultTemplate(_ obj: inout JSON) {
        guard var t = obj["spec"]?["template"]?["spec"] else { return }
        defaultPodSpec(&t)
        obj.set(["spec", "template", "spec"], t)
    }

    /// The API's defaults for a PodSpec (the parts a pod template gets too).
    static func defaultPodSpec(_ spec: inout JSON) {
        spec.setDefault(["restartPolicy"], .string("Always"))
        spec.setDefault(["terminationGracePeriodSeconds"], .int(30))
        spec.setDefault(["dnsPolicy"], .string("ClusterFirst"))
        spec.setDefault(["securityContext"], .object([]))
        spec.setDefault(["schedulerName"], .string("default-scheduler"))
        for list in ["containers", "initContainers"] {
            guard var cs = spec[list]?.arrayValue else { continue }
            for i in cs.indices {
                cs[i].setDefault(["terminationMessagePath"], .string("/dev/termination-log"))
                cs[i].setDefault(["terminationMessagePolicy"], .string("File"))
                cs[i].setDefault(["imagePullPolicy"], .string(PodDefaults.pullPolicy(image: cs[i]["image"]?.stringValue ?? "")))
                cs[i].setDefault(["resources"], .object([]))
                // requests default to limits
                if let limits = cs[i]["resources"]?["limits"]?.objectMembers {
                    for (k, v) in limits { cs[i].setDefault(["resources", "requests", k], v) }
                }
                if var ports = cs[i]["ports"]?.arrayValue {
                    for j in ports.indices { ports[j].setDefault(["protocol"], .string("TCP")) }
                    cs[i].set(["ports"], .array(ports))
                }
            }
            spec.set([list], .array(cs))
        }
        if var vols = spec["volumes"]?.arrayValue {
            for i in vols.indices {
                for src in ["configMap", "secret", "downwardAPI", "projected"] where vols[i][src] != nil {
                    vols[i].setDefault([src, "defaultMode"], .int(420))
                }
                if vols[i]["hostPath"] != nil { vols[i].setDefault(["hostPath", "type"], .string("")) }
            }
            spec.set(["volumes"], .array(vols))
        }
    }

    /// What admission adds to a new pod (ServiceAccount, DefaultTolerationSeconds, Priority).
    static func podAdmission(_ spec: inout JSON) {
        spec.setDefault(["enableServiceLinks"], .bool(true))
        let sa = spec["serviceAccountName"]?.stringValue ?? spec["serviceAccount"]?.stringValue ?? "default"
        spec.set(["serviceAccountName"], .string(sa))
        spec.set(["serviceAccount"], .string(sa))
        var tolerations = spec["tolerations"]?.arrayValue ?? []
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let covered = tolerations.contains { t in
                let op = t["operator"]?.stringValue ?? "Equal"
                let effect = t["effect"]?.stringValue ?? ""
                let k = t["key"]?.stringValue ?? ""
                return (effect.isEmpty || effect == "NoExecute") && (k == key || (k.isEmpty && op == "Exists"))
            }
            if !covered {
                tolerations.append(.object([("key", .string(key)), ("operator", .string("Exists")), ("effect", .string("NoExecute")),
                                            ("tolerationSeconds", .int(300))]))
            }
        }
        spec.set(["tolerations"], .array(tolerations))
        spec.setDefault(["priority"], .int(0))
        spec.setDefault(["preemptionPolicy"], .string("PreemptLowerPriority"))
    }

    /// BestEffort: no requests or limits anywhere; Guaranteed: every container limits cpu and
    /// memory with requests equal to limits; Burstable otherwise.
    static func qosClass(_ spec: JSON) -> String {
        let cs = (spec["containers"]?.arrayValue ?? []) + (spec["initContainers"]?.arrayValue ?? [])
        var any = false
        var guaranteed = true
        for c in cs {
            let req = c["resources"]?["requests"]?.objectMembers ?? []
            let lim = c["resources"]?["limits"]?.objectMembers ?? []
            if !req.isEmpty || !lim.isEmpty { any = true }
            for r in ["cpu", "memory"] {
                guard let l = lim.first(where: { $0.0 == r })?.1 else { guaranteed = false; continue }
                let q = req.first(where: { $0.0 == r })?.1 ?? l
                if quantity(q) != quantity(l) { guaranteed = false }
            }
        }
        if !any { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }

    static func quantity(_ v: JSON) -> Double? {
        if let s = v.stringValue { return (try? Quantity(parsing: s)).map { Double($0.milliValue) } }
        if case .number(let n) = v { return Double(n).map { $0 * 1000 } }
        return nil
    }

    // MARK: update

    /// The main resource keeps the old status; `/status` keeps everything but the status (and
    /// the labels/annotations a status writer may touch).
    public static func prepareForUpdate(_ info: ResourceInfo, new: inout JSON, old: JSON, subresource: String?) {
        // pods/binding: the server itself sets spec.nodeName and the PodScheduled condition
        if subresource == "binding" { return }
        if info.kind == "CertificateSigningRequest" {
            // the spec is what was requested, for good; approval changes the conditions only
            new.set(["spec"], old["spec"])
            if subresource == "approval" {
                var kept = old
                kept.set(["status", "conditions"], new["status"]?["conditions"])
                for k in ["labels", "annotations", "resourceVersion"] { kept.set(["metadata", k], new["metadata"]?[k]) }
                new = kept
                return
            }
        }
        if subresource == "status" {
            var kept = old
            kept.set(["status"], new["status"])
            for k in ["labels", "annotations", "resourceVersion"] { kept.set(["metadata", k], new["metadata"]?[k]) }
            new = kept
            return
        }
        if hasStatusSubresource(info) && info.kind != "Namespace" { new.set(["status"], old["status"]) }
        if info.kind == "Namespace" {
            new.set(["status"], old["status"])
            new.set(["spec"], old["spec"])
        }
        if generationKinds.contains(info.kind) {
            let gen = old["metadata"]?["generation"]?.int64Value ?? 1
            new.set(["metadata", "generation"], .int(new["spec"] != old["spec"] ? gen + 1 : gen))
        }
        if info.kind == "Job" || info.kind == "Pod" { new.set(["metadata", "generation"], old["metadata"]?["generation"]) }
    }

    // MARK: validation

    typealias Cause = APIStatus.Cause

    public static func validate(_ info: ResourceInfo, _ obj: JSON, old: JSON?) -> [APIStatus.Cause] {
        var causes: [Cause] = []
        func required(_ f: String, _ m: String = "Required value") { causes.append(Cause(reason: "FieldValueRequired", message: m, field: f)) }
        func invalid(_ f: String, _ m: String) { causes.append(Cause(reason: "FieldValueInvalid", message: m, field: f)) }
        func forbidden(_ f: String, _ m: String) { causes.append(Cause(reason: "FieldValueForbidden", message: "Forbidden: " + m, field: f)) }

        let name = obj["metadata"]?["name"]?.stringValue ?? ""
        if name.isEmpty {
            required("metadata.name", "Required value: name or generateName is required")
        } else if ["Namespace", "Service"].contains(info.kind) {
            if !PodValidation.isDNS1123Label(name) {
                invalid("metadata.name", "Invalid value: \"\(name)\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
            }
        } else if info.group == "rbac.authorization.k8s.io" {
            // RBAC names are path segments (system:node, system:kube-scheduler, …)
            if name == "." || name == ".." { invalid("metadata.name", "Invalid value: \"\(name)\": may not be '\(name)'") }
            for bad in ["/", "%"] where name.contains(bad) { invalid("metadata.name", "Invalid value: \"\(name)\": may not contain '\(bad)'") }
        } else if !PodValidation.isDNS1123Subdomain(name) && info.kind != "Pod" {
            invalid("metadata.name", "Invalid value: \"\(name)\": " + subdomainMessage)
        }
        for (field, map) in [("metadata.labels", obj["metadata"]?["labels"]), ("metadata.annotations", obj["metadata"]?["annotations"])] {
            if let map, !map.isNull, map.objectMembers == nil { invalid(field, "Invalid value: must be a map of strings") }
            for (k, v) in map?.objectMembers ?? [] {
                if v.stringValue == nil && !v.isNull { invalid("\(field).\(k)", "Invalid value: must be a string") }
                if let why = qualifiedNameProblem(k) { invalid(field, "Invalid value: \"\(k)\": \(why)") }
                if field == "metadata.labels", let s = v.stringValue, let why = labelValueProblem(s) { invalid(field, "Invalid value: \"\(s)\": \(why)") }
            }
        }
        if let old {
            for f in ["name", "namespace", "uid"] where old["metadata"]?[f] != obj["metadata"]?[f] {
                if f == "uid" && obj["metadata"]?["uid"] == nil { continue }
                invalid("metadata.\(f)", "Invalid value: \(quoted(obj["metadata"]?[f])): field is immutable")
            }
        }

        switch info.kind {
        case "Pod":
            causes += podCauses(obj, prefix: "")
            if let old, obj["spec"] != old["spec"], !podSpecUpdateAllowed(old: old["spec"] ?? .null, new: obj["spec"] ?? .null) {
                forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")
            }
        case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
            causes += workloadCauses(obj, selectorRequired: true)
            if let old, obj["spec"]?["selector"] != old["spec"]?["selector"] {
                invalid("spec.selector", "Invalid value: \(selectorText(obj["spec"]?["selector"])): field is immutable")
            }
        case "ReplicationController":
            causes += workloadCauses(obj, selectorRequired: false)
        case "Job":
            causes += workloadCauses(obj, selectorRequired: false)
            let rp = obj["spec"]?["template"]?["spec"]?["restartPolicy"]?.stringValue ?? "Always"
            if rp != "Never" && rp != "OnFailure" {
                causes.append(Cause(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(rp)\": supported values: \"OnFailure\", \"Never\"",
                                    field: "spec.template.spec.restartPolicy"))
            }
            if let old, obj["spec"]?["template"] != old["spec"]?["template"], old["spec"]?["suspend"] != .bool(true) {
                invalid("spec.template", "Invalid value: field is immutable")
            }
        case "CronJob":
            if (obj["spec"]?["schedule"]?.stringValue ?? "").isEmpty { required("spec.schedule") }
            if obj["spec"]?["jobTemplate"] == nil { required("spec.jobTemplate") }
        case "Service":
            let type = obj["spec"]?["type"]?.stringValue ?? "ClusterIP"
            let ports = obj["spec"]?["ports"]?.arrayValue ?? []
            if ports.isEmpty && type != "ExternalName" && obj["spec"]?["clusterIP"]?.stringValue != "None" { required("spec.ports") }
            for (i, p) in ports.enumerated() {
                let port = p["port"]?.int64Value ?? 0
                if !(1...65535).contains(port) { invalid("spec.ports[\(i)].port", "Invalid value: \(port): must be between 1 and 65535, inclusive") }
                if ports.count > 1 && (p["name"]?.stringValue ?? "").isEmpty { required("spec.ports[\(i)].name") }
            }
            if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(type) {
                causes.append(Cause(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(type)\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"", field: "spec.type"))
            }
        case "ConfigMap", "Secret":
            var keys = Set<String>()
            for field in ["data", "binaryData", "stringData"] {
                for (k, _) in obj[field]?.objectMembers ?? [] {
                    if !isConfigKey(k) {
                        invalid("\(field)[\(k)]", "Invalid value: \"\(k)\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
                    }
                    if field != "stringData" && !keys.insert(k).inserted {
                        invalid("data[\(k)]", "Invalid value: \"\(k)\": duplicate of key present in binaryData")
                    }
                }
            }
            if info.kind == "ConfigMap", let old, old["immutable"] == .bool(true), obj["data"] != old["data"] || obj["binaryData"] != old["binaryData"] {
                forbidden("data", "field is immutable when `immutable` is set")
            }
        case "Lease":
            if let d = obj["spec"]?["leaseDurationSeconds"]?.int64Value, d <= 0 {
                invalid("spec.leaseDurationSeconds", "Invalid value: \(d): must be greater than 0")
            }
        default:
            break
        }
        return causes
    }

    static let subdomainMessage = PodValidation.subdomainMsg + " (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

    static func quoted(_ v: JSON?) -> String { "\"" + (v?.stringValue ?? "") + "\"" }

    /// The pod's own checks (KubeModel's validation, messages in the API server's form).
    static func podCauses(_ pod: JSON, prefix: String) -> [Cause] {
        let bytes = Array(pod.serialized().utf8)
        let model: Pod
        do {
            model = try PodManifest.decode(bytes)
        } catch {
            return [Cause(reason: "FieldValueInvalid", message: error.message, field: prefix + error.field)]
        }
        return PodValidation.validate(model).map { e in
            let reason = e.message.hasPrefix("Required value") ? "FieldValueRequired"
                : e.message.hasPrefix("Unsupported value") ? "FieldValueNotSupported"
                : e.message.hasPrefix("Duplicate value") ? "FieldValueDuplicate"
                : e.message.hasPrefix("Forbidden") ? "FieldValueForbidden" : "FieldValueInvalid"
            var field = e.field
            var message = e.message
            if !prefix.isEmpty {
                if field == "metadata.name" { return nil }  // template pods have no name
                if field.hasPrefix("metadata.") { field = prefix + field } else if field.hasPrefix("spec") { field = prefix + field }
                message = message.replacing("metadata.name", with: prefix + "metadata.name")
            }
            return Cause(reason: reason, message: message, field: field)
        }.compactMap { $0 }
    }

    static func workloadCauses(_ obj: JSON, selectorRequired: Bool) -> [Cause] {
        var causes: [Cause] = []
        let spec = obj["spec"] ?? .object([])
        if let r = spec["replicas"]?.int64Value, r < 0 {
            causes.append(Cause(reason: "FieldValueInvalid", message: "Invalid value: \(r): must be greater than or equal to 0", field: "spec.replicas"))
        }
        let selector = spec["selector"]
        let templateLabels = obj.stringMap(["spec", "template", "metadata", "labels"])
        if selectorRequired {
            if selector == nil || selector == .null || selector == .object([]) {
                causes.append(Cause(reason: "FieldValueRequired", message: "Required value", field: "spec.selector"))
            } else if let sel = parseSelector(selector!), !sel.matches(templateLabels) {
                causes.append(Cause(reason: "FieldValueInvalid",
                                    message: "Invalid value: \(goMap(templateLabels)): `selector` does not match template `labels`",
                                    field: "spec.template.metadata.labels"))
            } else if parseSelector(selector!)?.isEmpty == true {
                causes.append(Cause(reason: "FieldValueInvalid", message: "Invalid value: \"\": empty selector is invalid for deployment", field: "spec.selector"))
            }
        }
        if spec["template"] == nil {
            causes.append(Cause(reason: "FieldValueRequired", message: "Required value", field: "spec.template"))
        } else {
            var pod = JSON.object([("apiVersion", .string("v1")), ("kind", .string("Pod")),
                                   ("metadata", .object([("name", .string("template"))])), ("spec", spec["template"]?["spec"] ?? .object([]))])
            if let labels = spec["template"]?["metadata"]?["labels"] { pod.set(["metadata", "labels"], labels) }
            causes += podCauses(pod, prefix: "spec.template.")
        }
        return causes
    }

    static func parseSelector(_ sel: JSON) -> LabelSelector? {
        var labels: [String: String] = [:]
        for (k, v) in sel["matchLabels"]?.objectMembers ?? [] { labels[k] = v.stringValue ?? "" }
        let exprs = (sel["matchExpressions"]?.arrayValue ?? []).map { e in
            (key: e["key"]?.stringValue ?? "", op: e["operator"]?.stringValue ?? "", values: (e["values"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
        return try? LabelSelector.from(matchLabels: labels, matchExpressions: exprs)
    }

    static func selectorText(_ sel: JSON?) -> String { sel.map { $0.serialized() } ?? "null" }

    /// `map[string]string{"app":"web"}` as Go's %#v prints it.
    static func goMap(_ m: [String: String]) -> String {
        "map[string]string{" + m.keys.sorted().map { "\"\($0)\":\"\(m[$0]!)\"" }.joined(separator: ", ") + "}"
    }

    /// Only images, activeDeadlineSeconds and added tolerations may change on a pod.
    static func podSpecUpdateAllowed(old: JSON, new: JSON) -> Bool {
        var a = old, b = new
        for list in ["containers", "initContainers"] {
            if var ca = a[list]?.arrayValue, var cb = b[list]?.arrayValue, ca.count == cb.count {
                for i in ca.indices { ca[i].set(["image"], nil); cb[i].set(["image"], nil) }
                a.set([list], .array(ca)); b.set([list], .array(cb))
            }
        }
        let oldTol = a["tolerations"]?.arrayValue ?? []
        let newTol = b["tolerations"]?.arrayValue ?? []
        guard oldTol.allSatisfy({ newTol.contains($0) }) else { return false }
        for f in ["activeDeadlineSeconds", "tolerations"] { a.set([f], nil); b.set([f], nil) }
        return a == b
    }

    static func isConfigKey(_ k: String) -> Bool {
        !k.isEmpty && k.count <= 253 && k != "." && k != ".." && k.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x5f || c == 0x2e
        }
    }

    /// A label or annotation key: `[prefix/]name` (prefix a DNS subdomain, name ≤ 63).
    static func qualifiedNameProblem(_ k: String) -> String? {
        var name = Substring(k)
        if let slash = k.firstIndex(of: "/") {
            let prefix = String(k[..<slash])
            name = k[k.index(after: slash)...]
            if !PodValidation.isDNS1123Subdomain(prefix) { return "prefix part " + PodValidation.subdomainMsg }
        }
        if name.isEmpty || name.count > 63 || labelValueProblem(String(name)) != nil {
            return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        }
        return nil
    }

    static func labelValueProblem(_ v: String) -> String? {
        if v.isEmpty { return nil }
        let u = Array(v.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) }
        if u.count > 63 { return "must be no more than 63 characters" }
        if !alnum(u.first!) || !alnum(u.last!) || !u.allSatisfy({ alnum($0) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }) {
            return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        }
        return nil
    }
}

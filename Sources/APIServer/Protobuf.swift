import Foundation
import LinuxSystem

/// Kubernetes' protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
/// JSON form the rest of the server works on. The wire: the magic `k8s\0`, then a
/// `runtime.Unknown` {1: typeMeta {1: apiVersion, 2: kind}, 2: raw object, 3: contentEncoding,
/// 4: contentType}; the raw object is the Go type's generated message. Only the kinds and fields
/// clients are known to send as protobuf (kubectl 1.32's `create` generators) are described
/// here, from the API's field numbers. A field not described is accepted only when it holds its
/// zero value (Go's encoder writes every non-pointer field, set or not); anything else is refused
/// with the field's number, so nothing a client sent is silently dropped.
enum KubeProtobuf {
    indirect enum Kind {
        case string, bytes, int, bool
        /// proto2 pointer fields: a zero that was sent is a value (`replicas: 0`)
        case intPtr, boolPtr
        case message(Schema)
        case list(Kind)
        case map(Kind)
        case intOrString, quantity, time
    }

    struct Schema {
        var fields: [Int: (String, Kind)]
        init(_ f: [Int: (String, Kind)]) { fields = f }
    }

    struct DecodeError: Error { var message: String }

    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    /// The JSON object for a protobuf body, with apiVersion and kind from the envelope.
    static func decode(_ body: [UInt8]) throws -> JSON {
        guard body.count >= 4, Array(body.prefix(4)) == magic else {
            throw DecodeError(message: "protobuf body does not start with the k8s magic")
        }
        var r = Reader(bytes: body, at: 4, end: body.count)
        var apiVersion = "", kind = "", raw: Range<Int>?
        while !r.done {
            let (field, wire) = try r.key()
            switch (field, wire) {
            case (1, 2):
                var t = try r.sub()
                while !t.done {
                    let (f, w) = try t.key()
                    if f == 1, w == 2 { apiVersion = try t.string() } else if f == 2, w == 2 { kind = try t.string() } else { try t.skip(w) }
                }
            case (2, 2): raw = try r.span()
            case (3, 2), (4, 2):
                let s = try r.string()
                if !s.isEmpty && !(field == 4 && s == "application/vnd.kubernetes.protobuf") {
                    throw DecodeError(message: "protobuf envelope: unsupported \(field == 3 ? "contentEncoding" : "contentType") \"\(s)\"")
                }
            default: try r.skip(wire)
            }
        }
        guard let schema = kinds[apiVersion + "/" + kind] ?? kinds[kind] else {
            throw DecodeError(message: "protobuf bodies of kind \"\(kind)\" are not decoded; send application/json")
        }
        guard let raw else { throw DecodeError(message: "protobuf envelope without an object") }
        var obj = Reader(bytes: body, at: raw.lowerBound, end: raw.upperBound)
        var out = try message(&obj, schema, path: kind)
        out.insert(("apiVersion", .string(apiVersion)), at: 0)
        out.insert(("kind", .string(kind)), at: 1)
        return .object(out)
    }

    static func message(_ r: inout Reader, _ schema: Schema, path: String) throws -> [(String, JSON)] {
        var out: [(String, JSON)] = []
        func add(_ name: String, _ v: JSON, list: Bool) {
            if let i = out.firstIndex(where: { $0.0 == name }) {
                if list, case .array(var a) = out[i].1, case .array(let b) = v { a += b; out[i].1 = .array(a) } else if case .object(var m) = out[i].1, case .object(let n) = v {
                    for (k, x) in n { m.removeAll { $0.0 == k }; m.append((k, x)) }
                    out[i].1 = .object(m)
                } else { out[i].1 = v }
            } else {
                out.append((name, v))
            }
        }
        while !r.done {
            let (field, wire) = try r.key()
            guard let (name, kind) = schema.fields[field] else {
                // an undescribed field must be empty: a zero varint or a zero-length value
                switch wire {
                case 0: if try r.varint() != 0 { throw DecodeError(message: "\(path): protobuf field \(field) is not decoded; send application/json") }
                case 2:
                    let span = try r.span()
                    if !isZero(Reader(bytes: r.bytes, at: span.lowerBound, end: span.upperBound)) {
                        throw DecodeError(message: "\(path): protobuf field \(field) is not decoded; send application/json")
                    }
                default: throw DecodeError(message: "\(path): protobuf field \(field) (wire type \(wire)) is not decoded; send application/json")
                }
                continue
            }
            let sub = path + "." + name
            switch kind {
            case .list(let element):
                if let v = try value(&r, wire, element, path: sub, keepZero: true) { add(name, .array([v]), list: true) }
            case .map(let element):
                guard wire == 2 else { throw DecodeError(message: "\(sub): expected a map entry") }
                var e = try r.sub()
                var key = "", val: JSON = element.isText ? .string("") : .null
                while !e.done {
                    let (f, w) = try e.key()
                    if f == 1, w == 2 { key = try e.string() } else if f == 2 { val = try value(&e, w, element, path: sub + "[\(key)]", keepZero: true) ?? val } else { try e.skip(w) }
                }
                add(name, .object([(key, val)]), list: false)
            default:
                if let v = try value(&r, wire, kind, path: sub, keepZero: false) { add(name, v, list: false) }
            }
        }
        return out
    }

    /// An empty value, or a message whose every field is empty (an unset Go struct).
    static func isZero(_ r: Reader) -> Bool {
        var r = r
        while !r.done {
            guard let (_, w) = try? r.key() else { return false }
            switch w {
            case 0: if (try? r.varint()) != 0 { return false }
            case 2:
                guard let span = try? r.span() else { return false }
                if !isZero(Reader(bytes: r.bytes, at: span.lowerBound, end: span.upperBound)) { return false }
            default: return false
            }
        }
        return true
    }

    /// One value; nil for a zero that Go's JSON would omit.
    static func value(_ r: inout Reader, _ wire: Int, _ kind: Kind, path: String, keepZero: Bool) throws -> JSON? {
        func expect(_ w: Int) throws { if wire != w { throw DecodeError(message: "\(path): wire type \(wire), expected \(w)") } }
        switch kind {
        case .string:
            try expect(2)
            let s = try r.string()
            return s.isEmpty && !keepZero ? nil : .string(s)
        case .bytes:
            try expect(2)
            let b = try r.span()
            return b.isEmpty && !keepZero ? nil : .string(Data(r.bytes[b]).base64EncodedString())
        case .int, .intPtr:
            try expect(0)
            let v = Int64(bitPattern: try r.varint())
            return v == 0 && !keepZero && !kind.isPointer ? nil : .int(v)
        case .bool, .boolPtr:
            try expect(0)
            let v = try r.varint() != 0
            return !v && !keepZero && !kind.isPointer ? nil : .bool(v)
        case .message(let s):
            try expect(2)
            var m = try r.sub()
            let fields = try message(&m, s, path: path)
            return .object(fields)
        case .intOrString:
            try expect(2)
            var m = try r.sub()
            var type: UInt64 = 0, i: Int64 = 0, str = ""
            while !m.done {
                let (f, w) = try m.key()
                switch (f, w) {
                case (1, 0): type = try m.varint()
                case (2, 0): i = Int64(Int32(truncatingIfNeeded: Int64(bitPattern: try m.varint())))
                case (3, 2): str = try m.string()
                default: try m.skip(w)
                }
            }
            return type == 1 ? .string(str) : .int(i)
        case .quantity:
            try expect(2)
            var m = try r.sub()
            var s = ""
            while !m.done {
                let (f, w) = try m.key()
                if f == 1, w == 2 { s = try m.string() } else { try m.skip(w) }
            }
            return .string(s)
        case .time:
            try expect(2)
            var m = try r.sub()
            var secs: Int64 = 0
            while !m.done {
                let (f, w) = try m.key()
                if f == 1, w == 0 { secs = Int64(bitPattern: try m.varint()) } else { try m.skip(w) }
            }
            return secs == 0 ? nil : .string(Timestamp(seconds: Int(secs), nanoseconds: 0).rfc3339Nano)
        case .list, .map:
            throw DecodeError(message: "\(path): nested repeated fields are not described")
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var at: Int
        let end: Int
        init(bytes: [UInt8], at: Int, end: Int) { self.bytes = bytes; self.at = at; self.end = end }
        var done: Bool { at >= end }

        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard at < end, shift < 64 else { throw DecodeError(message: "protobuf: truncated or overlong varint at byte \(at)") }
                let b = bytes[at]
                at += 1
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        mutating func key() throws -> (Int, Int) {
            let k = try varint()
            guard k >> 3 > 0, k >> 3 < 1 << 29 else { throw DecodeError(message: "protobuf: invalid field number at byte \(at)") }
            return (Int(k >> 3), Int(k & 7))
        }
        mutating func span() throws -> Range<Int> {
            let n = try varint()
            guard n <= UInt64(end - at) else { throw DecodeError(message: "protobuf: length \(n) past the end at byte \(at)") }
            let r = at..<(at + Int(n))
            at += Int(n)
            return r
        }
        mutating func sub() throws -> Reader {
            let r = try span()
            return Reader(bytes: bytes, at: r.lowerBound, end: r.upperBound)
        }
        mutating func string() throws -> String {
            let r = try span()
            guard let s = String(validating: bytes[r], as: UTF8.self) else { throw DecodeError(message: "protobuf: a string field is not UTF-8") }
            return s
        }
        mutating func skip(_ wire: Int) throws {
            switch wire {
            case 0: _ = try varint()
            case 1: guard end - at >= 8 else { throw DecodeError(message: "protobuf: truncated") }; at += 8
            case 2: _ = try span()
            case 5: guard end - at >= 4 else { throw DecodeError(message: "protobuf: truncated") }; at += 4
            default: throw DecodeError(message: "protobuf: unsupported wire type \(wire)")
            }
        }
    }

    // MARK: schemas (field numbers of the Kubernetes API types)

    static let objectMeta = Schema([
        1: ("name", .string), 2: ("generateName", .string), 3: ("namespace", .string), 5: ("uid", .string),
        6: ("resourceVersion", .string), 7: ("generation", .int), 8: ("creationTimestamp", .time),
        11: ("labels", .map(.string)), 12: ("annotations", .map(.string)),
        13: ("ownerReferences", .list(.message(Schema([1: ("kind", .string), 3: ("name", .string), 4: ("uid", .string),
                                                      5: ("apiVersion", .string), 6: ("controller", .boolPtr), 7: ("blockOwnerDeletion", .boolPtr)])))),
        14: ("finalizers", .list(.string)),
    ])
    static let labelSelector = Schema([
        1: ("matchLabels", .map(.string)),
        2: ("matchExpressions", .list(.message(Schema([1: ("key", .string), 2: ("operator", .string), 3: ("values", .list(.string))])))),
    ])
    static let container = Schema([
        1: ("name", .string), 2: ("image", .string), 3: ("command", .list(.string)), 4: ("args", .list(.string)), 5: ("workingDir", .string),
        6: ("ports", .list(.message(Schema([1: ("name", .string), 2: ("hostPort", .int), 3: ("containerPort", .int), 4: ("protocol", .string), 5: ("hostIP", .string)])))),
        7: ("env", .list(.message(Schema([1: ("name", .string), 2: ("value", .string)])))),
        8: ("resources", .message(Schema([1: ("limits", .map(.quantity)), 2: ("requests", .map(.quantity))]))),
        14: ("imagePullPolicy", .string),
    ])
    static let podSpec = Schema([
        2: ("containers", .list(.message(container))), 3: ("restartPolicy", .string), 4: ("terminationGracePeriodSeconds", .intPtr),
        5: ("activeDeadlineSeconds", .intPtr), 6: ("dnsPolicy", .string), 7: ("nodeSelector", .map(.string)),
        8: ("serviceAccountName", .string), 10: ("nodeName", .string), 11: ("hostNetwork", .bool),
    ])
    static let podTemplate = Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(podSpec))])
    static let jobSpec = Schema([
        1: ("parallelism", .intPtr), 2: ("completions", .intPtr), 3: ("activeDeadlineSeconds", .intPtr), 4: ("selector", .message(labelSelector)),
        5: ("manualSelector", .boolPtr), 6: ("template", .message(podTemplate)), 7: ("backoffLimit", .intPtr), 8: ("ttlSecondsAfterFinished", .intPtr),
    ])
    static let rollingUpdate = Schema([1: ("maxUnavailable", .intOrString), 2: ("maxSurge", .intOrString)])

    /// By kind, or by `apiVersion/kind` where versions of a kind number their fields differently.
    static let policyRule = Schema([1: ("verbs", .list(.string)), 2: ("apiGroups", .list(.string)), 3: ("resources", .list(.string)),
                                    4: ("resourceNames", .list(.string)), 5: ("nonResourceURLs", .list(.string))])
    static let rbacSubject = Schema([1: ("kind", .string), 2: ("apiGroup", .string), 3: ("name", .string), 4: ("namespace", .string)])
    static let roleRef = Schema([1: ("apiGroup", .string), 2: ("kind", .string), 3: ("name", .string)])

    static let kinds: [String: Schema] = [
        // kubectl create role/clusterrole/rolebinding/clusterrolebinding
        "rbac.authorization.k8s.io/v1/Role": Schema([1: ("metadata", .message(objectMeta)), 2: ("rules", .list(.message(policyRule)))]),
        "rbac.authorization.k8s.io/v1/ClusterRole": Schema([1: ("metadata", .message(objectMeta)), 2: ("rules", .list(.message(policyRule)))]),
        "rbac.authorization.k8s.io/v1/RoleBinding": Schema([1: ("metadata", .message(objectMeta)), 2: ("subjects", .list(.message(rbacSubject))), 3: ("roleRef", .message(roleRef))]),
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding": Schema([1: ("metadata", .message(objectMeta)), 2: ("subjects", .list(.message(rbacSubject))), 3: ("roleRef", .message(roleRef))]),
        // kubectl auth whoami / can-i, kubectl create token
        "authentication.k8s.io/v1/SelfSubjectReview": Schema([1: ("metadata", .message(objectMeta))]),
        "authorization.k8s.io/v1/SelfSubjectAccessReview": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([
            1: ("resourceAttributes", .message(Schema([1: ("namespace", .string), 2: ("verb", .string), 3: ("group", .string), 4: ("version", .string),
                                                      5: ("resource", .string), 6: ("subresource", .string), 7: ("name", .string)]))),
            2: ("nonResourceAttributes", .message(Schema([1: ("path", .string), 2: ("verb", .string)]))),
        ])))]),
        "authorization.k8s.io/v1/SelfSubjectRulesReview": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([1: ("namespace", .string)])))]),
        "authentication.k8s.io/v1/TokenRequest": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([
            1: ("audiences", .list(.string)), 4: ("expirationSeconds", .intPtr),
            3: ("boundObjectRef", .message(Schema([1: ("kind", .string), 2: ("apiVersion", .string), 3: ("name", .string), 4: ("uid", .string)]))),
        ])))]),
        // kubectl autoscale
        "autoscaling/v1/HorizontalPodAutoscaler": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([
            1: ("scaleTargetRef", .message(Schema([1: ("kind", .string), 2: ("name", .string), 3: ("apiVersion", .string)]))),
            2: ("minReplicas", .intPtr), 3: ("maxReplicas", .int), 4: ("targetCPUUtilizationPercentage", .intPtr),
        ])))]),
        "Namespace": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([1: ("finalizers", .list(.string))])))]),
        "ServiceAccount": Schema([1: ("metadata", .message(objectMeta)), 3: ("imagePullSecrets", .list(.message(Schema([1: ("name", .string)])))),
                                  4: ("automountServiceAccountToken", .boolPtr)]),
        "ConfigMap": Schema([1: ("metadata", .message(objectMeta)), 2: ("data", .map(.string)), 3: ("binaryData", .map(.bytes)), 4: ("immutable", .boolPtr)]),
        "Secret": Schema([1: ("metadata", .message(objectMeta)), 2: ("data", .map(.bytes)), 3: ("type", .string), 4: ("stringData", .map(.string)), 5: ("immutable", .boolPtr)]),
        "Service": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([
            1: ("ports", .list(.message(Schema([1: ("name", .string), 2: ("protocol", .string), 3: ("port", .int), 4: ("targetPort", .intOrString), 5: ("nodePort", .int)])))),
            2: ("selector", .map(.string)), 3: ("clusterIP", .string), 4: ("type", .string), 5: ("externalIPs", .list(.string)),
            7: ("sessionAffinity", .string), 10: ("externalName", .string),
        ])))]),
        "Deployment": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([
            1: ("replicas", .intPtr), 2: ("selector", .message(labelSelector)), 3: ("template", .message(podTemplate)),
            4: ("strategy", .message(Schema([1: ("type", .string), 2: ("rollingUpdate", .message(rollingUpdate))]))),
            5: ("minReadySeconds", .int), 6: ("revisionHistoryLimit", .intPtr), 7: ("paused", .bool), 9: ("progressDeadlineSeconds", .intPtr),
        ])))]),
        "Job": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(jobSpec))]),
        "CronJob": Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema([
            1: ("schedule", .string), 2: ("startingDeadlineSeconds", .intPtr), 3: ("concurrencyPolicy", .string), 4: ("suspend", .boolPtr),
            5: ("jobTemplate", .message(Schema([1: ("metadata", .message(objectMeta)), 2: ("spec", .message(jobSpec))]))),
            6: ("successfulJobsHistoryLimit", .intPtr), 7: ("failedJobsHistoryLimit", .intPtr),
        ])))]),
    ]
}

extension KubeProtobuf.Kind {
    var isPointer: Bool {
        switch self { case .intPtr, .boolPtr: true; default: false }
    }
    var isText: Bool {
        switch self { case .string, .bytes: true; default: false }
    }
}

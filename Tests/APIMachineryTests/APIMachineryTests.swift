import APIMachinery
import LinuxSystem
import Testing

func j(_ s: String) -> JSON { try! JSON.parse(s) }

@Suite("Label selectors")
struct LabelSelectorTests {
    let labels = ["app": "web", "tier": "frontend", "env": "prod", "replicas": "3"]

    @Test("equality, set-based, existence and numeric requirements", arguments: [
        ("app=web", true), ("app==web", true), ("app!=web", false), ("app!=db", true), ("missing!=x", true),
        ("env in (prod,stage)", true), ("env in (stage)", false), ("env notin (stage, dev)", true), ("missing notin (a)", true),
        ("app", true), ("!app", false), ("!missing", true), ("missing", false),
        ("replicas>2", true), ("replicas<3", false), ("app=web,tier=frontend", true), ("app=web,tier=backend", false),
        ("", true), ("app = web , env in ( prod )", true),
    ])
    func matching(_ text: String, _ expected: Bool) throws {
        #expect(try LabelSelector.parse(text).matches(labels) == expected)
    }

    @Test("the API server's messages for bad selectors", arguments: [
        ("app=web,", "unable to parse requirement: found '', expected: identifier after ','"),
        ("env in prod", "unable to parse requirement: found 'prod', expected: '('"),
        ("env in ()", "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty"),
        ("-app=x", "unable to parse requirement: invalid label key \"-app\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') and must be no more than 63 characters"),
        ("a=b c", "unable to parse requirement: found 'c', expected: ',' or 'end of string'"),
        ("n>x", "unable to parse requirement: for 'Gt', 'Lt' operators, exactly one value is required, and it must be an integer"),
    ])
    func errors(_ text: String, _ message: String) {
        #expect(throws: SelectorError.self) { try LabelSelector.parse(text) }
        do { _ = try LabelSelector.parse(text) } catch { #expect(error.description == message) }
    }

    @Test("prefixed keys and the printed form (sorted by key, values sorted and unique)")
    func prefixed() throws {
        let s = try LabelSelector.parse("kubernetes.io/os=linux,b in (y,x,y),!a.example.com/legacy")
        #expect(s.description == "!a.example.com/legacy,b in (x,y),kubernetes.io/os=linux")
        #expect(s.matches(["kubernetes.io/os": "linux", "b": "x"]))
        #expect(throws: SelectorError.self) { try LabelSelector.parse("Upper.Case/x=1") }
    }

    @Test("metav1.LabelSelector: matchLabels and matchExpressions")
    func structured() throws {
        let s = try LabelSelector.from(matchLabels: ["app": "web"],
                                       matchExpressions: [("env", "In", ["prod"]), ("legacy", "DoesNotExist", [])])
        #expect(s.matches(["app": "web", "env": "prod"]))
        #expect(!s.matches(["app": "web", "env": "prod", "legacy": "1"]))
        #expect(try LabelSelector.from(matchLabels: [:], matchExpressions: []).matches([:]))
        #expect(throws: SelectorError("\"Like\" is not a valid label selector operator")) {
            try LabelSelector.from(matchLabels: [:], matchExpressions: [("a", "Like", ["b"])])
        }
    }
}

@Suite("Field selectors")
struct FieldSelectorTests {
    @Test("equality and inequality, escapes, unknown fields as empty")
    func fields() throws {
        let f = try FieldSelector.parse("spec.nodeName=node1,status.phase!=Failed")
        #expect(f.matches(["spec.nodeName": "node1", "status.phase": "Running"]))
        #expect(!f.matches(["spec.nodeName": "node1", "status.phase": "Failed"]))
        #expect(try FieldSelector.parse("spec.nodeName=").matches([:]))
        let e = try FieldSelector.parse(#"metadata.name=a\,b\=c"#)
        #expect(e.requirements == [.init(field: "metadata.name", negated: false, value: "a,b=c")])
        #expect(e.description == #"metadata.name=a\,b\=c"#)
        #expect(f.unsupported(allowed: ["spec.nodeName", "metadata.name"]) == ["status.phase"])
        #expect(throws: SelectorError.self) { try FieldSelector.parse("nonsense") }
    }
}

@Suite("JSON merge patch (RFC 7386)")
struct MergePatchTests {
    // RFC 7386 Appendix A, every example
    @Test("the RFC's examples", arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func rfc(_ target: String, _ patch: String, _ result: String) {
        #expect(MergePatch.apply(j(patch), to: j(target)) == j(result))
    }

    @Test("diff then apply gives the new document back")
    func roundTrip() {
        let a = j(#"{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"replicas":1,"template":{"x":[1]}}}"#)
        let b = j(#"{"metadata":{"labels":{"a":"1","c":"3"}},"spec":{"replicas":3,"template":{"x":[1,2]}}}"#)
        let d = MergePatch.diff(from: a, to: b)
        #expect(d == j(#"{"metadata":{"labels":{"b":null,"c":"3"}},"spec":{"replicas":3,"template":{"x":[1,2]}}}"#))
        #expect(MergePatch.apply(d, to: a) == b)
    }
}

@Suite("JSON patch (RFC 6902)")
struct JSONPatchTests {
    // RFC 6902 Appendix A
    @Test("the RFC's examples that succeed", arguments: [
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"foo":"bar","baz":"qux"}"#),
        (#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#, #"{"foo":["bar","qux","baz"]}"#),
        (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
        (#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
        (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#, #"{"baz":"boo","foo":"bar"}"#),
        (#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#, #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
         #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#),
        (#"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#, #"{"foo":["all","cows","eat","grass"]}"#),
        (#"{"baz":"qux","foo":["a",2,"c"]}"#, #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#, #"{"baz":"qux","foo":["a",2,"c"]}"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#, #"{"foo":"bar","child":{"grandchild":{}}}"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux","xyz":123}]"#, #"{"foo":"bar","baz":"qux"}"#),
        (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#, #"{"/":9,"~1":10}"#),
        (#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#, #"{"foo":["bar",["abc","def"]]}"#),
        (#"{"a":{"b":1}}"#, #"[{"op":"copy","from":"/a","path":"/c"}]"#, #"{"a":{"b":1},"c":{"b":1}}"#),
        (#"{"n":1}"#, #"[{"op":"test","path":"/n","value":1.0}]"#, #"{"n":1}"#),
    ])
    func rfc(_ doc: String, _ patch: String, _ result: String) throws {
        #expect(try JSONPatch.apply(j(patch), to: j(doc)) == j(result))
    }

    @Test("the RFC's failing examples, and all-or-nothing", arguments: [
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#, "path /baz does not exist"),
        (#"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#, "testing value /baz failed"),
        (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":"10"}]"#, "testing value /~01 failed"),
        (#"{"foo":[1]}"#, #"[{"op":"add","path":"/foo/5","value":2}]"#, "array index 5 out of bounds in /foo/5"),
        (#"{"foo":[1]}"#, #"[{"op":"remove","path":"/foo/01"}]"#, "invalid array index \"01\" in /foo/01"),
        (#"{"a":{}}"#, #"[{"op":"move","from":"/a","path":"/a/b"}]"#, "operation 0 (move): cannot move \"/a\" into its own child \"/a/b\""),
        (#"{"a":1}"#, #"[{"op":"replace","path":"/b","value":2}]"#, "path /b does not exist"),
        (#"{"a":1}"#, #"[{"op":"frobnicate","path":"/a"}]"#, "operation 0: unknown op \"frobnicate\""),
        (#"{"a":1}"#, #"{"op":"add"}"#, "json patch must be an array of operations, got an object"),
    ])
    func failures(_ doc: String, _ patch: String, _ message: String) {
        #expect(throws: PatchError(message)) { try JSONPatch.apply(j(patch), to: j(doc)) }
    }
}

@Suite("Strategic merge patch")
struct StrategicMergePatchTests {
    let deployment = j(#"{"metadata":{"name":"patch-demo","finalizers":["a","b"]},"spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"patch-demo-ctr","image":"nginx","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}],"tolerations":[{"effect":"NoSchedule","key":"dedicated","value":"test-team"}]}}}}"#)

    func patch(_ p: String, _ kind: String = "Deployment") throws -> JSON {
        try StrategicMergePatch.apply(j(p), to: deployment, schema: PatchSchema.forKind(kind))
    }
    func containers(_ d: JSON) -> [JSON] {
        if case .array(let a)? = d["spec"]?["template"]?["spec"]?["containers"] { return a }
        return []
    }

    @Test("containers merge by name (the kubectl patch task's example); tolerations, without a key, are replaced")
    func mergeByName() throws {
        let d = try patch(#"{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr-2","image":"redis"}]}}}}"#)
        #expect(containers(d).map { $0["name"] } == [.string("patch-demo-ctr"), .string("patch-demo-ctr-2")])
        let t = try patch(#"{"spec":{"template":{"spec":{"tolerations":[{"effect":"NoSchedule","key":"disktype","value":"ssd"}]}}}}"#)
        #expect(t["spec"]?["template"]?["spec"]?["tolerations"] == j(#"[{"effect":"NoSchedule","key":"disktype","value":"ssd"}]"#))
        // the same patch as a JSON merge patch replaces the list
        let m = MergePatch.apply(j(#"{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr-2","image":"redis"}]}}}}"#), to: deployment)
        #expect(containers(m).count == 1)
    }

    @Test("nested merge keys: an env entry changed in place, one added, one deleted with $patch: delete")
    func nested() throws {
        let d = try patch(#"{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr","env":[{"name":"B","value":"20"},{"name":"C","value":"3"},{"name":"A","$patch":"delete"}]}]}}}}"#)
        #expect(containers(d)[0]["env"] == j(#"[{"name":"B","value":"20"},{"name":"C","value":"3"}]"#))
        #expect(containers(d)[0]["image"] == .string("nginx"))
    }

    @Test("$patch: replace on a list and on a map; null deletes a field")
    func replace() throws {
        let d = try patch(#"{"spec":{"replicas":null,"template":{"spec":{"containers":[{"name":"only","image":"busybox"},{"$patch":"replace"}]}}}}"#)
        #expect(containers(d) == [j(#"{"name":"only","image":"busybox"}"#)])
        #expect(d["spec"]?["replicas"] == nil)
        let m = try patch(#"{"spec":{"template":{"$patch":"replace","spec":{"containers":[]}}}}"#)
        #expect(m["spec"]?["template"] == j(#"{"spec":{"containers":[]}}"#))
    }

    @Test("finalizers merge as a set; $deleteFromPrimitiveList removes; $setElementOrder orders")
    func primitiveListsAndOrder() throws {
        let d = try patch(#"{"metadata":{"finalizers":["c","a"],"$deleteFromPrimitiveList/finalizers":["b"]}}"#)
        #expect(d["metadata"]?["finalizers"] == j(#"["a","c"]"#))
        let o = try patch(#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"new"},{"name":"patch-demo-ctr"}],"containers":[{"name":"new","image":"x"}]}}}}"#)
        #expect(containers(o).map { $0["name"] } == [.string("new"), .string("patch-demo-ctr")])
    }

    @Test("$retainKeys clears the keys it does not list (a volume switching source)")
    func retainKeys() throws {
        let pod = j(#"{"spec":{"volumes":[{"name":"v","emptyDir":{}}]}}"#)
        let d = try StrategicMergePatch.apply(j(#"{"spec":{"volumes":[{"name":"v","$retainKeys":["name","hostPath"],"hostPath":{"path":"/data"}}]}}"#),
                                              to: pod, schema: .pod)
        #expect(d["spec"]?["volumes"] == j(#"[{"name":"v","hostPath":{"path":"/data"}}]"#))
    }

    @Test("conditions merge by type in status; bad patches are refused")
    func conditionsAndErrors() throws {
        let node = j(#"{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"DiskPressure","status":"False"}]}}"#)
        let d = try StrategicMergePatch.apply(j(#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#), to: node, schema: .node)
        #expect(d["status"]?["conditions"] == j(#"[{"type":"Ready","status":"True"},{"type":"DiskPressure","status":"False"}]"#))
        #expect(throws: PatchError("containers: an element has no merge key \"name\"")) {
            try patch(#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#)
        }
        #expect(throws: PatchError("unknown patch type \"explode\" in \"$patch\"")) { try patch(#"{"spec":{"$patch":"explode"}}"#) }
        #expect(throws: PatchError("strategic merge patch must be a JSON object, got an array")) { try patch("[]") }
    }
}

/// Status bodies against what kube-apiserver 1.28.7 answered (../shared/docs/apiserver-captures/03-errors.md):
/// the same members in the same order, and the same length on the wire.
@Suite("Status errors")
struct StatusTests {
    @Test("404, 409, 422, 415, 410 as the API server writes them", arguments: [
        (APIStatus.notFound(resource: "pods", name: "nope"), 176,
         #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}"#),
        (APIStatus.notFound(resource: "deployments", group: "apps", name: "nope"), 210,
         #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}"#),
        (APIStatus.alreadyExists(resource: "pods", name: "demo"), 186,
         #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"demo\" already exists","reason":"AlreadyExists","details":{"name":"demo","kind":"pods"},"code":409}"#),
        (APIStatus.conflict(resource: "configmaps", name: "demo-cm"), 310,
         #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on configmaps \"demo-cm\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"demo-cm","kind":"configmaps"},"code":409}"#),
        (APIStatus.invalid(kind: "Pod", name: "Bad_Name", causes: [
            .init(reason: "FieldValueInvalid", message: #"Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#, field: "metadata.name"),
            .init(reason: "FieldValueRequired", message: "Required value", field: "spec.containers[0].image")]), 1006,
         #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Pod \"Bad_Name\" is invalid: [metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.containers[0].image: Required value]","reason":"Invalid","details":{"name":"Bad_Name","kind":"Pod","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')","field":"metadata.name"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"}]},"code":422}"#),
        (APIStatus.watchTooOld(requested: 1, oldest: 299), 145,
         #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (299)","reason":"Expired","code":410}"#),
    ])
    func captured(_ status: APIStatus, _ wireLength: Int, _ body: String) throws {
        #expect(status.json == (try JSON.parse(body)))
        // Go's encoder ends the body with a newline: Content-Length counts it
        #expect((status.json.serialized() + "\n").utf8.count == wireLength)
    }

    @Test("an unknown resource has empty details; 415 has none")
    func detailsShape() {
        #expect(APIStatus.unknownResource.json["details"] == .object([]))
        #expect(APIStatus.unsupportedMediaType.json["details"] == nil)
        #expect(APIStatus.unsupportedMediaType.code == 415)
    }
}

@Suite("Tables")
struct TableTests {
    @Test("kubectl's age format", arguments: [
        (Int64(-5), "<invalid>"), (-1, "0s"), (0, "0s"), (70, "70s"), (119, "119s"), (120, "2m"), (303, "5m3s"), (599, "9m59s"),
        (600, "10m"), (10799, "179m"), (10800, "3h"), (11400, "3h10m"), (28800, "8h"), (172799, "47h"), (172800, "2d"),
        (190800, "2d5h"), (691200, "8d"), (63072000, "2y"), (64800000, "2y20d"), (252288000, "8y"),
    ])
    func age(_ s: Int64, _ text: String) {
        #expect(HumanDuration.format(seconds: s) == text)
    }

    @Test("RFC 3339 timestamps")
    func timestamps() {
        #expect(RFC3339.seconds("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.seconds("2026-12-02T06:10:18Z") == 1_796_191_818)
        #expect(RFC3339.seconds("2026-12-02T07:10:18.123456+01:00") == 1_796_191_818)
        #expect(RFC3339.seconds("2026-13-02T06:10:18Z") == nil)
        #expect(RFC3339.seconds("yesterday") == nil)
    }

    let created = "2026-12-02T06:10:18Z"
    var now: Int64 { RFC3339.seconds(created)! + 70 }
    func pod(_ status: String, spec: String = #"{"containers":[{"name":"c"}]}"#, meta: String = "") -> JSON {
        j(#"{"metadata":{"name":"demo","creationTimestamp":"2026-12-02T06:10:18Z"\#(meta)},"spec":\#(spec),"status":\#(status)}"#)
    }
    func cells(_ p: JSON) -> [String] {
        PodTable.cells(p, now: now).map { if case .string(let s) = $0 { return s }; return "?" }
    }

    @Test("the captured Pending pod: demo 0/1 Pending 0 70s and <none> for the wide columns")
    func captured() {
        #expect(cells(pod(#"{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable"}]}"#))
                == ["demo", "0/1", "Pending", "0", "70s", "<none>", "<none>", "<none>", "<none>"])
    }

    @Test("status column: running, waiting reasons, init progress, exit codes, completion, deletion", arguments: [
        (#"{"phase":"Running","podIP":"10.0.0.5","containerStatuses":[{"name":"c","ready":true,"restartCount":2,"state":{"running":{}},"lastState":{"terminated":{"exitCode":1,"finishedAt":"2026-12-02T06:11:08Z"}}}]}"#,
         "", "", ["demo", "1/1", "Running", "2 (20s ago)", "70s", "10.0.0.5"]),
        (#"{"phase":"Running","containerStatuses":[{"name":"c","ready":false,"restartCount":5,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}"#,
         "", "", ["demo", "0/1", "CrashLoopBackOff", "5"]),
        (#"{"phase":"Pending","initContainerStatuses":[{"name":"i","ready":false,"restartCount":0,"state":{"waiting":{"reason":"PodInitializing"}}}]}"#,
         #"{"initContainers":[{"name":"i"}],"containers":[{"name":"c"}]}"#, "", ["demo", "0/1", "Init:0/1"]),
        (#"{"phase":"Pending","initContainerStatuses":[{"name":"i","ready":false,"restartCount":3,"state":{"terminated":{"exitCode":2}}}]}"#,
         #"{"initContainers":[{"name":"i"}],"containers":[{"name":"c"}]}"#, "", ["demo", "0/1", "Init:ExitCode:2", "3"]),
        (#"{"phase":"Succeeded","containerStatuses":[{"name":"c","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}"#,
         "", "", ["demo", "0/1", "Completed", "0"]),
        (#"{"phase":"Running","containerStatuses":[{"name":"c","ready":true,"restartCount":0,"state":{"running":{}}}]}"#,
         "", #","deletionTimestamp":"2026-12-02T06:11:20Z""#, ["demo", "1/1", "Terminating"]),
        (#"{"phase":"Running","conditions":[{"type":"Initialized","status":"True"}],"initContainerStatuses":[{"name":"side","ready":true,"started":true,"restartCount":1,"state":{"running":{}}}],"containerStatuses":[{"name":"c","ready":true,"restartCount":0,"state":{"running":{}}}]}"#,
         #"{"initContainers":[{"name":"side","restartPolicy":"Always"}],"containers":[{"name":"c"}]}"#, "", ["demo", "2/2", "Running", "1"]),
        (#"{"phase":"Failed","reason":"Evicted","containerStatuses":[]}"#, "", "", ["demo", "0/1", "Evicted"]),
    ])
    func status(_ status: String, _ spec: String, _ meta: String, _ expected: [String]) {
        let c = cells(pod(status, spec: spec.isEmpty ? #"{"containers":[{"name":"c"}]}"# : spec, meta: meta))
        #expect(Array(c.prefix(expected.count)) == expected)
    }

    @Test("readiness gates and the Table envelope")
    func gatesAndEnvelope() {
        let p = pod(#"{"phase":"Running","conditions":[{"type":"example.com/lb","status":"True"}]}"#,
                    spec: #"{"containers":[{"name":"c"}],"nodeName":"node1","readinessGates":[{"conditionType":"example.com/lb"},{"conditionType":"other"}]}"#)
        #expect(Array(cells(p).suffix(3)) == ["node1", "<none>", "1/2"])
        let t = Table.json(columns: PodTable.columns, rows: [(PodTable.cells(p, now: now), Table.partialMetadata(p))], resourceVersion: "256")
        #expect(t["kind"] == .string("Table") && t["apiVersion"] == .string("meta.k8s.io/v1"))
        #expect(t["metadata"] == j(#"{"resourceVersion":"256"}"#))
        if case .array(let cols)? = t["columnDefinitions"] {
            #expect(cols.map { $0["name"] } == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"].map { .string($0) })
            #expect(cols.map { $0["priority"] } == [0, 0, 0, 0, 0, 1, 1, 1, 1].map { .number(String($0)) })
            #expect(cols[0]["format"] == .string("name"))
        }
        #expect(t["rows"]?.arrayFirst?["object"]?["kind"] == .string("PartialObjectMetadata"))
    }
}

extension JSON {
    var arrayFirst: JSON? { if case .array(let a) = self { return a.first }; return nil }
}

@Suite("Continue tokens")
struct ContinueTokenTests {
    @Test("the API server's tokens, byte for byte, both ways")
    func captured() throws {
        let page1 = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NjE2LCJzdGFydCI6InNzYS1kZW1vLTdmYzdjNTZkZmItamM5ZjhcdTAwMDAifQ"
        let t = try ContinueToken.decode(page1)
        #expect(t.resourceVersion == 616 && t.lastKey == "ssa-demo-7fc7c56dfb-jc9f8")
        #expect(ContinueToken(resourceVersion: 616, lastKey: "ssa-demo-7fc7c56dfb-jc9f8").encoded == page1)
        let fresh = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0Ijoic3NhLWRlbW8tN2ZjN2M1NmRmYi1qYzlmOFx1MDAwMCJ9"
        #expect(ContinueToken(resourceVersion: -1, lastKey: "ssa-demo-7fc7c56dfb-jc9f8").encoded == fresh)
    }

    @Test("garbage is a 400 with Go's wording")
    func garbage() throws {
        #expect(throws: APIStatus.badRequest("invalid continue token: continue key is not valid: illegal base64 data at input byte 8")) {
            try ContinueToken.decode("notatoken")
        }
        #expect(throws: APIStatus.badRequest("invalid continue token: continue key is not valid: illegal base64 data at input byte 3")) {
            try ContinueToken.decode("abc!defg")
        }
        let escape = ContinueToken(resourceVersion: 1, lastKey: "../../secrets/x").encoded
        #expect(throws: APIStatus.badRequest("invalid continue token: continue key is not valid: encoded start key must be a relative path")) {
            try ContinueToken.decode(escape)
        }
        for n in 0..<40 {
            let data = (0..<n).map { UInt8(($0 * 37 + 11) & 0xff) }
            #expect(try Base64URL.decode(Base64URL.encode(data)).get() == data)
        }
    }
}

/// The rows kube-apiserver 1.28.7 printed (../shared/docs/apiserver-captures/02-pod-create-and-tables.md).
@Suite("Printers")
struct PrinterTests {
    let now = RFC3339.seconds("2026-12-02T06:11:30Z")!
    func row(_ kind: String, _ object: String) -> [JSON] { Printer.forKind(kind).cells(j(object), now) }
    func names(_ kind: String) -> [String] { Printer.forKind(kind).columns.map(\.name) }

    @Test("deployment and replicaset rows as captured")
    func workloads() {
        let d = #"{"metadata":{"name":"web","creationTimestamp":"2026-12-02T06:10:36Z"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"busybox","image":"busybox"}]}}},"status":{"replicas":2,"updatedReplicas":2,"unavailableReplicas":2}}"#
        #expect(row("Deployment", d) == [.string("web"), .string("0/2"), .number("2"), .number("0"), .string("54s"), .string("busybox"), .string("busybox"), .string("app=web")])
        #expect(names("Deployment") == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"])
        let rs = #"{"metadata":{"name":"web-86fdc68b8","creationTimestamp":"2026-12-02T06:10:37Z"},"spec":{"replicas":2,"selector":{"matchLabels":{"pod-template-hash":"86fdc68b8","app":"web"}},"template":{"spec":{"containers":[{"name":"busybox","image":"busybox"}]}}},"status":{"replicas":2}}"#
        #expect(row("ReplicaSet", rs) == [.string("web-86fdc68b8"), .number("2"), .number("2"), .number("0"), .string("53s"), .string("busybox"), .string("busybox"), .string("app=web,pod-template-hash=86fdc68b8")])
        #expect(Printer.forKind("ReplicaSet").columns.map(\.type) == ["string", "integer", "integer", "integer", "string", "string", "string", "string"])
    }

    @Test("jobs, cronjobs, daemonsets, statefulsets: kubectl's columns")
    func batchAndSets() {
        let job = #"{"metadata":{"name":"j1","creationTimestamp":"2026-12-02T06:10:30Z"},"spec":{"completions":3,"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}},"status":{"succeeded":1,"startTime":"2026-12-02T06:10:31Z"}}"#
        #expect(row("Job", job)[0...4] == [.string("j1"), .string("Running"), .string("1/3"), .string("59s"), .string("60s")])
        let done = #"{"metadata":{"name":"j2"},"spec":{},"status":{"succeeded":1,"startTime":"2026-12-02T06:10:00Z","completionTime":"2026-12-02T06:10:05Z","conditions":[{"type":"Complete","status":"True"}]}}"#
        #expect(row("Job", done)[1...3] == [.string("Complete"), .string("1/1"), .string("5s")])
        #expect(names("Job") == ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"])
        let cj = #"{"metadata":{"name":"cj"},"spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}},"status":{}}"#
        #expect(row("CronJob", cj)[0...5] == [.string("cj"), .string("*/5 * * * *"), .string("<none>"), .string("False"), .number("0"), .string("<none>")])
        #expect(names("DaemonSet").prefix(8) == ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"])
        #expect(row("StatefulSet", #"{"metadata":{"name":"db"},"spec":{"replicas":3},"status":{"readyReplicas":2}}"#)[1] == .string("2/3"))
    }

    @Test("services, configmaps, namespaces as captured; node ports and load balancers")
    func services() {
        #expect(row("Service", #"{"metadata":{"name":"kubernetes","creationTimestamp":"2026-12-02T06:07:07Z"},"spec":{"type":"ClusterIP","clusterIP":"10.0.0.1","ports":[{"port":443,"protocol":"TCP"}]}}"#)
                == ["kubernetes", "ClusterIP", "10.0.0.1", "<none>", "443/TCP", "4m23s", "<none>"].map { .string($0) })
        #expect(row("Service", #"{"metadata":{"name":"web","creationTimestamp":"2026-12-02T06:11:29Z"},"spec":{"type":"ClusterIP","clusterIP":"10.0.0.103","selector":{"app":"web"},"ports":[{"port":80,"protocol":"TCP"}]}}"#)
                == ["web", "ClusterIP", "10.0.0.103", "<none>", "80/TCP", "1s", "app=web"].map { .string($0) })
        #expect(row("Service", #"{"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","clusterIP":"10.0.0.9","ports":[{"port":80,"nodePort":30080,"protocol":"TCP"}]}}"#)[3...4]
                == [.string("<pending>"), .string("80:30080/TCP")])
        #expect(row("ConfigMap", #"{"metadata":{"name":"demo-cm","creationTimestamp":"2026-12-02T06:11:29Z"},"data":{"a":"1","b":"2"}}"#)
                == [.string("demo-cm"), .number("2"), .string("1s")])
        #expect(row("Namespace", #"{"metadata":{"name":"default","creationTimestamp":"2026-12-02T06:07:06Z"},"status":{"phase":"Active"}}"#)
                == ["default", "Active", "4m24s"].map { .string($0) })
    }

    @Test("nodes as captured: a registered agent and a bare object")
    func nodes() {
        let node1 = #"{"metadata":{"name":"node1","creationTimestamp":"2026-12-02T06:07:42Z"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}],"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],"nodeInfo":{"kubeletVersion":"v1.28.7","osImage":"Swift Node Agent","kernelVersion":"6.1.0","containerRuntimeVersion":"fake://1.0"}}}"#
        #expect(row("Node", node1) == ["node1", "NotReady", "<none>", "3m48s", "v1.28.7", "127.0.0.1", "<none>", "Swift Node Agent", "6.1.0", "fake://1.0"].map { .string($0) })
        let node2 = #"{"metadata":{"name":"node2","creationTimestamp":"2026-12-02T06:08:17Z"},"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#
        #expect(row("Node", node2) == ["node2", "NotReady", "<none>", "3m13s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"].map { .string($0) })
        let master = #"{"metadata":{"name":"m","labels":{"node-role.kubernetes.io/control-plane":""}},"spec":{"unschedulable":true},"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#
        #expect(row("Node", master)[1...2] == [.string("Ready,SchedulingDisabled"), .string("control-plane")])
        #expect(row("Widget", #"{"metadata":{"name":"w"}}"#) == [.string("w"), .string("<unknown>")])
    }
}

@Suite("Watch events")
struct WatchEventTests {
    @Test("bookmark and 410 lines byte for byte as captured (05-watch.md, 03-errors.md)")
    func captured() {
        #expect(WatchEvent.bookmark(kind: "Pod", apiVersion: "v1", resourceVersion: 598).line ==
                #"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"598","creationTimestamp":null},"spec":{"containers":null},"status":{}}}"# + "\n")
        #expect(WatchEvent.expired(requested: 1, oldest: 299).line ==
                #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (299)","reason":"Expired","code":410}}"# + "\n")
    }

    @Test("HTML-safe escaping on the wire, as Go's encoder (the captured Table cells)")
    func htmlSafe() {
        let cells: JSON = .array(["demo", "0/1", "Pending", "0", "5m39s", "<none>"].map { .string($0) })
        #expect(cells.serialized(htmlSafe: true) == #"["demo","0/1","Pending","0","5m39s","\u003cnone\u003e"]"#)
        #expect(JSON.string("a&b\u{2028}").serialized(htmlSafe: true) == #""a\u0026b\u2028""#)
        #expect(JSON.string("<x>").serialized() == #""<x>""#)
    }
}

import Testing
@testable import KubeModel

@Suite("Quantity")
struct QuantityTests {
    @Test("parsing every suffix exactly", arguments: [
        ("100m", 1, 100), ("1", 1, 1000), ("0.5", 1, 500), (".5", 1, 500), ("2.", 2, 2000),
        ("1k", 1000, 1_000_000), ("1Ki", 1024, 1_024_000), ("1.5Gi", 1_610_612_736, 1_610_612_736_000),
        ("128974848", 128_974_848, 128_974_848_000), ("129e6", 129_000_000, 129_000_000_000), ("129M", 129_000_000, 129_000_000_000),
        ("123Mi", 128_974_848, 128_974_848_000), ("1E3", 1000, 1_000_000), ("1e-3", 1, 1), ("1n", 1, 1), ("1u", 1, 1),
        ("1T", 1_000_000_000_000, 1_000_000_000_000_000), ("2Ti", 2_199_023_255_552, 2_199_023_255_552_000),
        ("1P", 1_000_000_000_000_000, 1_000_000_000_000_000_000), ("1Pi", 1_125_899_906_842_624, 1_125_899_906_842_624_000),
        ("1E", 1_000_000_000_000_000_000, Int64.max), ("1Ei", 1_152_921_504_606_846_976, Int64.max),
        ("-1", -1, -1000), ("+2", 2, 2000), ("0", 0, 0),
    ])
    func parse(text: String, value: Int64, milli: Int64) throws {
        let q = try Quantity(parsing: text)
        #expect(q.value == value, "\(text)")
        #expect(q.milliValue == milli, "\(text)")
    }

    @Test("invalid quantities", arguments: ["", "abc", "1.2.3", "1Kb", "1 Gi", "m", "1e", "1ee3", "--1", "1e99"])
    func invalid(text: String) {
        #expect(throws: Quantity.ParseError.self) { try Quantity(parsing: text) }
    }

    @Test("exact arithmetic and comparison across formats")
    func arithmetic() throws {
        let a = try Quantity(parsing: "1Gi"), b = try Quantity(parsing: "512Mi")
        #expect((a - b) == (try Quantity(parsing: "512Mi")))
        #expect(try Quantity(parsing: "100m") + Quantity(parsing: "0.9") == (try Quantity(parsing: "1")))
        #expect(try Quantity(parsing: "1000m") == (try Quantity(parsing: "1")))
        #expect(try Quantity(parsing: "1Ki") > (try Quantity(parsing: "1k")))
        #expect(try Quantity(parsing: "0.1") * 3 == (try Quantity(parsing: "300m")))
        #expect(try Quantity(parsing: "1.5").value == 2)            // Value() rounds up
        #expect(try Quantity(parsing: "0.0001").milliValue == 1)     // MilliValue() rounds up
        #expect(try Quantity(parsing: "1Mi").divided(by: Quantity(parsing: "1Ki")) == 1024)
        #expect(try Quantity(parsing: "1").divided(by: Quantity(parsing: "3m")) == 334)
    }

    @Test("canonical text", arguments: [("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("0.5", "500m"), ("1000", "1k"), ("1500m", "1500m"),
                                        ("100m", "100m"), ("2", "2"), ("1e3", "1k"), ("0", "0"), ("1Ki", "1Ki")])
    func canonical(input: String, output: String) throws {
        #expect(try Quantity(parsing: input).description == output)
    }
}

@Suite("Pod manifests")
struct ManifestTests {
    let multi = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      labels: {app: web}
    spec:
      restartPolicy: OnFailure
      volumes:
      - name: shared
        emptyDir: {}
      - name: cfg
        configMap: {name: web-config}
      containers:
      - name: server
        image: registry.local:5000/web:1.0
        command: ["httpd", "-f"]
        args: ["-p", "$(PORT)"]
        env:
        - {name: PORT, value: "8080"}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        ports:
        - {containerPort: 8080, name: http}
        resources:
          requests: {cpu: 250m, memory: 64Mi}
          limits: {cpu: 1, memory: 128974848}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
        livenessProbe:
          exec: {command: [cat, /tmp/healthy]}
          initialDelaySeconds: 5
        volumeMounts:
        - {name: shared, mountPath: /data}
      - name: sidecar
        image: busybox
        args: [sleep, "3600"]
        startupProbe:
          tcpSocket: {port: 8080}
          failureThreshold: 30
          periodSeconds: 10
    """

    @Test("YAML with probes, volumes, resources decodes")
    func yaml() throws {
        let pod = try PodManifest.decode(Array(multi.utf8))
        #expect(pod.metadata.name == "web")
        #expect(pod.spec.containers.count == 2)
        let c = pod.spec.containers[0]
        #expect(c.resources?.limits?["cpu"]?.milliValue == 1000)
        #expect(c.resources?.limits?["memory"]?.value == 128_974_848)
        #expect(c.resources?.requests?["memory"]?.value == 64 << 20)
        #expect(c.readinessProbe?.httpGet?.port == .string("http"))
        #expect(c.env?[1].valueFrom?.fieldRef?.fieldPath == "status.podIP")
        #expect(pod.spec.containers[1].startupProbe?.tcpSocket?.port == .int(8080))
        #expect(pod.spec.volumes?[1].configMap?.name == "web-config")
        #expect(PodValidation.validate(pod).isEmpty)
    }

    @Test("JSON decodes the same")
    func json() throws {
        let text = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"a","image":"busybox:1","resources":{"limits":{"cpu":0.5}}}]}}"#
        let pod = try PodManifest.decode(Array(text.utf8))
        #expect(pod.spec.containers[0].resources?.limits?["cpu"]?.milliValue == 500)
    }

    @Test("decode errors name the field", arguments: [
        ("apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\nspec: {containers: []}", "kind: Unsupported value: \"Deployment\""),
        ("kind: Pod\nmetadata: {name: x}\nspec: {containers: []}", "apiVersion: Required value"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}", "spec: Required value"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - {name: a, image: b}\n  - {image: c}", "spec.containers[1].name: Required value"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    image: b\n    ports: [{containerPort: http}]", "spec.containers[0].ports[0].containerPort: Invalid value"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n    image: b\n    resources: {limits: {cpu: lots}}", "spec.containers[0].resources.limits.cpu: Invalid value: quantity \"lots\""),
        ("apiVersion: v1\nkind: Pod\n  metadata: [", "invalid YAML"),
        ("{\"apiVersion\": \"v1\", \"kind\": \"Pod\",", "invalid JSON"),
    ])
    func decodeErrors(text: String, expected: String) {
        do {
            _ = try PodManifest.decode(Array(text.utf8))
            Issue.record("decoded")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("oversized manifests are refused before parsing")
    func tooLarge() {
        let big = [UInt8](repeating: UInt8(ascii: "#"), count: PodManifest.maxBytes + 1)
        #expect(throws: ManifestError.self) { try PodManifest.decode(big) }
    }
}

@Suite("Validation and defaulting")
struct ValidationTests {
    func pod(_ containers: [Container], name: String = "ok") -> Pod {
        Pod(metadata: ObjectMeta(name: name), spec: PodSpec(containers: containers))
    }

    @Test("messages in the API server's style")
    func messages() {
        var p = pod([Container(name: "a", image: "x"), Container(name: "a", image: ""), Container(name: "Bad_Name", image: "y")], name: "Web")
        p.spec.restartPolicy = "Sometimes"
        p.spec.containers[0].ports = [ContainerPort(containerPort: 70000)]
        p.spec.containers[0].env = [EnvVar(name: "1BAD", value: "v")]
        let errs = PodValidation.validate(p).map(\.description)
        #expect(errs.contains { $0.hasPrefix("metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain") })
        #expect(errs.contains("spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""))
        #expect(errs.contains("spec.containers[1].name: Duplicate value: \"a\""))
        #expect(errs.contains("spec.containers[1].image: Required value"))
        #expect(errs.contains { $0.hasPrefix("spec.containers[2].name: Invalid value: \"Bad_Name\"") })
        #expect(errs.contains("spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"))
        #expect(errs.contains { $0.hasPrefix("spec.containers[0].env[0].name: Invalid value: \"1BAD\"") })
        #expect(PodValidation.validate(pod([])).map(\.description).contains("spec.containers: Required value"))
        #expect(PodValidation.validate(Pod(metadata: ObjectMeta(), spec: PodSpec(containers: [Container(name: "a", image: "b")])))
            .map(\.description) == ["metadata.name: Required value: name or generateName is required"])
    }

    @Test("volume mounts must name volumes; requests must not exceed limits")
    func mountsAndResources() {
        var p = pod([Container(name: "a", image: "b")])
        p.spec.containers[0].volumeMounts = [VolumeMount(name: "missing", mountPath: "/x")]
        p.spec.containers[0].resources = ResourceRequirements(limits: ["cpu": .milli(100)], requests: ["cpu": .milli(200)])
        let errs = PodValidation.validate(p).map(\.description)
        #expect(errs.contains("spec.containers[0].volumeMounts[0].name: Not found: \"missing\""))
        #expect(errs.contains("spec.containers[0].resources.requests: Invalid value: \"200m\": must be less than or equal to cpu limit of 100m"))
    }

    @Test("defaults as SetDefaults_Pod and the kubelet apply them")
    func defaults() {
        var p = pod([Container(name: "a", image: "busybox"), Container(name: "b", image: "busybox:1.36"),
                     Container(name: "c", image: "r.io/x@sha256:" + String(repeating: "a", count: 64)),
                     Container(name: "d", image: "localhost:5000/x")])
        p.spec.containers[0].resources = ResourceRequirements(limits: ["memory": Quantity(1 << 20)])
        p.spec.containers[0].livenessProbe = Probe(httpGet: HTTPGetAction(port: .int(80)))
        p.spec.containers[1].ports = [ContainerPort(containerPort: 80)]
        p.spec.hostNetwork = true
        let d = PodDefaults.apply(p)
        #expect(d.metadata.namespace == "default")
        #expect(d.spec.restartPolicy == "Always" && d.spec.terminationGracePeriodSeconds == 30 && d.spec.dnsPolicy == "ClusterFirst")
        #expect(d.spec.containers.map { $0.imagePullPolicy } == ["Always", "IfNotPresent", "IfNotPresent", "Always"])
        #expect(d.spec.containers[0].resources?.requests?["memory"] == Quantity(1 << 20))
        let probe = d.spec.containers[0].livenessProbe!
        #expect(probe.timeoutSeconds == 1 && probe.periodSeconds == 10 && probe.successThreshold == 1 && probe.failureThreshold == 3)
        #expect(probe.httpGet?.path == "/" && probe.httpGet?.scheme == "HTTP")
        #expect(d.spec.containers[1].ports?[0].protocol == "TCP" && d.spec.containers[1].ports?[0].hostPort == 80)
        #expect(d.spec.containers[0].terminationMessagePath == "/dev/termination-log")
    }
}

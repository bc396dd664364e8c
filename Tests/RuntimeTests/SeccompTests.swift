import Testing
@testable import Runtime

@Suite("Seccomp")
struct SeccompTests {
    @Test("RuntimeDefault denies mount, ptrace and namespace clones without the capabilities")
    func runtimeDefault() {
        let p = SeccompProfile.runtimeDefault(capabilities: DefaultProfile.capabilities)
        let allowed = Set(p.syscalls!.filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil }.flatMap(\.names))
        #expect(p.defaultAction == "SCMP_ACT_ERRNO" && p.defaultErrnoRet == 1)
        for s in ["read", "write", "execve", "openat", "chroot", "clone3"] where s != "clone3" { #expect(allowed.contains(s), "\(s)") }
        for s in ["mount", "umount2", "ptrace", "unshare", "setns", "init_module", "kexec_load", "reboot", "sethostname", "bpf"] {
            #expect(!allowed.contains(s), "\(s) should be denied")
        }
        let clone = p.syscalls!.first { $0.names == ["clone"] }
        #expect(clone?.args?.first?.op == "SCMP_CMP_MASKED_EQ")
        #expect(p.syscalls!.contains { $0.names == ["clone3"] && $0.action == "SCMP_ACT_ERRNO" && $0.errnoRet == 38 })
    }

    @Test("CAP_SYS_ADMIN and CAP_SYS_PTRACE widen the allow list")
    func capabilityDependent() {
        let p = SeccompProfile.runtimeDefault(capabilities: DefaultProfile.capabilities + ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"])
        let allowed = Set(p.syscalls!.filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil }.flatMap(\.names))
        for s in ["mount", "unshare", "setns", "ptrace", "clone", "clone3"] { #expect(allowed.contains(s), "\(s)") }
        #expect(!p.syscalls!.contains { $0.names == ["clone3"] && $0.action == "SCMP_ACT_ERRNO" })
    }

    @Test("conditions on one argument index become separate rules (OR); distinct indices stay ANDed")
    func ruleExpansion() {
        let s = OCISpec.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
            .init(names: ["personality"], action: "SCMP_ACT_ERRNO", args: [.init(index: 0, value: 1, op: "SCMP_CMP_EQ"), .init(index: 0, value: 2, op: "SCMP_CMP_EQ")]),
            .init(names: ["socket"], action: "SCMP_ACT_ERRNO", errnoRet: 13, args: [.init(index: 0, value: 1, op: "SCMP_CMP_EQ"), .init(index: 1, value: 2, op: "SCMP_CMP_EQ")]),
        ])
        let rules = SeccompProfile.rules(s)
        #expect(rules.count == 3)
        #expect(rules[0].args.count == 1 && rules[1].args.count == 1)
        #expect(rules[2].args.count == 2)
        #expect(rules[2].action == 0x0005_0000 | 13)
        #expect(rules[0].action == 0x0005_0000 | 1)
    }

    @Test("the default profile compiles to BPF with libseccomp")
    func compile() throws {
        let bpf = try SeccompProfile.compile(SeccompProfile.runtimeDefault(capabilities: DefaultProfile.capabilities))
        #expect(bpf.count > 800 && bpf.count % 8 == 0)
    }

    @Test("validation names the field")
    func validation() {
        let s = OCISpec.Seccomp(defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_Z80"])
        #expect(throws: SpecError("linux.seccomp.architectures[0]", "unknown architecture \"SCMP_ARCH_Z80\"")) { try SeccompProfile.validate(s) }
        let t = OCISpec.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [.init(names: ["read"], action: "SCMP_ACT_ALLOW", args: [.init(index: 7, value: 0, op: "SCMP_CMP_EQ")])])
        #expect(throws: SpecError("linux.seccomp.syscalls[0].args[0].index", "must be 0..5")) { try SeccompProfile.validate(t) }
    }
}

@Suite("Spec JSON")
struct SpecJSONTests {
    @Test("the default spec round-trips through JSON")
    func roundTrip() throws {
        let spec = DefaultProfile.spec(args: ["sh", "-c", "echo \"quoted\"\n"])
        let text = spec.json.serialized(pretty: true)
        #expect(try SpecLoader.decode(Array(text.utf8)) == spec)
    }

    static let cases: [(String, String)] = [
        (#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":"sh","cwd":"/"}}"#, "process.args: expected an array, got a string"),
        (#"{"ociVersion":"1.0.2","process":{"user":{"gid":0},"args":["sh"],"cwd":"/"}}"#, "process.user.uid: Required value"),
        (#"{"ociVersion":"1.0.2","process":{"user":{"uid":-1,"gid":0},"args":["sh"],"cwd":"/"}}"#, "process.user.uid: -1 is not a valid non-negative integer of 32 bits"),
        (#"{"process":{}}"#, "ociVersion: Required value"),
        (#"{"ociVersion":"1.0.2","mounts":[{"destination":"/a"},{"type":"tmpfs"}]}"#, "mounts[1].destination: Required value"),
        ("{\"ociVersion\":\"1.0.2\",\n\"process\": ", "malformed JSON at line 2: unexpected end of input"),
        (#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":5}]}}"#, "linux.namespaces[0].type: expected a string, got a number"),
    ]

    @Test("decoding errors name the field", arguments: 0..<cases.count)
    func errors(_ i: Int) {
        let (json, message) = Self.cases[i]
        do {
            _ = try SpecLoader.decode(Array(json.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("runc's own spec shape decodes")
    func runcShape() throws {
        let text = """
        {"ociVersion":"1.0.2-dev","process":{"terminal":true,"user":{"uid":0,"gid":0},"args":["sh"],"env":["PATH=/bin"],"cwd":"/",
         "capabilities":{"bounding":["CAP_AUDIT_WRITE"],"effective":["CAP_AUDIT_WRITE"],"permitted":["CAP_AUDIT_WRITE"],"ambient":["CAP_AUDIT_WRITE"]},
         "rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},"root":{"path":"rootfs","readonly":true},
         "hostname":"runc","mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
         "linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}],
         "maskedPaths":["/proc/acpi"],"readonlyPaths":["/proc/bus"]}}
        """
        let s = try SpecLoader.decode(Array(text.utf8))
        #expect(s.process?.capabilities?.ambient == ["CAP_AUDIT_WRITE"])
        #expect(s.linux?.resources?.devices?.first?.allow == false)
        #expect(s.linux?.namespaces?.count == 5)
    }
}

@Suite("OCI runtime helpers")
struct RuntimeHelperTests {
    @Test("signal names and numbers")
    func signals() throws {
        #expect(try OCIRuntime.parseSignal("KILL") == 9)
        #expect(try OCIRuntime.parseSignal("SIGTERM") == 15)
        #expect(try OCIRuntime.parseSignal("sigusr1") == 10)
        #expect(try OCIRuntime.parseSignal("9") == 9)
        #expect(try OCIRuntime.parseSignal("RTMIN+2") == 36)
        #expect(throws: RuntimeError.self) { try OCIRuntime.parseSignal("NOPE") }
    }

    @Test("container ids", arguments: ["a", "web-1", "x.y_z+1"])
    func validIDs(_ id: String) throws { try OCIRuntime.validateID(id) }

    @Test("bad container ids", arguments: ["", "..", "a/b", "a b", "x\n"])
    func invalidIDs(_ id: String) { #expect(throws: RuntimeError.self) { try OCIRuntime.validateID(id) } }

    @Test("child errors render as stage, detail and errno")
    func childError() {
        let e = RuntimeError.child(stage: "pivot_root", errno: 22, detail: "/b/rootfs")
        #expect(e.description == "pivot_root /b/rootfs: Invalid argument (errno 22)")
        #expect(RuntimeError.child(stage: "exec", errno: 2, detail: "x").exitCode == 127)
    }
}

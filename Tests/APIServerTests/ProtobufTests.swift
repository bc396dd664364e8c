import Foundation
import LinuxSystem
import Testing
@testable import APIServer

/// Bodies captured from kubectl 1.32's `create` generators (kubectl -v=8 hexdumps of the same
/// requests): what a user's `kubectl create namespace|configmap|secret|service|deployment|job` sends.
enum Captured {
    static let namespace = "6b3873000a0f0a02763112094e616d657370616365121a0a120a02743112001a0022002a0032003800420012001a020a001a002200"
    static let configMap = "6b3873000a0f0a0276311209436f6e6669674d617012240a120a02633112001a0022002a0032003800420012060a016112016212060a01781201791a002200"
    static let binaryConfigMap = "6b3873000a0f0a0276311209436f6e6669674d617012200a120a02633212001a0022002a003200380042001a0a0a0362696e12030001ff1a002200"
    static let secret = "6b3873000a0c0a027631120653656372657412250a120a02733112001a0022002a00320038004200120d0a027077120768756e746572321a001a002200"
    static let service = "6b3873000a0d0a0276311207536572766963651288010a1f0a0377656212001a0022002a003200380042005a0a0a03617070120377656212610a1b0a0738302d38303830120354435018502207080010903f1a0028000a1d0a083434332d38343433120354435018bb032207080010fb411a002800120a0a0361707012037765621a002209436c757374657249503a00420052005a00600068001a020a001a002200"
    static let deployment = "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412be010a1f0a0377656212001a0022002a003200380042005a0a0a036170701203776562128c010803120c0a0a0a0361707012037765621a720a1c0a0012001a0022002a003200380042005a0a0a036170701203776562125212340a056e67696e78120a6e67696e783a312e32352a00320b0a00100018903f22002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200"
    static let job = "6b3873000a0f0a0862617463682f763112034a6f621284010a120a026a3112001a0022002a00320038004200126432620a100a0012001a0022002a00320038004200124e122b0a026a31120762757379626f781a046563686f1a0268692a0042006a007200800100880100900100a201001a054e65766572320042004a0052005800600068008201008a01009a0100c201001a082000280030003a001a002200"
    static let cronJob = "6b3873000a130a0862617463682f7631120743726f6e4a6f6212a8010a120a02636a12001a0022002a00320038004200128f010a0b2a2f35202a202a202a202a1a002a7e0a120a02636a12001a0022002a00320038004200126832660a100a0012001a0022002a003200380042001252122b0a02636a120762757379626f781a046563686f1a0268692a0042006a007200800100880100900100a201001a094f6e4661696c757265320042004a0052005800600068008201008a01009a0100c201001a001a002200"

    /// `kubectl autoscale deploy web --cpu-percent=50 --min=1 --max=3` (autoscaling/v1)
    static let autoscaler = "6b3873000a290a0e6175746f7363616c696e672f76311217486f72697a6f6e74616c506f644175746f7363616c6572123f0a130a0377656212001a0022002a0032003800420012220a1a0a0a4465706c6f796d656e7412037765621a07617070732f76311001180320321a04180020001a002200"

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }
}

func envelope(_ apiVersion: String, _ kind: String, _ raw: [UInt8]) -> [UInt8] {
    func field(_ n: UInt8, _ b: [UInt8]) -> [UInt8] { [n << 3 | 2, UInt8(b.count)] + b }
    let typeMeta = field(1, Array(apiVersion.utf8)) + field(2, Array(kind.utf8))
    return KubeProtobuf.magic + field(1, typeMeta) + field(2, raw)
}

@Suite struct ProtobufTests {
    @Test func kubectlGeneratorBodiesDecode() throws {
        let ns = try KubeProtobuf.decode(Captured.bytes(Captured.namespace))
        #expect(ns.serialized() == #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"t1"},"spec":{}}"#)
        let cm = try KubeProtobuf.decode(Captured.bytes(Captured.configMap))
        #expect(cm["data"] == .object([("a", .string("b")), ("x", .string("y"))]))
        let bin = try KubeProtobuf.decode(Captured.bytes(Captured.binaryConfigMap))
        #expect(bin["binaryData"]?["bin"] == .string("AAH/"))
        let sec = try KubeProtobuf.decode(Captured.bytes(Captured.secret))
        #expect(sec["data"]?["pw"] == .string("aHVudGVyMg=="))
        #expect(sec["type"] == nil)  // empty: the server defaults it to Opaque
        let svc = try KubeProtobuf.decode(Captured.bytes(Captured.service))
        #expect(svc["spec"]?["ports"]?.serialized() == #"[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080},{"name":"443-8443","protocol":"TCP","port":443,"targetPort":8443}]"#)
        #expect(svc["spec"]?["type"] == .string("ClusterIP"))
        let dep = try KubeProtobuf.decode(Captured.bytes(Captured.deployment))
        #expect(dep["spec"]?["replicas"] == .number("3"))
        #expect(dep["spec"]?["selector"]?.serialized() == #"{"matchLabels":{"app":"web"}}"#)
        #expect(dep["spec"]?["template"]?["spec"]?["containers"]?.serialized() == #"[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":8080}],"resources":{}}]"#)
        let job = try KubeProtobuf.decode(Captured.bytes(Captured.job))
        #expect(job["spec"]?["template"]?["spec"]?["restartPolicy"] == .string("Never"))
        #expect(job["spec"]?["template"]?["spec"]?["containers"]?.arrayValue?.first?["command"] == .array([.string("echo"), .string("hi")]))
        let cron = try KubeProtobuf.decode(Captured.bytes(Captured.cronJob))
        #expect(cron["spec"]?["schedule"] == .string("*/5 * * * *"))
        #expect(cron["spec"]?["jobTemplate"]?["spec"]?["template"]?["spec"]?["restartPolicy"] == .string("OnFailure"))
        let hpa = try KubeProtobuf.decode(Captured.bytes(Captured.autoscaler))
        #expect(hpa["apiVersion"] == .string("autoscaling/v1"))
        #expect(hpa["spec"]?.serialized() == #"{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":1,"maxReplicas":3,"targetCPUUtilizationPercentage":50}"#)
    }

    /// The other side: truncated, overlong, lying lengths, undescribed fields with values,
    /// unknown kinds: an error naming the problem, never a crash or a silently dropped field.
    @Test func hostileBodiesAreRefused() throws {
        let good = Captured.bytes(Captured.configMap)
        for cut in stride(from: 5, to: good.count - 1, by: 3) {
            // any prefix either decodes to a subset or is refused; it never traps
            _ = try? KubeProtobuf.decode(Array(good.prefix(cut)))
        }
        #expect(throws: KubeProtobuf.DecodeError.self) { try KubeProtobuf.decode([0x6b, 0x38, 0x73, 0x00, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]) }
        #expect(throws: KubeProtobuf.DecodeError.self) { try KubeProtobuf.decode([0x6b, 0x38, 0x73, 0x00] + [UInt8](repeating: 0xff, count: 12)) }
        #expect(throws: KubeProtobuf.DecodeError.self) { try KubeProtobuf.decode(Array("{\"kind\":\"ConfigMap\"}".utf8)) }
        // a ConfigMap whose field 9 holds a value: not described, so refused (never dropped)
        let meta: [UInt8] = [0x0a, 0x03, 0x0a, 0x01, 0x78]  // metadata { name: "x" }
        #expect(try KubeProtobuf.decode(envelope("v1", "ConfigMap", meta))["metadata"]?["name"] == .string("x"))
        #expect(throws: KubeProtobuf.DecodeError.self) { try KubeProtobuf.decode(envelope("v1", "ConfigMap", meta + [0x48, 0x01])) }
        // ... while the same field at its zero value is what Go writes for an unset field
        #expect(throws: Never.self) { try KubeProtobuf.decode(envelope("v1", "ConfigMap", meta + [0x48, 0x00])) }
        // a kind without a schema
        #expect(throws: KubeProtobuf.DecodeError.self) { try KubeProtobuf.decode(envelope("v1", "Pod", meta)) }
        // an invalid UTF-8 name
        #expect(throws: KubeProtobuf.DecodeError.self) { try KubeProtobuf.decode(envelope("v1", "ConfigMap", [0x0a, 0x03, 0x0a, 0x01, 0xff])) }
        #expect(throws: KubeProtobuf.DecodeError.self) {
            try KubeProtobuf.decode(Captured.bytes(Captured.namespace.replacingOccurrences(of: "4e616d657370616365", with: "4e616d6573706163ff")))
        }
    }
}

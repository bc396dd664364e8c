import FoundationEssentials
import Yams

public struct ConfigMap: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var data: [String: String]?
    /// base64
    public var binaryData: [String: String]?
    public var immutable: Bool?
    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.apiVersion = "v1"
        self.kind = "ConfigMap"
        self.metadata = metadata
        self.data = data
    }
}

public struct Secret: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    /// base64
    public var data: [String: String]?
    /// plain text, merged over `data` (as the API server does on write)
    public var stringData: [String: String]?
    public var type: String?
    public var immutable: Bool?
}

/// A ConfigMap or Secret a pod refers to (volumes, env): its keys and bytes.
public struct ConfigObject: Sendable, Equatable {
    public enum Kind: String, Sendable { case configMap = "ConfigMap", secret = "Secret" }
    public var kind: Kind
    public var namespace: String
    public var name: String
    public var values: [String: [UInt8]]
    public init(kind: Kind, namespace: String, name: String, values: [String: [UInt8]]) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.values = values
    }

    public var key: String { ConfigObject.key(kind, namespace, name) }
    public static func key(_ kind: Kind, _ namespace: String, _ name: String) -> String { "\(kind.rawValue)/\(namespace)/\(name)" }

    public init(_ c: ConfigMap) throws(ManifestError) {
        var v: [String: [UInt8]] = [:]
        for (k, s) in c.data ?? [:] { v[k] = Array(s.utf8) }
        for (k, b) in c.binaryData ?? [:] {
            guard let d = Data(base64Encoded: b) else { throw ManifestError(field: "binaryData[\(k)]", message: "Invalid value: not base64") }
            if v[k] != nil { throw ManifestError(field: "binaryData[\(k)]", message: "Invalid value: duplicate of data[\(k)]") }
            v[k] = Array(d)
        }
        try self.init(kind: .configMap, meta: c.metadata, values: v)
    }

    public init(_ s: Secret) throws(ManifestError) {
        var v: [String: [UInt8]] = [:]
        for (k, b) in s.data ?? [:] {
            guard let d = Data(base64Encoded: b) else { throw ManifestError(field: "data[\(k)]", message: "Invalid value: not base64") }
            v[k] = Array(d)
        }
        for (k, t) in s.stringData ?? [:] { v[k] = Array(t.utf8) }
        try self.init(kind: .secret, meta: s.metadata, values: v)
    }

    init(kind: Kind, meta: ObjectMeta, values: [String: [UInt8]]) throws(ManifestError) {
        guard let name = meta.name, !name.isEmpty else { throw ManifestError(field: "metadata.name", message: "Required value") }
        if !PodValidation.isDNS1123Subdomain(name) { throw ManifestError(field: "metadata.name", message: "Invalid value: \"\(name)\": \(PodValidation.subdomainMsg)") }
        for k in values.keys where !ConfigObject.isValidKey(k) {
            throw ManifestError(field: "data[\(k)]", message: "Invalid value: \"\(k)\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
        }
        self.init(kind: kind, namespace: meta.namespace ?? "default", name: name, values: values)
    }

    public static func isValidKey(_ k: String) -> Bool {
        !k.isEmpty && k.count <= 253 && k != "." && k != ".." && !k.hasPrefix("..")
            && k.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}

/// Multi-document manifests: `---`-separated YAML documents (or one JSON object), each a Pod,
/// ConfigMap or Secret.
public enum ObjectManifest {
    public enum Document: Sendable {
        case pod(Pod)
        case object(ConfigObject)
    }

    struct TypeMeta: Decodable {
        var apiVersion: String?
        var kind: String?
    }

    /// The documents of a YAML stream (empty ones dropped).
    public static func split(_ text: String) -> [String] {
        var docs: [String] = []
        var cur: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "---" || line.hasPrefix("--- ") || line == "---\r" {
                docs.append(cur.joined(separator: "\n") + "\n")
                cur = []
            } else {
                cur.append(line)
            }
        }
        docs.append(cur.joined(separator: "\n"))
        return docs.filter { d in d.split(separator: "\n").contains { l in !l.trimmingCharacters(in: .whitespaces).isEmpty && !l.hasPrefix("#") } }
    }

    /// The kind of one document (nil when unreadable).
    public static func kind(_ text: String) -> String? {
        let isJSON = text.first(where: { !$0.isWhitespace }) == "{"
        let meta = isJSON ? try? JSONDecoder().decode(TypeMeta.self, from: Data(text.utf8)) : try? YAMLDecoder().decode(TypeMeta.self, from: text)
        return meta?.kind
    }

    public static func decode(_ bytes: [UInt8]) throws(ManifestError) -> [Document] {
        guard bytes.count <= PodManifest.maxBytes else {
            throw ManifestError(field: "", message: "manifest is \(bytes.count) bytes; the limit is \(PodManifest.maxBytes)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ManifestError(field: "", message: "manifest is not UTF-8 text") }
        var out: [Document] = []
        for doc in split(text) {
            switch kind(doc) {
            case "ConfigMap", "Secret":
                out.append(.object(try decodeObject(doc)))
            default:
                out.append(.pod(try PodManifest.decode(Array(doc.utf8))))
            }
        }
        return out
    }

    public static func decodeObject(_ text: String) throws(ManifestError) -> ConfigObject {
        let isJSON = text.first(where: { !$0.isWhitespace }) == "{"
        do {
            if kind(text) == "Secret" {
                let s: Secret = try isJSON ? JSONDecoder().decode(Secret.self, from: Data(text.utf8)) : YAMLDecoder().decode(Secret.self, from: text)
                return try ConfigObject(s)
            }
            let c: ConfigMap = try isJSON ? JSONDecoder().decode(ConfigMap.self, from: Data(text.utf8)) : YAMLDecoder().decode(ConfigMap.self, from: text)
            return try ConfigObject(c)
        } catch let e as ManifestError {
            throw e
        } catch let e as DecodingError {
            throw PodManifest.describe(e)
        } catch {
            throw ManifestError(field: "", message: "invalid \(isJSON ? "JSON" : "YAML"): \(error)".replacing("\n", with: " "))
        }
    }
}

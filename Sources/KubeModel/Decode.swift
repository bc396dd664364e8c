import FoundationEssentials
import Yams

/// A manifest that could not be read as a Pod: the field path (Kubernetes style,
/// `spec.containers[1].image`) and what is wrong.
public struct ManifestError: Error, Sendable, CustomStringConvertible, Equatable {
    public let field: String
    public let message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

public enum PodManifest {
    /// Largest manifest accepted (the kubelet has no hard limit; one pod spec is a few KiB).
    public static let maxBytes = 1 << 20

    struct TypeMeta: Decodable {
        var apiVersion: String?
        var kind: String?
    }

    /// Decodes one Pod from YAML or JSON text.
    public static func decode(_ bytes: [UInt8]) throws(ManifestError) -> Pod {
        guard bytes.count <= maxBytes else {
            throw ManifestError(field: "", message: "manifest is \(bytes.count) bytes; the limit is \(maxBytes)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ManifestError(field: "", message: "manifest is not UTF-8 text")
        }
        let isJSON = text.first(where: { !$0.isWhitespace }) == "{"
        do {
            let meta: TypeMeta = try isJSON ? JSONDecoder().decode(TypeMeta.self, from: Data(bytes)) : YAMLDecoder().decode(TypeMeta.self, from: text)
            guard meta.kind == "Pod" else {
                throw ManifestError(field: "kind", message: meta.kind == nil ? "Required value" : "Unsupported value: \"\(meta.kind!)\": supported values: \"Pod\"")
            }
            guard meta.apiVersion == "v1" else {
                throw ManifestError(field: "apiVersion", message: meta.apiVersion == nil ? "Required value" : "Unsupported value: \"\(meta.apiVersion!)\": supported values: \"v1\"")
            }
            return try isJSON ? JSONDecoder().decode(Pod.self, from: Data(bytes)) : YAMLDecoder().decode(Pod.self, from: text)
        } catch let e as ManifestError {
            throw e
        } catch let e as DecodingError {
            if isJSON, case .dataCorrupted(let ctx) = e, ctx.codingPath.isEmpty {
                throw ManifestError(field: "", message: "invalid JSON: \(ctx.underlyingError.map { "\($0)" } ?? ctx.debugDescription)")
            }
            throw describe(e)
        } catch let e as YamlError {
            throw ManifestError(field: "", message: "invalid YAML: \(e)".replacing("\n", with: " "))
        } catch {
            throw ManifestError(field: "", message: "invalid \(isJSON ? "JSON" : "YAML"): \(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue, k.stringValue.hasPrefix("Index") || k.stringValue == String(i) { out += "[\(i)]" }
            else { out += (out.isEmpty ? "" : ".") + k.stringValue }
        }
        return out
    }

    static func describe(_ e: DecodingError) -> ManifestError {
        switch e {
        case .keyNotFound(let key, let ctx):
            return ManifestError(field: path(ctx.codingPath + [key]), message: "Required value")
        case .valueNotFound(_, let ctx):
            return ManifestError(field: path(ctx.codingPath), message: "Required value")
        case .typeMismatch(let type, let ctx):
            return ManifestError(field: path(ctx.codingPath), message: "Invalid value: expected \(typeName(type))")
        case .dataCorrupted(let ctx):
            if let y = ctx.underlyingError as? YamlError {
                return ManifestError(field: "", message: "invalid YAML: \(y)".replacing("\n", with: " "))
            }
            return ManifestError(field: path(ctx.codingPath), message: "Invalid value: \(ctx.debugDescription)")
        @unknown default:
            return ManifestError(field: "", message: "\(e)")
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is String.Type: return "string"
        case is Bool.Type: return "boolean"
        case is Int32.Type, is Int64.Type, is Int.Type: return "integer"
        case is Array<Any>.Type: return "list"
        default:
            let n = String(describing: t)
            if n.hasPrefix("Array") { return "list" }
            if n.hasPrefix("Dictionary") { return "map" }
            return "object"
        }
    }

    public static func encodeJSON(_ pod: Pod, pretty: Bool = true) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        guard let data = try? enc.encode(pod) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

import FoundationEssentials
import LinuxSystem

public enum SpecLoader {
    /// Renders a coding path as `process.args[0]`.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out
    }

    /// Decodes config.json bytes; errors name the JSON field.
    public static func decode(_ bytes: [UInt8]) throws(SpecError) -> OCISpec {
        do {
            return try JSONDecoder().decode(OCISpec.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw SpecError(fieldPath(ctx.codingPath + [key]), "Required value")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw SpecError(fieldPath(ctx.codingPath), "expected \(typeName(type))")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw SpecError(fieldPath(ctx.codingPath), "expected \(typeName(type)), got null")
        } catch let DecodingError.dataCorrupted(ctx) {
            let path = fieldPath(ctx.codingPath)
            let underlying = ctx.underlyingError.map { " (\($0))" } ?? ""
            throw SpecError(path, path.isEmpty ? "malformed JSON: \(ctx.debugDescription)\(underlying)" : "invalid value: \(ctx.debugDescription)")
        } catch {
            throw SpecError("", "malformed JSON: \(error)")
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        let n = String(describing: t)
        switch n {
        case "String": return "a string"
        case "Bool": return "a boolean"
        case "Int", "Int64", "UInt32", "UInt64", "Int32": return "a number"
        default:
            if n.hasPrefix("Array") { return "an array" }
            if n.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }

    public static func load(bundle: String) throws -> OCISpec {
        let path = bundle + "/config.json"
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { throw RuntimeError.invalid("cannot read \(path): \(error)") }
        do { return try decode(bytes) } catch { throw RuntimeError.spec(error) }
    }
}

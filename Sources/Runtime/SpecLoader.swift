import LinuxSystem

public enum SpecLoader {
    /// Parses config.json bytes; errors name the JSON field (`process.args[0]: expected a string`).
    public static func decode(_ bytes: [UInt8]) throws(SpecError) -> OCISpec {
        let json: JSON
        do { json = try JSON.parse(bytes) } catch { throw SpecError("", error.description) }
        do { return try OCISpec(json: JSONReader(json)) } catch { throw SpecError(error.field, error.message) }
    }

    public static func load(bundle: String) throws -> OCISpec {
        let path = bundle + "/config.json"
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { throw RuntimeError.invalid("cannot read \(path): \(error)") }
        do { return try decode(bytes) } catch { throw RuntimeError.spec(error) }
    }
}

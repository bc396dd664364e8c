/// A small JSON value with a strict parser and a writer. The container hot path uses it instead
/// of Codable + JSONDecoder, whose generic-metadata instantiation and protocol-conformance scans
/// cost ~1 ms per short CLI run in a large static binary (measured with callgrind).
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)   // kept as text: exact integers of any width
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members.last(where: { $0.0 == key })?.1 }
        return nil
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let offset: Int
        public let line: Int
        public let message: String
        public var description: String { "malformed JSON at line \(line): \(message)" }
    }

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSON {
        var p = Parser(bytes: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i != bytes.count { throw p.error("unexpected data after the top-level value") }
        return v
    }

    public static func parse(_ string: String) throws(ParseError) -> JSON { try parse(Array(string.utf8)) }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        func error(_ m: String) -> ParseError {
            let line = bytes[..<min(i, bytes.count)].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
            return ParseError(offset: i, line: line, message: m)
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1 }
        }

        mutating func expect(_ literal: String, _ v: JSON) throws(ParseError) -> JSON {
            for c in literal.utf8 {
                guard i < bytes.count, bytes[i] == c else { throw error("invalid literal") }
                i += 1
            }
            return v
        }

        mutating func value(depth: Int) throws(ParseError) -> JSON {
            guard depth < 512 else { throw error("nesting too deep") }
            guard i < bytes.count else { throw error("unexpected end of input") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, JSON)] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    let k = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(k)\"") }
                    i += 1
                    skipSpace()
                    members.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end of input in an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw error("expected ',' or '}' in an object")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSON] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw error("unexpected end of input in an array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw error("expected ',' or ']' in an array")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            default: return try number()
            }
        }

        mutating func number() throws(ParseError) -> JSON {
            let start = i
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            var digits = 0
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1; digits += 1 }
            guard digits > 0 else { i = start; throw error("unexpected character") }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                var frac = 0
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1; frac += 1 }
                guard frac > 0 else { throw error("invalid number") }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                var exp = 0
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1; exp += 1 }
                guard exp > 0 else { throw error("invalid number") }
            }
            return .number(String(decoding: bytes[start..<i], as: UTF8.self))
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 65...70: d = UInt32(c - 55)
                case 97...102: d = UInt32(c - 87)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func string() throws(ParseError) -> String {
            i += 1 // opening quote
            var out: [UInt8] = []
            let start = i
            // fast path: no escapes
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") {
                guard bytes[i] >= 0x20 else { throw error("control character in a string") }
                i += 1
            }
            guard i < bytes.count else { throw error("unterminated string") }
            if bytes[i] == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: bytes[start..<(i - 1)], as: UTF8.self)
            }
            out.append(contentsOf: bytes[start..<i])
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
                if c < 0x20 { throw error("control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < bytes.count else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid unicode escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw error("invalid escape")
                }
            }
            throw error("unterminated string")
        }
    }

    // MARK: writing

    /// `htmlSafe`: `<`, `>`, `&`, U+2028 and U+2029 as \u escapes, as Go's encoding/json writes
    /// them (what a Kubernetes API server puts on the wire).
    public func serialized(pretty: Bool = false, htmlSafe: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0, htmlSafe: htmlSafe)
        return out
    }

    static func escape(_ s: String, into out: inout String, htmlSafe: Bool = false) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<" where htmlSafe: out += "\\u003c"
            case ">" where htmlSafe: out += "\\u003e"
            case "&" where htmlSafe: out += "\\u0026"
            case "\u{2028}" where htmlSafe: out += "\\u2028"
            case "\u{2029}" where htmlSafe: out += "\\u2029"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    func write(into out: inout String, pretty: Bool, indent: Int, htmlSafe: Bool = false) {
        let nl = pretty ? "\n" : ""
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : ""
        let endPad = pretty ? String(repeating: "  ", count: indent) : ""
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSON.escape(s, into: &out, htmlSafe: htmlSafe)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + nl
            for (k, v) in items.enumerated() {
                out += pad
                v.write(into: &out, pretty: pretty, indent: indent + 1, htmlSafe: htmlSafe)
                out += (k + 1 < items.count ? "," : "") + nl
            }
            out += endPad + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{" + nl
            for (k, m) in members.enumerated() {
                out += pad
                JSON.escape(m.0, into: &out, htmlSafe: htmlSafe)
                out += pretty ? ": " : ":"
                m.1.write(into: &out, pretty: pretty, indent: indent + 1, htmlSafe: htmlSafe)
                out += (k + 1 < members.count ? "," : "") + nl
            }
            out += endPad + "}"
        }
    }
}

/// Typed access to a JSON object with errors that name the field path (`process.args[0]`).
public struct JSONReader: Sendable {
    public let value: JSON
    public let path: String

    public init(_ value: JSON, path: String = "") {
        self.value = value
        self.path = path
    }

    public struct FieldError: Error, Sendable, CustomStringConvertible {
        public let field: String
        public let message: String
        public var description: String { field.isEmpty ? message : "\(field): \(message)" }
    }

    func child(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    public func fail(_ message: String) -> FieldError { FieldError(field: path, message: message) }

    /// The member, or nil when absent or null.
    public func optional(_ key: String) throws(FieldError) -> JSONReader? {
        guard case .object = value else { throw fail("expected an object, got \(value.typeName)") }
        guard let v = value[key], v != .null else { return nil }
        return JSONReader(v, path: child(key))
    }

    public func required(_ key: String) throws(FieldError) -> JSONReader {
        guard let r = try optional(key) else { throw FieldError(field: child(key), message: "Required value") }
        return r
    }

    public func string() throws(FieldError) -> String {
        guard case .string(let s) = value else { throw fail("expected a string, got \(value.typeName)") }
        return s
    }

    public func bool() throws(FieldError) -> Bool {
        guard case .bool(let b) = value else { throw fail("expected a boolean, got \(value.typeName)") }
        return b
    }

    public func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws(FieldError) -> T {
        guard case .number(let n) = value else { throw fail("expected a number, got \(value.typeName)") }
        if let v = T(n) { return v }
        if let d = Double(n), d == d.rounded(), let v = T(exactly: d) { return v }
        throw fail("\(n) is not a valid \(T.isSigned ? "" : "non-negative ")integer of \(T.bitWidth) bits")
    }

    public func array() throws(FieldError) -> [JSONReader] {
        guard case .array(let items) = value else { throw fail("expected an array, got \(value.typeName)") }
        return items.enumerated().map { JSONReader($1, path: "\(path)[\($0)]") }
    }

    public func members() throws(FieldError) -> [(String, JSONReader)] {
        guard case .object(let m) = value else { throw fail("expected an object, got \(value.typeName)") }
        return m.map { ($0.0, JSONReader($0.1, path: child($0.0))) }
    }

    public func strings() throws(FieldError) -> [String] {
        var out: [String] = []
        for r in try array() { out.append(try r.string()) }
        return out
    }

    public func stringMap() throws(FieldError) -> [String: String] {
        var out: [String: String] = [:]
        for (k, r) in try members() { out[k] = try r.string() }
        return out
    }

    // conveniences for optional members
    public func string(_ key: String) throws(FieldError) -> String? { try optional(key)?.string() }
    public func bool(_ key: String) throws(FieldError) -> Bool? { try optional(key)?.bool() }
    public func integer<T: FixedWidthInteger>(_ key: String, _: T.Type = T.self) throws(FieldError) -> T? { try optional(key)?.integer(T.self) }
    public func strings(_ key: String) throws(FieldError) -> [String]? { try optional(key)?.strings() }
    public func stringMap(_ key: String) throws(FieldError) -> [String: String]? { try optional(key)?.stringMap() }
}

/// Builds JSON objects in a fixed member order.
public struct JSONObject {
    public var members: [(String, JSON)] = []
    public init() {}
    public mutating func set(_ key: String, _ v: JSON?) { if let v { members.append((key, v)) } }
    public mutating func set(_ key: String, _ s: String?) { if let s { members.append((key, .string(s))) } }
    public mutating func set<T: FixedWidthInteger>(_ key: String, _ n: T?) { if let n { members.append((key, .number(String(n)))) } }
    public mutating func set(_ key: String, _ b: Bool?) { if let b { members.append((key, .bool(b))) } }
    public mutating func set(_ key: String, _ a: [String]?) { if let a { members.append((key, .array(a.map { .string($0) }))) } }
    public mutating func set(_ key: String, _ m: [String: String]?) {
        if let m { members.append((key, .object(m.sorted(by: { $0.key < $1.key }).map { ($0.key, .string($0.value)) }))) }
    }
    public var json: JSON { .object(members) }
}

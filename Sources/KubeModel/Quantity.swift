/// A Kubernetes resource quantity (`100m`, `1.5Gi`, `2e3`, `128974848`) with exact arithmetic:
/// the value is `significand × 10^exponent` with a 128-bit significand, so binary suffixes
/// (powers of 1024) and decimal fractions are both represented without rounding.
public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public enum Format: Sendable { case decimalSI, binarySI, decimalExponent }

    public private(set) var significand: Int128
    public private(set) var exponent: Int
    public let format: Format

    public init(significand: Int128, exponent: Int, format: Format = .decimalSI) {
        self.significand = significand
        self.exponent = exponent
        self.format = format
        normalize()
    }

    public init(_ integer: Int64, format: Format = .decimalSI) {
        self.init(significand: Int128(integer), exponent: 0, format: format)
    }

    public static func milli(_ m: Int64) -> Quantity { Quantity(significand: Int128(m), exponent: -3) }

    /// Strips trailing decimal zeros (keeps equality/hash canonical).
    mutating func normalize() {
        if significand == 0 { exponent = 0; return }
        while significand % 10 == 0 { significand /= 10; exponent += 1 }
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
        public let input: String
        public let reason: String
        public var description: String { "quantity \"\(input)\": \(reason)" }
    }

    static let decimalSuffixes: [(String, Int)] = [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9),
                                                   ("T", 12), ("P", 15), ("E", 18)]
    static let binarySuffixes: [(String, Int)] = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)]

    public init(parsing s: String) throws(ParseError) {
        func bad(_ r: String) -> ParseError { ParseError(input: s, reason: r) }
        let u = Array(s.utf8)
        guard !u.isEmpty else { throw bad("empty") }
        guard u.count <= 64 else { throw bad("too long") }
        var i = 0
        var negative = false
        if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") { negative = u[i] == UInt8(ascii: "-"); i += 1 }
        var digits: Int128 = 0
        var scale = 0
        var sawDigit = false
        var sawDot = false
        while i < u.count {
            let c = u[i]
            if c >= 0x30 && c <= 0x39 {
                sawDigit = true
                let (m, o1) = digits.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int128(c - 0x30))
                guard !o1 && !o2 else { throw bad("too many digits") }
                digits = a
                if sawDot { scale -= 1 }
            } else if c == UInt8(ascii: ".") && !sawDot {
                sawDot = true
            } else { break }
            i += 1
        }
        guard sawDigit else { throw bad("must start with a number (quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$')") }
        let suffix = String(decoding: u[i...], as: UTF8.self)
        var exp = scale
        var format = Format.decimalSI
        var binaryPower = 0
        if let d = Quantity.decimalSuffixes.first(where: { $0.0 == suffix }) {
            exp += d.1
        } else if let b = Quantity.binarySuffixes.first(where: { $0.0 == suffix }) {
            binaryPower = b.1
            format = .binarySI
        } else if let first = suffix.first, first == "e" || first == "E", let n = Int(suffix.dropFirst()), abs(n) <= 40 {
            exp += n
            format = .decimalExponent
        } else {
            throw bad("unknown suffix \"\(suffix)\" (allowed: n u m k M G T P E Ki Mi Gi Ti Pi Ei, or an exponent e<n>)")
        }
        var sig = negative ? -digits : digits
        if binaryPower > 0 {
            let (m, o) = sig.multipliedReportingOverflow(by: Int128(1) << binaryPower)
            guard !o else { throw bad("too large") }
            sig = m
        }
        self.init(significand: sig, exponent: exp, format: format)
    }

    // MARK: arithmetic

    /// Both significands at the smaller exponent; nil on overflow.
    static func aligned(_ a: Quantity, _ b: Quantity) -> (Int128, Int128, Int)? {
        let e = min(a.exponent, b.exponent)
        func scaled(_ q: Quantity) -> Int128? {
            var s = q.significand
            for _ in 0..<(q.exponent - e) {
                let (m, o) = s.multipliedReportingOverflow(by: 10)
                if o { return nil }
                s = m
            }
            return s
        }
        guard let x = scaled(a), let y = scaled(b) else { return nil }
        return (x, y, e)
    }

    public static func + (a: Quantity, b: Quantity) -> Quantity {
        guard let (x, y, e) = aligned(a, b) else { return a > b ? a : b }
        return Quantity(significand: x + y, exponent: e, format: a.significand == 0 ? b.format : a.format)
    }

    public static func - (a: Quantity, b: Quantity) -> Quantity {
        guard let (x, y, e) = aligned(a, b) else { return a }
        return Quantity(significand: x - y, exponent: e, format: a.format)
    }

    public static func * (a: Quantity, n: Int64) -> Quantity {
        Quantity(significand: a.significand * Int128(n), exponent: a.exponent, format: a.format)
    }

    public static func < (a: Quantity, b: Quantity) -> Bool {
        guard let (x, y, _) = aligned(a, b) else { return a.exponent < b.exponent ? (b.significand > 0) : (a.significand < 0) }
        return x < y
    }

    public static func == (a: Quantity, b: Quantity) -> Bool { a.significand == b.significand && a.exponent == b.exponent }
    public func hash(into h: inout Hasher) { h.combine(significand); h.combine(exponent) }

    public static let zero = Quantity(0)
    public var isZero: Bool { significand == 0 }

    /// The value scaled by 10^scale, rounded up (Kubernetes ScaledValue).
    public func scaledValue(_ scale: Int) -> Int64 {
        let shift = exponent - scale
        var s = significand
        if shift >= 0 {
            for _ in 0..<shift {
                let (m, o) = s.multipliedReportingOverflow(by: 10)
                if o { return s > 0 ? Int64.max : Int64.min }
                s = m
            }
        } else {
            var divisor: Int128 = 1
            for _ in 0..<(-shift) {
                let (m, o) = divisor.multipliedReportingOverflow(by: 10)
                if o { return s > 0 ? 1 : 0 }
                divisor = m
            }
            let (q, r) = s.quotientAndRemainder(dividingBy: divisor)
            s = r > 0 ? q + 1 : q
        }
        return s > Int128(Int64.max) ? Int64.max : s < Int128(Int64.min) ? Int64.min : Int64(s)
    }

    /// Whole units, rounded up (Kubernetes Value()).
    public var value: Int64 { scaledValue(0) }
    /// Thousandths, rounded up (Kubernetes MilliValue()).
    public var milliValue: Int64 { scaledValue(-3) }

    /// `ceil(self / divisor)` — resourceFieldRef with a divisor.
    public func divided(by divisor: Quantity) -> Int64? {
        guard !divisor.isZero, let (x, y, _) = Quantity.aligned(self, divisor) else { return nil }
        let (q, r) = x.quotientAndRemainder(dividingBy: y)
        let v = (r != 0 && (r > 0) == (y > 0)) ? q + 1 : q
        return v > Int128(Int64.max) ? Int64.max : Int64(v)
    }

    // MARK: text

    /// Canonical form: binary quantities that are whole multiples of 1024^k keep Ki…Ei; decimal
    /// ones use the largest SI suffix that leaves an integer, down to n.
    public var description: String {
        if significand == 0 { return "0" }
        if format == .binarySI && exponent >= 0 {
            var v = significand
            for _ in 0..<exponent { v *= 10 }
            var idx = -1
            while idx < Quantity.binarySuffixes.count - 1 && v % 1024 == 0 && v != 0 {
                v /= 1024
                idx += 1
            }
            if idx >= 0 { return "\(v)\(Quantity.binarySuffixes[idx].0)" }
            return "\(v)"
        }
        // decimal: pick exponent multiple of 3 ≤ exponent
        var e = exponent
        var s = significand
        var k = e >= 0 ? (e / 3) * 3 : -(((-e) + 2) / 3) * 3
        if k > 18 { k = 18 }
        if k < -9 { return "\(s)e\(e)" }
        while e > k { s *= 10; e -= 1 }
        let suffix = Quantity.decimalSuffixes.first { $0.1 == k }!.0
        return "\(s)\(suffix)"
    }

    // MARK: Codable — strings or plain YAML/JSON numbers

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        var text: String
        if let s = try? c.decode(String.self) { text = s }
        else if let i = try? c.decode(Int64.self) { text = String(i) }
        else if let d = try? c.decode(Double.self) { text = String(d).replacing("e+", with: "e") }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "a quantity must be a string or a number") }
        text = text.trimmingWhitespace
        do { self = try Quantity(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

/// Label selectors as the API server and kubectl take them (`-l`, `?labelSelector=`, and
/// `metav1.LabelSelector` with matchLabels and matchExpressions): pure values, parsed once and
/// matched against an object's labels.
public struct LabelSelector: Sendable, Equatable, CustomStringConvertible {
    public enum Operator: String, Sendable, Equatable {
        case equals = "="
        case doubleEquals = "=="
        case notEquals = "!="
        case `in` = "in"
        case notIn = "notin"
        case exists = "exists"
        case doesNotExist = "!"
        case greaterThan = "gt"
        case lessThan = "lt"
    }

    public struct Requirement: Sendable, Equatable, CustomStringConvertible {
        public var key: String
        public var op: Operator
        /// Sorted and unique, as the API server normalizes them.
        public var values: [String]

        public init(key: String, op: Operator, values: [String] = []) throws(SelectorError) {
            try LabelSelector.validateKey(key)
            switch op {
            case .in, .notIn:
                guard !values.isEmpty else { throw SelectorError("for 'in', 'notin' operators, values set can't be empty") }
            case .equals, .doubleEquals, .notEquals:
                guard values.count == 1 else { throw SelectorError("exact-match compatibility requires one single value") }
            case .exists, .doesNotExist:
                guard values.isEmpty else { throw SelectorError("values set must be empty for exists and does not exist") }
            case .greaterThan, .lessThan:
                guard values.count == 1, Int64(values[0]) != nil else {
                    throw SelectorError("for 'Gt', 'Lt' operators, exactly one value is required, and it must be an integer")
                }
            }
            if op != .greaterThan && op != .lessThan {
                for v in values { try LabelSelector.validateValue(v) }
            }
            self.key = key
            self.op = op
            self.values = Array(Set(values)).sorted()
        }

        public func matches(_ labels: [String: String]) -> Bool {
            let v = labels[key]
            switch op {
            case .equals, .doubleEquals, .in: return v.map { values.contains($0) } ?? false
            case .notEquals, .notIn: return v.map { !values.contains($0) } ?? true
            case .exists: return v != nil
            case .doesNotExist: return v == nil
            case .greaterThan, .lessThan:
                guard let s = v, let have = Int64(s), let want = Int64(values[0]) else { return false }
                return op == .greaterThan ? have > want : have < want
            }
        }

        public var description: String {
            switch op {
            case .exists: return key
            case .doesNotExist: return "!" + key
            case .equals, .doubleEquals, .notEquals: return key + op.rawValue + values[0]
            case .in, .notIn: return "\(key) \(op.rawValue) (\(values.joined(separator: ",")))"
            case .greaterThan: return key + ">" + values[0]
            case .lessThan: return key + "<" + values[0]
            }
        }
    }

    public var requirements: [Requirement]

    public init(_ requirements: [Requirement] = []) { self.requirements = requirements }

    /// Everything matches the empty selector.
    public var isEmpty: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool { requirements.allSatisfy { $0.matches(labels) } }

    /// Requirements sorted by key, as the API server prints them.
    public var description: String {
        requirements.sorted { $0.key < $1.key }.map(\.description).joined(separator: ",")
    }

    // MARK: the string form

    /// `app=web,tier!=db,env in (prod,stage),!legacy,release` and `n>3` (labels.Parse).
    public static func parse(_ text: String) throws(SelectorError) -> LabelSelector {
        var lexer = Lexer(Array(text.unicodeScalars))
        var reqs: [Requirement] = []
        if lexer.atEnd { return LabelSelector() }
        while true {
            reqs.append(try parseRequirement(&lexer, text: text))
            lexer.skipSpace()
            if lexer.atEnd { break }
            guard lexer.peek == "," else { throw SelectorError("found '\(lexer.rest)', expected: ',' or 'end of string'") }
            lexer.advance()
            lexer.skipSpace()
            if lexer.atEnd { throw SelectorError("found '', expected: identifier after ','") }
        }
        return LabelSelector(reqs)
    }

    static func parseRequirement(_ l: inout Lexer, text: String) throws(SelectorError) -> Requirement {
        l.skipSpace()
        if l.peek == "!" {
            l.advance()
            l.skipSpace()
            let key = l.identifier()
            guard !key.isEmpty else { throw SelectorError("found '\(l.rest)', expected: identifier") }
            return try Requirement(key: key, op: .doesNotExist)
        }
        let key = l.identifier()
        guard !key.isEmpty else { throw SelectorError("found '\(l.rest)', expected: identifier") }
        l.skipSpace()
        if l.atEnd || l.peek == "," { return try Requirement(key: key, op: .exists) }
        // operators
        if l.consume("==") { return try Requirement(key: key, op: .doubleEquals, values: [l.value()]) }
        if l.consume("!=") { return try Requirement(key: key, op: .notEquals, values: [l.value()]) }
        if l.consume("=") { return try Requirement(key: key, op: .equals, values: [l.value()]) }
        if l.consume(">") { return try Requirement(key: key, op: .greaterThan, values: [l.value()]) }
        if l.consume("<") { return try Requirement(key: key, op: .lessThan, values: [l.value()]) }
        let word = l.identifier()
        guard word == "in" || word == "notin" else {
            throw SelectorError("found '\(word.isEmpty ? l.rest : word)', expected: in, notin, =, ==, !=, gt, lt")
        }
        l.skipSpace()
        guard l.consume("(") else { throw SelectorError("found '\(l.rest)', expected: '('") }
        var values: [String] = []
        l.skipSpace()
        if l.consume(")") { return try Requirement(key: key, op: word == "in" ? .in : .notIn, values: []) }
        while true {
            l.skipSpace()
            values.append(l.identifier())
            l.skipSpace()
            if l.consume(")") { break }
            guard l.consume(",") else { throw SelectorError("found '\(l.rest)', expected: ',' or ')'") }
        }
        return try Requirement(key: key, op: word == "in" ? .in : .notIn, values: values)
    }

    struct Lexer {
        let s: [Unicode.Scalar]
        var i = 0
        init(_ s: [Unicode.Scalar]) { self.s = s }
        var atEnd: Bool { i >= s.count }
        var peek: Unicode.Scalar? { atEnd ? nil : s[i] }
        var rest: String { String(String.UnicodeScalarView(s[min(i, s.count)...])) }
        mutating func advance() { i += 1 }
        mutating func skipSpace() { while let c = peek, c == " " || c == "\t" { i += 1 } }
        mutating func consume(_ t: String) -> Bool {
            let u = Array(t.unicodeScalars)
            guard i + u.count <= s.count, Array(s[i..<i + u.count]) == u else { return false }
            i += u.count
            return true
        }
        /// Anything up to a space, comma, operator or parenthesis.
        mutating func identifier() -> String {
            let start = i
            while let c = peek, !" \t,=!<>()".unicodeScalars.contains(c) { i += 1 }
            return String(String.UnicodeScalarView(s[start..<i]))
        }
        mutating func value() -> String {
            skipSpace()
            return identifier()
        }
    }

    // MARK: metav1.LabelSelector

    /// `{matchLabels: {...}, matchExpressions: [{key, operator: In|NotIn|Exists|DoesNotExist, values}]}`.
    /// A nil selector matches nothing; an empty one everything (metav1.LabelSelectorAsSelector).
    public static func from(matchLabels: [String: String], matchExpressions: [(key: String, op: String, values: [String])]) throws(SelectorError) -> LabelSelector {
        var reqs: [Requirement] = []
        for (k, v) in matchLabels.sorted(by: { $0.key < $1.key }) { reqs.append(try Requirement(key: k, op: .equals, values: [v])) }
        for e in matchExpressions {
            let op: Operator
            switch e.op {
            case "In": op = .in
            case "NotIn": op = .notIn
            case "Exists": op = .exists
            case "DoesNotExist": op = .doesNotExist
            default: throw SelectorError("\"\(e.op)\" is not a valid label selector operator")
            }
            reqs.append(try Requirement(key: e.key, op: op, values: e.values))
        }
        return LabelSelector(reqs)
    }

    // MARK: validation (the API server's qualified names and label values)

    static func validateKey(_ key: String) throws(SelectorError) {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let name: Substring
        if parts.count == 2 {
            let prefix = parts[0]
            guard !prefix.isEmpty, prefix.count <= 253, isDNSSubdomain(prefix) else {
                throw SelectorError("invalid label key \"\(key)\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
            }
            name = parts[1]
        } else {
            name = parts[0]
        }
        guard !name.isEmpty, name.count <= 63, isQualifiedNamePart(name) else {
            throw SelectorError("invalid label key \"\(key)\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') and must be no more than 63 characters")
        }
    }

    static func validateValue(_ v: String) throws(SelectorError) {
        guard v.isEmpty || (v.count <= 63 && isQualifiedNamePart(Substring(v))) else {
            throw SelectorError("invalid label value: \"\(v)\": at key: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?') and must be no more than 63 characters")
        }
    }

    static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    static func isQualifiedNamePart(_ s: Substring) -> Bool {
        guard let f = s.first, let l = s.last, isAlnum(f), isAlnum(l) else { return false }
        return s.allSatisfy { isAlnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    static func isDNSSubdomain(_ s: Substring) -> Bool {
        s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard let f = label.first, let l = label.last else { return false }
            let lowerAlnum: (Character) -> Bool = { $0.isASCII && ($0.isLowercase || $0.isNumber) }
            return lowerAlnum(f) && lowerAlnum(l) && label.allSatisfy { lowerAlnum($0) || $0 == "-" }
        }
    }
}

public struct SelectorError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "unable to parse requirement: \(message)" }
}

/// Field selectors (`?fieldSelector=spec.nodeName=node1,status.phase!=Failed`): equality only,
/// `\` escapes `,`, `=` and `\` in values.
public struct FieldSelector: Sendable, Equatable, CustomStringConvertible {
    public struct Requirement: Sendable, Equatable {
        public var field: String
        public var negated: Bool
        public var value: String
        public init(field: String, negated: Bool, value: String) {
            self.field = field
            self.negated = negated
            self.value = value
        }
    }
    public var requirements: [Requirement]

    public init(_ requirements: [Requirement] = []) { self.requirements = requirements }

    public static func parse(_ text: String) throws(SelectorError) -> FieldSelector {
        var reqs: [Requirement] = []
        guard !text.isEmpty else { return FieldSelector() }
        var terms: [String] = []
        var cur = ""
        var escaped = false
        for c in text {
            if escaped { cur.append("\\"); cur.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "," { terms.append(cur); cur = ""; continue }
            cur.append(c)
        }
        if escaped { throw SelectorError("invalid field selector \"\(text)\": a trailing backslash escapes nothing") }
        terms.append(cur)
        for t in terms {
            let (lhs, op, rhs) = try split(t, whole: text)
            reqs.append(Requirement(field: lhs, negated: op == "!=", value: try unescape(rhs, whole: text)))
        }
        return FieldSelector(reqs)
    }

    static func split(_ t: String, whole: String) throws(SelectorError) -> (String, String, String) {
        let chars = Array(t)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\" { i += 2; continue }
            for op in ["!=", "==", "="] {
                let o = Array(op)
                if i + o.count <= chars.count && Array(chars[i..<i + o.count]) == o {
                    let lhs = String(chars[..<i]), rhs = String(chars[(i + o.count)...])
                    guard !lhs.isEmpty else { throw SelectorError("invalid field selector \"\(whole)\": empty field name in \"\(t)\"") }
                    return (lhs, op, rhs)
                }
            }
            i += 1
        }
        throw SelectorError("invalid selector: '\(whole)'; can't understand '\(t)'")
    }

    static func unescape(_ v: String, whole: String) throws(SelectorError) -> String {
        var out = ""
        var escaped = false
        for c in v {
            if escaped {
                guard c == "\\" || c == "," || c == "=" else { throw SelectorError("invalid field selector \"\(whole)\": invalid escape sequence \\\(c)") }
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    public var isEmpty: Bool { requirements.isEmpty }

    /// `fields` are the selectable fields of the object (metadata.name, metadata.namespace,
    /// spec.nodeName, status.phase, ...); a field the object does not have matches "".
    public func matches(_ fields: [String: String]) -> Bool {
        requirements.allSatisfy { r in ((fields[r.field] ?? "") == r.value) != r.negated }
    }

    /// The fields this selector names that `allowed` does not offer (the API server refuses those).
    public func unsupported(allowed: Set<String>) -> [String] {
        requirements.map(\.field).filter { !allowed.contains($0) }
    }

    public var description: String {
        requirements.map { r in
            let v = r.value.replacingAll("\\", "\\\\").replacingAll(",", "\\,").replacingAll("=", "\\=")
            return r.field + (r.negated ? "!=" : "=") + v
        }.joined(separator: ",")
    }
}

extension String {
    func replacingAll(_ a: String, _ b: String) -> String {
        guard !a.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: a) {
            out += rest[..<r.lowerBound]
            out += b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle)
        guard !n.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            var j = i, k = 0
            while k < n.count && j < endIndex && self[j] == n[k] { j = index(after: j); k += 1 }
            if k == n.count { return i..<j }
            i = index(after: i)
        }
        return nil
    }
}

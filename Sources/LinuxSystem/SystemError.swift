#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: the operation, the object it was applied to, and errno.
/// Rendered as `mount /a -> /b: Invalid argument (errno 22)`.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    public let op: String
    public let code: Int32
    public let detail: String

    public init(op: String, code: Int32, detail: String = "") {
        self.op = op
        self.code = code
        self.detail = detail
    }

    public var description: String {
        let what = detail.isEmpty ? op : "\(op) \(detail)"
        return "\(what): \(SystemError.message(code)) (errno \(code))"
    }

    public static func message(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "unknown error" }
        return String(cString: s)
    }
}

/// Runs a syscall-style function (returns -1 and sets errno on failure), retrying EINTR.
@discardableResult
public func sys<T: FixedWidthInteger>(_ op: String, _ detail: @autoclosure () -> String = "",
                                      _ call: () -> T) throws(SystemError) -> T {
    while true {
        let r = call()
        guard r == -1 else { return r }
        let e = errno
        if e == EINTR { continue }
        throw SystemError(op: op, code: e, detail: detail())
    }
}

import CShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// SPDY/3.1 as kubectl's remote-command client (spdystream) speaks it: frames, header blocks and
/// the header compression dictionary. Pure values; the session is in KubeletServer.
public enum SPDY {
    public static let synStream: UInt16 = 1, synReply: UInt16 = 2, rstStream: UInt16 = 3, settings: UInt16 = 4, ping: UInt16 = 6,
                      goAway: UInt16 = 7, headers: UInt16 = 8, windowUpdate: UInt16 = 9
    public static let flagFin: UInt8 = 0x01
    /// The largest frame taken (kubectl sends data in 32 KiB pieces).
    public static let maxFrame = 1 << 20

    public enum Frame: Equatable, Sendable {
        case control(type: UInt16, flags: UInt8, payload: [UInt8])
        case data(stream: UInt32, flags: UInt8, payload: [UInt8])
    }

    public struct ProtocolError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// SPDY draft 3 §2.6.10.1's zlib dictionary: length-prefixed header names and values, then a
    /// run of common strings (1423 bytes).
    public static let dictionary: [UInt8] = {
        let words = ["options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language",
                     "accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base", "content-encoding",
                     "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
                     "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
                     "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate",
                     "proxy-authorization", "range", "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
                     "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1",
                     "url", "public", "set-cookie", "keep-alive", "origin"]
        let tail = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            + "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
            + "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            + "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            + "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
            + "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
        var out: [UInt8] = []
        for w in words { out += be32(UInt32(w.utf8.count)) + Array(w.utf8) }
        return out + Array(tail.utf8)
    }()

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func read32(_ b: ArraySlice<UInt8>) -> UInt32 {
        let i = b.startIndex
        return UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    public static func encode(_ f: Frame) -> [UInt8] {
        switch f {
        case .control(let type, let flags, let payload):
            return [0x80, 0x03, UInt8(type >> 8), UInt8(type & 0xff), flags] + be32(UInt32(payload.count)).suffix(3) + payload
        case .data(let stream, let flags, let payload):
            return be32(stream & 0x7fff_ffff) + [flags] + be32(UInt32(payload.count)).suffix(3) + payload
        }
    }

    /// Frames out of a byte stream, as they complete.
    public struct Parser: Sendable {
        var buffer: [UInt8] = []
        public init() {}

        public mutating func feed(_ bytes: some Sequence<UInt8>) { buffer += bytes }

        public mutating func next() throws(ProtocolError) -> Frame? {
            guard buffer.count >= 8 else { return nil }
            let length = Int(buffer[5]) << 16 | Int(buffer[6]) << 8 | Int(buffer[7])
            guard length <= SPDY.maxFrame else { throw ProtocolError(description: "a frame of \(length) bytes (at most \(SPDY.maxFrame))") }
            guard buffer.count >= 8 + length else { return nil }
            let head = buffer[0..<8]
            let payload = Array(buffer[8..<(8 + length)])
            buffer.removeFirst(8 + length)
            if head[0] & 0x80 != 0 {
                let version = UInt16(head[0] & 0x7f) << 8 | UInt16(head[1])
                guard version == 3 else { throw ProtocolError(description: "SPDY version \(version) (3 is spoken)") }
                return .control(type: UInt16(head[2]) << 8 | UInt16(head[3]), flags: head[4], payload: payload)
            }
            return .data(stream: SPDY.read32(head[0..<4]) & 0x7fff_ffff, flags: head[4], payload: payload)
        }
    }

    /// An uncompressed header block: count, then length-prefixed names and values.
    public static func headerBlock(_ headers: [(String, String)]) -> [UInt8] {
        var out = be32(UInt32(headers.count))
        for (k, v) in headers {
            out += be32(UInt32(k.utf8.count)) + Array(k.lowercased().utf8) + be32(UInt32(v.utf8.count)) + Array(v.utf8)
        }
        return out
    }

    public static func parseHeaderBlock(_ b: [UInt8]) throws(ProtocolError) -> [(String, String)] {
        var i = 0
        func u32() throws(ProtocolError) -> Int {
            guard i + 4 <= b.count else { throw ProtocolError(description: "a header block cut short") }
            defer { i += 4 }
            return Int(read32(b[i..<(i + 4)]))
        }
        func str() throws(ProtocolError) -> String {
            let n = try u32()
            guard n <= b.count - i else { throw ProtocolError(description: "a header block cut short") }
            defer { i += n }
            return String(decoding: b[i..<(i + n)], as: UTF8.self)
        }
        let count = try u32()
        guard count <= 1000 else { throw ProtocolError(description: "\(count) headers in a block") }
        var out: [(String, String)] = []
        for _ in 0..<count { out.append((try str(), try str())) }
        return out
    }
}

/// One direction's zlib stream over a whole connection, with the SPDY dictionary.
public final class ZStream {
    let z: UnsafeMutableRawPointer

    public init(deflating: Bool) throws(SPDY.ProtocolError) {
        guard let z = SPDY.dictionary.withUnsafeBufferPointer({ sl_zstream_new(deflating ? 1 : 0, $0.baseAddress, UInt32($0.count)) }) else {
            throw SPDY.ProtocolError(description: "zlib: cannot make a stream")
        }
        self.z = z
    }

    deinit { sl_zstream_free(z) }

    public func run(_ input: [UInt8]) throws(SPDY.ProtocolError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        let rc = input.withUnsafeBufferPointer { sl_zstream_run(z, $0.baseAddress, $0.count, &out, &len) }
        guard rc == 0, let out else { throw SPDY.ProtocolError(description: "zlib: error \(rc) in a header block") }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }
}

import Testing
@testable import LinuxSystem

@Suite("JSON")
struct JSONTests {
    @Test("parse and serialise scalars, nesting, escapes")
    func roundTrip() throws {
        let text = #"{"a":[1,-2.5e3,true,false,null],"b":{"c":"x\"y\\z\n\u00e9\ud83d\ude00"},"big":18446744073709551615}"#
        let v = try JSON.parse(text)
        #expect(v["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(v["b"]?["c"] == .string("x\"y\\z\né😀"))
        #expect(try JSONReader(v).required("big").integer(UInt64.self) == UInt64.max)
        #expect(try JSON.parse(v.serialized()) == v)
        #expect(try JSON.parse(v.serialized(pretty: true)) == v)
    }

    @Test("malformed input reports the line", arguments: [
        ("{\n\"a\": tru}", 2), ("[1,2", 1), ("{\"a\" 1}", 1), ("\"\u{01}\"", 1), ("01x", 1), ("{}  x", 1), ("\n\n[\"\\q\"]", 3),
    ])
    func malformed(_ c: (String, Int)) {
        do {
            _ = try JSON.parse(c.0)
            Issue.record("parsed \(c.0)")
        } catch {
            #expect(error.line == c.1)
        }
    }

    @Test("typed reader errors carry the path")
    func reader() throws {
        let r = JSONReader(try JSON.parse(#"{"a":{"b":[1,"x"]}}"#))
        #expect(throws: JSONReader.FieldError.self) { try r.required("a").required("b").array()[1].integer(Int.self) }
        do { _ = try r.required("a").required("b").array()[1].integer(Int.self) } catch {
            #expect(error.description == "a.b[1]: expected a number, got a string")
        }
        do { _ = try r.required("a").required("c") } catch { #expect(error.description == "a.c: Required value") }
    }

    @Test("deep nesting is refused, not a crash")
    func depth() {
        let deep = String(repeating: "[", count: 10_000)
        #expect(throws: JSON.ParseError.self) { try JSON.parse(deep) }
    }
}

@Suite("procfs parsing")
struct ProcFSTests {
    let sample = """
    22 27 0:21 / /proc rw,relatime - proc proc rw
    27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
    50 27 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
    """

    @Test("mountinfo lines, optional fields and octal escapes")
    func mountinfo() {
        let m = ProcFS.parseMountInfo(sample)
        #expect(m.count == 5)
        #expect(m[1].optionalFields == ["shared:1"] && m[1].fsType == "ext4" && m[1].source == "/dev/vda")
        #expect(m[4].mountPoint == "/mnt/with space")
        let only = ProcFS.parseMountInfo(sample, fsType: "cgroup2")
        #expect(only.map(\.mountPoint) == ["/sys/fs/cgroup/unified"])
    }

    @Test("start time from /proc/<pid>/stat, even with ') ' in comm")
    func startTime() {
        let stat = "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 150 0 0 0 0 0 0 0 20 0 1 0 987654 5431296 200 18446744073709551615"
        #expect(ProcFS.parseStartTime(stat: stat) == 987654)
        #expect(ProcFS.parseStartTime(stat: "garbage") == nil)
    }

    @Test("capability masks from /proc/<pid>/status")
    func capMask() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n"
        #expect(ProcFS.capabilityMask(status: status, field: "CapBnd") == 0x1fffeffffff)
        #expect(ProcFS.capabilityMask(status: status, field: "CapEff") == nil)
    }

    @Test("capability names")
    func capabilityNames() {
        #expect(Capabilities.number("CAP_SYS_ADMIN") == 21)
        #expect(Capabilities.number("net_admin") == 12)
        #expect(Capabilities.number("CAP_FLY") == nil)
        let (mask, unknown) = Capabilities.mask(["CAP_CHOWN", "KILL", "BOGUS"])
        #expect(mask == 1 | 1 << 5 && unknown == ["BOGUS"])
        #expect(Capabilities.names(in: 1 << 40) == ["CAP_CHECKPOINT_RESTORE"])
    }
}

@Suite("timestamps")
struct TimestampTests {
    @Test("RFC 3339 with nanoseconds, trailing zeros trimmed")
    func format() {
        #expect(Timestamp(seconds: 0, nanoseconds: 0).rfc3339Nano == "1970-01-01T00:00:00Z")
        #expect(Timestamp(seconds: 1_764_506_000, nanoseconds: 120_000_000).rfc3339Nano == "2025-11-30T12:33:20.12Z")
        #expect(Timestamp(seconds: 1_764_506_000, nanoseconds: 1).rfc3339Nano == "2025-11-30T12:33:20.000000001Z")
    }

    @Test("parse round-trips and honours offsets")
    func parse() {
        let t = Timestamp(seconds: 1_764_506_000, nanoseconds: 123_456_789)
        #expect(Timestamp.parse(t.rfc3339Nano) == t)
        #expect(Timestamp.parse("2025-11-30T13:33:20+01:00") == Timestamp(seconds: 1_764_506_000, nanoseconds: 0))
        #expect(Timestamp.parse("nope") == nil)
    }
}

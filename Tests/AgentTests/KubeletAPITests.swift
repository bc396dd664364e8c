import LinuxSystem
import Testing
@testable import Agent

@Suite("Kubelet API values")
struct KubeletAPITests {
    let now = Timestamp(seconds: 1_800_000_000, nanoseconds: 0)

    @Test("routes: the four served, the rest 404, dot segments and escapes refused")
    func routes() throws {
        #expect(try KubeletRoute.parse(path: "/healthz") == .healthz)
        #expect(try KubeletRoute.parse(path: "/pods") == .pods)
        #expect(try KubeletRoute.parse(path: "/pods/") == .pods)
        #expect(try KubeletRoute.parse(path: "/containerLogs/default/web/httpd") == .containerLogs(namespace: "default", pod: "web", container: "httpd"))
        #expect(try KubeletRoute.parse(path: "/exec/ns/p/c") == .exec(namespace: "ns", pod: "p", container: "c"))
        for bad in ["/containerLogs/../../etc/passwd", "/exec/ns/%2e%2e/c", "/containerLogs/default/web/.."] {
            #expect(throws: KubeletAPIError.self) { try KubeletRoute.parse(path: bad) }
            do { _ = try KubeletRoute.parse(path: bad) } catch { #expect(error.code == 400) }
        }
        for missing in ["/", "/containerLogs/default/web", "/exec/ns//c", "/run/ns/p/c", "/healthz/x"] {
            do { _ = try KubeletRoute.parse(path: missing); Issue.record("\(missing) parsed") } catch { #expect(error.code == 404) }
        }
        #expect(KubeletRoute.healthz.authorization(method: "GET", node: "n") == nil)
        #expect(KubeletRoute.exec(namespace: "a", pod: "b", container: "c").authorization(method: "POST", node: "n")! == ("create", "proxy"))
        #expect(KubeletRoute.containerLogs(namespace: "a", pod: "b", container: "c").authorization(method: "GET", node: "n")! == ("get", "proxy"))
    }

    @Test("exec query: the kubelet's and the API server's names, repeated commands, tty drops stderr")
    func execQuery() throws {
        let r = try ExecRequest.parse(parseQuery("command=sh&command=-c&command=echo%20a+b&input=1&output=1&tty=1&error=1"))
        #expect(r == ExecRequest(command: ["sh", "-c", "echo a b"], stdin: true, stdout: true, stderr: false, tty: true))
        let api = try ExecRequest.parse(parseQuery("command=ls&stdout=true&stderr=true"))
        #expect(api == ExecRequest(command: ["ls"], stdout: true, stderr: true))
        #expect(api.kubeletQuery == "command=ls&output=1&error=1")
        #expect(ExecRequest(command: ["a b", "/x"], stdin: true).kubeletQuery == "command=a%20b&command=%2Fx&input=1")
        #expect(throws: KubeletAPIError.self) { try ExecRequest.parse(parseQuery("output=1")) }
        #expect(throws: KubeletAPIError.self) { try ExecRequest.parse(parseQuery("command=ls")) }
    }

    @Test("stream protocol: v5 preferred, exit codes as kubectl reads them, resize")
    func streamProtocol() throws {
        #expect(ExecChannel.negotiate(["v4.channel.k8s.io, v5.channel.k8s.io"]) == "v5.channel.k8s.io")
        #expect(ExecChannel.negotiate(["v4.channel.k8s.io"]) == "v4.channel.k8s.io")
        #expect(ExecChannel.negotiate(["channel.k8s.io", "base64.channel.k8s.io"]) == nil)
        #expect(ExecChannel.exitStatus(0) == #"{"metadata":{},"status":"Success"}"#)
        let failed = try JSON.parse(ExecChannel.exitStatus(3))
        #expect(failed["reason"] == .string("NonZeroExitCode"))
        #expect(failed["details"]?["causes"] == .array([.object([("reason", .string("ExitCode")), ("message", .string("3"))])]))
        #expect(ExecChannel.parseResize(Array(#"{"Width":120,"Height":40}"#.utf8))! == (120, 40))
        #expect(ExecChannel.parseResize(Array(#"{"Width":-1,"Height":40}"#.utf8)) == nil)
        #expect(ExecChannel.parseResize(Array("junk".utf8)) == nil)
    }

    @Test("log options: kubelet names, sinceSeconds from now, bad values named")
    func logOptions() throws {
        let o = try LogOptions.parse(parseQuery("follow=true&tailLines=2&timestamps=1&limitBytes=10&sinceSeconds=60"), now: now)
        #expect(o.follow && o.timestamps && o.tailLines == 2 && o.limitBytes == 10)
        #expect(o.since == Timestamp(seconds: now.seconds - 60, nanoseconds: 0))
        #expect(try LogOptions.parse(parseQuery("sinceTime=2027-01-15T08:00:00Z"), now: now).since == Timestamp.parse("2027-01-15T08:00:00Z"))
        #expect(try LogOptions.parse(parseQuery("previous=true&follow=true"), now: now).follow == false)
        for bad in ["tailLines=-1", "limitBytes=0", "sinceSeconds=x", "follow=maybe", "sinceTime=yesterday"] {
            do { _ = try LogOptions.parse(parseQuery(Substring(bad)), now: now); Issue.record("\(bad) accepted") } catch {
                #expect(error.message.contains(bad.split(separator: "=")[0]))
            }
        }
    }

    static let log = """
        2027-01-15T08:00:00.1Z stdout F one
        2027-01-15T08:00:01.2Z stderr F two
        2027-01-15T08:00:02.3Z stdout P thr
        2027-01-15T08:00:02.4Z stdout F ee
        2027-01-15T08:00:03.5Z stdout F four

        """

    @Test("log filter: whole lines, partial lines joined, tail, since, timestamps, limitBytes")
    func logFilter() {
        var all = LogFilter(LogOptions())
        #expect(String(decoding: all.initial(Self.log), as: UTF8.self) == "one\ntwo\nthree\nfour\n")
        var tail = LogFilter({ var o = LogOptions(); o.tailLines = 2; return o }())
        #expect(String(decoding: tail.initial(Self.log), as: UTF8.self) == "ee\nfour\n")
        var since = LogFilter({ var o = LogOptions(); o.since = Timestamp.parse("2027-01-15T08:00:02.35Z"); o.timestamps = true; return o }())
        #expect(String(decoding: since.initial(Self.log), as: UTF8.self) == "2027-01-15T08:00:02.4Z ee\n2027-01-15T08:00:03.5Z four\n")
        var limited = LogFilter({ var o = LogOptions(); o.limitBytes = 6; return o }())
        #expect(String(decoding: limited.initial(Self.log), as: UTF8.self) == "one\ntw")
        #expect(limited.done)
        #expect(limited.more("2027-01-15T08:00:04Z stdout F five\n").isEmpty)
    }

    @Test("log filter while following: a line split across reads is sent once it ends")
    func following() {
        var f = LogFilter(LogOptions())
        #expect(f.initial("2027-01-15T08:00:00Z stdout F a\n2027-01-15T08:00:01Z std").count == 2)
        #expect(f.more("out F b").isEmpty)
        #expect(String(decoding: f.more("\n"), as: UTF8.self) == "b\n")
        #expect(CRILogLine.render(Self.log, timestamps: false) == ["one", "two", "three", "four"])
    }
}

@Suite("SPDY/3.1 for kubectl before 1.30")
struct SPDYTests {
    @Test("the header dictionary: 1423 bytes, length-prefixed names first")
    func dictionary() {
        #expect(SPDY.dictionary.count == 1423)
        #expect(Array(SPDY.dictionary.prefix(11)) == [0, 0, 0, 7] + Array("options".utf8))
        #expect(String(decoding: SPDY.dictionary.suffix(10), as: UTF8.self) == "-,*,enq=0.")
    }

    @Test("header blocks compressed by another zlib (Python's, the same dictionary, one stream) decode in order")
    func inflate() throws {
        let z = try ZStream(deflating: false)
        let first: [UInt8] = [120, 187, 227, 198, 167, 194, 2, 166, 35, 70, 112, 58, 43, 41, 74, 77, 204, 133, 22, 37, 172, 169, 160, 128, 6, 0, 0, 0, 255, 255]
        let second: [UInt8] = [194, 42, 5, 76, 204, 41, 249, 165, 37, 0, 0, 0, 0, 255, 255]
        #expect(try SPDY.parseHeaderBlock(z.run(first)).map { "\($0.0)=\($0.1)" } == ["streamtype=error"])
        #expect(try SPDY.parseHeaderBlock(z.run(second)).map { "\($0.0)=\($0.1)" } == ["streamtype=stdout"])
    }

    @Test("our compressed blocks round-trip and end with a sync flush")
    func deflate() throws {
        let d = try ZStream(deflating: true), i = try ZStream(deflating: false)
        for h in [[(String, String)](), [("streamtype", "stdin")], [("Upgrade", "x"), ("a", "b\u{0}c")]] {
            let c = try d.run(SPDY.headerBlock(h))
            #expect(Array(c.suffix(4)) == [0, 0, 0xff, 0xff])
            #expect(try SPDY.parseHeaderBlock(i.run(c)).map { "\($0.0)=\($0.1)" } == h.map { "\($0.0.lowercased())=\($0.1)" })
        }
    }

    @Test("frames: encode and parse, split across reads; too large or wrong version refused")
    func frames() throws {
        var p = SPDY.Parser()
        let frames: [SPDY.Frame] = [.control(type: SPDY.ping, flags: 0, payload: [0, 0, 0, 1]), .data(stream: 5, flags: SPDY.flagFin, payload: Array("hi".utf8)),
                                    .data(stream: 3, flags: 0, payload: [])]
        let bytes = frames.flatMap { SPDY.encode($0) }
        #expect(Array(bytes.prefix(8)) == [0x80, 3, 0, 6, 0, 0, 0, 4])
        var got: [SPDY.Frame] = []
        for b in bytes {
            p.feed([b])
            while let f = try p.next() { got.append(f) }
        }
        #expect(got == frames)
        var big = SPDY.Parser()
        big.feed([0, 0, 0, 1, 0, 0x7f, 0xff, 0xff])
        #expect(throws: SPDY.ProtocolError.self) { try big.next() }
        var v2 = SPDY.Parser()
        v2.feed([0x80, 2, 0, 6, 0, 0, 0, 0])
        #expect(throws: SPDY.ProtocolError.self) { try v2.next() }
        #expect(throws: SPDY.ProtocolError.self) { try SPDY.parseHeaderBlock([0, 0, 0, 1, 0, 0, 0, 9, 65]) }
    }
}

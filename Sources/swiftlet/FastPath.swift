import LinuxSystem
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// The container hot path (`oci create|start|state|kill|delete|run`) without ArgumentParser:
/// building its command tree by reflection costs ~70% of a short CLI run (callgrind). Anything
/// this parser does not recognise (help, unknown flags, malformed values) returns nil and the
/// ArgumentParser definitions in OCICommands.swift handle it, so they stay the reference for
/// the accepted syntax and the help text.
enum FastPath {
    struct Parsed {
        var options: [String: String] = [:]
        var all: [String: [String]] = [:]
        var flags: Set<String> = []
        var positional: [String] = []
    }

    /// name -> takes a value; aliases map short to long names.
    static func parse(_ args: ArraySlice<String>, valued: Set<String>, boolean: Set<String>,
                      aliases: [String: String]) -> Parsed? {
        var p = Parsed()
        var i = args.startIndex
        while i < args.endIndex {
            let a = args[i]
            if a == "--" { p.positional += args[(i + 1)...]; break }
            if a.hasPrefix("-") && a.count > 1 {
                var name = a
                var value: String?
                if let eq = a.firstIndex(of: "="), a.hasPrefix("--") {
                    name = String(a[..<eq])
                    value = String(a[a.index(after: eq)...])
                }
                name = aliases[name] ?? name
                if valued.contains(name) {
                    if value == nil {
                        i += 1
                        guard i < args.endIndex else { return nil }
                        value = args[i]
                    }
                    p.options[name] = value
                    p.all[name, default: []].append(value!)
                } else if boolean.contains(name), value == nil {
                    p.flags.insert(name)
                } else {
                    return nil
                }
            } else {
                p.positional.append(a)
            }
            i += 1
        }
        return p
    }

    static let globalValued: Set<String> = ["--root", "--monitor"]

    /// Options every subcommand of a group accepts; they may also come before the verb
    /// (`oci --root DIR run ID`, as runc writes it; `net --state-dir DIR add ...`).
    static let groupOptions: [String: (valued: Set<String>, boolean: Set<String>)] = [
        "oci": (globalValued, []),
        "net": (["--bridge", "--subnet", "--mtu", "--state-dir", "--cni-conf-dir", "--cni-bin-dir"], ["--no-nat", "--no-host-ports", "--cni"]),
    ]

    /// Moves group options written before the verb to after it, where the subcommands parse them.
    static func normalize(_ argv: [String]) -> [String] {
        guard argv.count > 2, let group = groupOptions[argv[1]] else { return argv }
        var globals: [String] = []
        var i = 2
        while i < argv.count {
            let a = argv[i]
            if group.valued.contains(a), i + 1 < argv.count {
                globals += [a, argv[i + 1]]
                i += 2
            } else if group.boolean.contains(a) {
                globals.append(a)
                i += 1
            } else if let eq = a.firstIndex(of: "="), group.valued.contains(String(a[..<eq])) {
                globals.append(a)
                i += 1
            } else {
                break
            }
        }
        guard !globals.isEmpty, i < argv.count else { return argv }
        return Array(argv[..<2]) + [argv[i]] + globals + Array(argv[(i + 1)...])
    }

    static func runtime(_ p: Parsed) -> OCIRuntime {
        let m = p.options["--monitor"] ?? Files.executableDirectory() + "/swiftlet-monitor"
        return OCIRuntime(root: p.options["--root"] ?? "/run/swiftlet/oci", monitorPath: m,
                          warn: { stderrLine("swiftlet: warning: \($0)") })
    }

    /// Runs the command if it is a recognised hot-path invocation; returns false otherwise.
    static func run(_ argv: [String]) -> Bool {
        if argv.count > 2, argv[1] == "net" { return runNet(argv) }
        guard argv.count > 2, argv[1] == "oci" else { return false }
        let rest = argv[3...]
        switch argv[2] {
        case "run", "create":
            let valued: Set<String> = globalValued.union(["--bundle", "--pid-file", "--cri-log", "--preserve-fds", "--log-max-size", "--log-max-files"])
            let boolean: Set<String> = ["--allow-unenforced-resources", "--detach-stdio"]
            guard let p = parse(rest, valued: valued, boolean: boolean, aliases: ["-b": "--bundle"]), p.positional.count == 1 else { return false }
            var o = CreateOptions()
            o.pidFile = p.options["--pid-file"]
            o.logPath = p.options["--cri-log"]
            o.allowUnenforcedResources = p.flags.contains("--allow-unenforced-resources")
            if let v = p.options["--preserve-fds"] { guard let n = UInt32(v) else { return false }; o.preserveFds = n }
            if let v = p.options["--log-max-size"] { guard let n = UInt64(v) else { return false }; o.logMaxBytes = n }
            o.logMaxFiles = 5
            if let v = p.options["--log-max-files"] { guard let n = UInt32(v) else { return false }; o.logMaxFiles = n }
            let bundle = p.options["--bundle"] ?? "."
            let rt = runtime(p)
            if argv[2] == "run" {
                if p.flags.contains("--detach-stdio") { return false }
                do { exit(try rt.run(id: p.positional[0], bundle: bundle, options: o)) } catch { fail(error) }
            }
            o.detachStdio = p.flags.contains("--detach-stdio")
            let id = p.positional[0]
            do {
                try holdingTermination({ try rt.create(id: id, bundle: bundle, options: o) },
                                       undo: { try? rt.delete(id: id, force: true) })
            } catch { fail(error) }
            exit(0)
        case "start", "state":
            guard let p = parse(rest, valued: globalValued, boolean: [], aliases: [:]), p.positional.count == 1 else { return false }
            do {
                if argv[2] == "start" { try runtime(p).start(id: p.positional[0]) }
                else { stdoutWrite(encodeJSON(try runtime(p).state(id: p.positional[0]).json) + "\n") }
            } catch { fail(error) }
            exit(0)
        case "kill":
            guard let p = parse(rest, valued: globalValued, boolean: ["--all"], aliases: ["-a": "--all"]),
                  (1...2).contains(p.positional.count) else { return false }
            do {
                let sig = try OCIRuntime.parseSignal(p.positional.count > 1 ? p.positional[1] : "TERM")
                try runtime(p).kill(id: p.positional[0], signal: sig, all: p.flags.contains("--all"))
            } catch { fail(error) }
            exit(0)
        case "delete":
            guard let p = parse(rest, valued: globalValued, boolean: ["--force"], aliases: ["-f": "--force"]),
                  p.positional.count == 1 else { return false }
            do { try runtime(p).delete(id: p.positional[0], force: p.flags.contains("--force")) } catch { fail(error) }
            exit(0)
        default:
            return false
        }
    }
}

extension FastPath {
    static let netValued: Set<String> = ["--bridge", "--subnet", "--mtu", "--state-dir", "--cni-conf-dir", "--cni-bin-dir",
                                         "--netns", "--port", "--namespace", "--name", "--pod-files", "--hostname",
                                         "--host-alias", "--dns-policy", "--cluster-dns"]
    static let netBoolean: Set<String> = ["--no-nat", "--no-host-ports", "--cni", "--remove-netns"]

    /// `net add` / `net del`, the pod-sandbox hot path (see Net.Add / Net.Del for the reference).
    static func runNet(_ argv: [String]) -> Bool {
        guard argv[2] == "add" || argv[2] == "del",
              let p = parse(argv[3...], valued: netValued, boolean: netBoolean, aliases: [:]), p.positional.count == 1 else { return false }
        var o = Net.Settings()
        if let v = p.options["--bridge"] { o.bridge = v }
        if let v = p.options["--subnet"] { o.subnet = v }
        if let v = p.options["--mtu"] { guard let n = Int(v) else { return false }; o.mtu = n }
        if let v = p.options["--state-dir"] { o.stateDir = v }
        if let v = p.options["--cni-conf-dir"] { o.cniConfDir = v }
        if let v = p.all["--cni-bin-dir"] { o.cniBinDir = v }
        o.noNAT = p.flags.contains("--no-nat")
        o.noHostPorts = p.flags.contains("--no-host-ports")
        o.cni = p.flags.contains("--cni")
        let id = p.positional[0]
        if argv[2] == "add" {
            guard let netns = p.options["--netns"], !p.flags.contains("--remove-netns") else { return false }
            let files = PodFileSettings(dir: p.options["--pod-files"], hostname: p.options["--hostname"], aliases: p.all["--host-alias"] ?? [],
                                        dnsPolicy: p.options["--dns-policy"] ?? "ClusterFirst", clusterDNS: p.all["--cluster-dns"] ?? [])
            Net.Add.perform(o, id: id, netns: netns, ports: p.all["--port"] ?? [], namespace: p.options["--namespace"] ?? "default",
                            name: p.options["--name"], files: files)
        } else {
            Net.Del.perform(o, id: id, netns: p.options["--netns"] ?? "", namespace: p.options["--namespace"] ?? "default",
                            name: p.options["--name"], removeNetns: p.flags.contains("--remove-netns"))
        }
        exit(0)
    }
}

import ArgumentParser
import CShims
import Dispatch
import Images
import LinuxSystem
import Runtime
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct ImageGlobal: ParsableArguments {
    @Option(name: .long, help: "Image store directory.")
    var store: String = "/var/lib/swiftlet/images"

    @Option(name: .customLong("insecure-registry"), help: "Registry host[:port] spoken to over plain HTTP (repeatable; localhost and 127.0.0.1 always are).")
    var insecure: [String] = []

    @Option(name: .customLong("registry-config"), help: "Docker-style config.json with registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).")
    var registryConfig: String?

    @Option(name: .long, help: "Layers fetched and unpacked at the same time.")
    var concurrency: Int = 3

    func puller() throws -> ImagePuller {
        var options = RegistryOptions()
        options.insecureRegistries = Set(insecure)
        options.credentials = try DockerConfig.load(path: registryConfig ?? DockerConfig.defaultPath)
        return ImagePuller(store: try ImageStore(root: store), client: RegistryClient(options: options), concurrency: concurrency)
    }
}

/// Runs async work from a synchronous command and returns its result.
func blockOn<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let r: Result<T, any Error>
        do { r = .success(try await body()) } catch { r = .failure(error) }
        result.withLock { $0 = r }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}

/// Per-layer progress: redrawn in place on a terminal, one line per state change otherwise.
final class PullDisplay: Sendable {
    struct State: Sendable {
        var lines: [String] = []
        var drawn = 0
        var lastDraw: UInt64 = 0
        var lastPlain: [String] = []
    }
    let tty = isatty(1) == 1
    let state = Mutex(State())

    func handle(_ e: PullEvent) {
        state.withLock { s in
            func set(_ i: Int, _ text: String, force: Bool) {
                while s.lines.count <= i { s.lines.append("") }
                s.lines[i] = text
                if !tty {
                    while s.lastPlain.count <= i { s.lastPlain.append("") }
                    if s.lastPlain[i] != text && (force || !text.contains("downloading")) {
                        s.lastPlain[i] = text
                        stdoutWrite(text + "\n")
                    }
                }
            }
            switch e {
            case .resolved(let m, let n):
                if !tty { stdoutWrite("manifest \(m) (\(n) layers)\n") }
                for i in 0..<n { set(i, "layer \(i + 1)/\(n): waiting", force: false) }
            case .layerExists(let i, let d): set(i, "layer \(i + 1) \(short(d)): already present", force: true)
            case .downloading(let i, let d, let bytes, let total):
                set(i, "layer \(i + 1) \(short(d)): downloading \(mib(bytes))/\(mib(total))", force: false)
            case .extracting(let i, let d): set(i, "layer \(i + 1) \(short(d)): extracting", force: true)
            case .layerDone(let i, let d): set(i, "layer \(i + 1) \(short(d)): done", force: true)
            case .warning(let w): stderrLine("swiftlet: warning: \(w)")
            }
            guard tty else { return }
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let now = UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
            if case .downloading = e, now - s.lastDraw < 100 { return }
            s.lastDraw = now
            var out = s.drawn > 0 ? "\u{1b}[\(s.drawn)A" : ""
            for l in s.lines { out += "\r\u{1b}[2K" + l + "\n" }
            s.drawn = s.lines.count
            stdoutWrite(out)
        }
    }

    func short(_ d: Digest) -> String { String(d.hex.prefix(12)) }
    func mib(_ n: Int64) -> String {
        let tenths = (max(n, 0) * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "Pull, import, list and remove images; run a container from an image.",
        subcommands: [Pull.self, List.self, Remove.self, Prune.self, Import.self, Inspect.self, RunImage.self]
    )

    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pull an image from a registry (Distribution v2).")
        @OptionGroup var global: ImageGlobal
        @Flag(name: .shortAndLong, help: "Print only the image record when done.") var quiet = false
        @Argument var reference: String
        func run() throws {
            do {
                let ref = try ImageReference.parse(reference)
                let puller = try global.puller()
                let display = PullDisplay()
                let quiet = self.quiet
                let record = try blockOn { try await puller.pull(ref) { e in if !quiet { display.handle(e) } } }
                stdoutWrite("\(record.name) \(record.digest)\n")
            } catch { fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List stored images.")
        @OptionGroup var global: ImageGlobal
        @Flag(name: .shortAndLong, help: "Names only.") var quiet = false
        func run() throws {
            do {
                let images = try ImageStore(root: global.store).images()
                if quiet { for i in images { stdoutWrite(i.name + "\n") }; return }
                var rows = [["NAME", "IMAGE ID", "DIGEST", "LAYERS", "SIZE"]]
                for i in images {
                    rows.append([i.name, String(i.id.prefix(12)), String(i.digest.description.prefix(19)), String(i.layers.count),
                                 PullDisplay().mib(i.size)])
                }
                stdoutWrite(table(rows))
            } catch { fail(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove image names, then content nothing else uses.")
        @OptionGroup var global: ImageGlobal
        @Flag(name: .shortAndLong, help: "Remove even if a container snapshot uses the image.") var force = false
        @Argument var images: [String]
        func run() throws {
            do {
                let store = try ImageStore(root: global.store)
                for q in images {
                    let r = try store.removeImage(q, force: force)
                    stdoutWrite("removed \(r.name)\n")
                }
                _ = try store.prune()
            } catch { fail(error) }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove blobs and layers no image or container references.")
        @OptionGroup var global: ImageGlobal
        func run() throws {
            do {
                let r = try ImageStore(root: global.store).prune()
                stdoutWrite("removed \(r.blobs) blobs, \(r.layers) layers, \(PullDisplay().mib(r.bytes))\n")
            } catch { fail(error) }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import an OCI image layout (directory or tar) or a docker save tar.")
        @OptionGroup var global: ImageGlobal
        @Option(name: .long, help: "Name for the image (when the archive has none, or to rename).") var name: String?
        @Argument var path: String
        func run() throws {
            do {
                let importer = ImageImporter(puller: try global.puller())
                let (path, name) = (self.path, self.name)
                let display = PullDisplay()
                let records = try blockOn { try await importer.importPath(path, name: name) { e in
                    if case .warning = e { display.handle(e) }
                } }
                for r in records { stdoutWrite("\(r.name) \(r.digest)\n") }
            } catch { fail(error) }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image's record and config as JSON.")
        @OptionGroup var global: ImageGlobal
        @Argument var image: String
        func run() throws {
            do {
                let store = try ImageStore(root: global.store)
                guard let r = try store.image(image) else { throw StoreError("image \(image) not found") }
                var o = JSONObject()
                o.set("name", r.name)
                o.set("id", "sha256:" + r.id)
                o.set("digest", r.digest.description)
                o.set("size", r.size)
                o.set("layers", r.layers.map(\.digest.description))
                o.set("diffIDs", r.diffIDs.map(\.description))
                o.set("chainIDs", r.chainIDs.map(\.description))
                o.set("created", r.created)
                o.set("config", try JSON.parse(try store.readBlob(r.config)))
                stdoutWrite(encodeJSON(o.json) + "\n")
            } catch { fail(error) }
        }
    }

    struct RunImage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run a container from a stored image in the foreground (default security profile); exit with its status.",
            discussion: "Kubernetes rules: --command replaces the image ENTRYPOINT (and drops CMD), ARGS replace CMD.")
        @OptionGroup var global: ImageGlobal
        @Option(name: .long, help: "Directory for container state.") var root: String = "/run/swiftlet/oci"
        @Option(name: .customLong("command"), parsing: .singleValue, help: "Replace the image ENTRYPOINT (repeat for each word).") var command: [String] = []
        @Option(name: [.short, .long], help: "Environment KEY=VALUE (over the image's).") var env: [String] = []
        @Option(name: [.short, .long], help: "Working directory (default: the image's WORKDIR).") var workdir: String?
        @Option(name: [.short, .long], help: "user[:group], names resolved in the image (default: the image's USER).") var user: String?
        @Option(name: .long, help: "\"host\" to share the host network namespace (default: a new one).") var net: String?
        @Flag(name: .long, help: "Keep the container and its snapshot after it exits.") var keep = false
        @Flag(name: .customLong("read-only"), help: "Mount the root filesystem read-only.") var readOnly = false
        @Flag(name: .customLong("allow-unenforced-resources")) var allowUnenforced = false
        @Argument var image: String
        @Argument var id: String
        @Argument(parsing: .captureForPassthrough) var args: [String] = []

        func run() throws {
            let store: ImageStore
            let record: ImageRecord
            do {
                store = try ImageStore(root: global.store)
                guard let r = try store.image(image) else { throw StoreError("image \(image) not found (pull or import it first)") }
                record = r
            } catch { fail(error) }
            let snapshots = Snapshotter(store: store)
            let runtime = OCIRuntime(root: root, monitorPath: Files.executableDirectory() + "/swiftlet-monitor",
                                     warn: { stderrLine("swiftlet: warning: \($0)") })
            var code: Int32 = 0
            do {
                let config = try ImageConfig.parse(try store.readBlob(record.config))
                let rootfs = try snapshots.prepare(id: id, image: record)
                do {
                    let argv = args.first == "--" ? Array(args.dropFirst()) : args
                    let p = ProcessDefaults.resolve(image: config, command: command.isEmpty ? nil : command,
                                                    args: argv.isEmpty ? nil : argv, env: env, workingDir: workdir, user: user)
                    if p.args.isEmpty { throw StoreError("image \(record.name) has no ENTRYPOINT or CMD; give a command") }
                    let resolved = try UserDatabase.resolve(
                        p.user, passwd: UserDatabase.parsePasswd(readFileInRoot(rootfs, "/etc/passwd")),
                        group: UserDatabase.parseGroup(readFileInRoot(rootfs, "/etc/group")))
                    var spec = DefaultProfile.spec(args: p.args, rootfs: "rootfs")
                    var env = p.env
                    if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=" + (resolved.home.flatMap { $0.isEmpty ? nil : $0 } ?? "/")) }
                    spec.process?.env = env
                    spec.process?.cwd = p.workingDir
                    spec.process?.user = .init(uid: resolved.uid, gid: resolved.gid,
                                               additionalGids: resolved.additionalGids.isEmpty ? nil : resolved.additionalGids)
                    spec.hostname = id
                    spec.root?.readonly = readOnly
                    if net == "host" { spec.linux?.namespaces?.removeAll { $0.type == "network" } }
                    spec.annotations = ["io.swiftlet.image": record.name, "io.swiftlet.image.digest": record.digest.description]
                    let bundle = snapshots.directory(id)
                    try Files.write(bundle + "/config.json", encodeJSON(spec.json) + "\n", mode: 0o600)
                    var o = CreateOptions()
                    o.allowUnenforcedResources = allowUnenforced
                    code = try runtime.run(id: id, bundle: bundle, options: o)
                } catch {
                    if !keep { try? runtime.delete(id: id, force: true); try? snapshots.remove(id: id) }
                    throw error
                }
                if !keep {
                    try? runtime.delete(id: id, force: true)
                    try snapshots.remove(id: id)
                }
            } catch { fail(error) }
            Glibc.exit(code)
        }
    }
}

func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    var widths = Array(repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    var out = ""
    for r in rows {
        out += r.enumerated().map { i, c in i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 3) }.joined() + "\n"
    }
    return out
}

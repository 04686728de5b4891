import Foundation
import StrictrunPolicy
import StrictrunSandbox
import StrictrunTrace
import Testing

/// The `fs` and `net` sections on real programs under the real filter, tracer, namespaces and
/// Landlock: each difference from the host is the program's observed outcome and an event
/// with its stack and rule.
@Suite("fs and net sections")
struct FSNetTests {
    static let node = ["/usr/bin/node", "--jitless"]

    /// A JS snippet's output lines `name outcome` as a dictionary.
    static func outcomes(_ stdout: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0])] = String(parts[1]) }
        }
        return out
    }

    /// Runs `script` with node under `profile` in a fresh working directory.
    static func runNode(_ profile: String, _ script: String, environment: [String: String]? = nil,
                        in directory: URL? = nil) throws -> (ProcessResult, [JSONValue], String, URL) {
        let dir = try directory ?? Fixture.temporaryDirectory()
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment ?? [:] { env[key] = value }
        let (result, trace, path) = try Fixture.strictrun(profile: profile, node + ["-e", script], environment: env,
                                                          directory: dir)
        return (result, trace, path, dir)
    }

    /// The policy events of `category`/`rule`.
    static func events(_ trace: [JSONValue], _ category: String, _ rule: String) -> [JSONValue] {
        trace.policyEvents.filter { $0["category"]?.stringValue == category && $0["rule"]?.stringValue == rule }
    }

    static func symbols(_ event: JSONValue) -> [String] {
        (event["stack"]?.arrayValue ?? []).compactMap { $0["symbol"]?.stringValue }
    }

    static let probe = """
        const fs = require('fs'), net = require('net'), cp = require('child_process');
        function t(name, f) { try { const r = f(); console.log(name, 'ok' + (r === undefined ? '' : ':' + r)); }
                              catch (e) { console.log(name, e.code || e.message); } }
        fs.writeFileSync('file.txt', 'x'); fs.chmodSync('file.txt', 0o644);
        t('watch', () => { fs.watch('.').close(); });
        t('symlink', () => fs.symlinkSync('file.txt', 'link.txt'));
        t('hardlink', () => fs.linkSync('file.txt', 'hard.txt'));
        t('chmod', () => { fs.chmodSync('file.txt', 0o600); return (fs.statSync('file.txt').mode & 0o777).toString(8); });
        t('spawnSync', () => { const r = cp.spawnSync('/bin/true', { stdio: 'pipe' }); if (r.error) throw r.error; return r.status; });
        t('cpus', () => require('os').cpus().length);
        const s = net.createServer();
        s.on('error', (e) => console.log('listen-path', e.code));
        s.listen('server.sock', () => { console.log('listen-path ok'); s.close(); });
        """

    @Test("fuchsia: fs.watch and symlink ENOSYS, chmod a no-op, spawnSync with pipes and listen(path) fail, each logged with its stack")
    func fuchsiaFunctions() throws {
        let (result, trace, tracePath, dir) = try Self.runNode("fuchsia", Self.probe)
        #expect(result.status == 0, "\(result.stderr)")
        let got = Self.outcomes(result.stdout)
        #expect(got["watch"] == "ENOSYS")
        #expect(got["symlink"] == "ENOSYS")
        #expect(got["hardlink"] == "ENOSYS")
        #expect(got["chmod"] == "ok:644", "chmod succeeded and changed nothing: \(got["chmod"] ?? "-")")
        #expect(got["spawnSync"] == "ENOSYS")
        #expect(got["listen-path"] == "EAFNOSUPPORT")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("link.txt").path))
        let mode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("file.txt").path)[.posixPermissions] as? Int
        #expect(mode == 0o644)

        let watch = Self.events(trace, "fs", "watch")
        #expect(watch.count >= 1, "no fs/watch event in \(tracePath)")
        #expect(watch.contains { Self.symbols($0).contains("uv_fs_event_start") }, "stack: \(watch.map(Self.symbols))")
        #expect(watch.first?["errno"]?.stringValue == "ENOSYS")
        for (category, rule, action) in [("fs", "symlink", "deny"), ("fs", "chmod", "noop"), ("net", "socketpair", "deny"),
                                         ("net", "family-unix", "deny")] {
            let found = Self.events(trace, category, rule)
            #expect(found.count >= 1, "no \(category)/\(rule) event in \(tracePath)")
            #expect(found.first?["action"]?.stringValue == action)
            #expect(Self.symbols(found.first ?? .null).count > 2, "\(category)/\(rule) has no stack")
        }
        #expect(Self.symbols(Self.events(trace, "net", "socketpair").first ?? .null).contains("uv_spawn"))
        // Arguments decoded by name, read from the program where they are pointers.
        let pair = Self.events(trace, "net", "socketpair").first?["args"]
        #expect(pair?["domain"]?.stringValue == "AF_UNIX")
        #expect(pair?["type"]?.stringValue?.hasPrefix("SOCK_STREAM") == true, "\(String(describing: pair))")
        let link = Self.events(trace, "fs", "symlink").first?["args"]
        #expect(link?["target"]?.stringValue == "file.txt" && link?["new"]?.stringValue == "link.txt",
                "\(String(describing: link))")
        #expect(watch.first?["args"]?["flags"]?.stringValue != nil)
        // netlink is platform-passthrough here: os.networkInterfaces() works, and is reported.
        let (ifaces, ifaceTrace, _, _) = try Self.runNode("fuchsia", "console.log('ifaces', Object.keys(require('os').networkInterfaces()).length > 0)")
        #expect(Self.outcomes(ifaces.stdout)["ifaces"] == "true")
        #expect(Self.events(ifaceTrace, "net", "platform-passthrough").first?["action"]?.stringValue == "log")
    }

    @Test("the view is locked: the mount family, chroot and unshare(CLONE_NEWNS) are refused under every fs preset",
          arguments: ["genode", "fuchsia", "kasperskyos"])
    func viewLocked(profile: String) throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: profile, [Fixture.example("escape_remount")])
        #expect(result.status == 0, "\(result.stderr)")
        let got = results(result.stdout)
        let ops = ["remount-umount", "remount-mount", "remount-setattr", "remount-open-tree", "remount-chroot",
                   "remount-unshare"]
        for op in ops { #expect(got[op] == ["errno=EPERM"], "\(profile): \(op) gave \(got[op] ?? [])") }
        let events = trace.policyEvents.filter { $0["category"]?.stringValue == "escape" && $0["rule"]?.stringValue == "mount" }
        #expect(events.count == ops.count, "\(profile): \(events.count) escape/mount events in \(tracePath)")
        #expect(events.allSatisfy { $0["stack"]?.arrayValue?.isEmpty == false })
    }

    @Test("without a view the mount family is the kernel's business (no escape/mount rule)")
    func noViewNoMountRule() throws {
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("escape_remount")])
        #expect(result.status == 0)
        #expect(results(result.stdout)["remount-umount"] == ["errno=ENOENT"])
        #expect(!trace.policyEvents.contains { $0["rule"]?.stringValue == "mount" })
    }

    @Test("genode: CPython's asyncio.run fails (no socketpair), logged with its stack")
    func pythonAsyncio() throws {
        let dir = try Fixture.temporaryDirectory()
        let script = dir.appendingPathComponent("a.py")
        try """
            import asyncio
            async def main(): return 1
            try:
                asyncio.run(main()); print("asyncio ok")
            except OSError as e:
                print("asyncio", e.errno)
            """.write(to: script, atomically: true, encoding: .utf8)
        let (result, trace, tracePath) = try Fixture.strictrun(profile: "genode", [Fixture.python, script.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("asyncio \(ENOSYS)"), "\(result.stdout)")
        let events = Self.events(trace, "net", "socketpair")
        #expect(events.count >= 1, "no net/socketpair event in \(tracePath)")
        #expect(Self.symbols(events.first ?? .null).contains { $0.contains("socketpair") })
    }

    @Test("genode: /proc and /sys hidden (os.cpus() is []), the image read-only (EROFS), the working directory writable")
    func hiddenAndReadOnly() throws {
        let script = """
            const fs = require('fs');
            console.log('cpus', require('os').cpus().length);
            try { fs.readFileSync('/proc/self/status'); console.log('proc ok'); } catch (e) { console.log('proc', e.code); }
            try { fs.readdirSync('/sys/kernel'); console.log('sys ok'); } catch (e) { console.log('sys', e.code); }
            try { fs.writeFileSync('/etc/strictrun-test', 'x'); console.log('etc ok'); } catch (e) { console.log('etc', e.code); }
            fs.writeFileSync('here.txt', 'x'); console.log('cwd ok');
            """
        let (result, trace, tracePath, dir) = try Self.runNode("genode", script)
        #expect(result.status == 0, "\(result.stderr)")
        let got = Self.outcomes(result.stdout)
        #expect(got["cpus"] == "0")
        #expect(got["proc"] == "ENOENT")
        #expect(got["sys"] == "ENOENT")
        #expect(got["etc"] == "EROFS")
        #expect(got["cwd"] == "ok")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("here.txt").path))
        let hidden = Self.events(trace, "fs", "hidden")
        #expect(hidden.contains { $0["args"]?["path"]?.stringValue == "/proc/stat" && $0["errno"]?.stringValue == "ENOENT" },
                "no hidden /proc/stat event in \(tracePath)")
        #expect(hidden.contains { Self.symbols($0).contains("uv_cpu_info") })
        let readOnly = Self.events(trace, "fs", "read-only-image")
        #expect(readOnly.first?["errno"]?.stringValue == "EROFS", "no read-only-image event in \(tracePath)")
        #expect(Self.symbols(readOnly.first ?? .null).count > 2)
        let start = trace.first { $0["type"]?.stringValue == "start" }
        #expect(start?["confinement"]?.arrayValue?.first?.stringValue?.contains("namespaces") == true)
    }

    /// A profile over genode: a read-only grant, and a granted-only view for the second run.
    static func grantProfile(_ dir: URL, view: String) throws -> String {
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try "hello".write(to: data.appendingPathComponent("in.txt"), atomically: true, encoding: .utf8)
        let outside = dir.appendingPathComponent("outside.txt")
        try "secret".write(to: outside, atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("grants.yaml").path
        try """
            extends: \(Fixture.profilesDirectory)/genode.yaml
            fs:
              view: \(view)
              grants:
                - {host: /usr, mode: ro}
                - {host: /lib, mode: ro}
                - {host: /lib64, mode: ro}
                - {host: /etc, mode: ro}
                - {host: /dev, mode: rw}
                - {host: \(dir.path)/work, path: /work, mode: rw}
                - {host: \(data.path), path: /data, mode: ro}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("work"), withIntermediateDirectories: true)
        return file
    }

    static func grantScript(_ dir: URL) -> String {
        """
        const fs = require('fs');
        console.log('read', fs.readFileSync('/data/in.txt', 'utf8'));
        try { fs.writeFileSync('/data/new.txt', 'x'); console.log('write ok'); } catch (e) { console.log('write', e.code); }
        try { fs.readFileSync('\(dir.path)/outside.txt'); console.log('outside ok'); } catch (e) { console.log('outside', e.code); }
        fs.writeFileSync('/work/out.txt', 'y'); console.log('work ok');
        """
    }

    @Test("granted-only view: a read-only grant gives EROFS, a path outside the grants ENOENT, both logged")
    func grantedOnlyNamespaces() throws {
        let dir = try Fixture.temporaryDirectory()
        let profile = try Self.grantProfile(dir, view: "granted-only")
        let (result, trace, tracePath, _) = try Self.runNode(profile, Self.grantScript(dir), in: dir.appendingPathComponent("work"))
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let got = Self.outcomes(result.stdout)
        #expect(got["read"] == "hello")
        #expect(got["write"] == "EROFS")
        #expect(got["outside"] == "ENOENT")
        #expect(got["work"] == "ok")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("work/out.txt").path))
        #expect(Self.events(trace, "fs", "read-only-grant").first?["errno"]?.stringValue == "EROFS",
                "no read-only-grant event in \(tracePath)")
        let outside = Self.events(trace, "fs", "outside-grants")
        #expect(outside.contains { $0["args"]?["path"]?.stringValue?.hasSuffix("outside.txt") == true
                                   && $0["errno"]?.stringValue == "ENOENT" }, "no outside-grants event in \(tracePath)")
    }

    @Test("Landlock fallback (no namespaces): the same denials are EACCES, logged, and the summary says so")
    func landlockFallback() throws {
        let dir = try Fixture.temporaryDirectory()
        let profile = try Self.grantProfile(dir, view: "granted-only")
        // Landlock cannot remap: grant the host paths themselves.
        var text = try String(contentsOfFile: profile, encoding: .utf8)
        text = text.replacingOccurrences(of: ", path: /work", with: "").replacingOccurrences(of: ", path: /data", with: "")
        try text.write(toFile: profile, atomically: true, encoding: .utf8)
        let script = """
            const fs = require('fs');
            console.log('read', fs.readFileSync('\(dir.path)/data/in.txt', 'utf8'));
            try { fs.writeFileSync('\(dir.path)/data/new.txt', 'x'); console.log('write ok'); } catch (e) { console.log('write', e.code); }
            try { fs.readFileSync('\(dir.path)/outside.txt'); console.log('outside ok'); } catch (e) { console.log('outside', e.code); }
            console.log('cpus', require('os').cpus().length);
            """
        let (result, trace, tracePath, _) = try Self.runNode(profile, script, environment: ["STRICTRUN_FS_FALLBACK": "landlock"],
                                                             in: dir.appendingPathComponent("work"))
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let got = Self.outcomes(result.stdout)
        #expect(got["read"] == "hello")
        #expect(got["write"] == "EACCES")
        #expect(got["outside"] == "EACCES")
        #expect(got["cpus"] == "0")
        #expect(result.stderr.contains("Landlock ABI"), "\(result.stderr)")
        #expect(result.stderr.contains("NOT isolated"), "the summary names the missing network namespace")
        #expect(Self.events(trace, "fs", "read-only-grant").first?["errno"]?.stringValue == "EACCES",
                "no read-only-grant event in \(tracePath)")
        #expect(Self.events(trace, "fs", "outside-grants").first?["mechanism"]?.stringValue == "landlock")
    }

    @Test("isolated stack: IPv4 loopback only, ::1 EADDRNOTAVAIL, multicast and a TCP port outside the list fail, logged")
    func isolatedStack() throws {
        let dir = try Fixture.temporaryDirectory()
        let profile = dir.appendingPathComponent("isolated.yaml").path
        try """
            extends: \(Fixture.profilesDirectory)/genode.yaml
            net:
              families: {inet6: allow}
              options: {ip-level: allow}
              tcp-ports: [0, 8080]
            """.write(toFile: profile, atomically: true, encoding: .utf8)
        let script = """
            const net = require('net'), dgram = require('dgram');
            function listen(name, port, host) {
              return new Promise((done) => { const s = net.createServer();
                s.on('error', (e) => { console.log(name, e.code); done(); });
                s.listen(port, host, () => { console.log(name, 'ok'); s.close(done); }); });
            }
            (async () => {
              await listen('v4-ephemeral', 0, '127.0.0.1');
              await listen('v4-8080', 8080, '127.0.0.1');
              await listen('v4-9090', 9090, '127.0.0.1');
              await listen('v6', 0, '::1');
              const u = dgram.createSocket('udp4');
              u.bind(0, () => { try { u.addMembership('239.1.2.3'); console.log('mcast ok'); }
                                catch (e) { console.log('mcast', e.code); } u.close(); });
            })();
            """
        let (result, trace, tracePath, _) = try Self.runNode(profile, script)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let got = Self.outcomes(result.stdout)
        #expect(got["v4-ephemeral"] == "ok")
        #expect(got["v4-8080"] == "ok")
        #expect(got["v4-9090"] == "EACCES")
        #expect(got["v6"] == "EADDRNOTAVAIL")
        #expect(got["mcast"] != "ok" && got["mcast"] != nil)
        let tcp = Self.events(trace, "net", "tcp-port")
        #expect(tcp.contains { $0["args"]?["address"]?.stringValue?.hasSuffix(":9090") == true }, "no tcp-port event in \(tracePath)")
        #expect(Self.events(trace, "net", "isolated-stack").first?["errno"]?.stringValue == "EADDRNOTAVAIL")
        #expect(Self.events(trace, "net", "multicast").count >= 1, "no multicast event in \(tracePath)")
        #expect(Self.symbols(tcp.first ?? .null).contains { $0.contains("bind") || $0.contains("uv_tcp") })
    }

    @Test("kasperskyos: UNIX socket files only in / or /tmp")
    func unixSocketDirectories() throws {
        let script = """
            const net = require('net');
            function listen(name, path) { return new Promise((done) => { const s = net.createServer();
              s.on('error', (e) => { console.log(name, e.code); done(); });
              s.listen(path, () => { console.log(name, 'ok'); s.close(done); }); }); }
            (async () => { await listen('here', 'here.sock'); await listen('tmp', '/tmp/strictrun-' + process.pid + '.sock'); })();
            """
        let (result, trace, tracePath, _) = try Self.runNode("kasperskyos", script)
        #expect(result.status == 0, "\(result.stderr)")
        let got = Self.outcomes(result.stdout)
        #expect(got["here"] == "EACCES")
        #expect(got["tmp"] == "ok")
        #expect(Self.events(trace, "fs", "unix-socket-path").first?["errno"]?.stringValue == "EACCES",
                "no unix-socket-path event in \(tracePath)")
    }

    @Test("a conformance run of the Node-layout fixtures under genode attributes failures to fs, net and process")
    func conformanceAttribution() throws {
        let out = try Fixture.temporaryDirectory().appendingPathComponent("conf").path
        var env = ProcessInfo.processInfo.environment
        env["NODE_OPTIONS"] = "--jitless"
        let suite = Fixture.repository.appendingPathComponent("Suites/node-fsnet-fixtures.yaml").path
        let run = try Fixture.run([Fixture.strictrun, "conformance", "run", suite, "--profile", "genode", "--jobs", "2",
                                   "--out", out], environment: env, timeout: 300)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/results.json"))
        let results = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let totals = results?["totals"] as? [String: Any]
        let byCategory = (totals?["new_failures_by_category"] as? [[String: Any]] ?? [])
            .reduce(into: [String: Int]()) { $0[$1["category"] as? String ?? "?"] = $1["tests"] as? Int }
        #expect(byCategory["fs"] == 2, "\(byCategory)")
        #expect(byCategory["net"] == 1, "\(byCategory)")
        #expect(byCategory["process"] == 1, "\(byCategory)")
        #expect(byCategory["unattributed"] == nil)
    }

    @Test("sections left out cost nothing: no fs/net rule, no traced path or socket call, no namespaces")
    func absentSectionsCostNothing() throws {
        let loader = ProfileLoader(searchPath: [Fixture.profilesDirectory], syscallExists: { SyscallNames.exists($0) })
        let micro = try FilterCompiler().compile(loader.load("microkernel"))
        #expect(micro.rules.values.filter { ["fs", "net"].contains($0.category) }.count == 0)
        // No path call reaches the tracer for the fs view. An open for writing does (the W^X
        // level's /proc/PID/mem check), and one that can read a file does for `tls.keys`
        // (KeyMaterialTests); a directory open or a stat stays in the kernel.
        #expect(micro.rules.values.filter { $0.check == .fsNet(.pathResult) }.count == 0)
        for (call, args) in [("openat", [UInt64(0xffff_ff9c), 0x1000, 0o200000]), ("open", [0x1000, 0o10000000]),
                             ("newfstatat", [0xffff_ff9c, 0x1000, 0x2000, 0]), ("access", [0x1000, 0])] {
            #expect(try FilterTests.verdict(micro, call, args).0.action == 0x7fff_0000, "\(call) is not ALLOW in the kernel")
        }
        #expect(try FilterTests.verdict(micro, "openat", [0xffff_ff9c, 0x1000, 2]).1?.check == .procMemOpen)
        #expect(try FilterTests.verdict(micro, "openat", [0xffff_ff9c, 0x1000, 0]).1?.check == .keyRead)
        #expect(!micro.pseudoCode.contains("socket"))
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", ["/bin/cat", "/proc/self/uid_map"])
        #expect(result.status == 0)
        #expect(trace.first { $0["type"]?.stringValue == "start" }?["confinement"] == nil)
        // Same user namespace as strictrun: the host's identity map.
        let host = try String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8)
        #expect(result.stdout == host)
    }
}

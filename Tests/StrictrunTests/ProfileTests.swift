import Foundation
import StrictrunPolicy
import StrictrunSandbox
import Testing

/// Profiles: the shipped ones load, `extends` merges, and every bad file is rejected with
/// its file, line and key — by the library and by the CLI (exit 125 for run, 1 for check).
@Suite("Profiles")
struct ProfileTests {
    static let loader = ProfileLoader(searchPath: [Fixture.profilesDirectory], syscallExists: { SyscallNames.exists($0) })

    @Test("shipped profiles load with the documented semantics")
    func shipped() throws {
        let micro = try Self.loader.load("microkernel")
        #expect(micro.process.fork.action == .deny(errno: EPERM))
        #expect(micro.process.spawn.action == .allow)
        #expect(micro.process.exec.action == .allow)
        #expect(micro.wx.level == .simultaneous)
        #expect(micro.wx.action.action == .deny(errno: EACCES))

        let strict = try Self.loader.load("microkernel-strict")
        #expect(strict.sources.count == 2, "extends microkernel")
        #expect(strict.process.fork.action == .deny(errno: EPERM), "inherited")
        #expect(strict.process.spawn.action == .deny(errno: EPERM))
        #expect(strict.process.exec.action == .deny(errno: EPERM))
        #expect(strict.wx.level == .noExecGain)
        #expect(strict.rules.map(\.syscall) == ["io_uring_setup"], "inherited rules")

        let apple = try Self.loader.load("apple-jit")
        #expect(apple.process.fork.action == .allow)
        #expect(apple.wx.level == .simultaneous)

        let audit = try Self.loader.load("audit")
        #expect(audit.mode == .audit)
        #expect(audit.effective(audit.process.fork) == .log)
        #expect(audit.effective(audit.wx.action) == .log)
        #expect(audit.wx.level == .noExecGain)

        // The fs/net presets extend microkernel.
        let genode = try Self.loader.load("genode")
        #expect(genode.process.fork.action == .deny(errno: EPERM), "inherited from microkernel")
        #expect(genode.fs?.readOnlyImage == true)
        #expect(genode.fs?.hide == ["/proc", "/sys", "/dev/shm"])
        #expect(genode.fs?.functions[.hardlink]?.action == .deny(errno: ENOSYS))
        #expect(genode.net?.isolated == true)
        #expect(genode.net?.families[.unix]?.action == .deny(errno: EAFNOSUPPORT))
        #expect(genode.net?.socketpair?.action == .deny(errno: ENOSYS))
        let fuchsia = try Self.loader.load("fuchsia")
        #expect(fuchsia.fs?.functions[.chmod]?.action == .noop)
        #expect(fuchsia.net?.passthroughFamilies == [.netlink])
        let kaspersky = try Self.loader.load("kasperskyos")
        #expect(kaspersky.fs?.unixSocketDirectories == ["/", "/tmp"])
        #expect(micro.fs == nil && micro.net == nil)
    }

    /// A bad profile text, and what the error must say.
    struct Bad: Sendable, CustomStringConvertible {
        var text: String
        var line: Int
        var key: String?
        var message: String
        var description: String { "\(key ?? "-"): \(message)" }
    }

    static let bad: [Bad] = [
        Bad(text: "name: x\nprocess:\n  fork: deny\n  forks: allow\n", line: 4, key: "process.forks", message: "unknown key"),
        Bad(text: "wx:\n  level: maybe\n", line: 2, key: "wx.level", message: "unknown value 'maybe'"),
        Bad(text: "rules:\n  - syscall: frobnicate\n    action: deny\n", line: 2, key: "rules[0].syscall",
            message: "unknown syscall 'frobnicate'"),
        Bad(text: "process:\n  fork: {action: deny, errno: EWHAT}\n", line: 2, key: "process.fork.errno",
            message: "unknown errno name 'EWHAT'"),
        Bad(text: "process:\n  fork: maybe\n", line: 2, key: "process.fork", message: "unknown action 'maybe'"),
        Bad(text: "process: [1, 2\n", line: 2, key: nil, message: "YAML"),
        Bad(text: "mode: 3\n", line: 1, key: "mode", message: "unknown value '3'"),
        Bad(text: "process: 4\n", line: 1, key: "process", message: "expected a mapping"),
        Bad(text: "name: ok\nrules:\n  - action: deny\n", line: 3, key: "rules[0].syscall", message: "missing"),
        Bad(text: "process:\n  fork: {action: allow, errno: EPERM}\n", line: 2, key: "process.fork.errno",
            message: "only a 'deny' action takes an errno"),
        Bad(text: "extends: nowhere-to-be-found\n", line: 1, key: "extends", message: "no such profile"),
        Bad(text: "name: a\nname: b\n", line: 1, key: "name", message: "duplicated key"),
        // The fs and net sections (issue 10).
        Bad(text: "fs:\n  watch: maybe\n", line: 2, key: "fs.watch", message: "unknown action 'maybe'"),
        Bad(text: "fs:\n  chmod: EWHAT\n", line: 2, key: "fs.chmod", message: "unknown errno name 'EWHAT'"),
        Bad(text: "fs:\n  view: partial\n", line: 2, key: "fs.view", message: "unknown value 'partial'"),
        Bad(text: "fs:\n  inotify: ENOSYS\n", line: 2, key: "fs.inotify", message: "unknown key"),
        Bad(text: "fs:\n  grants:\n    - {host: relative/path}\n", line: 3, key: "fs.grants[0].host",
            message: "not an absolute path"),
        Bad(text: "fs:\n  grants:\n    - {host: /srv, mode: rwx}\n", line: 3, key: "fs.grants[0].mode",
            message: "unknown value 'rwx'"),
        Bad(text: "fs:\n  hide: /proc\n", line: 2, key: "fs.hide", message: "expected a list of paths"),
        Bad(text: "net:\n  families:\n    ipx: deny\n", line: 3, key: "net.families.ipx", message: "unknown key"),
        Bad(text: "net:\n  tcp-ports: [80, http]\n", line: 2, key: "net.tcp-ports[1]", message: "not a TCP port"),
        Bad(text: "net:\n  socketpair: noop\n", line: 2, key: "net.socketpair", message: "'noop' applies to fs functions only"),
        Bad(text: "net:\n  stack: shared\n", line: 2, key: "net.stack", message: "unknown value 'shared'"),
        Bad(text: "net:\n  options:\n    ip-level: deny\n    IP_TTL: deny\n", line: 3, key: "net.options.IP_TTL",
            message: "overlaps 'ip-level'"),
        // Mediated TLS by protocol, keys out of the app (issue 19).
        Bad(text: "tls:\n  mediate: some\n", line: 2, key: "tls.mediate", message: "unknown value 'some'"),
        Bad(text: "tls:\n  keys: maybe\n", line: 2, key: "tls.keys", message: "unknown action 'maybe'"),
        Bad(text: "tls:\n  trust-extra: ca.pem\n", line: 2, key: "tls.trust-extra", message: "expected a list of PEM files"),
    ]

    @Test("a bad profile names file, line and key", arguments: bad)
    func rejected(_ bad: Bad) throws {
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("bad.yaml").path
        try bad.text.write(toFile: file, atomically: true, encoding: .utf8)
        do {
            let profile = try Self.loader.load(path: file)
            _ = try FilterCompiler().compile(profile)
            Issue.record("accepted: \(bad.text)")
        } catch {
            #expect(error.file == file)
            #expect(error.line == bad.line, "\(error)")
            if let key = bad.key { #expect(error.key == key, "\(error)") }
            #expect(error.description.contains(bad.message), "\(error)")
            #expect(error.description.hasPrefix("\(file):\(error.line!)"))
        }
        // The CLI: `run` refuses with 125 before running anything; `check` exits 1.
        let trace = dir.appendingPathComponent("t.jsonl").path
        let run = try Fixture.run([Fixture.strictrun, "run", "--profile", file, "--trace", trace, "--", "/bin/true"])
        #expect(run.status == 125)
        #expect(run.stderr.contains("\(file):"))
        #expect(!FileManager.default.fileExists(atPath: trace))
        let check = try Fixture.run([Fixture.strictrun, "profile", "check", file])
        #expect(check.status == 1)
    }

    @Test("extends: a child overrides its parent's values and replaces its rule for the same syscall")
    func extends() throws {
        let dir = try Fixture.temporaryDirectory()
        try """
            name: base
            process: {fork: deny, spawn: deny}
            wx: simultaneous
            rules:
              - {syscall: io_uring_setup, category: escape, action: deny, errno: ENOSYS}
              - {syscall: personality, category: escape, action: log}
            """.write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        try """
            extends: base
            process: {spawn: allow}
            rules:
              - {syscall: personality, category: escape, action: deny}
            """.write(to: dir.appendingPathComponent("child.yaml"), atomically: true, encoding: .utf8)
        let profile = try Self.loader.load(path: dir.appendingPathComponent("child.yaml").path)
        #expect(profile.name == "child", "a profile is named by its own file unless it says otherwise")
        #expect(profile.process.fork.action == .deny(errno: EPERM))
        #expect(profile.process.spawn.action == .allow)
        #expect(profile.process.exec.action == .allow, "exec follows spawn when unset")
        #expect(profile.wx.level == .simultaneous)
        #expect(profile.rules.count == 2)
        #expect(profile.rules.first { $0.syscall == "personality" }?.setting.action == .deny(errno: EPERM))
        #expect(profile.rules.first { $0.syscall == "personality" }?.setting.location?.line == 4)
    }

    @Test("an extends cycle is an error, not a hang")
    func cycle() throws {
        let dir = try Fixture.temporaryDirectory()
        try "extends: b\n".write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "extends: a\n".write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: ProfileError.self) { try Self.loader.load(path: dir.appendingPathComponent("a.yaml").path) }
    }

    @Test("the CLI lists, shows, checks and dumps every shipped profile")
    func cli() throws {
        let list = try Fixture.run([Fixture.strictrun, "profile", "list"])
        #expect(list.status == 0)
        for name in ["microkernel", "microkernel-strict", "apple-jit", "audit", "genode", "fuchsia", "kasperskyos"] {
            #expect(list.stdout.contains(name))
            let show = try Fixture.run([Fixture.strictrun, "profile", "show", name])
            #expect(show.status == 0)
            #expect(show.stdout.contains("name: \(name)"))
            let bpf = try Fixture.run([Fixture.strictrun, "profile", "bpf", "--raw", name])
            #expect(bpf.status == 0)
            #expect(bpf.stdout.contains("TRACE("), "the dump shows traced rules:\n\(bpf.stdout)")
            #expect(bpf.stdout.contains("ld  arch"))
        }
        let check = try Fixture.run([Fixture.strictrun, "profile", "check"]
                                    + ["microkernel", "microkernel-strict", "apple-jit", "audit"])
        #expect(check.status == 0)
        #expect(check.stdout.split(separator: "\n").count == 4)
    }
}

import Foundation
@testable import StrictrunPolicy
@testable import StrictrunSandbox
import StrictrunSystem
import StrictrunTrace
import Testing

/// The cached compiled filter (issue 17): a repeated run takes its BPF from the cache, an edit
/// of a profile, of what it extends or of strictrun gives another key, a tampered entry is
/// refused, and the program is the one libseccomp would have made, pid included.
@Suite("Filter cache")
struct FilterCacheTests {
    static let identity = CompilerIdentity(version: "test", buildID: [1, 2, 3])
    static let secret: [UInt8] = Array(repeating: 7, count: 32)

    static func cache(_ directory: URL, secret: [UInt8] = secret) throws -> FilterCache {
        try FilterCache(directory: directory.path, identity: identity, secret: { secret })
    }

    /// A fresh program, as a run without the cache compiles it.
    static func fresh(_ profile: Profile, supervisor: Int32?) throws -> [BPFInstruction] {
        try FilterCompiler(supervisor: supervisor).compile(profile, pseudoCode: false).program
    }

    @Test("a cached program, patched with the run's pid, is the fresh program, instruction by instruction, for every built-in profile")
    func patchedEqualsFresh() throws {
        let entries = ProfileTests.loader.list()
        #expect(entries.count >= 9)
        for entry in entries {
            for audit in [false, true] {
                // A cache of its own: profiles with the same filter (an alias, audit) share an entry.
                let cache = try Self.cache(try Fixture.temporaryDirectory())
                var profile = try ProfileTests.loader.load(path: entry.path)
                if audit { profile.mode = .audit }
                let filled = try FilterCompiler(supervisor: 4242).compile(profile, pseudoCode: false, cache: cache)
                #expect(!filled.report.hit && filled.report.notes.last == "stored", "\(entry.name): \(filled.report)")
                #expect(filled.policy.program == (try Self.fresh(profile, supervisor: 4242)))
                for pid in [getpid(), 1, 2, 300, 77_777, 4_194_304] {
                    let cached = try FilterCompiler(supervisor: pid).compile(profile, pseudoCode: false, cache: cache)
                    #expect(cached.report.hit, "\(entry.name) pid \(pid): \(cached.report)")
                    let fresh = try Self.fresh(profile, supervisor: pid)
                    #expect(cached.policy.program.count == fresh.count)
                    for (index, (got, want)) in zip(cached.policy.program, fresh).enumerated() where got != want {
                        Issue.record("\(entry.name) (audit: \(audit)) pid \(pid): instruction \(index) is \(got), fresh \(want)")
                    }
                    #expect(cached.policy.rules == filled.policy.rules)
                }
                // `profile bpf`'s filter (no supervisor rules) is an entry of its own.
                let bare = try FilterCompiler().compile(profile, pseudoCode: false, cache: cache)
                #expect(!bare.report.hit)
                let again = try FilterCompiler().compile(profile, pseudoCode: false, cache: cache)
                let bareFresh = try Self.fresh(profile, supervisor: nil)
                #expect(again.report.hit && again.policy.program == bareFresh)
            }
        }
    }

    @Test("the key changes with strictrun's version, its build-id, libseccomp and every rule; not with the pid")
    func keyFunction() throws {
        let profile = try ProfileTests.loader.load("microkernel")
        let key = { (profile: Profile, identity: CompilerIdentity) in
            FilterCacheKey.digest(FilterCompiler(supervisor: FilterCache.placeholder).ruleList(profile), identity: identity)
        }
        let base = key(profile, Self.identity)
        #expect(FilterCacheKey.digest(FilterCompiler().ruleList(profile), identity: Self.identity) != base)
        #expect(key(profile, CompilerIdentity(version: "test2", buildID: [1, 2, 3])) != base)
        #expect(key(profile, CompilerIdentity(version: "test", buildID: [1, 2, 4])) != base)
        #expect(key(profile, CompilerIdentity(version: "test", buildID: [1, 2, 3], backend: [9])) != base)
        var edited = profile
        edited.rules.append(SyscallRule(syscall: "umask", category: "policy", name: "umask",
                                        setting: RuleSetting(.deny(errno: EPERM))))
        #expect(key(edited, Self.identity) != base)
        var fork = profile
        fork.process.fork = RuleSetting(.allow)
        #expect(key(fork, Self.identity) != base)
        // Every run's pid reaches the same entry.
        let cache = try Self.cache(try Fixture.temporaryDirectory())
        let files = try [getpid(), 1, 2, 4242, 4_194_304].map {
            try FilterCompiler(supervisor: $0).compile(profile, pseudoCode: false, cache: cache).report.file
        }
        #expect(Set(files).count == 1)
        // The running binary has a build-id (the release build must have one too: BuildID reads the note).
        #expect(CompilerIdentity.running(version: strictrunVersion) != nil)
        #expect(CompilerIdentity.running(version: strictrunVersion)?.backend.count ?? 0 > 12)
    }

    @Test("an entry flipped, cut short, sealed with another secret or moved to another key is refused and replaced")
    func tamperedEntries() throws {
        let directory = try Fixture.temporaryDirectory()
        let cache = try Self.cache(directory)
        let profile = try ProfileTests.loader.load("microkernel")
        let compiler = FilterCompiler(supervisor: 4242)
        let first = try compiler.compile(profile, pseudoCode: false, cache: cache)
        let path = first.report.file
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var flipped = good
        flipped[flipped.count - 100] ^= 0x01  // inside the program
        let damaged: [(String, Data)] = [("flipped", flipped), ("short", good.prefix(40)), ("empty", Data()),
                                         ("foreign", Data("not an entry at all".utf8) + good.dropFirst(19))]
        for (what, bytes) in damaged {
            try bytes.write(to: URL(fileURLWithPath: path))
            let again = try compiler.compile(profile, pseudoCode: false, cache: cache)
            #expect(!again.report.hit && again.report.notes.last == "replaced", "\(what): \(again.report)")
            #expect(again.policy.program == (try Self.fresh(profile, supervisor: 4242)))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == good, "\(what): the entry was not rewritten")
        }
        let stranger = try Self.cache(directory, secret: Array(repeating: 8, count: 32))
        let other = try FilterCompiler(supervisor: 4242).compile(profile, pseudoCode: false, cache: stranger)
        #expect(!other.report.hit && other.report.notes.first?.contains("HMAC") == true, "\(other.report)")
        // A genuine entry (sealed again with the right secret: the stranger replaced it) under another key's name.
        #expect(!(try compiler.compile(profile, pseudoCode: false, cache: cache)).report.hit)
        var edited = profile
        edited.process.fork = RuleSetting(.allow)
        let otherKey = try compiler.compile(edited, pseudoCode: false, cache: cache)
        try FileManager.default.removeItem(atPath: otherKey.report.file)
        try FileManager.default.copyItem(atPath: path, toPath: otherKey.report.file)
        let moved = try compiler.compile(edited, pseudoCode: false, cache: cache)
        #expect(!moved.report.hit && moved.report.notes.first?.contains("another key") == true, "\(moved.report)")
        #expect(moved.policy.program == (try Self.fresh(edited, supervisor: 4242)))
    }

    @Test("every built-in profile, enforcing or audited, sends add_key, request_key and keyctl to escape/keyring")
    func keyringRuleInEveryProfile() throws {
        for entry in ProfileTests.loader.list() {
            for audit in [false, true] {
                let policy = try FilterTests.compile(entry.path, audit: audit)
                for name in ["add_key", "request_key", "keyctl"] {
                    let (verdict, rule) = try FilterTests.verdict(policy, name, [0xffff_fffc])
                    #expect(verdict.action == 0x7ff0_0000 && rule?.category == "escape" && rule?.name == "keyring",
                            "\(entry.name) (audit: \(audit)): \(name) gives \(verdict)")
                }
            }
        }
    }

    @Test("no secret, no cache: a keyring that fails leaves nothing to read or write")
    func noSecret() throws {
        let directory = try Fixture.temporaryDirectory().appendingPathComponent("filters")
        #expect(throws: SystemError.self) {
            try FilterCache(directory: directory.path, identity: Self.identity,
                            secret: { () throws(SystemError) -> [UInt8] in throw SystemError("add_key", errno: EDQUOT) })
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }
}

/// The cache as runs of the built binary use it: each run has its own cache directory
/// (`STRICTRUN_CACHE_DIR`) and says what the cache did (hidden `--filter-cache-stats`: hit or
/// miss, and the SHA-256 of the program it installed, with its pid).
@Suite("Filter cache in runs")
struct FilterCacheRunTests {
    /// One `filter cache:` line.
    struct Stats {
        var hit: Bool
        var line: String
        var digest: String
        var supervisor: Int32?
    }

    static func stats(_ stderr: String) -> Stats? {
        guard let line = stderr.split(separator: "\n").first(where: { $0.hasPrefix("strictrun: filter cache: ") })
        else { return nil }
        let text = String(line)
        let field = { (name: String) -> String? in
            text.components(separatedBy: name + " ").last?.split(separator: ",").first.map(String.init)
        }
        return Stats(hit: text.hasPrefix("strictrun: filter cache: hit"), line: text, digest: field("sha256") ?? "",
                     supervisor: field("supervisor").flatMap { Int32($0) })
    }

    static func environment(_ cache: URL, _ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(["STRICTRUN_CACHE_DIR": cache.path].merging(extra) { $1 }) { $1 }
    }

    /// `run --filter-cache-stats -p PROFILE -- argv` with `cache` as the cache directory.
    static func run(_ cache: URL, _ profile: String, _ argv: [String], extra: [String] = [],
                    environment: [String: String] = [:]) throws -> (result: ProcessResult, trace: [JSONValue], stats: Stats) {
        let (result, trace, _) = try Fixture.strictrun(profile: profile, argv, extra: ["--filter-cache-stats"] + extra,
                                                       environment: Self.environment(cache, environment))
        let stats = try #require(Self.stats(result.stderr), "no filter cache line:\n\(result.stderr)")
        return (result, trace, stats)
    }

    /// The digest of the program a run without the cache would have installed.
    static func freshDigest(_ path: String, supervisor: Int32?) throws -> String {
        let profile = try ProfileTests.loader.load(path: path)
        return FilterCache.digest(try FilterCacheTests.fresh(profile, supervisor: supervisor))
    }

    static func entries(_ cache: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("filters").path)) ?? [])
            .filter { $0.hasSuffix(".bpf") }
    }

    /// Python making the calls the tests' profiles deny, printing `name ok` or `name ERRNO`.
    static let probe = [Fixture.python, "-c", """
        import errno, os
        for name, call in [("sched_yield", os.sched_yield), ("getpriority", lambda: os.getpriority(os.PRIO_PROCESS, 0))]:
            try:
                call(); print(name, "ok")
            except OSError as e:
                print(name, errno.errorcode[e.errno])
        """]

    @Test("a repeated run takes its filter from the cache (0700 directory, 0600 entry); the filter is the one compiled without it")
    func repeatedRun() throws {
        let cache = try Fixture.temporaryDirectory()
        let profile = Fixture.profilesDirectory + "/microkernel.yaml"
        let first = try Self.run(cache, profile, ["/bin/true"])
        #expect(first.result.status == 0 && !first.stats.hit && first.stats.line.contains("stored"), "\(first.stats.line)")
        let files = Self.entries(cache)
        #expect(files.count == 1)
        let directory = cache.appendingPathComponent("filters").path
        let attributes = { (path: String) in
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? -1
        }
        #expect(attributes(directory) == 0o700 && attributes(directory + "/" + (files.first ?? "")) == 0o600)
        let second = try Self.run(cache, profile, ["/bin/true"])
        #expect(second.result.status == 0 && second.stats.hit, "\(second.stats.line)")
        #expect(second.stats.supervisor != first.stats.supervisor)
        for run in [first, second] {
            #expect(run.stats.digest == (try Self.freshDigest(profile, supervisor: run.stats.supervisor)))
        }
        let off = try Self.run(cache, profile, ["/bin/true"], environment: ["STRICTRUN_FILTER_CACHE": "0"])
        #expect(off.stats.line.contains("off (STRICTRUN_FILTER_CACHE=0)"), "\(off.stats.line)")
        #expect(off.stats.digest == (try Self.freshDigest(profile, supervisor: off.stats.supervisor)))
    }

    @Test("a profile edited, then what it extends edited: each a new entry, and the run follows the edited rules")
    func invalidation() throws {
        let cache = try Fixture.temporaryDirectory()
        let dir = try Fixture.temporaryDirectory()
        let parent = dir.appendingPathComponent("parent.yaml"), child = dir.appendingPathComponent("child.yaml")
        let parentText = "name: parent\nextends: \(Fixture.profilesDirectory)/microkernel.yaml\n"
        let childText = "name: child\nextends: parent.yaml\n"
        try parentText.write(to: parent, atomically: true, encoding: .utf8)
        try childText.write(to: child, atomically: true, encoding: .utf8)
        func check(_ hit: Bool, _ expected: [String]) throws {
            let run = try Self.run(cache, child.path, Self.probe)
            #expect(run.stats.hit == hit, "\(run.stats.line)")
            #expect(run.result.stdout.split(separator: "\n").map(String.init) == expected, "\(run.result.stdout)\(run.result.stderr)")
            #expect(run.stats.digest == (try Self.freshDigest(child.path, supervisor: run.stats.supervisor)))
        }
        try check(false, ["sched_yield ok", "getpriority ok"])
        try check(true, ["sched_yield ok", "getpriority ok"])
        try (childText + "rules:\n  - {syscall: sched_yield, action: deny, errno: EPERM}\n")
            .write(to: child, atomically: true, encoding: .utf8)
        try check(false, ["sched_yield EPERM", "getpriority ok"])
        try check(true, ["sched_yield EPERM", "getpriority ok"])
        try (parentText + "rules:\n  - {syscall: getpriority, action: deny, errno: EACCES}\n")
            .write(to: parent, atomically: true, encoding: .utf8)
        try check(false, ["sched_yield EPERM", "getpriority EACCES"])
        try check(true, ["sched_yield EPERM", "getpriority EACCES"])
        #expect(Self.entries(cache).count == 3)
    }

    @Test("an entry rewritten to allow everything (HMAC left as it was) is refused and recompiled; the denial stays")
    func poisonedEntry() throws {
        let cache = try Fixture.temporaryDirectory()
        let dir = try Fixture.temporaryDirectory()
        let profile = dir.appendingPathComponent("p.yaml")
        try "extends: \(Fixture.profilesDirectory)/microkernel.yaml\nrules:\n  - {syscall: sched_yield, action: deny, errno: EPERM}\n"
            .write(to: profile, atomically: true, encoding: .utf8)
        _ = try Self.run(cache, profile.path, Self.probe)
        let entry = cache.appendingPathComponent("filters/" + (Self.entries(cache).first ?? "none"))
        var bytes = [UInt8](try Data(contentsOf: entry))
        // Every instruction of the program `ret SECCOMP_RET_ALLOW` (BPF_RET|BPF_K = 0x06): magic (23),
        // key (32), placeholder, position count, positions, instruction count, instructions, HMAC.
        let u32 = { (at: Int) in (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let positions = u32(23 + 32 + 4)
        let count = u32(23 + 32 + 8 + 4 * positions)
        let programStart = 23 + 32 + 12 + 4 * positions
        #expect(count > 0 && programStart + 8 * count + 32 == bytes.count)
        for index in 0..<count {
            bytes.replaceSubrange(programStart + 8 * index..<programStart + 8 * index + 8, with: [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f])
        }
        try Data(bytes).write(to: entry)
        let run = try Self.run(cache, profile.path, Self.probe)
        #expect(!run.stats.hit && run.stats.line.contains("HMAC") && run.stats.line.contains("replaced"), "\(run.stats.line)")
        #expect(run.result.stdout.contains("sched_yield EPERM"), "\(run.result.stdout)")
        #expect(run.stats.digest == (try Self.freshDigest(profile.path, supervisor: run.stats.supervisor)))
        #expect(try Self.run(cache, profile.path, Self.probe).stats.hit)
    }

    @Test("`profile bpf --raw` prints the same program from an empty cache, a filled one and none")
    func profileBPF() throws {
        let cache = try Fixture.temporaryDirectory()
        let argv = [Fixture.strictrun, "profile", "bpf", "--raw", "--filter-cache-stats", "microkernel"]
        let empty = try Fixture.run(argv, environment: Self.environment(cache))
        let filled = try Fixture.run(argv, environment: Self.environment(cache))
        let none = try Fixture.run(argv, environment: Self.environment(cache, ["STRICTRUN_FILTER_CACHE": "0"]))
        #expect(Self.stats(empty.stderr)?.hit == false && Self.stats(filled.stderr)?.hit == true, "\(empty.stderr)\(filled.stderr)")
        #expect(empty.status == 0 && filled.stdout == empty.stdout && none.stdout == empty.stdout)
        #expect(filled.stdout.contains("# BPF program:"))
    }

    @Test("add_key, request_key and keyctl are refused (EACCES, escape/keyring) under enforce and --audit", arguments: [false, true])
    func keyring(audit: Bool) throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("escape_keyring")],
                                                               extra: audit ? ["--audit"] : [])
        let outcomes = results(result.stdout)
        #expect(outcomes.count == 4 && outcomes.values.allSatisfy { $0 == ["errno=EACCES"] }, "\(result.stdout)")
        let events = trace.policyEvents.filter { $0["rule"]?.stringValue == "keyring" }
        #expect(events.count == 4, "\(tracePath)")
        #expect(events.allSatisfy { $0["category"]?.stringValue == "escape" && $0["action"]?.stringValue == "deny"
                                    && $0["errno"]?.stringValue == "EACCES" })
    }
}

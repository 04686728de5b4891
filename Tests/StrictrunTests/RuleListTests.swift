import Foundation
import StrictrunPolicy
import StrictrunSandbox
import Testing

/// The pure first stage of compilation: a profile's rule list, built without libseccomp
/// (syscall names, argument conditions as values, the action, the rule table).
@Suite("Rule lists (pure stage)")
struct RuleListTests {
    /// Every name is a syscall: the stage takes the answer as a closure, not from libseccomp.
    static func rules(_ profile: Profile, exists: (String) -> Bool = { _ in true }) -> RuleList {
        RuleListBuilder.rules(for: profile, syscallExists: exists)
    }

    /// A profile read from YAML text (the loader with a fake syscall table).
    static func profile(_ yaml: String) throws -> Profile {
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("p.yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let loader = ProfileLoader(searchPath: [Fixture.profilesDirectory], syscallExists: { _ in true })
        return try loader.load(path: file)
    }

    static func shipped(_ name: String) throws -> Profile {
        try ProfileLoader(searchPath: [Fixture.profilesDirectory], syscallExists: { _ in true }).load(name)
    }

    static let forkFlags: UInt64 = 0x0120_0011
    static let threadFlags: UInt64 = 0x003d_0f00
    static let vforkFlags: UInt64 = 0x4111

    @Test("microkernel routes TLS ports to the broker (connect traced); microkernel-tls is an alias; genode does not route")
    func microkernelRoutesTLS() throws {
        let micro = try Self.shipped("microkernel")
        #expect(micro.tls?.ports.contains(443) == true)
        #expect(micro.tls?.action.action == .route)
        let list = Self.rules(micro)
        #expect(list.tracedRules(for: "connect").map(\.check) == [.tlsConnect])
        let alias = Self.rules(try Self.shipped("microkernel-tls"))
        #expect(alias.filterRules.map(\.syscall) == list.filterRules.map(\.syscall))
        #expect(alias.filterRules.map(\.action) == list.filterRules.map(\.action))
        #expect(Self.rules(try Self.shipped("genode")).tracedRules(for: "connect").allSatisfy { $0.check != .tlsConnect })
    }

    @Test("microkernel: fork and clone-as-fork traced, spawn and threads untouched, clone3 ENOSYS")
    func microkernel() throws {
        let list = Self.rules(try Self.shipped("microkernel"))
        #expect(list.tracedRules(for: "fork").map(\.name) == ["fork"])
        #expect(list.tracedRules(for: "clone").map(\.name) == ["fork", "untraced-clone"])
        #expect(list.filterRules(for: "vfork").isEmpty, "spawn is allowed: no rule at all")
        #expect(list.filterRules(for: "clone3").map(\.action) == [.errno(ENOSYS)])
        #expect(list.action(for: "clone", arguments: [Self.forkFlags]) == .trace(list.tracedRules(for: "fork")[0].id))
        #expect(list.action(for: "clone", arguments: [Self.threadFlags]) == .allow)
        #expect(list.action(for: "clone", arguments: [Self.vforkFlags]) == .allow)
        #expect(list.action(for: "read") == .allow)
        // W+X: mmap with both bits, mprotect(PROT_EXEC) to the tracer.
        // … and, for W+X by alias, file-backed exec-private and write-shared mmaps.
        let mmap = list.filterRules(for: "mmap")
        #expect(mmap.count == 4)
        #expect(mmap[0].conditions == [.masked(2, mask: 6, equals: 6)])
        #expect(list.tracedRules(for: "mmap").filter { $0.check == .wxAlias }.count == 2)
        #expect(list.tracedRules(for: "mprotect").first?.check == .wx(.simultaneous))
        // The foreign-ABI rule is the bad-arch action.
        #expect(list.foreignABIRule?.name == "foreign-abi")
        #expect(list.badArchAction == .trace(list.foreignABIRule!.id))
        #expect(!list.kernelMDWE)
        // Ids are dense from 1 and every traced filter rule names one.
        #expect(Set(list.rules.keys) == Set(1...UInt16(list.rules.count)))
        for rule in list.filterRules {
            if case .trace(let id) = rule.action { #expect(list.rules[id] != nil) }
        }
    }

    @Test("microkernel-strict: fork, vfork, clone shapes and exec traced; kernel MDWE")
    func strict() throws {
        let list = Self.rules(try Self.shipped("microkernel-strict"))
        for name in ["fork", "vfork", "clone", "execve", "execveat"] {
            #expect(!list.tracedRules(for: name).isEmpty, "\(name)")
        }
        #expect(list.tracedRules(for: "vfork").map(\.name) == ["spawn"])
        #expect(list.tracedRules(for: "execve").first?.check == .execAfterFirst)
        #expect(list.action(for: "clone", arguments: [Self.vforkFlags]) == .trace(list.tracedRules(for: "vfork")[0].id))
        #expect(list.kernelMDWE)
    }

    @Test("mode: audit turns every deny into a log, remembers what it was, and turns MDWE off")
    func audit() throws {
        var profile = try Self.shipped("microkernel-strict")
        profile.mode = .audit
        let list = Self.rules(profile)
        #expect(!list.rules.isEmpty)
        for rule in list.rules.values {
            // Routing TLS (inherited from microkernel) denies nothing: audit mode leaves it.
            if rule.name == "peer-name" {
                #expect(rule.action == .allow)  // the answer a routed socket's getpeername gets: no decision
                continue
            }
            if rule.name == "tcp-stream" {
                #expect(rule.action == .route)
                continue
            }
            #expect(rule.action == .log, "\(rule.name)")
            if rule.name != "seccomp" { #expect(rule.auditedFrom?.blocks == true, "\(rule.name)") }
        }
        #expect(!list.kernelMDWE)
    }

    @Test("wx emulate adds mprotect, munmap, mremap and the MAP_FIXED mmaps; audit falls back to simultaneous")
    func emulate() throws {
        let emulate = Self.rules(try Self.profile("wx: {level: emulate, action: deny}\n"))
        for name in ["mprotect", "munmap", "mremap"] {
            #expect(emulate.tracedRules(for: name).map(\.check) == [.wx(.emulate)], "\(name)")
            #expect(emulate.filterRules(for: name)[0].conditions.isEmpty)
        }
        #expect(emulate.filterRules(for: "mmap").count == 7)
        #expect(emulate.filterRules(for: "pkey_mprotect").first?.conditions == [.notEqual(3, 0xffff_ffff)])
        let simultaneous = Self.rules(try Self.profile("wx: simultaneous\n"))
        #expect(simultaneous.filterRules(for: "munmap").isEmpty)
        #expect(simultaneous.filterRules(for: "mmap").count == 4)
        let audited = Self.rules(try Self.profile("mode: audit\nwx: {level: emulate, action: deny}\n"))
        #expect(audited.filterRules(for: "munmap").isEmpty)
        #expect(audited.tracedRules(for: "mmap").first?.check == .wx(.simultaneous))
    }

    @Test("absent fs, net and tls sections add no rules; present ones add theirs")
    func sections() throws {
        let bare = Self.rules(try Self.profile("name: bare\n"))
        let fsNetNames = ["socket", "socketpair", "setsockopt", "bind", "connect", "symlink", "chmod", "flock",
                          "mkdir", "stat", "sendto", "fcntl"]
        for name in fsNetNames { #expect(bare.filterRules(for: name).isEmpty, "\(name)") }
        #expect(!bare.rules.values.contains { ["fs", "net", "tls"].contains($0.category) })

        let genode = Self.rules(try Self.shipped("genode"))
        #expect(genode.tracedRules(for: "link").first?.name == "hardlink")
        #expect(genode.tracedRules(for: "socketpair").first?.name == "socketpair")
        #expect(genode.tracedRules(for: "socket").map(\.name).contains("family-unix"))
        #expect(genode.tracedRules(for: "mkdir").first?.check == .fsNet(.pathResult))
        #expect(genode.rules.values.contains { $0.name == "multicast" && $0.check == .fsNet(.membershipResult) })
        // The fs view traces every open: the /proc/PID/mem rule needs no filter rules of its own.
        #expect(genode.rules.values.contains { $0.name == "proc-mem-write" })
        #expect(!genode.tracedRules(for: "openat").contains { $0.name == "proc-mem-write" })

        let fuchsia = Self.rules(try Self.shipped("fuchsia"))
        #expect(fuchsia.rules.values.first { $0.name == "chmod" }?.action == .noop)
        #expect(fuchsia.tracedRules(for: "socket").map(\.name).contains("platform-passthrough"))

        let tls = Self.rules(try Self.profile("tls: {ports: [443]}\n"))
        #expect(tls.tracedRules(for: "connect").first?.check == .tlsConnect)
        #expect(tls.filterRules(for: "sendto").first?.conditions == [.masked(3, mask: 0x2000_0000, equals: 0x2000_0000)])
    }

    @Test("optional syscalls the ABI lacks are left out by name (injected lookup, no libseccomp)")
    func injectedLookup() throws {
        let profile = try Self.profile("fs: {chmod: ENOSYS}\n")
        let all = Self.rules(profile)
        #expect(all.filterRules(for: "fchmodat2").count == 1)
        let without = Self.rules(profile, exists: { $0 != "fchmodat2" })
        #expect(without.filterRules(for: "fchmodat2").isEmpty)
        #expect(without.filterRules(for: "chmod").count == 1)
    }

    @Test("the profile's rules: a traced rule per non-allow action, an explicit ALLOW for allow")
    func profileRules() throws {
        let list = Self.rules(try Self.profile("""
            rules:
              - {syscall: uname, category: probe, name: uname-probe, action: log}
              - {syscall: getpid, action: allow}
            """))
        let uname = list.tracedRules(for: "uname")
        #expect(uname.map(\.name) == ["uname-probe"])
        #expect(uname.first?.category == "probe")
        #expect(uname.first?.location?.line == 2)
        #expect(list.filterRules(for: "getpid").map(\.action) == [.allow])
        #expect(list.filterRules(for: "getpid").first?.location?.line == 3)
    }

    @Test("the backend compiles the list into the same filter FilterCompiler gives")
    func backend() throws {
        let profile = try ProfileTests.loader.load("microkernel")
        let list = FilterCompiler().ruleList(profile)
        let viaStages = try SeccompBackend().compile(list)
        let direct = try FilterCompiler().compile(profile)
        #expect(viaStages.program == direct.program)
        #expect(viaStages.rules == direct.rules)
        #expect(viaStages.pseudoCode == direct.pseudoCode)
    }
}

import Foundation
import StrictrunPolicy
import StrictrunSandbox
import StrictrunTrace
import Testing

/// Answers per call site (`answers:`, `run --answer`): validated like the rest of a profile, and
/// a site's answer changes that site only (a real program makes the same call from two sites).
@Suite("answers per call site")
struct AnswerTests {
    static let loader = ProfileLoader(searchPath: [Fixture.profilesDirectory], syscallExists: { SyscallNames.exists($0) })

    @Test("answers: read with their locations, merged over what a profile extends")
    func profileSection() throws {
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("answers.yaml").path
        try """
            extends: microkernel
            answers:
              - {site: 0123456789abcdef, action: ENOSYS}
              - {site: fedcba9876543210, syscall: clone, action: allow}
              - {rule: process/fork, action: noop}
              - {site: 0123456789abcdef, action: profile}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let profile = try Self.loader.load(path: file)
        #expect(profile.answers.count == 4)
        #expect(profile.answers[0] == SiteAnswer(site: "0123456789abcdef", action: .errno(ENOSYS), location: profile.answers[0].location))
        #expect(profile.answers[0].location?.line == 3)
        #expect(profile.answers[1].syscall == "clone" && profile.answers[1].action == .allow)
        #expect(profile.answers[2].site == nil && profile.answers[2].rule == "process/fork" && profile.answers[2].action == .noop)
        #expect(profile.answers[3].action == .profile)
        // Coverage: site, syscall and rule must all match where given.
        #expect(profile.answers[1].covers(site: "fedcba9876543210", syscall: "clone", category: "process", rule: "fork"))
        #expect(!profile.answers[1].covers(site: "fedcba9876543210", syscall: "fork", category: "process", rule: "fork"))
        #expect(!profile.answers[1].covers(site: "0123456789abcdef", syscall: "clone", category: "process", rule: "fork"))
        #expect(profile.answers[2].covers(site: nil, syscall: "clone", category: "process", rule: "fork"))
        #expect(!profile.answers[2].covers(site: nil, syscall: "clone", category: "process", rule: "spawn"))
    }

    @Test("a bad answers entry names file, line and key", arguments: [
        ("answers: {site: x}\n", 1, "answers", "a list"),
        ("answers:\n  - {site: 0123456789ABCDEF, action: ENOSYS}\n", 2, "answers[0].site", "not a call site id"),
        ("answers:\n  - {site: 0123456789abcdef, action: EWHAT}\n", 2, "answers[0].action", "unknown answer 'EWHAT'"),
        ("answers:\n  - {site: 0123456789abcdef}\n", 2, "answers[0].action", "missing"),
        ("answers:\n  - {action: allow}\n", 2, "answers[0].site", "missing (or name a 'rule')"),
        ("answers:\n  - {site: 0123456789abcdef, syscall: frobnicate, action: allow}\n", 2, "answers[0].syscall",
         "unknown syscall 'frobnicate'"),
        ("answers:\n  - {site: 0123456789abcdef, action: allow, errno: EPERM}\n", 2, "answers[0].errno", "unknown key"),
    ])
    func rejected(_ text: String, _ line: Int, _ key: String, _ message: String) throws {
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("bad.yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        do {
            _ = try Self.loader.load(path: file)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.file == file && error.line == line && error.key == key, "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test("run --answer: parsed, and refused with 125 before anything runs when bad")
    func runOption() throws {
        let exists: (String) -> Bool = { SyscallNames.exists($0) }
        #expect(try SiteAnswer.parse("0123456789abcdef=ENOSYS", syscallExists: exists)
                == SiteAnswer(site: "0123456789abcdef", action: .errno(ENOSYS)))
        #expect(try SiteAnswer.parse("0123456789abcdef:clone=allow", syscallExists: exists).syscall == "clone")
        let rule = try SiteAnswer.parse("rule=process/fork=allow", syscallExists: exists)
        #expect(rule.site == nil && rule.rule == "process/fork" && rule.action == .allow)
        #expect(rule.description == "rule=process/fork=allow")
        for bad in ["0123456789abcdef", "xyz=allow", "0123456789abcdef=maybe", "0123456789abcdef:nope=allow", "rule==allow"] {
            #expect(throws: AnswerParseError.self, "\(bad)") { try SiteAnswer.parse(bad, syscallExists: exists) }
        }
        let dir = try Fixture.temporaryDirectory()
        let trace = dir.appendingPathComponent("t.jsonl").path
        let run = try Fixture.run([Fixture.strictrun, "run", "--answer", "nothex=ENOSYS", "--trace", trace, "--", "/bin/true"])
        #expect(run.status == 125)
        #expect(run.stderr.contains("--answer nothex=ENOSYS: 'nothex' is not a call site id"))
        #expect(!FileManager.default.fileExists(atPath: trace))
    }

    /// The sites of the example's two forks, from a run under the profile's own answers.
    static func forkSites() throws -> (a: String, b: String) {
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("answer_two_sites")])
        #expect(results(result.stdout) == ["fork_a": ["errno=EPERM"], "fork_b": ["errno=EPERM"]])
        let forks = trace.policyEvents.filter { $0["rule"]?.stringValue == "fork" }
        guard forks.count == 2, let a = forks[0]["site"]?.stringValue, let b = forks[1]["site"]?.stringValue else {
            throw AnswerTestFailure("expected two fork events with sites: \(forks)")
        }
        #expect(a != b)
        #expect(forks[0]["stack"]?.arrayValue?.contains { $0["symbol"]?.stringValue == "fork_at_a" } == true)
        return (a, b)
    }

    @Test("a site's answer changes only that site: the same call from the other site keeps the profile's answer")
    func onlyThatSite() throws {
        let (a, b) = try Self.forkSites()
        // ENOSYS at a: a gets ENOSYS, b still EPERM; the trace says which answer each call got.
        let (enosys, trace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("answer_two_sites")],
                                                       extra: ["--answer", "\(a)=ENOSYS"])
        #expect(enosys.status == 0)
        #expect(results(enosys.stdout) == ["fork_a": ["errno=ENOSYS"], "fork_b": ["errno=EPERM"]])
        let forks = trace.policyEvents.filter { $0["rule"]?.stringValue == "fork" }
        #expect(forks.map { $0["site"]?.stringValue } == [a, b])
        #expect(forks.map { $0["errno"]?.stringValue } == ["ENOSYS", "EPERM"])
        #expect(forks[0]["answer"]?.stringValue == "ENOSYS" && forks[0]["profile_answer"]?.stringValue == "deny(EPERM)")
        #expect(forks[1]["answer"] == nil)
        // allow at b: b's fork runs (its child is a forked process, not a spawn child), a keeps EPERM.
        let (allowed, allowedTrace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("answer_two_sites")],
                                                               extra: ["--answer", "\(b)=allow"])
        #expect(allowed.status == 0)
        #expect(results(allowed.stdout) == ["fork_a": ["errno=EPERM"], "fork_b": ["ok"]])
        #expect(allowedTrace.filter { $0["type"]?.stringValue == "process" }.count == 1)
        #expect(!allowedTrace.policyEvents.contains { $0["rule"]?.stringValue == "spawn-child" })
        // The same as a profile entry, and a syscall that does not match leaves the site alone.
        let dir = try Fixture.temporaryDirectory()
        let file = dir.appendingPathComponent("p.yaml").path
        try "extends: microkernel\nanswers:\n  - {site: \(a), action: allow}\n  - {site: \(b), syscall: vfork, action: allow}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let (profiled, _, _) = try Fixture.strictrun(profile: file, [Fixture.example("answer_two_sites")])
        #expect(results(profiled.stdout) == ["fork_a": ["ok"], "fork_b": ["errno=EPERM"]])
        // A rule-wide answer covers both sites without a stack.
        let (ruled, _, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("answer_two_sites")],
                                                  extra: ["--answer", "rule=process/fork=ENOSYS", "--no-stacks"])
        #expect(results(ruled.stdout) == ["fork_a": ["errno=ENOSYS"], "fork_b": ["errno=ENOSYS"]])
    }

    @Test("fail closed: without stacks no site can be computed, and the profile's answer is kept")
    func failClosed() throws {
        let (a, _) = try Self.forkSites()
        let (result, trace, _) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("answer_two_sites")],
                                                       extra: ["--answer", "\(a)=allow", "--no-stacks"])
        #expect(results(result.stdout) == ["fork_a": ["errno=EPERM"], "fork_b": ["errno=EPERM"]])
        let forks = trace.policyEvents.filter { $0["rule"]?.stringValue == "fork" }
        #expect(forks.allSatisfy { $0["answer_unavailable"]?.stringValue?.contains("stacks are off") == true })
    }
}

struct AnswerTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

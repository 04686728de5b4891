import Foundation
import StrictrunTrace
import Testing

/// Every example under every shipped profile does what it says it should (its EXPECT
/// lines), and the trace shows why.
@Suite("Examples under each shipped profile")
struct ExampleTests {
    static let profiles = ["microkernel", "microkernel-strict", "apple-jit", "audit"]

    /// Node flags that keep V8 legal under a profile (JIT on only where nothing denies W+X).
    static func nodeFlags(_ profile: String) -> [String] {
        switch profile {
        case "audit": []
        case "apple-jit": ["--write-protect-code-memory", "--no-write-code-using-rwx", "--no-sparkplug",
                           "--no-maglev", "--no-opt", "--regexp-interpret-all"]
        default: ["--jitless"]
        }
    }

    static let programs: [(name: String, argv: @Sendable (String) -> [String])] = [
        ("fork", { _ in [Fixture.example("fork")] }),
        ("spawn", { _ in [Fixture.example("spawn")] }),
        ("threads", { _ in [Fixture.example("threads")] }),
        ("jit_rwx", { _ in [Fixture.example("jit_rwx")] }),
        ("jit_flip", { _ in [Fixture.example("jit_flip")] }),
        ("int80", { _ in [Fixture.example("int80")] }),
        ("jit_elsewhere", { _ in [Fixture.example("jit_elsewhere")] }),
        ("node_spawn.js", { p in ["/usr/bin/node"] + ExampleTests.nodeFlags(p) + [Fixture.script("node_spawn.js")] }),
        ("node_worker.js", { p in ["/usr/bin/node"] + ExampleTests.nodeFlags(p) + [Fixture.script("node_worker.js")] }),
        ("python_fork.py", { _ in [Fixture.python, Fixture.script("python_fork.py")] }),
    ]

    /// The category a blocked op is logged under.
    static func category(of op: String) -> String {
        if op.hasPrefix("i386") { return "escape" }
        if op.contains("mmap") || op.contains("mprotect") || op.contains("jit") { return "wx" }
        return "process"
    }

    @Test("example runs as its EXPECT lines say", arguments: profiles, programs.map(\.name))
    func example(profile: String, name: String) throws {
        let argv = Self.programs.first { $0.name == name }!.argv(profile)
        let (result, trace, tracePath) = try Fixture.strictrun(profile: profile, argv)
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(name) under \(profile): exit \(result.status)\n\(result.stderr)")
        let expected = expectations(result.stdout)
        let got = results(result.stdout)
        #expect(!expected.isEmpty, "\(name) printed no EXPECT lines:\n\(result.stdout)")
        for (op, perProfile) in expected {
            guard let want = perProfile[profile] else {
                Issue.record("\(name): EXPECT \(op) names no outcome for \(profile)")
                continue
            }
            let outcomes = got[op] ?? []
            if want == "none" {
                #expect(outcomes.isEmpty, "\(name) under \(profile): \(op) should not run, gave \(outcomes)")
                continue
            }
            #expect(!outcomes.isEmpty, "\(name) under \(profile): no RESULT for \(op)\n\(result.stdout)")
            for outcome in outcomes {
                #expect(outcome == want, "\(name) under \(profile): \(op) gave \(outcome), expected \(want)")
            }
            let events = trace.policyEvents.filter { $0["category"]?.stringValue == Self.category(of: op) }
            if want.hasPrefix("errno=") {
                // Denied here: the trace has the deny with that errno.
                let errno = String(want.dropFirst("errno=".count))
                #expect(events.contains { $0["action"]?.stringValue == "deny" && $0["errno"]?.stringValue == errno },
                        "\(name) under \(profile): no \(Self.category(of: op)) deny with \(errno) in \(tracePath)")
            }
            if profile == "audit", perProfile.values.contains(where: { $0.hasPrefix("errno=") }) {
                // Another profile denies it: the audit trace lists it as logged, with the deny it would be.
                #expect(events.contains { $0["action"]?.stringValue == "log" && $0["audited"] != nil },
                        "\(name) under audit: \(op) is denied elsewhere but not logged in \(tracePath)")
            }
        }
        let exit = trace.finalExit
        #expect(exit?["exit_status"]?.intValue == 0, "trace \(tracePath) has no final exit event with status 0")
    }
}

import Foundation
import StrictrunTrace
import Testing

/// Every example under every shipped profile does what it says it should (its EXPECT
/// lines), and the trace shows why.
@Suite("Examples under each shipped profile")
struct ExampleTests {
    static let profiles = ["microkernel", "microkernel-strict", "apple-jit", "audit", "microkernel-jit", "genode",
                           "fuchsia", "kasperskyos", "microkernel-tls"]

    /// The column an EXPECT line's profile falls back to when the line names no outcome for it:
    /// the profiles that extend microkernel behave as it does unless an example says otherwise.
    static func base(of profile: String) -> String {
        ["microkernel", "microkernel-strict", "apple-jit", "audit"].contains(profile) ? profile : "microkernel"
    }

    /// The profiles audit's trace speaks for (it extends microkernel-strict, with no fs or net view).
    static let auditMirrors: Set<String> = ["microkernel", "microkernel-strict", "apple-jit"]

    /// (program, profile) pairs checked elsewhere: the livelock example ends in a kill under
    /// emulation, which WXEmulationTests checks with its message.
    static let elsewhere: Set<String> = ["wx_livelock@microkernel-jit"]

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
        // The adversarial set: each tries one way around the emulated target.
        ("escape_x32", { _ in [Fixture.example("escape_x32")] }),
        ("escape_io_uring", { _ in [Fixture.example("escape_io_uring")] }),
        ("escape_memfd", { _ in [Fixture.example("escape_memfd")] }),
        ("escape_shm", { _ in [Fixture.example("escape_shm")] }),
        ("escape_personality", { _ in [Fixture.example("escape_personality")] }),
        ("escape_untraced", { _ in [Fixture.example("escape_untraced")] }),
        ("escape_ptrace", { _ in [Fixture.example("escape_ptrace")] }),
        ("escape_seccomp", { _ in [Fixture.example("escape_seccomp")] }),
        ("escape_static", { _ in [Fixture.example("escape_static")] }),
        ("escape_procmem", { _ in [Fixture.example("escape_procmem")] }),
        ("escape_trace_filter", { _ in [Fixture.example("escape_trace_filter")] }),
        ("escape_userfaultfd", { _ in [Fixture.example("escape_userfaultfd")] }),
        ("escape_trace_tamper", { _ in [Fixture.example("escape_trace_tamper")] }),
        ("escape_signal_supervisor", { _ in [Fixture.example("escape_signal_supervisor")] }),
        ("escape_keyring", { _ in [Fixture.example("escape_keyring")] }),
        ("wx_alias", { _ in [Fixture.example("wx_alias")] }),
        ("wx_alias_process", { _ in [Fixture.example("wx_alias_process")] }),
        ("escape_vfork_child", { _ in [Fixture.example("escape_vfork_child")] }),
        ("escape_procmem_root", { _ in [Fixture.example("escape_procmem_root")] }),
        ("wx_seal", { _ in [Fixture.example("wx_seal")] }),
        ("escape_remount", { _ in [Fixture.example("escape_remount")] }),
        ("wx_livelock", { _ in [Fixture.example("wx_livelock")] }),
        ("node_spawn.js", { p in ["/usr/bin/node"] + ExampleTests.nodeFlags(p) + [Fixture.script("node_spawn.js")] }),
        ("node_worker.js", { p in ["/usr/bin/node"] + ExampleTests.nodeFlags(p) + [Fixture.script("node_worker.js")] }),
        ("python_fork.py", { _ in [Fixture.python, Fixture.script("python_fork.py")] }),
    ]

    /// The category a blocked op is logged under; nil for ops whose outcome is the kernel's
    /// own answer (no rule of strictrun is involved).
    static func category(of op: String) -> String? {
        let kernelOnly = ["nnp-clear", "allow-all-filter", "own-filter-install", "own-filter-call", "trace-found", "trace-read", "probe", "group-cont", "readonly-exec", "sealed-exec", "sealed-run", "bind-setup", "chroot-setup", "personality-query", "memfd-map-rw", "threads",
                          "workers", "storm", "thread-storm"]
        if kernelOnly.contains(op) { return nil }
        if op == "memfd-create" { return "fs" }
        let escapes = ["i386", "x32", "io-uring", "personality-read", "clone-untraced", "ptrace", "process-vm",
                       "trace-filter", "notif-filter", "prctl-trace-filter", "ret-a-filter", "trace-tamper", "supervisor-", "keyring-"]
        if escapes.contains(where: op.hasPrefix) { return "escape" }
        if ["mmap", "mprotect", "jit", "memfd", "shmat", "userfaultfd", "exec-stack", "alias", "bind-open", "chroot-open", "seal", "remap"]
            .contains(where: op.contains) { return "wx" }
        return "process"
    }

    /// Ops strictrun refuses in every mode, audit included: a call it cannot judge must not run
    /// (fail closed), so the trace shows a deny, not a log.
    static let refusedInEveryMode: Set<String> = ["trace-filter-install", "notif-filter-install",
                                                  "prctl-trace-filter-install", "ret-a-filter-install",
                                                  "trace-tamper-write", "trace-tamper-trunc", "trace-tamper-fd-link",
                                                  "trace-tamper-truncate", "trace-tamper-rename", "trace-tamper-unlink",
                                                  "supervisor-kill-stop", "supervisor-kill-kill", "supervisor-tgkill",
                                                  "supervisor-tkill", "supervisor-pidfd-open", "supervisor-pidfd-send",
                                                  "supervisor-group-usr1", "keyring-search", "keyring-request",
                                                  "keyring-read", "keyring-add"]

    @Test("example runs as its EXPECT lines say", arguments: profiles, programs.map(\.name))
    func example(profile: String, name: String) throws {
        guard !Self.elsewhere.contains("\(name)@\(profile)") else { return }
        let argv = Self.programs.first { $0.name == name }!.argv(profile)
        let (result, trace, tracePath) = try Fixture.strictrun(profile: profile, argv)
        #expect(!result.timedOut)
        #expect(result.status == 0, "\(name) under \(profile): exit \(result.status)\n\(result.stderr)")
        let expected = expectations(result.stdout)
        let got = results(result.stdout)
        #expect(!expected.isEmpty, "\(name) printed no EXPECT lines:\n\(result.stdout)")
        for (op, perProfile) in expected {
            // `outcome@category`: the call that fails is another category's (the op's is guessed from its
            // name); `@kernel`: the kernel's own answer, no rule of strictrun's involved.
            guard let written = perProfile[profile] ?? perProfile[Self.base(of: profile)] else {
                Issue.record("\(name): EXPECT \(op) names no outcome for \(profile)")
                continue
            }
            let parts = written.split(separator: "@", maxSplits: 1).map(String.init)
            let want = parts[0]
            let outcomes = got[op] ?? []
            if want == "none" {
                #expect(outcomes.isEmpty, "\(name) under \(profile): \(op) should not run, gave \(outcomes)")
                continue
            }
            #expect(!outcomes.isEmpty, "\(name) under \(profile): no RESULT for \(op)\n\(result.stdout)")
            for outcome in outcomes where want != "any" {
                #expect(outcome == want, "\(name) under \(profile): \(op) gave \(outcome), expected \(want)")
            }
            let named = parts.count > 1 ? parts[1] : nil
            guard named != "kernel", let category = named ?? Self.category(of: op) else { continue }
            let events = trace.policyEvents.filter { $0["category"]?.stringValue == category }
            let alwaysRefused = Self.refusedInEveryMode.contains(op)
            if want.hasPrefix("errno=") && (profile != "audit" || alwaysRefused) {
                // Denied here: the trace has the deny with that errno.
                let errno = String(want.dropFirst("errno=".count))
                #expect(events.contains { $0["action"]?.stringValue == "deny" && $0["errno"]?.stringValue == errno },
                        "\(name) under \(profile): no \(category) deny with \(errno) in \(tracePath)")
            }
            if profile == "audit", !alwaysRefused,
               perProfile.contains(where: { Self.auditMirrors.contains($0.key) && $0.value.hasPrefix("errno=")
                                            && !$0.value.hasSuffix("@kernel") }) {
                // Another profile denies it: the audit trace lists it as logged, with the deny it would be.
                #expect(events.contains { $0["action"]?.stringValue == "log" && $0["audited"] != nil },
                        "\(name) under audit: \(op) is denied elsewhere but not logged in \(tracePath)")
            }
        }
        let exit = trace.finalExit
        #expect(exit?["exit_status"]?.intValue == 0, "trace \(tracePath) has no final exit event with status 0")
    }
}

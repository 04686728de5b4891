import Foundation
import StrictrunTrace
import Testing

/// Side doors whose enforcing outcome is the end of the program itself, so they cannot report
/// through EXPECT/RESULT lines as the other examples do: checked here under every shipped profile.
@Suite("Side doors that end the program")
struct SideDoorTests {
    static let enforcing = ["microkernel", "microkernel-strict", "microkernel-jit", "apple-jit", "genode",
                            "fuchsia", "kasperskyos", "microkernel-tls"]

    @Test("an executable stack from execve: the process is ended at its exec (wx/exec-stack, kill)",
          arguments: enforcing)
    func execStack(profile: String) throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: profile, [Fixture.example("escape_exec_stack")])
        #expect(result.status == 137, "\(profile): exit \(result.status)\n\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("RESULT stack-code"), "\(profile): the stack code ran")
        let events = trace.policyEvents.filter { $0["rule"]?.stringValue == "exec-stack" }
        #expect(events.count == 1 && events.first?["category"]?.stringValue == "wx"
                && events.first?["action"]?.stringValue == "kill", "\(profile): \(tracePath)")
        #expect(trace.finalExit?["signal"]?.stringValue == "SIGKILL")
    }

    @Test("an executable stack under audit: the program runs and the trace logs what the target would refuse")
    func execStackAudit() throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: "audit", [Fixture.example("escape_exec_stack")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("RESULT stack-code ok"))
        #expect(trace.policyEvents.contains { $0["rule"]?.stringValue == "exec-stack" && $0["action"]?.stringValue == "log"
                                              && $0["audited"] != nil }, "\(tracePath)")
    }

    @Test("a program without an executable stack meets no exec-stack rule", arguments: ["microkernel", "microkernel-strict"])
    func ordinaryStack(profile: String) throws {
        let (result, trace, _) = try Fixture.strictrun(profile: profile, [Fixture.example("threads")])
        #expect(result.status == 0)
        #expect(!trace.policyEvents.contains { $0["rule"]?.stringValue == "exec-stack" })
    }

    @Test("a mapping raced between the check and the mprotect(PROT_EXEC): never shared executable memory; the race ends the process",
          arguments: ["microkernel", "microkernel-strict", "apple-jit", "microkernel-jit"])
    func mapsRace(profile: String) throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: profile, [Fixture.example("escape_maps_race")])
        #expect(!result.stdout.contains("shared-exec-reached"), "\(profile): \(result.stdout)")
        let raced = trace.policyEvents.contains { $0["rule"]?.stringValue == "maps-race" && $0["action"]?.stringValue == "kill" }
        if result.status == 137 {
            #expect(raced, "\(profile): killed without a wx/maps-race event in \(tracePath)")
        } else {
            #expect(result.status == 0 && result.stdout.contains("RESULT race-loop done"), "\(profile): \(result.status)")
        }
    }

    @Test("the trace reached through a name swapped after the check (write opens with O_TRUNC, truncate): the trace stays complete",
          arguments: [("microkernel", "open"), ("microkernel", "truncate"), ("microkernel-strict", "truncate"),
                      ("audit", "open"), ("audit", "truncate")])
    func traceRace(profile: String, mode: String) throws {
        let (result, trace, tracePath) = try Fixture.strictrun(profile: profile, [Fixture.example("escape_trace_race"), mode, "3000"])
        // Whether this run won the race is chance; the trace is complete either way.
        let lines = try String(contentsOfFile: tracePath, encoding: .utf8).split(separator: "\n")
        #expect(!lines.contains { $0.contains("\"forged\"") }, "\(profile) \(mode): a forged line in \(tracePath)")
        let seqs = trace.compactMap { $0["seq"]?.intValue.map(Int.init) }
        #expect(seqs == Array(1...seqs.count) && seqs.count == lines.count, "\(profile) \(mode): seq broken in \(tracePath)")
        #expect(trace.first?["type"]?.stringValue == "start" && trace.finalExit != nil, "\(profile) \(mode): \(tracePath)")
        if result.status == 137 {
            #expect(trace.policyEvents.contains { $0["rule"]?.stringValue == "trace-tamper" && $0["action"]?.stringValue == "kill" },
                    "\(profile) \(mode): killed without an escape/trace-tamper kill in \(tracePath)")
        } else {
            #expect(result.status == 0 && result.stdout.contains("RESULT race ok"), "\(profile) \(mode): \(result.status) \(result.stderr)")
        }
    }
}

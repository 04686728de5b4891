import Foundation
import StrictrunConformance
import Testing

/// `conformance run --profile microkernel-jit`: V8's JIT stays on, W^X is emulated, and each
/// test's flips are recorded — what the JIT rework must carry.
@Suite("conformance: W^X emulation flips per test")
struct JITConformanceTests {
    @Test("WebAssembly passes under microkernel-jit; flips per test in results.json, summary.md and stdout")
    func flipsPerTest() throws {
        let directory = try Paths.temporaryDirectory("jit-suite") + "/out"
        let outcome = try Paths.strictrun(["conformance", "run", Paths.nodeSuite, "--profile", "microkernel-jit",
                                           "--jobs", "2", "--out", directory,
                                           "--filter", "wasm|worker|spawnsync|assert-basic"])
        #expect(outcome.status == 0, "\(outcome.stdout)\n\(outcome.stderr)")
        let results = try Paths.results(directory)
        #expect(results.tests.count == 5)
        // Under microkernel the JIT's W+X request kills these (see NodeSuiteTests); emulated, they pass.
        for id in ["parallel/test-wasm-add", "parallel/test-wasm-instantiate", "parallel/test-worker-threads",
                   "parallel/test-assert-basic"] {
            #expect(results.test(id)?.status == .pass, "\(id): \(String(describing: results.test(id)?.status))")
            let counters = results.test(id)?.profile?.attempts.last?.digest?.wxEmulation
            #expect((counters?.rewritten ?? 0) >= 1, "\(id)")
            #expect((counters?.flips ?? 0) >= 1, "\(id)")
            #expect((counters?.execFaults ?? 0) >= 1, "\(id)")
        }
        // Fork is still denied: the process failure is attributed as before.
        let spawn = results.test("parallel/test-child-process-spawnsync")
        #expect(spawn?.status == .newFailure)
        #expect(spawn?.attribution?.primary == "process")

        let totalFlips = SummaryWriter.flipsByTest(results).reduce(0) { $0 + $1.counters.flips }
        #expect(totalFlips > 0)
        #expect(outcome.stdout.contains("W^X emulation: \(totalFlips) page flips in"), "\(outcome.stdout)")
        let summary = try String(contentsOfFile: directory + "/summary.md", encoding: .utf8)
        #expect(summary.contains("## W^X emulation: what the JIT rework must carry"), "\(summary)")
        #expect(summary.contains("| parallel/test-wasm-add |"), "\(summary)")
    }
}

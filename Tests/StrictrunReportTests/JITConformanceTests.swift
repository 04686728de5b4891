import Foundation
import StrictrunConformance
import StrictrunResults
import StrictrunReport
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

    @Test("strictrun report shows the flips: totals from the exit lines, runs by flips, the code that writes code")
    func reportOfFlips() throws {
        let directory = try Paths.temporaryDirectory("jit-report")
        let trace = directory + "/trace.jsonl"
        let run = try Paths.strictrun(["run", "-q", "--profile", "microkernel-jit", "--trace", trace, "--",
                                       "/usr/bin/node", Paths.repo("Examples/jit/regexps.js")])
        #expect(run.status == 0, "\(run.stderr)")
        let final = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? ""
        let flips = final.range(of: #""wx_emulation_total":\{[^}]*"flips":(\d+)"#, options: .regularExpression)
            .flatMap { Int(final[$0].split(separator: ":").last ?? "") }
        #expect((flips ?? 0) > 100, "final line: \(final.prefix(400))")

        let outcome = try Paths.strictrun(["report", trace, "--format", "json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
        let wx = try #require(report.wxEmulation)
        #expect(wx.flips == flips)
        #expect(wx.runs == 1 && wx.byRun.first?.flips == flips)
        #expect(wx.execFaults + wx.writeFaults == wx.flips)
        #expect(wx.codeWriters.count >= 1)
        #expect(wx.codeWriters.contains { $0.frames.contains { $0.contains("v8::internal") } }, "\(wx.codeWriters)")

        let markdown = try Paths.strictrun(["report", trace, "--format", "md"])
        #expect(markdown.stdout.contains("## W^X emulation: what the JIT rework must carry"))
        #expect(markdown.stdout.contains("W^X emulation: \(flips ?? -1) page flips"))
    }
}

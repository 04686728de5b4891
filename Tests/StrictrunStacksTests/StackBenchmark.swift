// Hand-run measurement, not a timed test. Enabled only with STRICTRUN_STACKS_BENCH=1:
//   STRICTRUN_STACKS_BENCH=1 swift test -c release -Xswiftc -enable-testing \
//     --scratch-path .build-stacks --filter StackBenchmark
import CStrictrunShims
import Foundation
@testable import StrictrunStacks
import Testing

@Suite("Stack benchmark (STRICTRUN_STACKS_BENCH=1)", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["STRICTRUN_STACKS_BENCH"] == "1"))
struct StackBenchmark {
    @Test("node: first symbol-index load, and median unwind+symbolize over 200 captures")
    func nodeCaptures() throws {
        // 1. Building /usr/bin/node's symbol index from cold (the file itself is in the page cache).
        var indexTimes: [Double] = []
        var symbolCount = 0
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let module = try #require(OfflineModule(path: nodePath))
            let index = try #require(SymbolIndex.build(module: module.module))
            indexTimes.append(Double((ContinuousClock.now - started).nanoseconds) / 1e6)
            symbolCount = index.count
        }

        // 2. Captures on a live node running JIT code.
        let tracee = try startHotNode()
        defer {
            tracee.finish()
            unlink("/tmp/perf-\(tracee.pid).map")
        }
        let unwinder = StackUnwinder()
        try tracee.interrupt(tracee.pid)
        let firstStarted = ContinuousClock.now
        let first = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        let firstMs = Double((ContinuousClock.now - firstStarted).nanoseconds) / 1e6
        let afterFirst = unwinder.stats
        try tracee.resume(tracee.pid)

        var samples: [Double] = []
        var frames = 0
        for i in 0..<220 {
            usleep(2_000)
            try tracee.interrupt(tracee.pid)
            let trace = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
            if i >= 20 {  // warm-up: the first captures fill the line and name memos
                samples.append(Double(unwinder.stats.lastUnwindNanoseconds) / 1e3)
                frames += trace.frames.count
            }
            try tracee.resume(tracee.pid)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        let p90 = samples[samples.count * 9 / 10]
        print("""
        [bench] node symbol index (offline, \(symbolCount) code symbols): \
        \(indexTimes.map { String(format: "%.1f", $0) }.joined(separator: ", ")) ms
        [bench] first unwind of node (session + maps + indexes for node and libc): \
        \(String(format: "%.1f", firstMs)) ms, \(first.frames.count) frames, \
        index builds \(afterFirst.symbolIndexBuilds) took \(String(format: "%.1f", Double(afterFirst.symbolIndexNanoseconds) / 1e6)) ms
        [bench] warm unwind+symbolize over \(samples.count) captures: median \(String(format: "%.0f", median)) µs, \
        p90 \(String(format: "%.0f", p90)) µs, min \(String(format: "%.0f", samples.first!)) µs, \
        max \(String(format: "%.0f", samples.last!)) µs, mean frames \(frames / samples.count)
        [bench] stats: \(unwinder.stats)
        """)
        #expect(samples.count == 200)
    }
}

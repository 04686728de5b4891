// Unwinding Node while it runs JIT-compiled JavaScript: node's own C++ (demangled), V8's
// embedded builtins (also where V8 remapped them), and JIT frames named from the perf map.
import CStrictrunShims
import Foundation
@testable import StrictrunStacks
import Testing

/// A script whose main thread spends its time in two named JS functions (`spinInner` called
/// from `hotLoop`); V8 optimizes `spinInner` within a second.
let nodeHotLoopScript = """
function spinInner(n) { let x = 0; for (let i = 0; i < n; i++) { x = (x * 31 + i) | 0; } return x; }
function hotLoop() { let total = 0; const end = Date.now() + 60000;
  while (Date.now() < end) { total = (total + spinInner(200000)) | 0; } return total; }
hotLoop();
"""

let nodePath = "/usr/bin/node"

/// Start node on the hot loop, seized, and give V8 time to optimize.
func startHotNode() throws -> Tracee {
    try #require(FileManager.default.isExecutableFile(atPath: nodePath), "this test needs \(nodePath)")
    // --perf-basic-prof also turns on V8's event log, by default a file in the current
    // directory: send it to stdout, which is /dev/null.
    let tracee = try Tracee([nodePath, "--perf-basic-prof", "--logfile=-", "--no-logfile-per-isolate",
                             "-e", nodeHotLoopScript])
    usleep(1_500_000)
    return tracee
}

/// The perf map's entries, parsed independently of PerfMap: (start, size, name).
func perfMapLines(pid: pid_t) -> [(start: UInt64, size: UInt64, name: String)] {
    let text = (try? String(contentsOfFile: "/tmp/perf-\(pid).map", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, let start = UInt64(parts[0], radix: 16), let size = UInt64(parts[1], radix: 16) else {
            return nil
        }
        return (start, size, String(parts[2]))
    }
}

@Suite("Stacks of Node running JIT code", .serialized)
struct NodeStackTests {
    @Test("node frames are demangled C++/builtins; JIT frames are [jit] named from the perf map")
    func unwindsNodeRunningJIT() throws {
        let tracee = try startHotNode()
        defer {
            tracee.finish()
            unlink("/tmp/perf-\(tracee.pid).map")
        }
        let unwinder = StackUnwinder()
        var traces: [StackTrace] = []
        for _ in 0..<30 {
            try tracee.interrupt(tracee.pid)
            traces.append(unwinder.unwind(pid: tracee.pid, tid: tracee.pid))
            #expect(tracee.isStoppedAndTraced(tracee.pid))
            try tracee.resume(tracee.pid)
            let namedJIT = traces.filter { $0.frames.contains { $0.module == "[jit]" && $0.symbol != nil } }
            if traces.count >= 8 && !namedJIT.isEmpty { break }
            usleep(30_000)
        }
        // Stop it once more so /proc/PID/maps and the perf map describe the same moment.
        try tracee.interrupt(tracee.pid)
        let maps = try ProcessMaps.read(pid: tracee.pid)
        let perfMap = perfMapLines(pid: tracee.pid)
        #expect(!perfMap.isEmpty, "node --perf-basic-prof writes /tmp/perf-PID.map")

        var complete = 0
        for trace in traces {
            let summary = trace.frames.map { "\($0.module ?? "-") \($0.symbol ?? "?")" }.joined(separator: "\n")
            #expect(trace.frames.contains { $0.module == nodePath }, "\(summary)")
            #expect(trace.frames.contains { frame in
                frame.module == nodePath
                    && ["v8::", "node::", "Builtins_"].contains { frame.symbol?.hasPrefix($0) == true }
            }, "\(summary)")
            for (index, frame) in trace.frames.enumerated() {
                // libdw alone would call JIT code "_end+0x7fee…": node's last symbol.
                #expect(frame.symbol?.hasPrefix("_end") != true)
                if frame.module == nodePath {
                    #expect(frame.symbol != nil, "every pc in node's text has a symbol: \(frame)")
                }
                if frame.module == "[jit]" {
                    let mapping = maps.mapping(containing: frame.pc)
                    #expect(mapping?.kind == .anonymous, "\(frame)")
                    if let name = frame.symbol {
                        // Named from the perf map: an entry with that name covers the pc (the
                        // call instruction before it, for a return address).
                        let lookup = index == 0 ? frame.pc : frame.pc &- 1
                        let entry = perfMap.last { lookup >= $0.start && lookup - $0.start < $0.size }
                        #expect(entry?.name == name, "\(frame)")
                        #expect(entry.map { frame.symbolOffset == frame.pc - $0.start } == true)
                    }
                }
            }
            if trace.error == nil && trace.frames.last?.symbol == "_start"
                && trace.frames.contains(where: { $0.symbol == "node::Start(int, char**)" }) {
                complete += 1
            }
        }
        let jitFrames = traces.flatMap(\.frames).filter { $0.module == "[jit]" }
        #expect(jitFrames.contains { $0.symbol?.hasPrefix("JS:") == true && $0.symbol?.contains("spinInner") == true },
                "V8 optimized spinInner and the perf map names it: \(Set(jitFrames.compactMap(\.symbol)))")
        // Unwinding through JIT frames (frame-pointer fallback) reaches main most of the time.
        #expect(complete * 2 >= traces.count, "\(complete) of \(traces.count) unwinds reached _start")
        #expect(unwinder.stats.sessionsCreated == 1)
        #expect(unwinder.stats.symbolIndexBuilds <= 3)
    }

    @Test("A pc in V8's remapped copy of the embedded builtins symbolizes to the Builtins_ function")
    func remappedBuiltins() throws {
        let tracee = try startHotNode()
        defer {
            tracee.finish()
            unlink("/tmp/perf-\(tracee.pid).map")
        }
        try tracee.interrupt(tracee.pid)
        let maps = try ProcessMaps.read(pid: tracee.pid)
        let nodeMappings = maps.mappings.filter { $0.path == nodePath }
        let firstEnd = try #require(nodeMappings.first).end
        // V8 maps node's embedded-blob pages a second time, next to its code range.
        let remap = try #require(nodeMappings.first { $0.executable && $0.start > firstEnd &+ (1 << 32) },
                                 "no second executable mapping of \(nodePath) (LINUX-NOTES: V8 remaps builtins)")

        let unwinder = StackUnwinder()
        let probe = remap.start + 0x1000
        let frames = try #require(unwinder.symbolize(pid: tracee.pid, pcs: [probe]))
        let frame = try #require(frames.first)
        #expect(frame.module == nodePath)
        #expect(frame.symbol?.hasPrefix("Builtins_") == true, "\(frame)")
        // The offset is the ELF address of that file offset, where nm puts the same symbol.
        let offset = try #require(frame.offset)
        let textBias: UInt64 = 0x400000  // node is ET_EXEC: .text's p_vaddr - p_offset
        #expect(offset == remap.fileOffset + 0x1000 + textBias)
        let nm = try nmFunctions(nodePath)
        let symbol = try #require(nm[frame.symbol!])
        #expect(offset >= symbol.start && offset < symbol.start + symbol.size)
        #expect(frame.symbolOffset == offset - symbol.start)
    }
}

// Unwinding real, traced C processes: symbols, DWARF lines, threads, call-site ids.
import CStrictrunShims
import Foundation
@testable import StrictrunStacks
import Testing

@Suite("Native stacks of traced C programs", .serialized)
struct NativeStackTests {
    /// Start the stop program in `mode`, wait for its raise(SIGSTOP), and unwind it.
    private func stopAndUnwind(mode: String, unwinder: StackUnwinder) throws -> (StackTrace, Tracee) {
        let tracee = try Tracee([try StopProgram.binary(), mode])
        try tracee.waitForSignal(tracee.pid, SIGSTOP)
        return (unwinder.unwind(pid: tracee.pid, tid: tracee.pid), tracee)
    }

    private func frame(_ trace: StackTrace, _ symbol: String) -> StackFrame? {
        trace.frames.first { $0.symbol == symbol }
    }

    @Test("leaf_a ← middle_fn ← main, with files and lines; the tracee stays stopped and traced")
    func unwindsNamedChain() throws {
        let unwinder = StackUnwinder()
        let (trace, tracee) = try stopAndUnwind(mode: "a", unwinder: unwinder)
        defer { tracee.finish() }
        let binary = try StopProgram.binary()
        let source = try StopProgram.sourcePath

        let names = trace.frames.map { $0.symbol ?? "?" }
        #expect(trace.error == nil, "unwind error: \(trace.error ?? "")")
        let leaf = try #require(frame(trace, "leaf_a"), "frames: \(names)")
        let middle = try #require(frame(trace, "middle_fn"), "frames: \(names)")
        let main = try #require(frame(trace, "main"), "frames: \(names)")
        // Order: leaf above middle above main.
        let order = ["leaf_a", "middle_fn", "main"].compactMap { name in names.firstIndex(of: name) }
        #expect(order == order.sorted() && order.count == 3)

        for f in [leaf, middle, main] {
            #expect(f.module == binary)
            #expect(f.file == source)
        }
        #expect(leaf.line == StopProgram.line("RAISE_A"))
        #expect(middle.line == StopProgram.line("CALL_A"))
        #expect(main.line == StopProgram.line("CALL_MIDDLE"))

        // Above leaf_a: raise() inside libc.
        #expect(trace.frames.first?.module?.contains("libc.so") == true)
        #expect(trace.frames.contains { $0.symbol == "raise" || $0.symbol == "gsignal" })
        #expect(trace.frames.last?.symbol == "_start")

        // `offset` is addr2line-compatible: inside the symbol's range from nm.
        let nm = try nmFunctions(binary)
        for f in [leaf, middle, main] {
            let symbol = try #require(nm[f.symbol!])
            let offset = try #require(f.offset)
            #expect(offset > symbol.start && offset <= symbol.start + symbol.size)
            #expect(f.symbolOffset == offset - symbol.start)
            #expect(f.pc != offset, "a PIE is loaded at a non-zero bias")
        }
        let addr2line = try run(["addr2line", "-e", binary, "0x" + String(leaf.offset! - 1, radix: 16)])
        #expect(addr2line.hasSuffix("stopper.c:\(StopProgram.line("RAISE_A"))\n"))

        // libdw was attached with assume_ptrace_stopped: nothing detached or resumed the tracee.
        #expect(tracee.isStoppedAndTraced(tracee.pid))
        // And the tracee can still be driven: a second unwind of the same stop is identical.
        let again = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        #expect(again == trace)
        #expect(tracee.isStoppedAndTraced(tracee.pid))
    }

    @Test("A second thread gets its own stack; the main thread's is separate")
    func unwindsSecondThread() throws {
        let unwinder = StackUnwinder()
        let tracee = try Tracee([try StopProgram.binary(), "thread"],
                                options: Ptrace.optionExitKill | Ptrace.optionTraceClone)
        defer { tracee.finish() }
        let worker = try tracee.waitForClone()
        try tracee.resume(tracee.pid)
        let initial = try tracee.waitStop(worker)  // the auto-attached thread's first stop
        #expect(initial.event == Ptrace.eventStop)
        try tracee.resume(worker)
        try tracee.waitForSignal(worker, SIGSTOP)

        let workerTrace = unwinder.unwind(pid: tracee.pid, tid: worker)
        let workerNames = workerTrace.frames.map { $0.symbol ?? "?" }
        #expect(workerTrace.error == nil, "unwind error: \(workerTrace.error ?? "")")
        let leaf = try #require(frame(workerTrace, "thread_leaf"), "frames: \(workerNames)")
        let middle = try #require(frame(workerTrace, "thread_middle"), "frames: \(workerNames)")
        #expect(leaf.line == StopProgram.line("THREAD_RAISE"))
        #expect(middle.line == StopProgram.line("THREAD_CALL"))
        #expect(workerNames.contains("thread_main"))
        #expect(workerNames.contains("start_thread"))
        #expect(!workerNames.contains("main"))

        // The main thread is (or will shortly be) blocked in pthread_join, a futex wait: once it
        // is there, stop it and unwind it too. (Interrupted earlier, it may still be on its way
        // out of clone3, where libc has no unwind table.)
        for _ in 0..<2000 {
            let syscall = (try? String(contentsOfFile: "/proc/\(tracee.pid)/task/\(tracee.pid)/syscall", encoding: .utf8)) ?? ""
            if syscall.hasPrefix("202 ") { break }  // futex
            usleep(1000)
        }
        try tracee.interrupt(tracee.pid)
        let mainTrace = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        let mainNames = mainTrace.frames.map { $0.symbol ?? "?" }
        let main = try #require(frame(mainTrace, "main"), "frames: \(mainNames)")
        #expect(main.line == StopProgram.line("JOIN"))
        #expect(!mainNames.contains("thread_leaf"))
        #expect(tracee.isStoppedAndTraced(worker))
        #expect(tracee.isStoppedAndTraced(tracee.pid))
        #expect(unwinder.stats.sessionsCreated == 1, "one libdw session serves both threads")
    }

    @Test("Call-site ids: same stop point → same id across runs (ASLR); other stop point → other id")
    func callSiteIDsAreStable() throws {
        let unwinder = StackUnwinder()
        var traces: [StackTrace] = []
        for mode in ["a", "a", "b"] {
            let (trace, tracee) = try stopAndUnwind(mode: mode, unwinder: unwinder)
            tracee.finish()
            unwinder.forget(pid: tracee.pid)
            traces.append(trace)
        }
        let (first, second, other) = (traces[0], traces[1], traces[2])
        // The runs really were laid out differently (randomize_va_space is 2 on this machine).
        let leaf1 = try #require(frame(first, "leaf_a"))
        let leaf2 = try #require(frame(second, "leaf_a"))
        #expect(leaf1.pc != leaf2.pc)
        #expect(leaf1.offset == leaf2.offset)

        let count = StackOptions().siteFrames
        let a1 = callSite(of: first.frames, count: count)
        let a2 = callSite(of: second.frames, count: count)
        let b = callSite(of: other.frames, count: count)
        #expect(a1.framesUsed == count)
        #expect(a1.id.count == 16 && a1.id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(a1.id == a2.id)
        #expect(a1.id != b.id)
        // The id depends only on module basenames and symbols.
        var moved = first.frames
        for i in moved.indices {
            moved[i].pc &+= 0x1000
            moved[i].offset = nil
            moved[i].module = moved[i].module.map { "/elsewhere/" + moduleBasename($0) }
        }
        #expect(callSite(of: moved, count: count).id == a1.id)
        #expect(callSite(of: first.frames, count: 2).id != a1.id)
        #expect(unwinder.trackedProcesses == 0)
        #expect(unwinder.stats.symbolIndexBuilds <= 3, "libc, the binary, and at most ld.so/vdso once each")
    }

    @Test("The symbol index of the test binary agrees with nm")
    func symbolIndexMatchesNm() throws {
        let binary = try StopProgram.binary()
        let nm = try nmFunctions(binary)
        let offline = try #require(OfflineModule(path: binary))
        let index = try #require(SymbolIndex.build(module: offline.module))
        #expect(!nm.isEmpty)
        for (name, symbol) in nm {
            for address in [symbol.start, symbol.start + symbol.size / 2, symbol.start + symbol.size - 1] {
                let match = try #require(index.lookup(address), "\(name) at 0x\(String(address, radix: 16))")
                #expect(index.rawName(match.index) == name, "0x\(String(address, radix: 16))")
                #expect(match.start == symbol.start)
            }
        }
        // Past the last byte of a sized function, and below every symbol: not that function.
        let leaf = try #require(nm["leaf_a"])
        if let after = index.lookup(leaf.start + leaf.size) {
            #expect(index.rawName(after.index) != "leaf_a")
        }
        #expect(index.lookup(0) == nil)
    }

    @Test("A bigger library's index agrees with nm too (libstdc++: C++ names, demangled)")
    func symbolIndexMatchesNmForLibstdcxx() throws {
        let path = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
        let nm = try nmFunctions(path, dynamic: true)
        let offline = try #require(OfflineModule(path: path))
        let index = try #require(SymbolIndex.build(module: offline.module))
        #expect(nm.count > 1000)
        var checked = 0
        for (name, symbol) in nm {
            let match = try #require(index.lookup(symbol.start + symbol.size / 2))
            #expect(match.start == symbol.start, "\(name)")
            // Aliases share an address; the index keeps one name per address.
            let aliases = nm.filter { $0.value.start == symbol.start }.map(\.key)
            #expect(aliases.contains(index.rawName(match.index)))
            checked += 1
            if checked >= 400 { break }
        }
        // Demangling of a C++ name in the index.
        let throwFn = try #require(nm["__cxa_throw"])
        let match = try #require(index.lookup(throwFn.start))
        #expect(index.name(match.index) == "__cxa_throw")
        let cxx = try #require(nm.first { $0.key.hasPrefix("_ZNSt6thread6_StateD") })
        let cxxMatch = try #require(index.lookup(cxx.value.start))
        #expect(index.name(cxxMatch.index).hasPrefix("std::thread::_State::~_State"))
    }
}

/// `nm -S --defined-only` functions (T/t/W/i) with a size: name → (start, size).
func nmFunctions(_ path: String, dynamic: Bool = false) throws -> [String: (start: UInt64, size: UInt64)] {
    let text = try run(["nm", "-S", "--defined-only"] + (dynamic ? ["-D"] : []) + [path])
    var result: [String: (UInt64, UInt64)] = [:]
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count == 4, "TtWi".contains(fields[2]),
              let start = UInt64(fields[0], radix: 16), let size = UInt64(fields[1], radix: 16), size > 0 else { continue }
        let name = fields[3].split(separator: "@").first.map(String.init) ?? String(fields[3])
        result[name] = (start, size)
    }
    return result
}

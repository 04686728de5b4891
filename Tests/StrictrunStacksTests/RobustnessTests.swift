// Bad input must end an unwind, never the tracer: garbage registers, threads that are not
// stopped, processes that do not exist; and modules that appear after the first unwind.
import CStrictrunShims
import Foundation
@testable import StrictrunStacks
import StrictrunSystem
import Testing

@Suite("Robustness and refresh", .serialized)
struct RobustnessTests {
    @Test("Garbage stack and frame pointers: the pc frame comes back with an error, no crash")
    func garbageRegisters() throws {
        let unwinder = StackUnwinder()
        let tracee = try Tracee([try StopProgram.binary(), "a"])
        defer { tracee.finish() }
        try tracee.waitForSignal(tracee.pid, SIGSTOP)
        let good = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        #expect(good.error == nil && good.frames.count >= 5)

        var saved = user_regs_struct()
        #expect(strictrun_getregs(tracee.pid, &saved) == 0)
        for (rsp, rbp, rip) in [(UInt64(0x10), UInt64(0x10), saved.rip),
                                (0xdead_beef_0000, 0xdead_beef_0000, saved.rip),
                                (saved.rsp, saved.rbp, 0x1234),
                                (UInt64.max - 7, UInt64.max - 7, UInt64.max - 1)] {
            var regs = saved
            regs.rsp = rsp
            regs.rbp = rbp
            regs.rip = rip
            #expect(strictrun_setregs(tracee.pid, &regs) == 0)
            let trace = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
            let first = try #require(trace.frames.first, "the pc frame is always there: \(trace.error ?? "")")
            #expect(first.pc == rip)
            #expect(trace.frames.count < good.frames.count)
            if rip == 0x1234 || rip == UInt64.max - 1 {
                #expect(first.module == nil && first.symbol == nil)
            } else {
                #expect(first.module == good.frames[0].module && first.symbol == good.frames[0].symbol)
            }
        }
        #expect(strictrun_setregs(tracee.pid, &saved) == 0)
        #expect(unwinder.unwind(pid: tracee.pid, tid: tracee.pid) == good)
        #expect(tracee.isStoppedAndTraced(tracee.pid))
    }

    @Test("A thread that is not ptrace-stopped, or a pid that does not exist: an error, no frames")
    func notStoppedOrMissing() throws {
        let unwinder = StackUnwinder()
        let pid = try spawn(["sleep", "30"])
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = strictrun_waitpid_all(pid, &status, 0)
        }
        let running = unwinder.unwind(pid: pid, tid: pid)
        #expect(running.frames.isEmpty)
        #expect(running.error != nil)

        let missing = unwinder.unwind(pid: 0x3fff_fff0, tid: 0x3fff_fff0)
        #expect(missing.frames.isEmpty)
        #expect(missing.error != nil)
        #expect(unwinder.symbolize(pid: 0x3fff_fff0, pcs: [0x1000]) == nil)
    }

    @Test("A library dlopen'ed after the first unwind is found: modules are reported again")
    func moduleAppearsLater() throws {
        let plugin = try StopProgram.plugin()
        let unwinder = StackUnwinder()
        let tracee = try Tracee([try StopProgram.binary(), "dlopen", plugin])
        defer { tracee.finish() }
        try tracee.waitForSignal(tracee.pid, SIGSTOP)
        let before = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        #expect(before.frames.contains { $0.symbol == "main" && $0.line == StopProgram.line("BEFORE_DLOPEN") })
        #expect(unwinder.stats.moduleReports == 1)

        try tracee.resume(tracee.pid)
        try tracee.waitForSignal(tracee.pid, SIGSTOP)
        let after = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        let names = after.frames.map { $0.symbol ?? "?" }
        #expect(after.error == nil, "\(after.error ?? "")")
        let leaf = try #require(after.frames.first { $0.symbol == "plugin_leaf" }, "\(names)")
        #expect(leaf.module == plugin)
        #expect(leaf.file?.hasSuffix("plugin.c") == true && leaf.line == 2)
        #expect(after.frames.contains { $0.symbol == "plugin_entry" && $0.module == plugin })
        #expect(after.frames.contains { $0.symbol == "main" && $0.line == StopProgram.line("CALL_PLUGIN") })
        #expect(unwinder.stats.moduleReports == 2, "one refresh for the new module")
        // The plugin's pcs were unknown: with PROCMAP_QUERY the kernel is asked about them (no
        // re-read); without it the maps text is read once more.
        let asksKernel = MemoryMaps.queryRegion(pid: getpid(), start: 0, length: 4096) != nil
        let refreshes = asksKernel ? 1 : 2
        #expect(unwinder.stats.mapRefreshes == refreshes, "maps read \(unwinder.stats.mapRefreshes) times")
        #expect(tracee.isStoppedAndTraced(tracee.pid))

        // Known from now on: no further refresh.
        _ = unwinder.unwind(pid: tracee.pid, tid: tracee.pid)
        #expect(unwinder.stats.moduleReports == 2 && unwinder.stats.mapRefreshes == refreshes)
    }

    @Test("vDSO pcs are [vdso] with the vDSO's own symbols")
    func vdsoSymbols() throws {
        let unwinder = StackUnwinder()
        let tracee = try Tracee([try StopProgram.binary(), "a"])
        defer { tracee.finish() }
        try tracee.waitForSignal(tracee.pid, SIGSTOP)
        let maps = try ProcessMaps.read(pid: tracee.pid)
        let vdso = try #require(maps.mappings.first { $0.kind == .vdso })

        // Dump the tracee's vDSO image and ask nm about it.
        let scratch = try ScratchDirectory()
        let image = scratch.path + "/vdso.so"
        let mem = try #require(FileHandle(forReadingAtPath: "/proc/\(tracee.pid)/mem"))
        try mem.seek(toOffset: vdso.start)
        let bytes = try #require(try mem.read(upToCount: Int(vdso.end - vdso.start)))
        try mem.close()
        #expect(FileManager.default.createFile(atPath: image, contents: bytes))
        let nm = try nmFunctions(image, dynamic: true)
        let gettime = try #require(nm["__vdso_clock_gettime"] ?? nm["clock_gettime"], "\(nm.keys.sorted())")

        let frames = try #require(unwinder.symbolize(pid: tracee.pid, pcs: [vdso.start + gettime.start + 1]))
        #expect(frames[0].module == "[vdso]")
        let aliases = nm.filter { $0.value.start == gettime.start }.map(\.key)
        #expect(aliases.contains(frames[0].symbol ?? "?"), "\(frames[0]) vs \(aliases)")
        #expect(frames[0].offset == gettime.start + 1)
        #expect(frames[0].symbolOffset == 1)
    }
}

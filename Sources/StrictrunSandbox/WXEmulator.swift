#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims
import StrictrunTrace

/// `wx: emulate` (DESIGN.md, "W^X levels"): a W+X request is granted as RW, its pages are
/// remembered, and each fault on one of them flips that 4 KiB page — to RX when the program
/// executes it, back to RW when it writes it. No page is ever writable and executable at
/// once, the program runs unmodified, and every flip is counted.
///
/// The flip is made by the faulting thread itself: the emulator maps a small trampoline into
/// each address space (once, by injecting two syscalls at a harvested `syscall` instruction),
/// and on a fault points the thread at it with the flip's arguments and its clobbered
/// registers saved below its stack's red zone. The thread calls `pkey_mprotect(page, 4096,
/// prot, -1)`, restores its registers and returns to the faulting instruction: no extra
/// ptrace round trip for RW flips. RX flips still stop once at seccomp, where the emulator
/// checks them against its table (the filter cannot tell the trampoline from a program
/// forging the same call to make shared memory executable).
///
/// Lives on the tracer thread; every ptrace request it makes comes from there.
final class WXEmulator {
    static let pageSize: UInt64 = 4096
    static let pageShift: UInt64 = 12

    enum Protection {
        case writable, executable
        var prot: UInt64 { self == .writable ? 0x3 : 0x5 }
        var name: String { self == .writable ? "PROT_READ|PROT_WRITE" : "PROT_READ|PROT_EXEC" }
    }

    /// One address space's emulated pages. Shared by a vfork child until it execs; copied
    /// on fork.
    final class Space {
        struct Page {
            var protection: Protection
            /// When the emulator last flipped it (CLOCK_MONOTONIC ns), 0 when never.
            var flippedAt: UInt64
            var flippedBy: pid_t
        }
        var pages: [UInt64: Page] = [:]
        /// The trampoline's address once mapped; `trampolineFailed` when it cannot be.
        var trampoline: UInt64?
        var trampolineFailed = false
        /// A `syscall` instruction of the program (from a seccomp stop), for injections.
        var syscallInstruction: UInt64?

        func copy() -> Space {
            let other = Space()
            other.pages = pages
            other.trampoline = trampoline
            other.trampolineFailed = trampolineFailed
            other.syscallInstruction = syscallInstruction
            return other
        }

        /// Removes and returns the entries over [start, start+length).
        func remove(start: UInt64, length: UInt64) -> [(UInt64, Page)] {
            guard !pages.isEmpty, length > 0 else { return [] }
            let first = start >> WXEmulator.pageShift
            let last = (start &+ length &- 1) >> WXEmulator.pageShift
            guard last >= first else { return [] }
            var removed: [(UInt64, Page)] = []
            if last - first < UInt64(pages.count) {
                for number in first...last {
                    if let page = pages.removeValue(forKey: number) { removed.append((number, page)) }
                }
            } else {
                for (number, page) in pages where number >= first && number <= last {
                    removed.append((number, page))
                }
                for (number, _) in removed { pages[number] = nil }
            }
            return removed
        }

        func restore(_ entries: [(UInt64, Page)]) {
            for (number, page) in entries { pages[number] = page }
        }

        func add(start: UInt64, length: UInt64, by tid: pid_t) {
            guard length > 0 else { return }
            let first = start >> WXEmulator.pageShift
            let last = (start &+ length &- 1) >> WXEmulator.pageShift
            guard last >= first else { return }
            for number in first...last {
                pages[number] = Page(protection: .writable, flippedAt: 0, flippedBy: tid)
            }
        }
    }

    /// What the tracer does with a fault the emulator looked at.
    enum FaultOutcome {
        /// Not a fault on an emulated page: deliver the signal unchanged.
        case notOurs
        /// Flipped (or retried); the thread is running again.
        case handled
        /// Another thread holds the page's lease: the thread stays stopped until `due`.
        case deferred
        /// The instruction can never complete under strict W^X.
        case livelock(reason: String, instruction: UInt64, address: UInt64)
        /// The thread died while the emulator was running a call in it.
        case died(WaitStatus)
    }

    private struct ThreadState {
        var lastKey: UInt64 = 0
        var lastWasExec = false
        var alternations = 0
        /// Set while (and after) the thread waited for a lease: it is not made to wait twice.
        var waitedSince: UInt64?
    }

    private struct Deferral {
        var tgid: pid_t
        var due: UInt64
    }

    let leaseNanoseconds: UInt64
    /// Faults of one thread with identical registers, alternately to execute and to write,
    /// before a livelock is declared.
    let livelockAlternations: Int
    private var spaces: [pid_t: Space] = [:]
    private var counters: [pid_t: WXEmulationCounters] = [:]
    private var threads: [pid_t: ThreadState] = [:]
    private var deferrals: [pid_t: Deferral] = [:]
    /// Called at a write fault before the thread resumes (to sample the code writer's stack).
    var onWriteFault: ((_ tid: pid_t, _ tgid: pid_t) -> Void)?

    /// Flip by single-stepping an injected syscall every time, never through a trampoline
    /// (`STRICTRUN_WX_SLOW_PATH=1`: the fallback, made testable and measurable).
    let slowPathOnly: Bool

    init(leaseNanoseconds: UInt64 = 2_000_000, livelockAlternations: Int = 4,
         slowPathOnly: Bool = getenv("STRICTRUN_WX_SLOW_PATH").map { String(cString: $0) == "1" } ?? false) {
        self.leaseNanoseconds = leaseNanoseconds
        self.livelockAlternations = livelockAlternations
        self.slowPathOnly = slowPathOnly
    }

    // MARK: lifecycle

    func processStarted(_ pid: pid_t, from parent: pid_t?, sharesMemory: Bool) {
        if let parent, let space = spaces[parent] {
            spaces[pid] = sharesMemory ? space : space.copy()
        } else {
            spaces[pid] = Space()
        }
        counters[pid] = WXEmulationCounters(startedAt: Self.now())
    }

    /// A new program image: nothing of the old address space survives.
    func exec(_ pid: pid_t) {
        spaces[pid] = Space()
    }

    func threadGone(_ tid: pid_t) {
        threads[tid] = nil
        deferrals[tid] = nil
    }

    /// The process's counters, final; its state is dropped.
    func processGone(_ pid: pid_t) -> WXEmulationCounters {
        spaces[pid] = nil
        var final = counters.removeValue(forKey: pid) ?? WXEmulationCounters(startedAt: Self.now())
        final.finish(at: Self.now())
        return final
    }

    // MARK: syscalls

    /// Notes a `syscall` instruction of the process (the one a seccomp stop came from).
    func harvest(tgid: pid_t, instructionPointer: UInt64) {
        guard let space = spaces[tgid], space.syscallInstruction == nil, instructionPointer >= 2 else { return }
        space.syscallInstruction = instructionPointer - 2
    }

    /// Whether a traced pkey_mprotect is the trampoline's flip, and if so whether it still
    /// agrees with the table (nil: not the trampoline's).
    func trampolineFlip(tgid: pid_t, nr: UInt64, args: [UInt64], instructionPointer: UInt64) -> Bool? {
        guard nr == 329, let space = spaces[tgid], let trampoline = space.trampoline,
              instructionPointer == trampoline + 2, args[3] & 0xffff_ffff == 0xffff_ffff else { return nil }
        guard args[1] == Self.pageSize, let page = space.pages[args[0] >> Self.pageShift] else { return false }
        return page.protection.prot == args[2]
    }

    /// Updates the table for a memory call the filter sent (mmap with MAP_FIXED or W+X,
    /// mprotect, pkey_mprotect, munmap, mremap) at its seccomp stop. `grantedWriteExec` is
    /// true when the call asked for W+X and was rewritten to RW. Returns what to do with the
    /// call's result at its exit stop (nil: nothing to learn from it).
    func memoryCall(tid: pid_t, tgid: pid_t, nr: UInt64, args: [UInt64],
                    grantedWriteExec: Bool) -> ((_ result: Int64) -> Void)? {
        guard let space = spaces[tgid] else { return nil }
        if grantedWriteExec { counters[tgid]?.rewritten += 1 }
        let failed = { (result: Int64) in result < 0 && result > -4096 }
        switch nr {
        case 9:  // mmap
            let fixed = args[3] & 0x10 != 0
            let removed = fixed ? space.remove(start: args[0], length: args[1]) : []
            guard grantedWriteExec || !removed.isEmpty else { return nil }
            let length = args[1]
            return { result in
                if failed(result) {
                    space.restore(removed)
                } else if grantedWriteExec {
                    space.add(start: UInt64(bitPattern: result), length: length, by: tid)
                }
            }
        case 10, 329:  // mprotect, pkey_mprotect
            let removed = space.remove(start: args[0], length: args[1])
            if grantedWriteExec { space.add(start: args[0], length: args[1], by: tid) }
            guard grantedWriteExec || !removed.isEmpty else { return nil }
            let (start, length) = (args[0], args[1])
            return { result in
                guard failed(result) else { return }
                if grantedWriteExec { _ = space.remove(start: start, length: length) }
                space.restore(removed)
            }
        case 11:  // munmap
            let removed = space.remove(start: args[0], length: args[1])
            guard !removed.isEmpty else { return nil }
            return { result in if failed(result) { space.restore(removed) } }
        case 25:  // mremap(old, old_size, new_size, flags, new)
            let (old, newLength, flags) = (args[0], args[2], args[3])
            let removed = space.remove(start: old, length: args[1])
            let displaced = flags & 0x2 != 0 ? space.remove(start: args[4], length: newLength) : []
            guard !removed.isEmpty || !displaced.isEmpty else { return nil }
            return { result in
                if failed(result) {
                    space.restore(removed)
                    space.restore(displaced)
                    return
                }
                let newFirst = UInt64(bitPattern: result) >> Self.pageShift
                let oldFirst = old >> Self.pageShift
                let newPages = (newLength + Self.pageSize - 1) >> Self.pageShift
                for (number, page) in removed where number - oldFirst < newPages {
                    space.pages[newFirst + number - oldFirst] = page
                }
                // MREMAP_DONTUNMAP leaves the old range mapped (empty, same protection).
                if flags & 0x4 != 0 { space.restore(removed) }
            }
        default:
            return nil
        }
    }

    // MARK: faults

    /// Whether the process has any emulated page (a SIGSEGV is worth a look).
    func emulates(_ tgid: pid_t) -> Bool {
        !(spaces[tgid]?.pages.isEmpty ?? true)
    }

    /// A SIGSEGV signal-delivery-stop of `tid`.
    func fault(tid: pid_t, tgid: pid_t) -> FaultOutcome {
        let cpuStart = Self.threadCPU()
        var sampling: UInt64 = 0  // stack samples of code writers are not the flip's cost
        defer { counters[tgid]?.handlerNanoseconds += Self.threadCPU() &- cpuStart &- sampling }
        guard let space = spaces[tgid] else { return .notOurs }
        var signo: Int32 = 0
        var code: Int32 = 0
        var address: UInt64 = 0
        guard strictrun_fault_info(tid, &signo, &code, &address) == 0,
              signo == SIGSEGV, code == 2 /* SEGV_ACCERR */ else { return .notOurs }
        let number = address >> Self.pageShift
        guard let page = space.pages[number] else { return .notOurs }
        var regs = user_regs_struct()
        guard strictrun_getregs(tid, &regs) == 0 else { return .notOurs }

        // An execute fault reports the address of the instruction's bytes it could not fetch.
        let isExec = address >= regs.rip && address < regs.rip &+ 16
        let want: Protection = isExec ? .executable : .writable
        var thread = threads[tid] ?? ThreadState()
        let now = Self.now()
        if thread.waitedSince == nil {
            if isExec { counters[tgid]?.execFaults += 1 } else { counters[tgid]?.writeFaults += 1 }
        }

        // An instruction that stores into its own page needs it writable and executable at once.
        if !isExec && (regs.rip >> Self.pageShift == number || (regs.rip &+ 15) >> Self.pageShift == number) {
            counters[tgid]?.livelocks += 1
            return .livelock(reason: "the instruction at \(Self.hex(regs.rip)) stores into its own "
                + "code page \(Self.hex(number << Self.pageShift)): under strict W^X a page "
                + "cannot be written and executed at once", instruction: regs.rip, address: address)
        }
        // The general case: the same thread faulting with the same registers, alternately to
        // execute and to write, is one instruction that needs its page (or two pages it
        // spans) both ways at once. A loop that comes back to identical registers faults
        // the same way each time, so it does not alternate.
        let key = withUnsafeBytes(of: regs) { Self.fnv($0) }
        if key == thread.lastKey && isExec != thread.lastWasExec {
            thread.alternations += 1
        } else {
            thread.alternations = 1
        }
        thread.lastKey = key
        thread.lastWasExec = isExec
        if thread.alternations >= livelockAlternations {
            threads[tid] = thread
            counters[tgid]?.livelocks += 1
            return .livelock(reason: "the instruction at \(Self.hex(regs.rip)) faulted \(thread.alternations) times in a row "
                + "with the same registers, alternately to execute and to write (last at \(Self.hex(address))): "
                + "it cannot complete under strict W^X", instruction: regs.rip, address: address)
        }

        // The lease: a page another thread just flipped stays as it is for a moment.
        if page.protection != want, page.flippedBy != tid, page.flippedAt != 0,
           now &- page.flippedAt < leaseNanoseconds, thread.waitedSince == nil {
            thread.waitedSince = now
            threads[tid] = thread
            deferrals[tid] = Deferral(tgid: tgid, due: page.flippedAt + leaseNanoseconds)
            counters[tgid]?.leaseWaits += 1
            return .deferred
        }
        if let since = thread.waitedSince {
            counters[tgid]?.leaseWaitNanoseconds += now &- since
            thread.waitedSince = nil
        }
        threads[tid] = thread
        space.pages[number] = Space.Page(protection: want, flippedAt: now, flippedBy: tid)
        counters[tgid]?.flips += 1
        if !isExec, let onWriteFault {
            let before = Self.threadCPU()
            onWriteFault(tid, tgid)
            sampling = Self.threadCPU() &- before
        }
        return flip(tid: tid, tgid: tgid, space: space, regs: regs, page: number << Self.pageShift, to: want)
    }

    /// The earliest time a deferred thread is due (CLOCK_MONOTONIC ns), nil when none waits.
    var nextDue: UInt64? { deferrals.isEmpty ? nil : deferrals.values.lazy.map(\.due).min() }

    /// Deferred threads whose lease has run out, with their thread group.
    func takeDue(now: UInt64 = WXEmulator.now()) -> [(tid: pid_t, tgid: pid_t)] {
        let due = deferrals.filter { $0.value.due <= now }
        for tid in due.keys { deferrals[tid] = nil }
        return due.map { ($0.key, $0.value.tgid) }
    }

    // MARK: flipping

    private static let trampolineCode: [UInt8] = [
        0x0f, 0x05,        // syscall        pkey_mprotect(rdi, rsi, rdx, r10 = -1)
        0x5f,              // pop rdi
        0x5e,              // pop rsi
        0x5a,              // pop rdx
        0x41, 0x5a,        // pop r10
        0x59,              // pop rcx
        0x41, 0x5b,        // pop r11
        0x58,              // pop rax
        0xc2, 0x80, 0x00,  // ret 128        back to the faulting instruction, over the red zone
    ]

    private func flip(tid: pid_t, tgid: pid_t, space: Space, regs: user_regs_struct, page: UInt64,
                      to protection: Protection) -> FaultOutcome {
        var deliver: PendingSignal?
        if slowPathOnly { space.trampolineFailed = true }
        if space.trampoline == nil && !space.trampolineFailed {
            switch installTrampoline(tid: tid, space: space, regs: regs) {
            case .died(let status): return .died(status)
            case .done(let signal): deliver = signal
            }
        }
        if let trampoline = space.trampoline {
            // Registers the trampoline clobbers, then the return address, below the red zone.
            let frame = regs.rsp &- 128 &- 64
            let saved: [UInt64] = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.rcx, regs.r11, regs.rax, regs.rip]
            let written = saved.withUnsafeBytes { strictrun_write_memory(tid, frame, $0.baseAddress, $0.count) }
            if written == 64 {
                var call = regs
                call.rip = trampoline
                call.rsp = frame
                call.rax = 329  // pkey_mprotect
                call.rdi = page
                call.rsi = Self.pageSize
                call.rdx = protection.prot
                call.r10 = 0xffff_ffff
                if strictrun_setregs(tid, &call) == 0 {
                    resume(tid, delivering: deliver)
                    return .handled
                }
            }
        }
        // The slow path: run the flip in the thread at a syscall instruction, then retry.
        counters[tgid]?.slowFlips += 1
        switch inject(tid: tid, space: space, regs: regs,
                      call: [329, page, Self.pageSize, protection.prot, 0xffff_ffff]) {
        case .died(let status):
            return .died(status)
        case .done(_, let signal):
            resume(tid, delivering: PendingSignal.merged(deliver, signal))
            return .handled
        case .unavailable:
            // Nothing can flip the page: let the program see its fault.
            Ptrace.resume(tid, signal: SIGSEGV)
            return .handled
        }
    }

    private enum InstallResult {
        case done(PendingSignal?)
        case died(WaitStatus)
    }

    /// Maps the trampoline into the thread's address space: mmap RW, write, mprotect RX.
    private func installTrampoline(tid: pid_t, space: Space, regs: user_regs_struct) -> InstallResult {
        var pending: PendingSignal?
        let mapped: Int64
        switch inject(tid: tid, space: space, regs: regs, call: [9, 0, Self.pageSize, 0x3, 0x22, UInt64.max, 0]) {
        case .died(let status): return .died(status)
        case .unavailable:
            space.trampolineFailed = true
            return .done(nil)
        case .done(let result, let signal):
            pending = signal
            mapped = result
        }
        guard mapped > 0 else {
            space.trampolineFailed = true
            return .done(pending)
        }
        let address = UInt64(mapped)
        let code = Self.trampolineCode
        let written = code.withUnsafeBytes { strictrun_write_memory(tid, address, $0.baseAddress, $0.count) }
        guard written == code.count else {
            space.trampolineFailed = true
            return .done(pending)
        }
        switch inject(tid: tid, space: space, regs: regs, call: [10, address, Self.pageSize, 0x5]) {
        case .died(let status): return .died(status)
        case .unavailable:
            space.trampolineFailed = true
        case .done(let result, let signal):
            pending = PendingSignal.merged(pending, signal)
            if result == 0 { space.trampoline = address } else { space.trampolineFailed = true }
        }
        return .done(pending)
    }

    /// A signal that arrived while the emulator ran a call in the thread, to deliver after.
    struct PendingSignal {
        var signal: Int32
        var info: siginfo_t
        /// Further signals dequeued meanwhile (one each): raised again once the thread runs.
        var more: [Int32] = []

        /// Both sets of signals, `first`'s delivered with its siginfo.
        static func merged(_ first: PendingSignal?, _ second: PendingSignal?) -> PendingSignal? {
            guard var merged = first else { return second }
            guard let second else { return merged }
            for signal in [second.signal] + second.more where signal != merged.signal && !merged.more.contains(signal) {
                merged.more.append(signal)
            }
            return merged
        }
    }

    private enum InjectResult {
        case done(Int64, PendingSignal?)
        case unavailable
        case died(WaitStatus)
    }

    /// Runs one syscall (`call` = nr, args…) in a thread stopped at a signal-delivery-stop,
    /// by single-stepping it through a `syscall` instruction of its own, and puts its
    /// registers back. The thread ends stopped (at a SIGTRAP signal-delivery-stop).
    private func inject(tid: pid_t, space: Space, regs: user_regs_struct, call: [UInt64]) -> InjectResult {
        guard let instruction = syscallInstruction(tid: tid, space: space) else { return .unavailable }
        var step = regs
        step.rip = instruction
        step.orig_rax = UInt64.max
        step.rax = call[0]
        let args = Array(call.dropFirst()) + Array(repeating: 0, count: 7 - call.count)
        step.rdi = args[0]; step.rsi = args[1]; step.rdx = args[2]
        step.r10 = args[3]; step.r8 = args[4]; step.r9 = args[5]
        guard strictrun_setregs(tid, &step) == 0 else { return .unavailable }
        var pending: PendingSignal?
        var result: Int64 = -Int64(ENOSYS)
        // Bounded: a thread that never gets through the instruction (it cannot, short of a
        // kernel surprise) is given its fault back rather than hanging the run.
        for _ in 0..<10_000 {
            _ = strictrun_ptrace(Ptrace.singleStep, tid, nil, nil)
            var raw: Int32 = 0
            guard strictrun_waitpid_all(tid, &raw, 0) == tid else { return .died(.exited(code: 0)) }
            let status = WaitStatus(raw)
            switch status {
            case .exited, .signaled:
                return .died(status)
            case .stopped(SIGTRAP, nil):
                var now = user_regs_struct()
                guard strictrun_getregs(tid, &now) == 0 else { return .died(.signaled(signal: SIGKILL)) }
                if now.rip == instruction + 2 {
                    result = Int64(bitPattern: now.rax)
                    var back = regs
                    _ = strictrun_setregs(tid, &back)
                    return .done(result, pending)
                }
            case .stopped(_, .some):
                continue  // the injected call's seccomp stop: let it run
            case .stopped(let signal, nil):
                // A signal dequeued before the injected call ran: kept, suppressed for now, and
                // delivered when the thread goes on (see `resume`). Raising it again here
                // would only have it dequeued again at the next step.
                if pending == nil {
                    var info = siginfo_t()
                    _ = strictrun_ptrace(Ptrace.getSigInfo, tid, nil, &info)
                    pending = PendingSignal(signal: signal, info: info)
                } else if pending?.signal != signal && pending?.more.contains(signal) == false {
                    pending?.more.append(signal)
                }
            }
        }
        var back = regs
        _ = strictrun_setregs(tid, &back)
        space.trampolineFailed = true
        return .unavailable
    }

    private func tgidOf(_ tid: pid_t) -> pid_t {
        TraceeMemory.threadGroup(of: tid) ?? tid
    }

    /// A verified `syscall` instruction: the harvested one, else one in the vDSO.
    private func syscallInstruction(tid: pid_t, space: Space) -> UInt64? {
        func isSyscall(_ address: UInt64) -> Bool {
            var bytes: (UInt8, UInt8) = (0, 0)
            return strictrun_read_memory(tid, address, &bytes, 2) == 2 && bytes.0 == 0x0f && bytes.1 == 0x05
        }
        if let known = space.syscallInstruction, isSyscall(known) { return known }
        space.syscallInstruction = nil
        guard let maps = TraceeMemory.procFile("/proc/\(tid)/maps"),
              let line = maps.split(separator: "\n").first(where: { $0.hasSuffix("[vdso]") }),
              let range = line.split(separator: " ").first?.split(separator: "-"), range.count == 2,
              let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16), end > start
        else { return nil }
        var image = [UInt8](repeating: 0, count: Int(min(end - start, 65536)))
        let n = image.withUnsafeMutableBytes { strictrun_read_memory(tid, start, $0.baseAddress, $0.count) }
        guard n > 1 else { return nil }
        for i in 0..<(n - 1) where image[i] == 0x0f && image[i + 1] == 0x05 {
            space.syscallInstruction = start + UInt64(i)
            return start + UInt64(i)
        }
        return nil
    }

    private func resume(_ tid: pid_t, delivering pending: PendingSignal?) {
        guard var pending else {
            Ptrace.resume(tid)
            return
        }
        for signal in pending.more { _ = strictrun_tgkill(tgidOf(tid), tid, signal) }
        _ = strictrun_ptrace(Ptrace.setSigInfo, tid, nil, &pending.info)
        Ptrace.resume(tid, signal: pending.signal)
    }

    // MARK: clocks and hashing

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func threadCPU() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    private static func fnv(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}

/// The W^X emulation counters of one process (or a run's total).
public struct WXEmulationCounters: Sendable, Hashable {
    /// W+X requests granted as RW.
    public var rewritten = 0
    public var execFaults = 0
    public var writeFaults = 0
    public var flips = 0
    /// Flips made by single-stepping a syscall in the thread (no trampoline).
    public var slowFlips = 0
    /// Faults that waited for another thread's lease on the page.
    public var leaseWaits = 0
    public var leaseWaitNanoseconds: UInt64 = 0
    /// Tracer CPU spent handling faults.
    public var handlerNanoseconds: UInt64 = 0
    public var livelocks = 0
    var startedAt: UInt64 = 0
    public var elapsedNanoseconds: UInt64 = 0

    init(startedAt: UInt64) {
        self.startedAt = startedAt
    }

    public init() {}

    mutating func finish(at now: UInt64) {
        elapsedNanoseconds = now &- startedAt
    }

    public var flipsPerSecond: Double {
        elapsedNanoseconds == 0 ? 0 : Double(flips) / (Double(elapsedNanoseconds) / 1e9)
    }

    public var isEmpty: Bool { rewritten == 0 && flips == 0 && execFaults == 0 && writeFaults == 0 }

    public mutating func add(_ other: WXEmulationCounters) {
        rewritten += other.rewritten
        execFaults += other.execFaults
        writeFaults += other.writeFaults
        flips += other.flips
        slowFlips += other.slowFlips
        leaseWaits += other.leaseWaits
        leaseWaitNanoseconds += other.leaseWaitNanoseconds
        handlerNanoseconds += other.handlerNanoseconds
        livelocks += other.livelocks
        elapsedNanoseconds = max(elapsedNanoseconds, other.elapsedNanoseconds)
    }

    /// The `wx_emulation` object of an `exit` event.
    public var json: JSONValue {
        .object([
            ("rewritten", .int(Int64(rewritten))),
            ("exec_faults", .int(Int64(execFaults))),
            ("write_faults", .int(Int64(writeFaults))),
            ("flips", .int(Int64(flips))),
            ("flips_per_second", .double((flipsPerSecond * 10).rounded() / 10)),
            ("slow_flips", .int(Int64(slowFlips))),
            ("lease_waits", .int(Int64(leaseWaits))),
            ("lease_wait_ms", .double(Double(leaseWaitNanoseconds / 1000) / 1000)),
            ("handler_us_per_flip", .double(flips == 0 ? 0 : (Double(handlerNanoseconds) / Double(flips) / 10).rounded() / 100)),
            ("livelocks", .int(Int64(livelocks))),
        ])
    }

    /// One line for the run summary.
    public var summary: String {
        "\(rewritten) W+X requests granted as RW; \(flips) flips (\(execFaults) exec faults, \(writeFaults) write faults, "
            + "\(Int(flipsPerSecond.rounded()))/s), \(leaseWaits) lease waits"
            + (slowFlips > 0 ? ", \(slowFlips) slow flips" : "") + (livelocks > 0 ? ", \(livelocks) livelocks" : "")
    }
}

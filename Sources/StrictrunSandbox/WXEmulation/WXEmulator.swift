import StrictrunSystem

/// `wx: emulate` (DESIGN.md, "W^X levels"): a W+X request is granted as RW, its pages are
/// remembered (`AddressSpace`), and each fault on one of them flips that 4 KiB page — to RX when
/// the program executes it, back to RW when it writes it. No page is ever writable and
/// executable at once, the program runs unmodified, and every flip is counted.
///
/// The parts: the page table (`PageTable.swift`), leases and livelock detection
/// (`Livelock.swift`), the flip itself (`Trampoline.swift`), the memory calls' check
/// (`Checks/WXEmulationCheck.swift`), and this file: the address spaces of the run and the
/// handling of one fault. Lives on the tracer thread.
final class WXEmulator {
    /// What the tracer does with a fault the emulator looked at.
    enum FaultOutcome {
        /// Not a fault on an emulated page: deliver the signal unchanged.
        case notOurs
        /// Flipped (or given back to the program); the thread is running again.
        case handled
        /// Another thread holds the page's lease: the thread stays stopped until it is due.
        case deferred
        /// The instruction can never complete under strict W^X.
        case livelock(reason: String, instruction: UInt64, address: UInt64)
        /// The thread died while the emulator was running a call in it.
        case died(WaitStatus)
    }

    private var spaces: [ProcessID: AddressSpace] = [:]
    private var counters: [ProcessID: WXEmulationCounters] = [:]
    private var leases: Leases
    private var livelocks: LivelockDetector
    /// Per thread: the page it last faulted on although the table had it as asked, and how often.
    private var stale: [ProcessID: (page: UInt64, count: Int)] = [:]
    static let staleFaultLimit = 3
    private var trampoline: Trampoline
    /// How the emulator lets a thread run on (the tracer's resume).
    var resume: (ProcessID, Int32) -> Void {
        get { trampoline.resume }
        set { trampoline.resume = newValue }
    }
    /// Called at a write fault before the thread resumes (to sample the code writer's stack).
    var onWriteFault: ((_ tid: ProcessID, _ tgid: ProcessID) -> Void)?

    init(leaseNanoseconds: UInt64 = 2_000_000, livelockAlternations: Int = 4, slowPathOnly: Bool = false) {
        leases = Leases(nanoseconds: leaseNanoseconds)
        livelocks = LivelockDetector(alternations: livelockAlternations)
        trampoline = Trampoline(slowPathOnly: slowPathOnly)
    }

    // MARK: lifecycle

    func processStarted(_ pid: ProcessID, from parent: ProcessID?, sharesMemory: Bool) {
        if let parent, let space = spaces[parent] {
            spaces[pid] = sharesMemory ? space : space.copy()
        } else {
            spaces[pid] = AddressSpace()
        }
        counters[pid] = WXEmulationCounters(startedAt: Clock.monotonic())
    }

    /// A new program image: nothing of the old address space survives.
    func exec(_ pid: ProcessID) { spaces[pid] = AddressSpace() }

    func threadGone(_ tid: ProcessID) {
        leases.threadGone(tid)
        livelocks.threadGone(tid)
        stale[tid] = nil
    }

    /// The process's counters, final; its state is dropped.
    func processGone(_ pid: ProcessID) -> WXEmulationCounters {
        spaces[pid] = nil
        var final = counters.removeValue(forKey: pid) ?? WXEmulationCounters(startedAt: Clock.monotonic())
        final.finish(at: Clock.monotonic())
        return final
    }

    /// The address space of a process (nil when it is not traced).
    func space(_ tgid: ProcessID) -> AddressSpace? { spaces[tgid] }

    /// A W+X request of the process was granted as RW.
    func countRewrite(_ tgid: ProcessID) { counters[tgid]?.rewritten += 1 }

    /// Whether the process has any emulated page (a SIGSEGV is worth a look).
    func emulates(_ tgid: ProcessID) -> Bool { !(spaces[tgid]?.pages.isEmpty ?? true) }

    // MARK: faults

    /// A SIGSEGV signal-delivery-stop of `tid`.
    func fault(tid: ProcessID, tgid: ProcessID) -> FaultOutcome {
        let cpuStart = Clock.threadCPU()
        var sampling: UInt64 = 0  // stack samples of code writers are not the flip's cost
        defer { counters[tgid]?.handlerNanoseconds += Clock.threadCPU() &- cpuStart &- sampling }
        let segvAccessError: Int32 = 2  // SEGV_ACCERR
        guard let space = spaces[tgid], let fault = Ptrace.fault(tid), fault.signal == Signals.segv,
              fault.code == segvAccessError else { return .notOurs }
        let address = fault.address
        let number = address >> AddressSpace.pageShift
        guard let page = space.pages[number], let regs = try? Registers.read(tid) else { return .notOurs }

        // An execute fault reports the address of the instruction's bytes it could not fetch.
        let rip = regs.instructionPointer
        let isExec = address >= rip && address < rip &+ 16
        let want: PageProtection = isExec ? .executable : .writable
        let now = Clock.monotonic()
        if !leases.isRetry(tid) {
            if isExec { counters[tgid]?.execFaults += 1 } else { counters[tgid]?.writeFaults += 1 }
        }
        if let reason = livelocks.observe(tid: tid, registers: regs.fingerprint, rip: rip, address: address, isExec: isExec) {
            counters[tgid]?.livelocks += 1
            return .livelock(reason: reason, instruction: rip, address: address)
        }
        if let reason = unflipped(tid: tid, page: number, already: page.protection == want && page.flippedAt != 0) {
            counters[tgid]?.livelocks += 1
            return .livelock(reason: reason, instruction: rip, address: address)
        }
        if leases.mustWait(tid: tid, tgid: tgid, page: page, want: want, now: now) {
            counters[tgid]?.leaseWaits += 1
            return .deferred
        }
        if let waited = leases.end(tid, now: now) { counters[tgid]?.leaseWaitNanoseconds += waited }
        space.pages[number] = AddressSpace.Page(protection: want, flippedAt: now, flippedBy: tid)
        counters[tgid]?.flips += 1
        if !isExec, let onWriteFault {
            let before = Clock.threadCPU()
            onWriteFault(tid, tgid)
            sampling = Clock.threadCPU() &- before
        }
        switch trampoline.flip(tid: tid, space: space, regs: regs, page: number << AddressSpace.pageShift, to: want) {
        case .died(let status):
            return .died(status)
        case .flipped(let slow):
            if slow { counters[tgid]?.slowFlips += 1 }
            return .handled
        case .gaveUp:
            counters[tgid]?.slowFlips += 1
            return .handled
        }
    }

    /// Faults of one thread on a page the table already has as the fault asks: once is a race
    /// with another thread's flip; three in a row mean the flips do not take effect (the page was
    /// sealed or changed under the emulator) — the process must end, not spin.
    func unflipped(tid: ProcessID, page: UInt64, already: Bool) -> String? {
        guard already else {
            stale[tid] = nil
            return nil
        }
        let count = stale[tid].map { $0.page == page ? $0.count + 1 : 1 } ?? 1
        stale[tid] = (page, count)
        guard count >= Self.staleFaultLimit else { return nil }
        return "page 0x\(String(page << AddressSpace.pageShift, radix: 16)) faulted \(count) times after it was flipped "
            + "as asked: the flip does not take effect (sealed, or changed under the emulator)"
    }

    /// The earliest time a deferred thread is due (CLOCK_MONOTONIC ns), nil when none waits.
    var nextDue: UInt64? { leases.nextDue }

    /// Deferred threads whose lease has run out, with their thread group.
    func takeDue(now: UInt64 = Clock.monotonic()) -> [(tid: ProcessID, tgid: ProcessID)] { leases.takeDue(now: now) }
}

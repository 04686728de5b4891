#if canImport(Glibc)
import Glibc
#endif

/// Running a system call inside a stopped thread: its registers are pointed at a `syscall`
/// instruction of its own with the call loaded, the thread single-steps it, and its registers
/// are put back. Used by W^X emulation to map its trampoline and to flip pages without one.
public enum RemoteSyscall {
    /// A signal that arrived while a call ran in the thread, to deliver after.
    public struct PendingSignal: Sendable {
        public var signal: Int32
        var info: SignalInfo?
        /// Further signals dequeued meanwhile (one each): raised again once the thread runs.
        public var more: [Int32] = []

        /// Both sets of signals, `first`'s delivered with its siginfo.
        public static func merged(_ first: PendingSignal?, _ second: PendingSignal?) -> PendingSignal? {
            guard var merged = first else { return second }
            guard let second else { return merged }
            for signal in [second.signal] + second.more where signal != merged.signal && !merged.more.contains(signal) {
                merged.more.append(signal)
            }
            return merged
        }
    }

    /// What running a call found.
    public enum Outcome: Sendable {
        /// The call's result (-errno on failure), and signals to deliver after.
        case done(Int64, PendingSignal?)
        /// No usable `syscall` instruction, or the thread never got through it.
        case unavailable
        /// The thread died meanwhile.
        case died(WaitStatus)
    }

    /// Runs `call` (number, arguments…) in `tid`, stopped at a signal-delivery-stop with
    /// registers `regs`, through the `syscall` instruction at `instruction`. The thread ends
    /// stopped again (at a SIGTRAP) with `regs` restored. Bounded: a thread that never gets
    /// through the instruction is given back rather than hanging the run.
    public static func run(in tid: pid_t, registers regs: Registers, at instruction: UInt64,
                           call: [UInt64]) -> Outcome {
        var step = regs
        step.instructionPointer = instruction
        step.syscallNumber = UInt64.max
        step.rax = call[0]
        for index in 0..<6 { step.setArgument(index, index + 1 < call.count ? call[index + 1] : 0) }
        guard (try? step.write(tid)) != nil else { return .unavailable }
        var pending: PendingSignal?
        for _ in 0..<10_000 {
            Ptrace.step(tid)
            guard let status = Wait.task(tid) else { return .died(.exited(code: 0)) }
            switch status {
            case .exited, .signaled:
                return .died(status)
            case .stopped(SIGTRAP, nil):
                guard let now = try? Registers.read(tid) else { return .died(.signaled(signal: SIGKILL)) }
                if now.instructionPointer == instruction + 2 {
                    try? regs.write(tid)
                    return .done(now.returnValue, pending)
                }
            case .stopped(_, .some):
                continue  // the call's own seccomp stop: let it run
            case .stopped(let signal, nil):
                // A signal dequeued before the call ran: kept, suppressed for now, delivered
                // when the thread goes on (`resume`). Raising it here would only have it
                // dequeued again at the next step.
                if pending == nil {
                    pending = PendingSignal(signal: signal, info: Ptrace.signalInfo(tid))
                } else if pending?.signal != signal && pending?.more.contains(signal) == false {
                    pending?.more.append(signal)
                }
            }
        }
        try? regs.write(tid)
        return .unavailable
    }

    /// Resumes a thread, delivering the signals kept while calls ran in it.
    /// `via`: how the thread runs on (PTRACE_CONT by default; the tracer's own resume for threads
    /// it keeps stopping at every call).
    public static func resume(_ tid: pid_t, delivering pending: PendingSignal?,
                              via resume: (pid_t, Int32) -> Void = { Ptrace.resume($0, signal: $1) }) {
        guard let pending else {
            resume(tid, 0)
            return
        }
        let group = ProcFS.threadGroup(of: tid) ?? tid
        for signal in pending.more { Signals.send(signal, toThread: tid, of: group) }
        if let info = pending.info { Ptrace.setSignalInfo(tid, info) }
        resume(tid, pending.signal)
    }

    /// Whether the two bytes at `address` are a `syscall` instruction (0f 05).
    public static func isSyscallInstruction(_ memory: some MemoryReading, at address: UInt64) -> Bool {
        memory.read(at: address, count: 2) == [0x0f, 0x05]
    }

    /// A `syscall` instruction in the process's vDSO, nil when none is found.
    public static func vdsoSyscallInstruction(pid: pid_t) -> UInt64? {
        guard let vdso = MemoryMaps.read(pid: pid)?.named("[vdso]"), vdso.end > vdso.start else { return nil }
        let image = TraceeMemory(pid: pid).read(at: vdso.start, count: Int(min(vdso.end - vdso.start, 65536)))
        guard image.count > 1 else { return nil }
        for i in 0..<(image.count - 1) where image[i] == 0x0f && image[i + 1] == 0x05 {
            return vdso.start + UInt64(i)
        }
        return nil
    }
}

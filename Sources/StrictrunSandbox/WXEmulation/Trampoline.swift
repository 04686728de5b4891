import StrictrunSystem

/// Flipping one page in the faulting thread itself. The fast path: a 14-byte trampoline,
/// mapped once per address space (two calls run in the thread with `RemoteSyscall`), that
/// calls `pkey_mprotect(page, 4096, prot, -1)`, pops the registers it clobbered and returns
/// straight to the faulting instruction: no extra ptrace round trip. The slow path, when no
/// trampoline can be had: the flip single-stepped at a `syscall` instruction of the program.
struct Trampoline {
    /// Flip by single-stepping every time, never through a trampoline (the fallback, made
    /// testable and measurable: `STRICTRUN_WX_SLOW_PATH=1`, read by the executable).
    let slowPathOnly: Bool
    /// How a flipped thread runs on (the tracer's resume: spawn children keep stopping at calls).
    var resume: (ProcessID, Int32) -> Void = { Ptrace.resume($0, signal: $1) }

    static let code: [UInt8] = [
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

    enum Outcome {
        /// The thread runs again (through the trampoline, or after a slow flip).
        case flipped(slow: Bool)
        /// Nothing could flip the page: the program was given its fault.
        case gaveUp
        case died(WaitStatus)
    }

    /// Flips `page` of the thread `tid` (stopped at its fault with `regs`) to `protection`,
    /// and lets it run.
    func flip(tid: ProcessID, space: AddressSpace, regs: Registers, page: UInt64, to protection: PageProtection) -> Outcome {
        var deliver: RemoteSyscall.PendingSignal?
        if slowPathOnly { space.trampolineFailed = true }
        if space.trampoline == nil && !space.trampolineFailed {
            switch install(tid: tid, space: space, regs: regs) {
            case .died(let status): return .died(status)
            case .done(let signal): deliver = signal
            }
        }
        if let trampoline = space.trampoline {
            // Registers the trampoline clobbers, then the return address, below the red zone.
            let frame = regs.stackPointer &- 128 &- 64
            let saved: [UInt64] = [regs.argument(0), regs.argument(1), regs.argument(2), regs.argument(3),
                                   regs.rcx, regs.r11, regs.rax, regs.instructionPointer]
            let bytes = saved.withUnsafeBytes { Array($0) }
            if TraceeMemory(pid: tid).write(bytes, at: frame) {
                var call = regs
                call.instructionPointer = trampoline
                call.stackPointer = frame
                call.rax = SyscallNumber.pkeyMprotect
                call.setArgument(0, page)
                call.setArgument(1, AddressSpace.pageSize)
                call.setArgument(2, protection.prot)
                call.setArgument(3, Xlat.noProtectionKey)
                if (try? call.write(tid)) != nil {
                    RemoteSyscall.resume(tid, delivering: deliver, via: resume)
                    return .flipped(slow: false)
                }
            }
        }
        guard let instruction = syscallInstruction(tid: tid, space: space) else {
            resume(tid, Signals.segv)  // nothing can flip the page: the program sees its fault
            return .gaveUp
        }
        switch RemoteSyscall.run(in: tid, registers: regs, at: instruction,
                                 call: [SyscallNumber.pkeyMprotect, page, AddressSpace.pageSize, protection.prot,
                                        Xlat.noProtectionKey]) {
        case .died(let status):
            return .died(status)
        case .done(_, let signal):
            RemoteSyscall.resume(tid, delivering: RemoteSyscall.PendingSignal.merged(deliver, signal), via: resume)
            return .flipped(slow: true)
        case .unavailable:
            space.trampolineFailed = true
            resume(tid, Signals.segv)
            return .gaveUp
        }
    }

    private enum InstallResult {
        case done(RemoteSyscall.PendingSignal?)
        case died(WaitStatus)
    }

    /// Maps the trampoline into the thread's address space: mmap RW, write, mprotect RX.
    private func install(tid: ProcessID, space: AddressSpace, regs: Registers) -> InstallResult {
        guard let instruction = syscallInstruction(tid: tid, space: space) else {
            space.trampolineFailed = true
            return .done(nil)
        }
        let anonymousPrivate: UInt64 = 0x22  // MAP_PRIVATE|MAP_ANONYMOUS
        var pending: RemoteSyscall.PendingSignal?
        let mapped: Int64
        switch RemoteSyscall.run(in: tid, registers: regs, at: instruction,
                                 call: [SyscallNumber.mmap, 0, AddressSpace.pageSize, Xlat.protRead | Xlat.protWrite,
                                        anonymousPrivate, UInt64.max, 0]) {
        case .died(let status): return .died(status)
        case .unavailable:
            space.trampolineFailed = true
            return .done(nil)
        case .done(let result, let signal):
            pending = signal
            mapped = result
        }
        guard mapped > 0, TraceeMemory(pid: tid).write(Self.code, at: UInt64(mapped)) else {
            space.trampolineFailed = true
            return .done(pending)
        }
        let address = UInt64(mapped)
        switch RemoteSyscall.run(in: tid, registers: regs, at: instruction,
                                 call: [SyscallNumber.mprotect, address, AddressSpace.pageSize, Xlat.protRead | Xlat.protExec]) {
        case .died(let status): return .died(status)
        case .unavailable:
            space.trampolineFailed = true
        case .done(let result, let signal):
            pending = RemoteSyscall.PendingSignal.merged(pending, signal)
            if result == 0 { space.trampoline = address } else { space.trampolineFailed = true }
        }
        return .done(pending)
    }

    /// A verified `syscall` instruction: the harvested one, else one in the vDSO.
    private func syscallInstruction(tid: ProcessID, space: AddressSpace) -> UInt64? {
        if let known = space.syscallInstruction, RemoteSyscall.isSyscallInstruction(TraceeMemory(pid: tid), at: known) {
            return known
        }
        space.syscallInstruction = RemoteSyscall.vdsoSyscallInstruction(pid: tid)
        return space.syscallInstruction
    }
}

import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// A memory call under `wx: emulate`: the trampoline's RX flips are checked against the page
/// table; executable shared memory is denied as under `simultaneous`; a W+X request is granted
/// as RW (and logged with its stack); the table follows every call that could replace or
/// re-protect emulated pages, learning the outcome at the call's exit.
struct WXEmulationCheck {
    let emulator: WXEmulator
    /// W+X by alias, logged under emulation (the port must carry dual mappings).
    var alias = WXAliasCheck(rule: nil)

    func decide(_ rule: CompiledRule, _ stop: SyscallStop, tracee: some TraceeView) -> Decision {
        guard let space = emulator.space(stop.tgid) else { return .pass }
        let ip = stop.info.instructionPointer
        if space.syscallInstruction == nil && ip >= 2 { space.syscallInstruction = ip - 2 }
        if let agrees = space.trampolineFlip(number: stop.number, args: stop.args, instructionPointer: ip) {
            // A flip the table no longer wants fails; the thread faults again and is judged afresh.
            return agrees ? .pass : Decision(verdict: .deny(Errno.again))
        }
        let args = stop.args
        if let change = pageChange(stop, space: space, tracee: tracee) { return .act(rule.named(change.rule), stop, extra: [("reason", .string(change.reason))]) }
        let setsProtection = [SyscallNumber.mmap, SyscallNumber.mprotect, SyscallNumber.pkeyMprotect].contains(stop.number)
        if setsProtection && args[2] & Xlat.protExec != 0 {
            let shared = stop.number == SyscallNumber.mmap ? args[3] & Xlat.mapShared != 0
                : tracee.region(stop.tgid, start: args[0], length: args[1])?.shared ?? false
            if shared { return .act(rule.named("shared-exec"), stop) }
        }
        let writeExec = Xlat.protWrite | Xlat.protExec
        let granted = setsProtection && args[2] & writeExec == writeExec
        let tableUpdate = space.memoryCall(tid: stop.tid, number: stop.number, args: args, grantedWriteExec: granted)
        var decision = Decision.pass
        decision.events = alias.decide(stop, view: tracee)?.events ?? []
        // An mprotect(PROT_EXEC) that passed on the mappings is checked again at its exit.
        let reverify = granted ? nil : WXCheck.reverify(rule, stop, level: .emulate, view: tracee)
        if tableUpdate != nil || reverify != nil {
            decision.verdict.atExit = { result in
                tableUpdate?(result)
                return reverify?(result) ?? []
            }
        }
        guard granted else { return decision }
        emulator.countRewrite(stop.tgid)
        let asGranted = args[2] & ~Xlat.protExec
        decision.verdict.rewrites = [(2, asGranted)]
        // W+X that cannot be rewritten must not pass as asked.
        if case .deny(let code) = rule.action { decision.verdict.failClosedErrno = code }
        decision.events.append(EventDraft(rule: rule.named("wx-emulated", action: .log), stop: stop,
                                          extra: [("granted", .string(Xlat.protNames(asGranted)))]))
        return decision
    }

    /// mseal over emulated pages (every later flip would fail) and shmat(SHM_REMAP) over them
    /// (a shared segment in their place, which a flip would make executable while another
    /// attachment writes it): refused, with the rule that says which.
    private func pageChange(_ stop: SyscallStop, space: AddressSpace, tracee: some TraceeView) -> (rule: String, reason: String)? {
        let args = stop.args
        if stop.number == SyscallNumber.mseal, space.overlaps(start: args[0], length: args[1]) {
            return ("emulated-page-seal", "sealing pages W^X emulation flips would make every flip fail")
        }
        if stop.number == SyscallNumber.shmat {
            // Unknown size: the segment may cover anything from its address on.
            let size = tracee.sharedMemorySize(id: Int32(truncatingIfNeeded: args[0])) ?? UInt64.max - args[1]
            if space.overlaps(start: args[1], length: size) {
                return ("emulated-page-remap", "a shared segment over emulated pages would be flipped executable "
                        + "while another attachment can write it")
            }
        }
        return nil
    }
}

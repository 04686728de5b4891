import StrictrunPolicy
import StrictrunSystem

/// fork, spawn, exec and whole-call rules: the rule's action, except the program's own first
/// exec (strictrun's launch), which passes silently.
enum ProcessCheck {
    static func decide(_ rule: CompiledRule, _ stop: SyscallStop, firstExecOfRoot: Bool) -> Decision {
        if rule.check == .execAfterFirst && firstExecOfRoot { return .pass }
        return .act(rule, stop)
    }
}

/// W^X at the `simultaneous` and `no-exec-gain` levels: which rule an mmap/mprotect/
/// pkey_mprotect the filter sent breaks, from its arguments and the program's mappings.
enum WXCheck {
    static func decide(_ rule: CompiledRule, _ stop: SyscallStop, level: WXLevel, view: some TraceeView) -> Decision {
        let name = ruleName(number: stop.number, args: stop.args, level: level) {
            view.region(stop.tgid, start: stop.args[0], length: stop.args[1]) ?? (false, false)
        }
        guard let name else { return .pass }
        return .act(rule.named(name), stop)
    }

    /// An mprotect(PROT_EXEC) that passed on what /proc/PID/maps said: another thread may have
    /// replaced the mapping between the check and the call (a private one by a shared one with
    /// MAP_FIXED). At the exit stop of a call that succeeded the mappings are read again; a
    /// region that now breaks the level ends the process (`wx/maps-race`). Nil for calls that
    /// did not depend on the mappings.
    static func reverify(_ rule: CompiledRule, _ stop: SyscallStop, level: WXLevel,
                         view: some TraceeView) -> ((Int64) -> [EventDraft])? {
        guard stop.number != SyscallNumber.mmap, stop.args[2] & Xlat.protExec != 0 else { return nil }
        return { result in
            guard result == 0 else { return [] }
            // Unreadable mappings count as broken: the check must not pass what it could not see.
            let now = view.region(stop.tgid, start: stop.args[0], length: stop.args[1]) ?? (false, true)
            guard now.shared else { return [] }
            return [EventDraft(rule: rule.named("maps-race", action: rule.action.blocks ? .kill : rule.action), stop: stop,
                               extra: [("reason", .string("the mapping became shared between the check and the call"))])]
        }
    }

    /// W+X at once (`wx-simultaneous`); an executable view of shared memory (`shared-exec`);
    /// or, at `no-exec-gain`, memory that gains exec (`exec-gain`). Nil when none. `region`
    /// reads the mappings the call covers, only when the arguments alone cannot tell.
    static func ruleName(number: UInt64, args: [UInt64], level: WXLevel,
                         region: () -> (allExecutable: Bool, shared: Bool)) -> String? {
        let prot = args[2]
        let writeExec = Xlat.protWrite | Xlat.protExec
        if prot & writeExec == writeExec { return "wx-simultaneous" }
        guard prot & Xlat.protExec != 0 else { return nil }
        if number == SyscallNumber.mmap {
            return args[3] & Xlat.mapShared != 0 ? "shared-exec" : nil
        }
        let mapped = region()
        if mapped.shared { return "shared-exec" }
        if level == .noExecGain && !mapped.allExecutable { return "exec-gain" }
        return nil
    }
}

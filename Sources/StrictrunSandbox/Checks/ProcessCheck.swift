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
            view.maps(stop.tgid)?.region(start: stop.args[0], length: stop.args[1]) ?? (false, false)
        }
        guard let name else { return .pass }
        return .act(rule.named(name), stop)
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

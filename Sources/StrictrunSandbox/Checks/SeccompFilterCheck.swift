import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// A seccomp filter the program installs (`seccomp(SECCOMP_SET_MODE_FILTER)`,
/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`). Among equal actions the newest filter's data
/// wins, and `USER_NOTIF` outranks `TRACE`: a filter of the program's that can return either would
/// decide what strictrun's tracer sees. Such a filter is refused (EACCES, `escape/seccomp`) in
/// every mode — letting it in would make the trace incomplete, the one thing audit must not be.
/// Any other filter (ALLOW, ERRNO, KILL, TRAP, LOG — a runtime sandboxing itself) is installed
/// from a pinned copy, so no other thread can swap its instructions after the check.
///
/// The check reads every return instruction rather than simulating inputs: a filter can return
/// TRACE or USER_NOTIF exactly when one of its `ret k` has that action or it has a `ret a`
/// (the accumulator can hold anything). Sound for every input, and linear in the program.
enum SeccompFilterCheck {
    static let modeFilter: UInt64 = 2        // SECCOMP_MODE_FILTER (prctl)
    static let setModeFilter: UInt64 = 1     // SECCOMP_SET_MODE_FILTER (seccomp)
    static let setSeccomp: UInt64 = 22       // PR_SET_SECCOMP
    static let maxInstructions = 4096        // BPF_MAXINSNS
    static let actionMask: UInt32 = 0xffff_0000
    static let traceAction: UInt32 = 0x7ff0_0000
    static let userNotifAction: UInt32 = 0x7fc0_0000

    /// Where the `struct sock_fprog *` of a filter-installing call is; nil for other calls.
    static func programArgument(number: UInt64, args: [UInt64]) -> Int? {
        if number == SyscallNumber.seccomp && args[0] == setModeFilter { return 2 }
        if number == SyscallNumber.prctl && args[0] & 0xffff_ffff == setSeccomp && args[1] == modeFilter { return 2 }
        return nil
    }

    /// Why `program` may not be installed (nil: it may).
    static func refusal(_ program: [BPFInstruction]) -> String? {
        for (index, instruction) in program.enumerated() where instruction.code & 0x07 == 0x06 {
            switch instruction.code & 0x18 {
            case 0x00:
                let action = instruction.k & actionMask
                if action == traceAction {
                    return "instruction \(index) returns SECCOMP_RET_TRACE|\(instruction.k & 0xffff): "
                        + "its data would reach strictrun's tracer as a rule of its own"
                }
                if action == userNotifAction {
                    return "instruction \(index) returns SECCOMP_RET_USER_NOTIF: a notifier of the program's "
                        + "would answer before strictrun's tracer sees the call"
                }
            default:
                return "instruction \(index) returns the accumulator: it could return SECCOMP_RET_TRACE "
                    + "or SECCOMP_RET_USER_NOTIF"
            }
        }
        return nil
    }

    static func decide(_ rule: CompiledRule, _ stop: SyscallStop, view: some TraceeView) -> Decision {
        guard let argument = programArgument(number: stop.number, args: stop.args) else {
            return rule.action == .allow ? .pass : .act(rule, stop)
        }
        let header = view.read(stop.tid, at: stop.args[argument], count: 16)
        let count = header.count == 16 ? Int(UInt16(header[0]) | UInt16(header[1]) << 8) : 0
        let address = header.count == 16 ? header[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } : 0
        let bytes = count > 0 && count <= maxInstructions ? view.read(stop.tid, at: address, count: count * 8) : []
        guard bytes.count == count * 8, count > 0 else {
            // The kernel would refuse it too (EINVAL or EFAULT); nothing to pin.
            return rule.action == .allow ? .pass : .act(rule, stop)
        }
        let program = BPFInstruction.decode(bytes)
        let extra: [(String, JSONValue)] = [("instructions", .int(Int64(count)))]
        if let reason = refusal(program) {
            let refused = CompiledRule.builtIn(Category.escape.name, "seccomp", .deny(errno: Errno.access))
            return Decision(verdict: .deny(Errno.access),
                            events: [EventDraft(rule: refused, stop: stop, extra: extra + [("reason", .string(reason))])])
        }
        // struct sock_fprog { u16 len; struct sock_filter *filter; } then the instructions; the
        // pointer (offset 8) is made to point at the copy's instructions.
        var pinned = Verdict.allow
        pinned.pin = (argument, Array(header[0..<8]) + CheckBytes.little(16) + bytes)
        pinned.pinRelocations = [8]
        pinned.failClosedErrno = Errno.access
        let events = rule.action == .allow ? [] : [EventDraft(rule: rule, stop: stop, extra: extra)]
        return Decision(verdict: pinned, events: events)
    }
}

/// Little-endian bytes for pinned structures.
enum CheckBytes {
    static func little(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

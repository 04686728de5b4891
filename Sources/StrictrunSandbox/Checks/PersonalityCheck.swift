import StrictrunPolicy
import StrictrunSystem

/// personality(2) with READ_IMPLIES_EXEC (every readable mapping executable: W+X without ever
/// asking for PROT_EXEC). The kernel reads the low 32 bits and treats only 0xffffffff as a query;
/// bit 31 alone is no query (the filter sent both kinds of value here), so every other value
/// that carries the flag gets the rule's action.
enum PersonalityCheck {
    static let readImpliesExec: UInt64 = 0x0400000
    static let query: UInt64 = 0xffff_ffff

    static func decide(_ rule: CompiledRule, _ stop: SyscallStop) -> Decision {
        stop.args[0] & query == query ? .pass : .act(rule, stop)
    }
}

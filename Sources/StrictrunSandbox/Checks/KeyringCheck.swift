import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// The kernel's keyrings are strictrun's, not the program's: the secret that authenticates the
/// filter cache lives in the user keyring (`FilterCache`), and a program that could read it could
/// forge a weaker filter for the next run. `add_key`, `request_key` and `keyctl` are refused in
/// every profile and every mode (EACCES, `escape/keyring`), like the trace. Faithful to the
/// targets: a microkernel has no Linux keyrings.
enum KeyringCheck {
    /// The calls that reach a keyring.
    static let calls = ["add_key", "request_key", "keyctl"]

    static func decide(_ stop: SyscallStop) -> Decision {
        let rule = CompiledRule.builtIn(Category.escape.name, "keyring", .deny(errno: Errno.access))
        return Decision(verdict: .deny(Errno.access), events: [EventDraft(
            rule: rule, stop: stop,
            extra: [("reason", .string("the kernel's keyrings hold strictrun's filter-cache secret; "
                                       + "the target has no keyrings"))])])
    }
}

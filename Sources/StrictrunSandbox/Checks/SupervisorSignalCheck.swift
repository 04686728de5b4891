#if canImport(Glibc)
import Glibc
#endif
import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// strictrun itself is not the program's to stop: a SIGSTOP would freeze the tracer while calls
/// run unchecked, a SIGKILL would leave the trace without its final line. Signals, pidfds and
/// signal queues aimed at strictrun's process — directly, or through a process group or "every
/// process" that includes it — are refused in every mode (EPERM, `escape/signal-supervisor`).
/// A signal that cannot hurt strictrun (0, the probe; SIGCHLD, SIGCONT, SIGURG, SIGWINCH; the
/// signals strictrun blocks and forwards to the program) still reaches a group.
struct SupervisorSignalCheck {
    /// strictrun's process id and process group.
    let supervisor: ProcessID
    let supervisorGroup: ProcessID

    /// Signals a process group may receive although strictrun is in it.
    static let harmless: Set<Int32> = [0, SIGCHLD, SIGCONT, SIGURG, SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    func decide(_ stop: SyscallStop, view: some TraceeView) -> Decision {
        let arg = { (index: Int) in Int32(truncatingIfNeeded: stop.args[index]) }
        let aimed: (target: String, signal: Int32)?
        switch stop.name {
        case "kill":
            let pid = arg(0), signal = arg(1)
            if pid > 0 {
                aimed = pid == supervisor && signal != 0 ? ("strictrun (pid \(pid))", signal) : nil
            } else if Self.harmless.contains(signal) {
                aimed = nil
            } else if pid == -1 {
                aimed = ("every process, strictrun included", signal)
            } else {
                let group = pid == 0 ? view.processGroup(of: stop.tgid) : -pid
                aimed = group == supervisorGroup ? ("process group \(supervisorGroup), strictrun's", signal) : nil
            }
        case "tgkill", "rt_tgsigqueueinfo":
            aimed = arg(0) == supervisor && (stop.name != "tgkill" || arg(2) != 0) ? ("strictrun (pid \(supervisor))", arg(2)) : nil
        case "tkill":
            aimed = arg(1) != 0 && view.threadGroup(of: arg(0)) == supervisor ? ("a thread of strictrun", arg(1)) : nil
        case "rt_sigqueueinfo":
            aimed = arg(0) == supervisor ? ("strictrun (pid \(supervisor))", arg(1)) : nil
        case "pidfd_open":
            aimed = arg(0) == supervisor ? ("strictrun (pid \(supervisor))", 0) : nil
        case "pidfd_send_signal":
            let target = view.processOfDescriptor(pid: stop.tgid, fd: arg(0))
            aimed = target == supervisor && arg(1) != 0 ? ("strictrun (pid \(supervisor)) by pidfd", arg(1)) : nil
        default:
            aimed = nil
        }
        guard let aimed else { return .pass }
        let rule = CompiledRule.builtIn(Category.escape.name, "signal-supervisor", .deny(errno: Errno.permission))
        return Decision(verdict: .deny(Errno.permission), events: [EventDraft(
            rule: rule, stop: stop,
            extra: [("target", .string(aimed.target)), ("signal", .string(aimed.signal == 0 ? "0" : Xlat.signalName(aimed.signal))),
                    ("reason", .string("strictrun is the target's supervisor, not the program's to signal"))])])
    }
}

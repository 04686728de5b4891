import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// The trace file is strictrun's record, not the program's: opening it for writing or
/// truncation, truncating, unlinking or renaming it (either side) is refused in every mode
/// (EACCES, `escape/trace-tamper`) — a forged or emptied trace would undo the promise that the
/// trace is complete. The file is recognised by device and inode, each name resolved as the
/// program resolves it (`/proc/PID/root`, `/proc/PID/cwd`, `/proc/PID/fd/N`), so another name,
/// a hard link, a chroot or a mount namespace of the program's reaches the same answer.
struct TraceTamperCheck {
    let trace: FileIdentity?
    /// What is wrong with the trace file now (nil: nothing), asked again at the exit stop of a
    /// call that passed: a name swapped between the check and the call is caught there.
    var damage: (@Sendable () -> String?)? = nil
    /// Who else could change a name while a call of this process is between its check and the
    /// kernel: no other thread and no other process under the tracer means no race is possible,
    /// and the exit stop is spared.
    let company: TracedCompany

    init(trace: FileIdentity?, damage: (@Sendable () -> String?)? = nil, company: TracedCompany = TracedCompany()) {
        self.trace = trace
        self.damage = damage
        self.company = company
    }

    /// The path arguments a call acts on: (path index, dirfd index or nil, follows a final symlink).
    static func targets(of syscall: String) -> [(path: Int, dirfd: Int?, follow: Bool)] {
        switch syscall {
        case "open", "creat", "truncate": [(0, nil, true)]
        case "openat", "openat2": [(1, 0, true)]
        case "unlink": [(0, nil, false)]
        case "unlinkat": [(1, 0, false)]
        case "rename": [(0, nil, false), (1, nil, false)]
        case "renameat", "renameat2": [(1, 0, false), (3, 2, false)]
        default: []
        }
    }

    /// The calls the filter sends here when no other rule traces them already.
    static let pathCalls = ["truncate", "unlink", "unlinkat", "rename", "renameat", "renameat2"]

    /// The refusal when `stop` would change the trace file; nil otherwise.
    func decide(_ stop: SyscallStop, view: some TraceeView) -> Decision? {
        guard trace != nil else { return nil }
        let memory = view.memory(stop.tid)
        if stop.name.hasPrefix("open") || stop.name == "creat" {
            // Flags that cannot be read count as writing.
            let flags = OpenFlags.flags(syscall: stop.name, args: stop.args, memory: memory) ?? Xlat.openAccessMode
            guard flags & (Xlat.openAccessMode | Xlat.openTruncate) != 0 else { return nil }
        }
        for target in Self.targets(of: stop.name) {
            guard let path = memory.cString(at: stop.args[target.path]), !path.isEmpty else { continue }
            let dirfd = target.dirfd.map { Int32(truncatingIfNeeded: stop.args[$0]) } ?? atCurrentDirectory
            let resolved = PathBytes.inOwnRoot(path, dirfd: dirfd, pid: stop.tgid)
            if let refused = refusal(stop, path: path, file: view.identity(resolved, follow: target.follow)) {
                return refused
            }
        }
        return nil
    }

    /// The refusal when `file` (what `path` names, resolved as the program resolves it) is the trace.
    func refusal(_ stop: SyscallStop, path: [UInt8], file: FileIdentity?) -> Decision? {
        guard let trace, file == trace else { return nil }
        let rule = CompiledRule.builtIn(Category.escape.name, "trace-tamper", .deny(errno: Errno.access))
        return Decision(verdict: .deny(Errno.access), events: [EventDraft(
            rule: rule, stop: stop, decoded: TraceBytes.members("path", path),
            extra: [("reason", .string("the call would change strictrun's trace file"))])])
    }

    /// A call sent only for this check (truncate, unlink, rename): refused when it touches the
    /// trace; else it runs, and the trace is looked at again at its exit stop — a name swapped
    /// between the check and the call reached it then, and the process ends (what it did to the
    /// trace is undone from the writer's copy at the end of the run).
    func decideAlone(_ stop: SyscallStop, view: some TraceeView) -> Decision {
        if let refused = decide(stop, view: view) { return refused }
        guard trace != nil, damage != nil, !company.isAlone(stop.tgid) else { return .pass }
        var verdict = Verdict.allow
        verdict.atExit = { [self] result in changedAfterCheck(stop, result: result) }
        return Decision(verdict: verdict)
    }

    /// At the exit stop of a path call that passed (when another thread or process could have
    /// raced it): the process ends when the trace was changed
    /// after all (the call reached it under a name swapped after the check).
    func changedAfterCheck(_ stop: SyscallStop, result: Int64) -> [EventDraft] {
        guard result >= 0, trace != nil, let reason = damage?() else { return [] }
        return [EventDraft(rule: .builtIn(Category.escape.name, "trace-tamper", .kill), stop: stop,
                           extra: [("reason", .string("the call changed strictrun's trace file after its check passed: "
                                                      + reason))])]
    }
}

/// Whether a process is alone under the tracer (one thread, no other process), answered by the
/// tracer's task table; shared by every copy of the checks that ask. Until the tracer answers,
/// nobody is alone (every call that could be raced is re-checked).
final class TracedCompany {
    var isAlone: (ProcessID) -> Bool = { _ in false }
}

#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// The status waitpid(2) reported for one task (the W* macros, through the shim).
public enum WaitStatus: Sendable, Equatable {
    case exited(code: Int32)
    case signaled(signal: Int32)
    case stopped(signal: Int32, event: Ptrace.Event?)

    /// The task exited or was killed (it runs no more code).
    public var isGone: Bool {
        if case .stopped = self { return false }
        return true
    }

    public init(_ raw: Int32) {
        if strictrun_wifexited(raw) != 0 {
            self = .exited(code: strictrun_wexitstatus(raw))
        } else if strictrun_wifsignaled(raw) != 0 {
            self = .signaled(signal: strictrun_wtermsig(raw))
        } else {
            let event = strictrun_wptrace_event(raw)
            self = .stopped(signal: strictrun_wstopsig(raw), event: event == 0 ? nil : Ptrace.Event(rawValue: event))
        }
    }

    /// What a shell reports: the exit code, or 128+N for signal N (125 for a lost task).
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        case .stopped: 125
        }
    }

    /// `exited with status 3`, `killed by SIGTRAP`.
    public var ending: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by \(Xlat.signalName(signal))"
        case .stopped: "lost"
        }
    }
}

/// What one waitpid(2) found.
public enum WaitResult: Sendable {
    /// A task changed state.
    case task(pid_t, WaitStatus)
    /// Under `noHang`: no task has news yet.
    case nothingYet
    /// ECHILD: no traced task is left.
    case noTasks
    case failed(SystemError)
}

/// waitpid(2) with __WALL (every task, threads included), EINTR retried.
public enum Wait {
    public static func any(noHang: Bool = false) -> WaitResult {
        var raw: Int32 = 0
        let tid = strictrun_waitpid_all(-1, &raw, noHang ? WNOHANG : 0)
        if tid < 0 { return errno == ECHILD ? .noTasks : .failed(SystemError("waitpid")) }
        return tid == 0 ? .nothingYet : .task(tid, WaitStatus(raw))
    }

    /// The next status of one task; nil when it cannot be waited for.
    public static func task(_ tid: pid_t) -> WaitStatus? {
        var raw: Int32 = 0
        guard strictrun_waitpid_all(tid, &raw, 0) == tid else { return nil }
        return WaitStatus(raw)
    }
}

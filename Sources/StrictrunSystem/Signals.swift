#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// Signals and pidfds strictrun sends or opens (kill(2), tgkill(2), pidfd_open(2),
/// pidfd_getfd(2)), and the blocking/waiting the signal forwarder does.
public enum Signals {
    public static let kill = SIGKILL
    /// strictrun's own process and process group (what the program may not signal).
    public static var ownProcess: pid_t { getpid() }
    public static var ownProcessGroup: pid_t { getpgrp() }
    public static let stop = SIGSTOP
    public static let segv = SIGSEGV
    public static let trap = SIGTRAP
    /// Signals that stop a task (group-stop candidates).
    public static let stopping: Set<Int32> = [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU]

    /// kill(2).
    @discardableResult
    public static func send(_ signal: Int32, to pid: pid_t) -> Bool { Glibc.kill(pid, signal) == 0 }

    /// tgkill(2).
    @discardableResult
    public static func send(_ signal: Int32, toThread tid: pid_t, of tgid: pid_t) -> Bool {
        strictrun_tgkill(tgid, tid, signal) == 0
    }

    /// Blocks `signals` in the calling thread (call before other threads exist).
    public static func block(_ signals: [Int32]) {
        _ = signals.withUnsafeBufferPointer { strictrun_block_signals($0.baseAddress, Int32($0.count)) }
    }

    /// sigwaitinfo over `signals`: the signal, its si_code and sender; nil on EINTR.
    public static func wait(_ signals: [Int32]) -> (signal: Int32, code: Int32, sender: pid_t)? {
        var code: Int32 = 0
        var sender: pid_t = 0
        let signal = signals.withUnsafeBufferPointer { strictrun_wait_signal($0.baseAddress, Int32($0.count), &code, &sender) }
        return signal > 0 ? (signal, code, sender) : nil
    }

    /// SI_KERNEL: a signal the kernel (a terminal's Ctrl-C) sent.
    public static let fromKernel: Int32 = 0x80
}

/// strictrun's own process, as the programs it traces may see it.
public enum SupervisorProcess {
    /// prctl(PR_SET_DUMPABLE, 0): strictrun's `/proc/PID/mem`, `fd/` and `maps` are then out of
    /// reach of a program without CAP_SYS_PTRACE (the kernel checks ptrace access to open them), so
    /// a program cannot write strictrun's memory or reopen its descriptors (the trace) even in the
    /// instant before a check sees the open. A traced child is made dumpable again by its execve.
    public static func hideProcEntries() throws(SystemError) {
        _ = try valueOrErrno("prctl(PR_SET_DUMPABLE, 0)") { strictrun_prctl_set_dumpable(0) }
    }
}

/// A pidfd of a traced process (pidfd_open(2)), through which its descriptors are borrowed.
public struct ProcessHandle: ~Copyable {
    public let fd: Int32

    public init(pid: pid_t) throws(SystemError) {
        fd = try valueOrErrno("pidfd_open(\(pid))") { strictrun_pidfd_open(pid) }
    }

    deinit { close(fd) }

    /// pidfd_getfd(2): a duplicate of the process's descriptor `target` (same open file description).
    public func duplicate(_ target: Int32) throws(SystemError) -> Descriptor {
        Descriptor(try valueOrErrno("pidfd_getfd(\(target))") { strictrun_pidfd_getfd(fd, target) })
    }

    /// What O_TRUNC does at open, done afterwards: the process's descriptor `target` truncated to
    /// zero (ftruncate(2) on a duplicate) when it reaches a regular file; anything else (a FIFO,
    /// a terminal, a device) is left alone, as open(2) leaves it.
    public func truncateRegularFile(_ target: Int32) throws(SystemError) {
        let file = try duplicate(target)
        var info = stat()
        guard fstat(file.raw, &info) == 0 else { throw SystemError("fstat(\(target))", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { return }
        _ = try valueOrErrno("ftruncate(\(target))") { ftruncate(file.raw, 0) }
    }
}

/// A descriptor strictrun owns; closed when it goes away.
public struct Descriptor: ~Copyable {
    public let raw: Int32
    public init(_ raw: Int32) { self.raw = raw }
    deinit { close(raw) }
}

/// Clocks the tracer measures with.
public enum Clock {
    /// CLOCK_MONOTONIC, in nanoseconds.
    public static func monotonic() -> UInt64 { read(CLOCK_MONOTONIC) }
    /// CLOCK_THREAD_CPUTIME_ID of the calling thread, in nanoseconds.
    public static func threadCPU() -> UInt64 { read(CLOCK_THREAD_CPUTIME_ID) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// usleep(3).
    public static func sleep(microseconds: UInt32) { usleep(microseconds) }
}

#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// ptrace(2), one Swift wrapper per request strictrun makes. Every call must come from the
/// thread that attached (the tracer thread): from another thread the kernel answers ESRCH.
public enum Ptrace {
    static let cont: Int32 = 7
    static let syscall: Int32 = 24
    static let singleStep: Int32 = 9
    static let setOptionsRequest: Int32 = 0x4200
    static let getSigInfo: Int32 = 0x4202
    static let setSigInfo: Int32 = 0x4203

    /// PTRACE_EVENT_* of a stop (linux/ptrace.h).
    public enum Event: Int32, Sendable {
        case fork = 1, vfork = 2, clone = 3, exec = 4, vforkDone = 5, exit = 6, seccomp = 7, stop = 128
    }

    /// The stop signal of a syscall-stop under PTRACE_O_TRACESYSGOOD.
    public static let syscallStopSignal: Int32 = SIGTRAP | 0x80

    /// The options strictrun sets on its first tracee (inherited by every auto-attached one).
    public static var defaultOptions: Int32 { strictrun_ptrace_default_options() }

    /// PTRACE_CONT, delivering `signal` (0: none). Fails with ESRCH when the task died
    /// meanwhile: its exit is reported by waitpid.
    @discardableResult
    public static func resume(_ tid: pid_t, signal: Int32 = 0) -> Bool {
        strictrun_ptrace(cont, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal))) == 0
    }

    /// PTRACE_SYSCALL from a seccomp stop: the thread runs the call and stops again at its
    /// syscall-exit-stop (`syscallStopSignal`).
    @discardableResult
    public static func resumeToExit(_ tid: pid_t) -> Bool {
        strictrun_ptrace(syscall, tid, nil, nil) == 0
    }

    /// PTRACE_SYSCALL, delivering `signal`: the thread stops at its next syscall entry and exit.
    @discardableResult
    public static func resumeSyscall(_ tid: pid_t, signal: Int32 = 0) -> Bool {
        strictrun_ptrace(syscall, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(signal))) == 0
    }

    /// PTRACE_SINGLESTEP.
    @discardableResult
    public static func step(_ tid: pid_t) -> Bool {
        strictrun_ptrace(singleStep, tid, nil, nil) == 0
    }

    /// PTRACE_SETOPTIONS.
    public static func setOptions(_ tid: pid_t, _ options: Int32) throws(SystemError) {
        try valueOrErrno("ptrace(PTRACE_SETOPTIONS, \(tid))") {
            strictrun_ptrace(setOptionsRequest, tid, nil, UnsafeMutableRawPointer(bitPattern: Int(options)))
        }
    }

    /// PTRACE_GETEVENTMSG: the new task's id after a clone/fork/vfork event, the former
    /// thread id after an exec event.
    public static func eventMessage(_ tid: pid_t) -> UInt {
        var message: UInt = 0
        _ = strictrun_geteventmsg(tid, &message)
        return message
    }

    /// Whether a stop is a group-stop rather than a signal-delivery-stop: PTRACE_GETSIGINFO
    /// fails with EINVAL in a group-stop.
    public static func isGroupStop(_ tid: pid_t) -> Bool {
        var info = siginfo_t()
        return strictrun_ptrace(getSigInfo, tid, nil, &info) < 0 && errno == EINVAL
    }

    /// PTRACE_GETSIGINFO: the siginfo of a signal-delivery-stop, kept to be delivered later.
    public static func signalInfo(_ tid: pid_t) -> SignalInfo? {
        var info = siginfo_t()
        guard strictrun_ptrace(getSigInfo, tid, nil, &info) == 0 else { return nil }
        return SignalInfo(raw: info)
    }

    /// PTRACE_SETSIGINFO: the siginfo the signal of this stop is delivered with.
    @discardableResult
    public static func setSignalInfo(_ tid: pid_t, _ info: SignalInfo) -> Bool {
        var raw = info.raw
        return strictrun_ptrace(setSigInfo, tid, nil, &raw) == 0
    }

    /// The fault of a SIGSEGV/SIGBUS signal-delivery-stop: signal, si_code, si_addr.
    public static func fault(_ tid: pid_t) -> (signal: Int32, code: Int32, address: UInt64)? {
        var signo: Int32 = 0, code: Int32 = 0, address: UInt64 = 0
        guard strictrun_fault_info(tid, &signo, &code, &address) == 0 else { return nil }
        return (signo, code, address)
    }

    /// PTRACE_GET_SYSCALL_INFO at a seccomp stop.
    public static func syscallInfo(_ tid: pid_t) throws(SystemError) -> SyscallInfo {
        var info = strictrun_syscall_info()
        try valueOrErrno("ptrace(PTRACE_GET_SYSCALL_INFO, \(tid))") { strictrun_get_syscall_info(tid, &info) }
        let args = withUnsafeBytes(of: info.args) { Array($0.bindMemory(to: UInt64.self)) }
        var out = SyscallInfo(arch: info.arch, number: info.nr, arguments: args,
                              instructionPointer: info.instruction_pointer, stackPointer: info.stack_pointer,
                              ruleData: UInt16(truncatingIfNeeded: info.ret_data))
        out.stop = SyscallInfo.Stop(rawValue: info.op) ?? .none
        return out
    }

    /// Makes the call a tracee is stopped in at a seccomp stop return `value` (`-errno`, or
    /// a result) without running it: orig_rax = -1, rax = value, one PTRACE_SETREGS.
    public static func skipSyscall(_ tid: pid_t, returning value: Int64) throws(SystemError) {
        try valueOrErrno("ptrace(PTRACE_SETREGS, \(tid))") { strictrun_skip_syscall(tid, Int(value)) }
    }
}

/// A signal's siginfo as the kernel delivered it (opaque: kept and handed back).
public struct SignalInfo: @unchecked Sendable {
    var raw: siginfo_t
}

/// What PTRACE_GET_SYSCALL_INFO reports at a seccomp stop.
public struct SyscallInfo: Sendable, Hashable {
    /// AUDIT_ARCH_* of the call.
    public var arch: UInt32
    /// The raw number (with the x32 bit when set).
    public var number: UInt64
    /// The six argument registers.
    public var arguments: [UInt64]
    public var instructionPointer: UInt64
    public var stackPointer: UInt64
    /// SECCOMP_RET_DATA of the filter's verdict: the rule id.
    public var ruleData: UInt16
    /// Which stop the thread is at (PTRACE_SYSCALL_INFO_*).
    public var stop: Stop = .seccomp

    public enum Stop: UInt8, Sendable, Hashable {
        case none = 0, entry = 1, exit = 2, seccomp = 3
    }

    public init(arch: UInt32, number: UInt64, arguments: [UInt64], instructionPointer: UInt64 = 0,
                stackPointer: UInt64 = 0, ruleData: UInt16) {
        self.arch = arch
        self.number = number
        self.arguments = arguments + Array(repeating: 0, count: max(0, 6 - arguments.count))
        self.instructionPointer = instructionPointer
        self.stackPointer = stackPointer
        self.ruleData = ruleData
    }

    public var abi: SyscallABI { SyscallABI(arch: arch, number: number) }
    public var name: String { SyscallTable.name(arch: arch, number: number) }
}

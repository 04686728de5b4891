#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// The general registers of a stopped x86_64 thread (PTRACE_GETREGS / PTRACE_SETREGS), with
/// the syscall ABI's view of them: `argument(n)`, the number, the result.
public struct Registers: @unchecked Sendable {
    var raw: user_regs_struct

    /// PTRACE_GETREGS.
    public static func read(_ tid: pid_t) throws(SystemError) -> Registers {
        var raw = user_regs_struct()
        try valueOrErrno("ptrace(PTRACE_GETREGS, \(tid))") { strictrun_getregs(tid, &raw) }
        return Registers(raw: raw)
    }

    /// PTRACE_SETREGS.
    public func write(_ tid: pid_t) throws(SystemError) {
        var copy = raw
        try valueOrErrno("ptrace(PTRACE_SETREGS, \(tid))") { strictrun_setregs(tid, &copy) }
    }

    /// Syscall argument `index` (0…5: rdi, rsi, rdx, r10, r8, r9).
    public func argument(_ index: Int) -> UInt64 {
        switch index {
        case 0: raw.rdi
        case 1: raw.rsi
        case 2: raw.rdx
        case 3: raw.r10
        case 4: raw.r8
        default: raw.r9
        }
    }

    public mutating func setArgument(_ index: Int, _ value: UInt64) {
        switch index {
        case 0: raw.rdi = value
        case 1: raw.rsi = value
        case 2: raw.rdx = value
        case 3: raw.r10 = value
        case 4: raw.r8 = value
        default: raw.r9 = value
        }
    }

    /// orig_rax: the number of the call the thread is in (-1: none).
    public var syscallNumber: UInt64 {
        get { raw.orig_rax }
        set { raw.orig_rax = newValue }
    }
    /// rax: the call's number on entry, its result at exit (-errno on failure).
    public var rax: UInt64 {
        get { raw.rax }
        set { raw.rax = newValue }
    }
    public var returnValue: Int64 { Int64(bitPattern: raw.rax) }
    public var instructionPointer: UInt64 {
        get { raw.rip }
        set { raw.rip = newValue }
    }
    public var stackPointer: UInt64 {
        get { raw.rsp }
        set { raw.rsp = newValue }
    }
    /// The registers the `syscall` instruction and a small trampoline clobber besides the
    /// arguments (rcx, r11).
    public var rcx: UInt64 {
        get { raw.rcx }
        set { raw.rcx = newValue }
    }
    public var r11: UInt64 {
        get { raw.r11 }
        set { raw.r11 = newValue }
    }

    /// A hash of the whole register file (FNV-1a): equal for a thread that stopped twice in
    /// the same state.
    public var fingerprint: UInt64 {
        withUnsafeBytes(of: raw) { bytes in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            return hash
        }
    }
}

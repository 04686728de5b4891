import CSeccomp
import StrictrunSystem
import Testing

/// The system layer's syscall table is data generated from the kernel headers: hold it against
/// libseccomp's own tables, so a wrong number cannot hide.
@Suite("Syscall tables")
struct SyscallTableTests {
    @Test("every x86_64 name libseccomp knows has the same number in the table")
    func agreesWithLibseccomp() {
        var compared = 0
        for (number, name) in SyscallTable.allX86_64 {
            let theirs = seccomp_syscall_resolve_name(name)
            guard theirs >= 0 else { continue }  // newer than libseccomp 2.5
            #expect(theirs == number, "\(name): table \(number), libseccomp \(theirs)")
            compared += 1
        }
        #expect(compared > 300)
    }

    @Test("i386 names match libseccomp's for the calls strictrun names in events")
    func i386() {
        for name in ["fork", "mmap2", "getpid", "execve", "socketcall"] {
            let number = seccomp_syscall_resolve_name_arch(SyscallABI.auditArchI386, name)
            #expect(number >= 0)
            #expect(SyscallTable.name(number, abi: .i386) == name)
        }
    }

    @Test("ABI and names of raw stops: x32 bit, foreign arch, unknown numbers")
    func stops() {
        #expect(SyscallABI(arch: SyscallABI.auditArchX86_64, number: 57) == .x86_64)
        #expect(SyscallABI(arch: SyscallABI.auditArchX86_64, number: 57 | SyscallABI.x32Bit) == .x32)
        #expect(SyscallABI(arch: SyscallABI.auditArchI386, number: 2).name == "i386")
        #expect(SyscallABI(arch: 0x1234, number: 2).name == "arch-0x1234")
        #expect(SyscallTable.name(arch: SyscallABI.auditArchX86_64, number: 57 | SyscallABI.x32Bit) == "fork")
        #expect(SyscallTable.name(99_999) == "syscall_99999")
        #expect(SyscallNumber.openat2 == UInt64(seccomp_syscall_resolve_name("openat2")))
        #expect(SyscallNumber.pkeyMprotect == UInt64(seccomp_syscall_resolve_name("pkey_mprotect")))
    }
}

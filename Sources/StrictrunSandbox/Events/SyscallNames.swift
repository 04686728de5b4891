import StrictrunSystem

/// Syscall names and numbers for the profile loader and the filter tests: a façade over the
/// system layer's table (`SyscallTable`).
public enum SyscallNames {
    public static let archX86_64 = SyscallABI.auditArchX86_64
    public static let archI386 = SyscallABI.auditArchI386
    public static let x32SyscallBit = SyscallABI.x32Bit

    /// Whether `name` is a syscall on x86_64.
    public static func exists(_ name: String) -> Bool { SyscallTable.exists(name) }

    /// The x86_64 number of `name`, nil when unknown.
    public static func number(_ name: String) -> Int32? { SyscallTable.number(name) }

    /// The name of syscall `nr` on the audit architecture `arch`.
    public static func name(_ nr: Int32, arch: UInt32) -> String { SyscallTable.name(arch: arch, number: UInt64(nr)) }
}

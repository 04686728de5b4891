/// The ABI a system call was made through (`seccomp_data.arch`, and the x32 bit of the number).
public enum SyscallABI: Sendable, Hashable {
    case x86_64
    case i386
    case x32
    /// Any other audit arch (the filter's bad-arch action catches it).
    case other(UInt32)

    /// As events show it: `x86_64`, `i386`, `x32`, `arch-0x…`.
    public var name: String {
        switch self {
        case .x86_64: "x86_64"
        case .i386: "i386"
        case .x32: "x32"
        case .other(let arch): "arch-0x" + String(arch, radix: 16)
        }
    }

    /// AUDIT_ARCH_X86_64 and AUDIT_ARCH_I386 (linux/audit.h).
    public static let auditArchX86_64: UInt32 = 0xC000_003E
    public static let auditArchI386: UInt32 = 0x4000_0003
    /// __X32_SYSCALL_BIT: set in the number of an x32 call made through the x86_64 entry.
    public static let x32Bit: UInt64 = 0x4000_0000

    /// The ABI of a call from its audit arch and raw number.
    public init(arch: UInt32, number: UInt64) {
        switch arch {
        case Self.auditArchI386: self = .i386
        case Self.auditArchX86_64: self = number & Self.x32Bit != 0 ? .x32 : .x86_64
        default: self = .other(arch)
        }
    }

    /// Whether a stop's arch and number are a native x86_64 call.
    public static func isNative(arch: UInt32, number: UInt64) -> Bool {
        arch == auditArchX86_64 && number & x32Bit == 0
    }
}

/// System call knowledge as data (strace's `syscallent.h` and `xlat/`): number ↔ name per ABI
/// (generated from the kernel headers, `Scripts/gen-syscall-tables.py`), and the kind of each
/// decoded argument (`SyscallSignatures.swift`). No syscall number is written outside these
/// tables: code names a call (`SyscallNumber.mmap`) and the table answers.
public enum SyscallTable {
    private static let x86_64ByNumber: [Int32: String] = Dictionary(x86_64Numbers.map { ($0.0, $0.1) },
                                                                   uniquingKeysWith: { first, _ in first })
    private static let x86_64ByName: [String: Int32] = Dictionary(x86_64Numbers.map { ($0.1, $0.0) },
                                                                 uniquingKeysWith: { first, _ in first })
    private static let i386ByNumber: [Int32: String] = Dictionary(i386Numbers.map { ($0.0, $0.1) },
                                                                 uniquingKeysWith: { first, _ in first })

    /// The x86_64 number of `name`, nil when x86_64 has no such call.
    public static func number(_ name: String) -> Int32? { x86_64ByName[name] }

    /// The i386 number of `name` (for tests of the foreign-ABI rule).
    public static func i386Number(_ name: String) -> Int32? { i386Numbers.first { $0.1 == name }?.0 }

    /// Whether x86_64 has a call of that name.
    public static func exists(_ name: String) -> Bool { x86_64ByName[name] != nil }

    /// The name of call `number` of `abi` (x32 calls are named as their x86_64 twins);
    /// `syscall_N` when the table does not know it.
    public static func name(_ number: Int32, abi: SyscallABI = .x86_64) -> String {
        switch abi {
        case .x86_64: x86_64ByNumber[number] ?? "syscall_\(number)"
        case .x32: x86_64ByNumber[number & ~Int32(SyscallABI.x32Bit)] ?? "syscall_\(number)"
        case .i386: i386ByNumber[number] ?? "syscall_\(number)"
        case .other: "syscall_\(number)"
        }
    }

    /// The name of a call as a stop reports it (arch + raw number).
    public static func name(arch: UInt32, number: UInt64) -> String {
        let abi = SyscallABI(arch: arch, number: number)
        return name(Int32(truncatingIfNeeded: number & ~SyscallABI.x32Bit), abi: abi)
    }

    /// Every x86_64 call, by number (for tests that hold the table against libseccomp).
    public static var allX86_64: [(number: Int32, name: String)] { x86_64Numbers.map { ($0.0, $0.1) } }
}

/// x86_64 numbers of the calls strictrun's own code recognises, looked up in the table (a
/// missing name is a programming error caught by the first use and by `SyscallTableTests`).
public enum SyscallNumber {
    private static func nr(_ name: String) -> UInt64 { UInt64(SyscallTable.number(name)!) }

    public static let read = nr("read")
    public static let open = nr("open")
    public static let creat = nr("creat")
    public static let openat = nr("openat")
    public static let openat2 = nr("openat2")
    public static let mmap = nr("mmap")
    public static let mprotect = nr("mprotect")
    public static let munmap = nr("munmap")
    public static let mremap = nr("mremap")
    public static let pkeyMprotect = nr("pkey_mprotect")
    public static let clone = nr("clone")
    public static let clone3 = nr("clone3")
    public static let connect = nr("connect")
    public static let sendto = nr("sendto")
    public static let bind = nr("bind")
    public static let seccomp = nr("seccomp")
    public static let prctl = nr("prctl")
    public static let execve = nr("execve")
    public static let mseal = nr("mseal")
    public static let shmat = nr("shmat")
}

/// Flag and constant names for decoding arguments, as tables (strace's `xlat/*.in`).
public enum Xlat {
    // Bits strictrun compares (asm-generic/mman-common.h, linux/sched.h, fcntl.h).
    public static let protRead: UInt64 = 0x1
    public static let protWrite: UInt64 = 0x2
    public static let protExec: UInt64 = 0x4
    public static let mapShared: UInt64 = 0x01
    public static let mapAnonymous: UInt64 = 0x20
    public static let mapFixed: UInt64 = 0x10
    public static let mremapFixed: UInt64 = 0x2
    public static let mremapDontUnmap: UInt64 = 0x4
    public static let cloneVM: UInt64 = 0x100
    public static let cloneVFork: UInt64 = 0x4000
    public static let cloneThread: UInt64 = 0x10000
    public static let cloneUntraced: UInt64 = 0x80_0000
    /// O_ACCMODE, O_CREAT, O_TRUNC, O_DIRECTORY, O_NOFOLLOW, O_PATH.
    public static let openAccessMode: UInt64 = 0o3
    public static let openCreate: UInt64 = 0o100
    public static let openTruncate: UInt64 = 0o1000
    public static let openDirectory: UInt64 = 0o200000
    public static let openNoFollow: UInt64 = 0o400000
    public static let openPath: UInt64 = 0o10000000
    /// The pkey argument that means "no protection key".
    public static let noProtectionKey: UInt64 = 0xffff_ffff

    public static let prot: [(UInt64, String)] = [
        (0x1, "PROT_READ"), (0x2, "PROT_WRITE"), (0x4, "PROT_EXEC"), (0x8, "PROT_SEM"),
        (0x0100_0000, "PROT_GROWSDOWN"), (0x0200_0000, "PROT_GROWSUP"),
    ]

    public static let mapFlags: [(UInt64, String)] = [
        (0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"), (0x03, "MAP_SHARED_VALIDATE"),
    ]
    public static let mapModifiers: [(UInt64, String)] = [
        (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
        (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
        (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"),
        (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
        (0x100000, "MAP_FIXED_NOREPLACE"),
    ]

    public static let clone: [(UInt64, String)] = [
        (0x0000_0100, "CLONE_VM"), (0x0000_0200, "CLONE_FS"), (0x0000_0400, "CLONE_FILES"),
        (0x0000_0800, "CLONE_SIGHAND"), (0x0000_1000, "CLONE_PIDFD"), (0x0000_2000, "CLONE_PTRACE"),
        (0x0000_4000, "CLONE_VFORK"), (0x0000_8000, "CLONE_PARENT"), (0x0001_0000, "CLONE_THREAD"),
        (0x0002_0000, "CLONE_NEWNS"), (0x0004_0000, "CLONE_SYSVSEM"), (0x0008_0000, "CLONE_SETTLS"),
        (0x0010_0000, "CLONE_PARENT_SETTID"), (0x0020_0000, "CLONE_CHILD_CLEARTID"),
        (0x0040_0000, "CLONE_DETACHED"), (0x0080_0000, "CLONE_UNTRACED"),
        (0x0100_0000, "CLONE_CHILD_SETTID"), (0x0200_0000, "CLONE_NEWCGROUP"),
        (0x0400_0000, "CLONE_NEWUTS"), (0x0800_0000, "CLONE_NEWIPC"), (0x1000_0000, "CLONE_NEWUSER"),
        (0x2000_0000, "CLONE_NEWPID"), (0x4000_0000, "CLONE_NEWNET"), (0x8000_0000, "CLONE_IO"),
    ]

    public static let signals: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
        8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
        14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
        20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
        26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
    ]

    /// `PROT_READ|PROT_WRITE`, with any unknown bits as hex; `PROT_NONE` for 0.
    public static func names(_ value: UInt64, _ table: [(UInt64, String)], zero: String = "0") -> String {
        if value == 0 { return zero }
        var rest = value
        var parts: [String] = []
        for (bit, name) in table where rest & bit == bit {
            parts.append(name)
            rest &= ~bit
        }
        if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
        return parts.joined(separator: "|")
    }

    public static func protNames(_ value: UInt64) -> String { names(value, prot, zero: "PROT_NONE") }

    public static func mapFlagNames(_ value: UInt64) -> String {
        let type = value & 0x0f
        let kind = mapFlags.first { $0.0 == type }?.1 ?? "0x" + String(type, radix: 16)
        let rest = value & ~0x0f
        return rest == 0 ? kind : kind + "|" + names(rest, mapModifiers)
    }

    /// Clone flags by name, with the exit signal (low byte) last: `CLONE_VM|CLONE_VFORK|SIGCHLD`.
    public static func cloneFlagNames(_ value: UInt64) -> String {
        let signal = Int32(value & 0xff)
        var text = value & ~0xff == 0 ? "" : names(value & ~0xff, clone)
        if signal != 0 {
            text += (text.isEmpty ? "" : "|") + (signals[signal] ?? String(signal))
        }
        return text.isEmpty ? "0" : text
    }

    public static func signalName(_ signal: Int32) -> String { signals[signal] ?? "signal \(signal)" }

    /// `AF_INET`, `AF_UNIX`, … (`AF_<n>` for others).
    public static func addressFamilyName(_ value: UInt64) -> String {
        let names: [UInt64: String] = [1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"]
        return names[value & 0xffff_ffff] ?? "AF_\(value & 0xffff_ffff)"
    }

    /// `SOCK_STREAM|SOCK_CLOEXEC`, …
    public static func socketTypeNames(_ value: UInt64) -> String {
        let kinds: [UInt64: String] = [1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"]
        var parts = [kinds[value & 0xf] ?? "SOCK_\(value & 0xf)"]
        if value & 0x800 != 0 { parts.append("SOCK_NONBLOCK") }
        if value & 0x80000 != 0 { parts.append("SOCK_CLOEXEC") }
        return parts.joined(separator: "|")
    }

    /// `SOL_SOCKET`, `IPPROTO_IP`, …
    public static func socketLevelName(_ value: UInt64) -> String {
        let names: [UInt64: String] = [1: "SOL_SOCKET", 0: "IPPROTO_IP", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP", 41: "IPPROTO_IPV6"]
        return names[value & 0xffff_ffff] ?? String(value & 0xffff_ffff)
    }

    /// The socket options the net section names (`SO_REUSEPORT`, multicast joins); others as numbers.
    public static func socketOptionName(level: UInt64, option: UInt64) -> String {
        let names: [UInt64: [UInt64: String]] = [
            1: [2: "SO_REUSEADDR", 15: "SO_REUSEPORT", 6: "SO_BROADCAST", 9: "SO_KEEPALIVE"],
            0: [35: "IP_ADD_MEMBERSHIP", 39: "IP_ADD_SOURCE_MEMBERSHIP", 42: "MCAST_JOIN_GROUP", 46: "MCAST_JOIN_SOURCE_GROUP"],
            41: [20: "IPV6_ADD_MEMBERSHIP", 42: "MCAST_JOIN_GROUP", 46: "MCAST_JOIN_SOURCE_GROUP"],
        ]
        return names[level & 0xffff_ffff]?[option & 0xffff_ffff] ?? String(option & 0xffff_ffff)
    }
}

import StrictrunPolicy

/// Compiles a `Profile` into a seccomp-BPF program, in the parent, in stages (as Chromium's
/// bpf_dsl): the profile becomes an immutable `RuleList` (pure: `RuleListBuilder`), the
/// libseccomp backend turns it into BPF (`SeccompBackend`), and the result is an immutable
/// `CompiledPolicy`.
public struct FilterCompiler {
    /// strictrun's own process, for the rules that keep the program's signals off it (nil: no
    /// such rules, e.g. for `profile show` or a filter built for another process).
    public var supervisor: Int32?

    public init(supervisor: Int32? = nil) {
        self.supervisor = supervisor
    }

    // Flag bits the filter compares (linux/sched.h, asm-generic/mman-common.h, fcntl.h,
    // linux/socket.h).
    static let cloneVM: UInt64 = 0x100
    static let cloneVFork: UInt64 = 0x4000
    static let cloneThread: UInt64 = 0x10000
    static let cloneUntraced: UInt64 = 0x80_0000
    static let protRead: UInt64 = 0x1
    static let protWrite: UInt64 = 0x2
    static let protExec: UInt64 = 0x4
    static let mapShared: UInt64 = 0x1
    static let mapFixed: UInt64 = 0x10
    static let mapAnonymous: UInt64 = 0x20
    static let openWriteOnly: UInt64 = 0x1
    static let openReadWrite: UInt64 = 0x2
    static let openTruncate: UInt64 = 0o1000
    static let openDirectory: UInt64 = 0o200000
    static let openPath: UInt64 = 0o10000000
    static let msgFastOpen: UInt64 = 0x2000_0000
    /// USERFAULTFD_IOC_NEW, _IO(0xAA, 0x00): a userfaultfd from /dev/userfaultfd.
    static let userfaultfdIocNew: UInt64 = 0xaa00

    static let actAllow: UInt32 = FilterAction.allow.rawValue
    static func actTrace(_ id: UInt16) -> UInt32 { FilterAction.trace(id).rawValue }
    static func actErrno(_ errno: Int32) -> UInt32 { FilterAction.errno(errno).rawValue }

    /// Stage 1 alone: the profile's rules, syscalls by name (names checked with libseccomp).
    public func ruleList(_ profile: Profile) -> RuleList {
        RuleListBuilder.rules(for: profile, syscallExists: SeccompBackend.syscallExists, supervisor: supervisor)
    }

    /// Every stage: profile → rule list → BPF (libseccomp) → compiled policy. `pseudoCode`: also
    /// libseccomp's pseudo-filter code (for `profile show`; a run does without it).
    public func compile(_ profile: Profile, pseudoCode: Bool = true) throws(ProfileError) -> CompiledPolicy {
        try SeccompBackend().compile(ruleList(profile), pseudoCode: pseudoCode)
    }
}

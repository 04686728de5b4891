#if canImport(Glibc)
import Glibc
#endif

/// One decision of a profile: an action and where it was written.
public struct RuleSetting: Sendable, Hashable {
    public var action: Action
    /// Where the setting was written; nil for built-in defaults.
    public var location: SourceLocation?

    public init(_ action: Action, at location: SourceLocation? = nil) {
        self.action = action
        self.location = location
    }
}

/// The W^X level of a profile (see DESIGN.md, "W^X levels").
public enum WXLevel: String, Sendable, Hashable, CaseIterable {
    /// No W^X rules.
    case off
    /// No mapping is writable and executable at once (mmap, mprotect, pkey_mprotect).
    case simultaneous
    /// Also: memory never becomes executable after it was mapped (as PR_SET_MDWE).
    case noExecGain = "no-exec-gain"
    /// As `simultaneous`, but a W+X request is granted as RW and the tracer flips each of
    /// its pages RW⇄RX on the program's faults: an unmodified JIT runs under strict W^X,
    /// and the flips are counted (the cost of separating code generation from execution).
    case emulate
}

/// The `process` section: how fork, spawn and exec are treated. Threads are always allowed.
public struct ProcessPolicy: Sendable, Hashable {
    /// fork(2), and clone(2) without CLONE_VM (a copy of the address space).
    public var fork: RuleSetting
    /// vfork(2), and clone(2) with CLONE_VM but without CLONE_THREAD (posix_spawn's way).
    public var spawn: RuleSetting
    /// execve/execveat after the program's first exec.
    public var exec: RuleSetting
}

/// The `wx` section.
public struct WXPolicy: Sendable, Hashable {
    public var level: WXLevel
    /// The action for a call that breaks the level.
    public var action: RuleSetting
}

/// The `escape` section: side doors out of the emulated target, closed by default.
public struct EscapePolicy: Sendable, Hashable {
    /// A syscall from another ABI (i386 `int 0x80`, x32).
    public var foreignABI: RuleSetting
    /// clone(2) with CLONE_UNTRACED: a child the tracer would not follow.
    public var untracedClone: RuleSetting
    /// ptrace(2) from the program (PTRACE_TRACEME, attaching to a sibling).
    public var ptrace: RuleSetting
    /// process_vm_writev(2): writing into another process's memory.
    public var processVMWrite: RuleSetting
    /// personality(READ_IMPLIES_EXEC): every readable mapping executable.
    public var readImpliesExec: RuleSetting
    /// seccomp(2) and prctl calls that touch seccomp, no_new_privs, MDWE or the ptracer
    /// (they cannot loosen anything; logged by default).
    public var seccompChange: RuleSetting

    /// Profile keys under `escape:`, in order.
    public static let keys = ["foreign-abi", "untraced-clone", "ptrace", "process-vm-writev",
                              "read-implies-exec", "seccomp"]
}

/// The `tls` section: connect() to a TLS port is routed to the key-holding broker (or
/// denied, logged, allowed). Absent from a profile, connect() is never traced.
public struct TLSPolicy: Sendable, Hashable {
    /// The ports whose connections are TLS.
    public var ports: [UInt16]
    /// `route`, `deny` (an errno), `log` or `allow`.
    public var action: RuleSetting
    /// Terminate the app's TLS in the broker, or relay bytes (for apps that pin certificates).
    public var relay: Bool
    /// A CA bundle for verifying upstream servers; nil: the system's trust store.
    public var trustBundle: String?
    /// Client certificates the broker presents upstream; the program may not open their keys.
    public var clientCertificates: [ClientCertificate]
    /// Added latency per TLS record toward the app, in milliseconds (crypto as IPC).
    public var latencyPerRecordMs: Double

    public static let defaultPorts: [UInt16] = [443, 465, 636, 853, 993, 995, 8443]
}

/// One client certificate of the `tls` section: for hosts matching `host` (a glob such as
/// `*.corp.example`), the broker presents `certificate` signed with `key`.
public struct ClientCertificate: Sendable, Hashable {
    public var host: String
    public var certificate: String
    public var key: String
    public var location: SourceLocation?
}

/// An extra rule on one syscall, from the profile's `rules:` list.
public struct SyscallRule: Sendable, Hashable {
    public var syscall: String
    /// Event category (`process`, `wx`, `tls`, `escape`, `fs`, `net`, or a user word).
    public var category: String
    /// The rule name in events; defaults to the syscall name.
    public var name: String
    public var setting: RuleSetting
}

/// A fully resolved profile: `extends` merged, defaults applied, every value validated.
public struct Profile: Sendable, Hashable {
    public var name: String
    public var description: String
    /// The files this profile was read from, the profile itself first, then what it extends.
    public var sources: [String]
    public var mode: Mode
    public var process: ProcessPolicy
    public var wx: WXPolicy
    /// Side doors (category `escape`).
    public var escape: EscapePolicy
    /// Mediated TLS; nil when the profile has no `tls` section.
    public var tls: TLSPolicy?
    public var rules: [SyscallRule]
    /// Files as the target serves them; nil when the profile has no `fs` section.
    public var fs: FSPolicy? = nil
    /// Sockets as the target offers them; nil when the profile has no `net` section.
    public var net: NetPolicy? = nil

    /// The profile that allows everything and logs nothing (the baseline of a run).
    public static let unconfined = Profile(
        name: "unconfined", description: "No rules.", sources: [], mode: .enforce,
        process: ProcessPolicy(fork: RuleSetting(.allow), spawn: RuleSetting(.allow),
                               exec: RuleSetting(.allow)),
        wx: WXPolicy(level: .off, action: RuleSetting(.deny(errno: EACCES))),
        escape: EscapePolicy(foreignABI: RuleSetting(.allow), untracedClone: RuleSetting(.allow),
                             ptrace: RuleSetting(.allow), processVMWrite: RuleSetting(.allow),
                             readImpliesExec: RuleSetting(.allow), seccompChange: RuleSetting(.allow)),
        tls: nil, rules: [])

    /// The action in force for a setting, after `mode`.
    public func effective(_ setting: RuleSetting) -> Action { setting.action.audited(mode) }
}

/// Built-in defaults for values a profile leaves out.
public enum ProfileDefaults {
    public static let forkErrno = EPERM
    public static let spawnErrno = EPERM
    public static let execErrno = EPERM
    /// EACCES is what the kernel's own W^X (PR_SET_MDWE) answers.
    public static let wxErrno = EACCES
    public static let foreignABIErrno = ENOSYS
    public static let escapeErrno = EPERM
    public static let ruleErrno = EPERM
}

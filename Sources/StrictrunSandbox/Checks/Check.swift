import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// A thread stopped at a seccomp stop, as checks see it: who, which call, which rule.
struct SyscallStop: Sendable {
    var tid: ProcessID
    /// The thread group (process) of `tid`.
    var tgid: ProcessID
    var info: SyscallInfo
    /// The call's name in its ABI (`openat`, `mmap2`, `syscall_999`).
    var name: String

    init(tid: ProcessID, tgid: ProcessID, info: SyscallInfo) {
        self.tid = tid
        self.tgid = tgid
        self.info = info
        name = info.name
    }

    var number: UInt64 { info.number }
    var args: [UInt64] { info.arguments }
    var abi: SyscallABI { info.abi }
}

/// What the executor does with a stopped call. A check returns one; the executor is the only
/// code that carries it out with ptrace, and where it cannot, it fails closed.
struct Verdict {
    enum Action {
        /// The call runs as the program made it (after `rewrites` and `pin`).
        case allow
        /// The call does not run; it returns -errno.
        case deny(errno: Int32)
        /// The call does not run; it returns `value` (0 for a no-op, a routed connect's result).
        case skip(returning: Int64)
        /// The process is ended with SIGKILL.
        case kill
        /// connect(): the socket is connected to the TLS broker instead (TLS/ConnectRouting).
        /// `quiet`: every TCP stream is mediated, so a connect left alone (not a TCP socket,
        /// nothing listening) is no event.
        case route(fd: Int32, destination: SocketAddress, quiet: Bool)
    }

    var action: Action
    /// Argument registers to change before the call runs (e.g. W+X granted as RW).
    var rewrites: [(argument: Int, value: UInt64)] = []
    /// Bytes the call must use: copied below the thread's stack and the argument pointed at
    /// the copy, so that another thread cannot swap them after the check.
    var pin: (argument: Int, bytes: [UInt8])?
    /// Further arguments pointed into the pinned copy, at these offsets (openat2's path after its
    /// `open_how`).
    var pinAlso: [(argument: Int, offset: Int)] = []
    /// Offsets in the pinned bytes of little-endian 64-bit values that are offsets into the copy:
    /// the copy's address is added to each (a pinned structure that points into itself).
    var pinRelocations: [Int] = []
    /// The call made as another one (creat as open), before `rewrites` apply.
    var syscallNumber: UInt64?
    /// Run the call to its exit stop and decide there (the result is -errno on failure).
    var atExit: ((_ result: Int64) -> [EventDraft])?
    /// An open whose O_TRUNC was held back (see OpenCheck): when the exit stop finds nothing
    /// wrong with the file opened, the executor truncates it through the new descriptor.
    var truncateAtExit = false
    /// Bytes written into the program's memory before a skipped call returns (an emulated call's
    /// out-parameters); when one cannot be written the call fails with EFAULT, as the kernel's would.
    var writes: [(address: UInt64, bytes: [UInt8])] = []
    /// The errno a call gets when its rewrite or pin cannot be made.
    var failClosedErrno: Int32 = Errno.access

    static var allow: Verdict { Verdict(action: .allow) }
    static func deny(_ errno: Int32) -> Verdict { Verdict(action: .deny(errno: errno)) }

    /// The verdict a rule's action asks for.
    static func carrying(_ action: StrictrunPolicy.Action) -> Verdict {
        switch action {
        case .allow, .log, .route: .allow
        case .deny(let code): .deny(code)
        case .kill: Verdict(action: .kill)
        case .noop: Verdict(action: .skip(returning: 0))
        }
    }
}

/// A policy event a check wants written: the rule (with the name the check refined), the
/// call, its decoded arguments (nil: decode from the table), extra fields, and whether the
/// thread's stack is worth an unwind.
struct EventDraft {
    var rule: CompiledRule
    var syscall: String
    var abi: SyscallABI = .x86_64
    var number: UInt64
    var args: [UInt64]
    var decoded: [(String, JSONValue)]?
    var extra: [(String, JSONValue)] = []
    var withStack = true
    /// Another thread than the stopped one (e.g. a wait the emulator ends).
    var tid: ProcessID?
    /// With a kill: another process to end as well, when it is under the tracer (the owner of a
    /// `mem` file another process reached).
    var alsoEnd: ProcessID?
    /// The stack already taken for this event (the answers needed its site first): the recorder
    /// uses it instead of unwinding again.
    var captured: CapturedStack?

    init(rule: CompiledRule, stop: SyscallStop, decoded: [(String, JSONValue)]? = nil,
         extra: [(String, JSONValue)] = [], withStack: Bool = true) {
        self.rule = rule
        syscall = stop.name
        abi = stop.abi
        number = stop.number
        args = stop.args
        self.decoded = decoded
        self.extra = extra
        self.withStack = withStack
    }

    init(rule: CompiledRule, syscall: String, number: UInt64 = 0, args: [UInt64] = [],
         decoded: [(String, JSONValue)]? = nil, extra: [(String, JSONValue)] = []) {
        self.rule = rule
        self.syscall = syscall
        self.number = number
        self.args = args
        self.decoded = decoded
        self.extra = extra
    }
}

/// A check's answer: what to do with the call, and the events it is recorded by.
struct Decision {
    var verdict: Verdict
    var events: [EventDraft] = []

    /// The call passes unremarked.
    static var pass: Decision { Decision(verdict: .allow) }

    /// The rule's action, recorded with one event.
    static func act(_ rule: CompiledRule, _ stop: SyscallStop, decoded: [(String, JSONValue)]? = nil,
                    extra: [(String, JSONValue)] = []) -> Decision {
        Decision(verdict: .carrying(rule.action), events: [EventDraft(rule: rule, stop: stop, decoded: decoded, extra: extra)])
    }
}

extension CompiledRule {
    /// This rule under another name (a check refines what the filter matched), optionally
    /// with another category or action.
    func named(_ name: String, category: String? = nil, action: StrictrunPolicy.Action? = nil) -> CompiledRule {
        var rule = self
        rule.name = name
        if let category { rule.category = category }
        if let action {
            rule.action = action
            rule.auditedFrom = nil
        }
        return rule
    }

    /// A rule strictrun itself applies (fail-closed answers, livelocks): not in the profile.
    static func builtIn(_ category: String, _ name: String, _ action: StrictrunPolicy.Action) -> CompiledRule {
        CompiledRule(id: 0, category: category, name: name, action: action, auditedFrom: nil, check: .always, location: nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import StrictrunTrace

/// What the policy does with a call that matches a rule.
public enum Action: Sendable, Hashable, CustomStringConvertible {
    /// The call proceeds and nothing is recorded.
    case allow
    /// The call proceeds and is recorded.
    case log
    /// The call fails with `errno` and is recorded.
    case deny(errno: Int32)
    /// The calling process is killed (SIGKILL) and the call is recorded.
    case kill
    /// connect() only: the connection goes to the TLS broker instead, and is recorded.
    case route
    /// The call is skipped and returns 0 (the target accepts it and does nothing), recorded.
    case noop

    /// The action as a trace line records it.
    public var recorded: EventAction {
        switch self {
        case .allow: .allow
        case .log: .log
        case .deny: .deny
        case .kill: .kill
        case .route: .route
        case .noop: .noop
        }
    }

    /// The action name used in profiles and events.
    public var name: String { recorded.rawValue }

    /// Whether the call is stopped (deny, kill, or noop: it never reaches the kernel); the trace
    /// schema's definition, so readers of a trace agree with the tracer.
    public var blocks: Bool { recorded.blocks }

    /// Whether the tracer must see the call at all.
    public var needsTracer: Bool { self != .allow }

    /// `mode: audit` turns every blocking action into `log`.
    public func audited(_ mode: Mode) -> Action {
        mode == .audit && blocks ? .log : self
    }

    public var description: String {
        if case .deny(let errno) = self { return "deny(\(ErrnoName.name(of: errno)))" }
        return name
    }
}

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

/// Built-in defaults for values a profile leaves out; each section's file adds its own.
public enum ProfileDefaults {}

/// Linux errno names and numbers, as a table (x86_64 values from glibc).
public enum ErrnoName {
    /// Every errno a profile may name.
    public static let table: [(name: String, value: Int32)] = [
        ("EPERM", EPERM), ("ENOENT", ENOENT), ("ESRCH", ESRCH), ("EINTR", EINTR), ("EIO", EIO),
        ("ENXIO", ENXIO), ("E2BIG", E2BIG), ("ENOEXEC", ENOEXEC), ("EBADF", EBADF),
        ("ECHILD", ECHILD), ("EAGAIN", EAGAIN), ("ENOMEM", ENOMEM), ("EACCES", EACCES),
        ("EFAULT", EFAULT), ("EBUSY", EBUSY), ("EEXIST", EEXIST), ("EXDEV", EXDEV),
        ("ENODEV", ENODEV), ("ENOTDIR", ENOTDIR), ("EISDIR", EISDIR), ("EINVAL", EINVAL),
        ("ENFILE", ENFILE), ("EMFILE", EMFILE), ("ENOTTY", ENOTTY), ("ETXTBSY", ETXTBSY),
        ("EFBIG", EFBIG), ("ENOSPC", ENOSPC), ("ESPIPE", ESPIPE), ("EROFS", EROFS),
        ("EMLINK", EMLINK), ("EPIPE", EPIPE), ("ENOSYS", ENOSYS), ("ENOTSUP", ENOTSUP),
        ("EOPNOTSUPP", EOPNOTSUPP), ("EAFNOSUPPORT", EAFNOSUPPORT),
        ("EPROTONOSUPPORT", EPROTONOSUPPORT), ("EADDRINUSE", EADDRINUSE),
        ("EADDRNOTAVAIL", EADDRNOTAVAIL), ("ENETUNREACH", ENETUNREACH),
        ("ECONNREFUSED", ECONNREFUSED), ("ECONNRESET", ECONNRESET), ("EHOSTUNREACH", EHOSTUNREACH),
        ("ETIMEDOUT", ETIMEDOUT), ("ELOOP", ELOOP), ("ENAMETOOLONG", ENAMETOOLONG),
        ("ENOTSOCK", ENOTSOCK), ("EPROTOTYPE", EPROTOTYPE), ("ENOPROTOOPT", ENOPROTOOPT),
        ("EWOULDBLOCK", EWOULDBLOCK), ("EINPROGRESS", EINPROGRESS), ("ECANCELED", ECANCELED),
    ]

    private static let byName: [String: Int32] = Dictionary(table.map { ($0.name, $0.value) },
                                                           uniquingKeysWith: { first, _ in first })
    private static let byValue: [Int32: String] = Dictionary(table.map { ($0.value, $0.name) },
                                                            uniquingKeysWith: { first, _ in first })

    /// The number for an errno name (`EPERM` → 1), nil when unknown.
    public static func value(of name: String) -> Int32? { byName[name] }

    /// The name of an errno number (1 → `EPERM`), or the number itself when unknown.
    public static func name(of value: Int32) -> String { byValue[value] ?? String(value) }
}

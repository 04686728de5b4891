import StrictrunPolicy

// Stage 1 of compilation, as values: what the filter must do, by syscall *name*, with no
// libseccomp (Chromium's bpf_dsl keeps its policy an immutable expression the same way).
// `RuleListBuilder` makes one from a profile; `SeccompBackend` turns it into BPF.

/// One comparison of a syscall argument, as the kernel's filter makes it (libseccomp's
/// `scmp_arg_cmp` as a value).
public struct ArgumentCondition: Sendable, Hashable, CustomStringConvertible {
    /// How the argument is compared.
    public enum Comparison: Sendable, Hashable {
        /// `(arg & mask) == value` (SCMP_CMP_MASKED_EQ).
        case maskedEquals(mask: UInt64, value: UInt64)
        /// `arg != value` (SCMP_CMP_NE).
        case notEquals(UInt64)
    }

    /// The argument's index (0…5).
    public var index: UInt32
    public var comparison: Comparison

    public init(index: UInt32, _ comparison: Comparison) {
        self.index = index
        self.comparison = comparison
    }

    /// `(arg[index] & mask) == value`.
    public static func masked(_ index: UInt32, mask: UInt64, equals value: UInt64) -> ArgumentCondition {
        ArgumentCondition(index: index, .maskedEquals(mask: mask, value: value))
    }

    /// `arg[index] != value`.
    public static func notEqual(_ index: UInt32, _ value: UInt64) -> ArgumentCondition {
        ArgumentCondition(index: index, .notEquals(value))
    }

    /// True when the condition holds for `arguments` (what the kernel's filter computes).
    public func holds(for arguments: [UInt64]) -> Bool {
        let arg = Int(index) < arguments.count ? arguments[Int(index)] : 0
        switch comparison {
        case .maskedEquals(let mask, let value): return arg & mask == value
        case .notEquals(let value): return arg != value
        }
    }

    public var description: String {
        switch comparison {
        case .maskedEquals(let mask, let value):
            "arg\(index) & 0x\(String(mask, radix: 16)) == 0x\(String(value, radix: 16))"
        case .notEquals(let value): "arg\(index) != 0x\(String(value, radix: 16))"
        }
    }
}

/// What the kernel's filter returns for a call (uapi linux/seccomp.h SECCOMP_RET_*).
public enum FilterAction: Sendable, Hashable, CustomStringConvertible {
    /// SECCOMP_RET_ALLOW: the call runs, the tracer never sees it.
    case allow
    /// SECCOMP_RET_ERRNO: the call fails with this errno in the kernel.
    case errno(Int32)
    /// SECCOMP_RET_TRACE with the rule id as data: the tracer decides (`CompiledPolicy.rules`).
    case trace(UInt16)

    /// The 32-bit return value of the filter.
    public var rawValue: UInt32 {
        switch self {
        case .allow: 0x7fff_0000
        case .errno(let code): 0x0005_0000 | (UInt32(bitPattern: code) & 0xffff)
        case .trace(let id): 0x7ff0_0000 | UInt32(id)
        }
    }

    public var description: String {
        switch self {
        case .allow: "ALLOW"
        case .errno(let code): "ERRNO(\(ErrnoName.name(of: code)))"
        case .trace(let id): "TRACE(\(id))"
        }
    }
}

/// One rule of the filter: a syscall by name, the conditions on its arguments (all must
/// hold), and the action.
public struct FilterRule: Sendable, Hashable {
    /// The x86_64 syscall name; the backend resolves it to a number.
    public var syscall: String
    public var action: FilterAction
    public var conditions: [ArgumentCondition]
    /// Where the rule came from in the profile (for errors); nil for built-in rules.
    public var location: SourceLocation?

    public init(syscall: String, action: FilterAction, conditions: [ArgumentCondition] = [],
                location: SourceLocation? = nil) {
        self.syscall = syscall
        self.action = action
        self.conditions = conditions
        self.location = location
    }
}

/// A profile's filter as an immutable list of rules, plus the table the tracer decodes
/// SECCOMP_RET_DATA with. Pure data: made without libseccomp, compiled by `SeccompBackend`.
public struct RuleList: Sendable {
    public let profile: Profile
    /// Every call no rule matches: allowed in the kernel.
    public let defaultAction: FilterAction = .allow
    /// The rules in the order the backend adds them.
    public let filterRules: [FilterRule]
    /// The action for a syscall of another ABI; nil: libseccomp's default (kill).
    public let badArchAction: FilterAction?
    /// The traced rules by id.
    public let rules: [UInt16: CompiledRule]
    /// The rule that a syscall of another ABI reaches (nil when not traced).
    public let foreignABIRule: CompiledRule?
    /// Whether the child must set PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN) before exec.
    public let kernelMDWE: Bool

    public init(profile: Profile, filterRules: [FilterRule], badArchAction: FilterAction?,
                rules: [UInt16: CompiledRule], foreignABIRule: CompiledRule?, kernelMDWE: Bool) {
        self.profile = profile
        self.filterRules = filterRules
        self.badArchAction = badArchAction
        self.rules = rules
        self.foreignABIRule = foreignABIRule
        self.kernelMDWE = kernelMDWE
    }

    /// The rules on one syscall, in order.
    public func filterRules(for syscall: String) -> [FilterRule] { filterRules.filter { $0.syscall == syscall } }

    /// The traced rules (`CompiledRule`) a syscall may reach.
    public func tracedRules(for syscall: String) -> [CompiledRule] {
        filterRules(for: syscall).compactMap {
            if case .trace(let id) = $0.action { rules[id] } else { nil }
        }
    }

    /// What the filter returns for one call on x86_64, evaluated on the list itself (a rule
    /// whose conditions all hold; the rule lists are disjoint per syscall where it matters).
    public func action(for syscall: String, arguments: [UInt64] = []) -> FilterAction {
        filterRules(for: syscall).first { rule in rule.conditions.allSatisfy { $0.holds(for: arguments) } }?.action
            ?? defaultAction
    }
}

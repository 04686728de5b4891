#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `rules` section: extra rules on single syscalls.

/// An extra rule on one syscall, from the profile's `rules:` list.
public struct SyscallRule: Sendable, Hashable {
    public var syscall: String
    /// Event category (`process`, `wx`, `tls`, `escape`, `fs`, `net`, or a user word).
    public var category: String
    /// The rule name in events; defaults to the syscall name.
    public var name: String
    public var setting: RuleSetting
}

extension ProfileDefaults {
    public static let ruleErrno = EPERM
    /// The category of a rule that names none.
    public static let ruleCategory = "policy"
}

/// The `rules` list as written.
struct RulesDocument: Sendable {
    var rules: [SyscallRule] = []

    /// Rules add up; a rule of `self` for the same syscall and category replaces the base's.
    func merged(over base: RulesDocument) -> RulesDocument {
        var out = base
        for rule in rules {
            out.rules.removeAll { $0.syscall == rule.syscall && $0.category == rule.category }
            out.rules.append(rule)
        }
        return out
    }
}

extension ProfileDocumentReader {
    func readRules(_ node: Node) throws(ProfileError) -> RulesDocument {
        guard case .sequence(let items) = node else {
            throw nodes.typeError(node, key: "rules", expected: "a list of rules")
        }
        var rules: [SyscallRule] = []
        for (index, item) in items.enumerated() {
            rules.append(try readRule(item, base: "rules[\(index)]"))
        }
        return RulesDocument(rules: rules)
    }

    private func readRule(_ item: Node, base: String) throws(ProfileError) -> SyscallRule {
        var syscall: String?
        var category = ProfileDefaults.ruleCategory
        var name: String?
        var action: RuleSetting?
        var errnoNode: Node?
        for (keyNode, value) in try nodes.mapping(item, key: base) {
            let key = try nodes.keyName(keyNode, parent: base)
            let path = "\(base).\(key)"
            switch key {
            case "syscall":
                let word = try nodes.string(value, key: path)
                guard syscallExists(word) else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown syscall '\(word)' on x86_64")
                }
                syscall = word
            case "category": category = try nodes.string(value, key: path)
            case "name": name = try nodes.string(value, key: path)
            case "action": action = try setting(value, key: path, defaultErrno: ProfileDefaults.ruleErrno)
            case "errno": errnoNode = value
            default:
                throw nodes.unknownKey(keyNode, key: path, known: ["syscall", "category", "name", "action", "errno"])
            }
        }
        guard let syscall else {
            throw ProfileError(at: nodes.location(item), file: file, key: "\(base).syscall", "missing")
        }
        guard var action else {
            throw ProfileError(at: nodes.location(item), file: file, key: "\(base).action", "missing")
        }
        if let errnoNode {
            guard case .deny = action.action else {
                throw ProfileError(at: nodes.location(errnoNode), file: file, key: "\(base).errno",
                                   "only a 'deny' action takes an errno")
            }
            action.action = .deny(errno: try errnoValue(errnoNode, key: "\(base).errno"))
        }
        return SyscallRule(syscall: syscall, category: category, name: name ?? syscall, setting: action)
    }
}

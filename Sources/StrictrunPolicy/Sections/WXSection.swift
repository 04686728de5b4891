#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `wx` section: the W^X level and the action for a call that breaks it.

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

/// The `wx` section.
public struct WXPolicy: Sendable, Hashable {
    public var level: WXLevel
    /// The action for a call that breaks the level.
    public var action: RuleSetting
}

extension ProfileDefaults {
    /// EACCES is what the kernel's own W^X (PR_SET_MDWE) answers.
    public static let wxErrno = EACCES
}

/// The `wx` section as written.
struct WXDocument: Sendable {
    var level: WXLevel?
    var action: RuleSetting?

    func merged(over base: WXDocument) -> WXDocument {
        WXDocument(level: level ?? base.level, action: action ?? base.action)
    }

    /// Defaults: level `off`, action deny with EACCES.
    func resolved() -> WXPolicy {
        WXPolicy(level: level ?? .off, action: action ?? RuleSetting(.deny(errno: ProfileDefaults.wxErrno)))
    }
}

extension ProfileDocumentReader {
    func readWX(_ node: Node) throws(ProfileError) -> WXDocument {
        var doc = WXDocument()
        // `wx: simultaneous` is short for `wx: {level: simultaneous}`.
        if case .scalar = node {
            doc.level = try enumValue(node, key: "wx", WXLevel.self)
            return doc
        }
        for (keyNode, value) in try nodes.mapping(node, key: "wx") {
            let key = try nodes.keyName(keyNode, parent: "wx")
            let path = "wx.\(key)"
            switch key {
            case "level": doc.level = try enumValue(value, key: path, WXLevel.self)
            case "action": doc.action = try setting(value, key: path, defaultErrno: ProfileDefaults.wxErrno)
            default: throw nodes.unknownKey(keyNode, key: path, known: ["level", "action"])
            }
        }
        return doc
    }
}

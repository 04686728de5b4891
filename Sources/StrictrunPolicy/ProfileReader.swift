import Foundation
import Yams

/// Reads a Yams node tree into a `ProfileDocument`, rejecting unknown keys and wrong types
/// with the file, line and key. Each section's reader is in its file under `Sections/`;
/// the value readers every section shares are here.
struct ProfileDocumentReader {
    let file: String
    var nodes: YAMLNodes { YAMLNodes(file: file) }
    let syscallExists: (String) -> Bool

    /// `allow` | `log` | `kill` | `deny` | `{action: deny, errno: EPERM}`.
    func setting(_ node: Node, key: String, defaultErrno: Int32,
                         allowRoute: Bool = false) throws(ProfileError) -> RuleSetting {
        let at = nodes.location(node)
        if case .scalar = node {
            return RuleSetting(try actionWord(node, key: key, errno: defaultErrno, allowRoute: allowRoute), at: at)
        }
        var actionNode: Node?
        var errno: Int32?
        for (keyNode, value) in try nodes.mapping(node, key: key) {
            let sub = try nodes.keyName(keyNode, parent: key)
            switch sub {
            case "action": actionNode = value
            case "errno": errno = try errnoValue(value, key: "\(key).errno")
            default: throw nodes.unknownKey(keyNode, key: "\(key).\(sub)", known: ["action", "errno"])
            }
        }
        guard let actionNode else {
            throw ProfileError(at: at, file: file, key: "\(key).action", "missing")
        }
        let action = try actionWord(actionNode, key: "\(key).action", errno: errno ?? defaultErrno,
                                    allowRoute: allowRoute)
        if errno != nil, case .deny = action {} else if errno != nil {
            throw ProfileError(at: at, file: file, key: "\(key).errno", "only a 'deny' action takes an errno")
        }
        return RuleSetting(action, at: at)
    }

    private func actionWord(_ node: Node, key: String, errno: Int32,
                            allowRoute: Bool = false) throws(ProfileError) -> Action {
        let word = try nodes.string(node, key: key)
        switch word {
        case "route" where allowRoute: return .route
        case "route":
            throw ProfileError(at: nodes.location(node), file: file, key: key, "'route' applies to tls.action only")
        case "allow": return .allow
        case "log": return .log
        case "kill": return .kill
        case "deny": return .deny(errno: errno)
        default:
            throw ProfileError(at: nodes.location(node), file: file, key: key,
                               "unknown action '\(word)' (expected allow, log, deny or kill)")
        }
    }

    func errnoValue(_ node: Node, key: String) throws(ProfileError) -> Int32 {
        let name = try nodes.string(node, key: key)
        guard let value = ErrnoName.value(of: name) else {
            throw ProfileError(at: nodes.location(node), file: file, key: key, "unknown errno name '\(name)'")
        }
        return value
    }

    func enumValue<E: RawRepresentable & CaseIterable>(
        _ node: Node, key: String, _ type: E.Type
    ) throws(ProfileError) -> E where E.RawValue == String {
        let word = try nodes.string(node, key: key)
        guard let value = E(rawValue: word) else {
            let known = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw ProfileError(at: nodes.location(node), file: file, key: key,
                               "unknown value '\(word)' (expected one of: \(known))")
        }
        return value
    }

    /// A setting that may also be written as a bare errno name (`ENOSYS` is `deny` with
    /// ENOSYS) or, where `allowNoop`, `noop`.
    func behaviour(_ node: Node, key: String, defaultErrno: Int32,
                           allowNoop: Bool = false) throws(ProfileError) -> RuleSetting {
        if case .scalar = node {
            let word = try nodes.string(node, key: key)
            if word == "noop" {
                guard allowNoop else {
                    throw ProfileError(at: nodes.location(node), file: file, key: key,
                                       "'noop' applies to fs functions only")
                }
                return RuleSetting(.noop, at: nodes.location(node))
            }
            if word.hasPrefix("E") {
                return RuleSetting(.deny(errno: try errnoValue(node, key: key)), at: nodes.location(node))
            }
        }
        return try setting(node, key: key, defaultErrno: defaultErrno)
    }
}

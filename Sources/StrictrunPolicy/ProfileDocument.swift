import Foundation
import Yams

/// One profile file as written: every value optional, each with its location. `extends`
/// is resolved by merging documents; defaults are applied only at the end.
struct ProfileDocument: Sendable {
    var file: String
    var name: String?
    var description: String?
    var extends: (name: String, location: SourceLocation?)?
    var mode: Mode?
    var fork: RuleSetting?
    var spawn: RuleSetting?
    var exec: RuleSetting?
    var wxLevel: WXLevel?
    var wxAction: RuleSetting?
    /// `escape:` settings by key (EscapePolicy.keys).
    var escape: [String: RuleSetting] = [:]
    var rules: [SyscallRule] = []
    var tls: TLSDocument?
    var fs: FSDocument?
    var net: NetDocument?

    /// `self` over `base`: every value `self` sets wins; rules add up, a later rule for the
    /// same syscall and category replacing an earlier one.
    func merged(over base: ProfileDocument) -> ProfileDocument {
        var out = base
        out.file = file
        out.name = name ?? base.name
        out.description = description ?? base.description
        out.extends = extends
        out.mode = mode ?? base.mode
        out.fork = fork ?? base.fork
        out.spawn = spawn ?? base.spawn
        out.exec = exec ?? base.exec
        out.wxLevel = wxLevel ?? base.wxLevel
        out.wxAction = wxAction ?? base.wxAction
        out.escape = base.escape.merging(escape) { _, mine in mine }
        out.tls = tls.map { $0.merged(over: base.tls) } ?? base.tls
        out.fs = fs.map { $0.merged(over: base.fs) } ?? base.fs
        out.net = net.map { $0.merged(over: base.net) } ?? base.net
        for rule in rules {
            out.rules.removeAll { $0.syscall == rule.syscall && $0.category == rule.category }
            out.rules.append(rule)
        }
        return out
    }
}

/// Reads a Yams node tree into a `ProfileDocument`, rejecting unknown keys and wrong types
/// with the file, line and key.
struct ProfileDocumentReader {
    let file: String
    var nodes: YAMLNodes { YAMLNodes(file: file) }
    let syscallExists: (String) -> Bool

    func read(yaml text: String) throws(ProfileError) -> ProfileDocument {
        let root = try nodes.compose(text, emptyMessage: "empty profile")
        let top = try nodes.mapping(root, key: nil)
        var doc = ProfileDocument(file: file)
        for (keyNode, value) in top {
            let key = try nodes.keyName(keyNode, parent: nil)
            switch key {
            case "name": doc.name = try nodes.string(value, key: key)
            case "description": doc.description = try nodes.string(value, key: key)
            case "extends": doc.extends = (try nodes.string(value, key: key), nodes.location(value))
            case "mode": doc.mode = try enumValue(value, key: key, Mode.self)
            case "process": try readProcess(value, into: &doc)
            case "wx": try readWX(value, into: &doc)
            case "escape": try readEscape(value, into: &doc)
            case "rules": doc.rules = try readRules(value)
            case "tls": doc.tls = try readTLS(value)
            case "fs": doc.fs = try readFS(value)
            case "net": doc.net = try readNet(value)
            default:
                throw nodes.unknownKey(keyNode, key: key,
                                 known: ["name", "description", "extends", "mode", "process", "wx", "escape",
                                         "tls", "fs", "net", "rules"])
            }
        }
        return doc
    }

    // MARK: sections

    private func readProcess(_ node: Node, into doc: inout ProfileDocument) throws(ProfileError) {
        for (keyNode, value) in try nodes.mapping(node, key: "process") {
            let key = try nodes.keyName(keyNode, parent: "process")
            let path = "process.\(key)"
            switch key {
            case "fork": doc.fork = try setting(value, key: path, defaultErrno: ProfileDefaults.forkErrno)
            case "spawn": doc.spawn = try setting(value, key: path, defaultErrno: ProfileDefaults.spawnErrno)
            case "exec": doc.exec = try setting(value, key: path, defaultErrno: ProfileDefaults.execErrno)
            default: throw nodes.unknownKey(keyNode, key: path, known: ["fork", "spawn", "exec"])
            }
        }
    }

    private func readWX(_ node: Node, into doc: inout ProfileDocument) throws(ProfileError) {
        // `wx: simultaneous` is short for `wx: {level: simultaneous}`.
        if case .scalar = node {
            doc.wxLevel = try enumValue(node, key: "wx", WXLevel.self)
            return
        }
        for (keyNode, value) in try nodes.mapping(node, key: "wx") {
            let key = try nodes.keyName(keyNode, parent: "wx")
            let path = "wx.\(key)"
            switch key {
            case "level": doc.wxLevel = try enumValue(value, key: path, WXLevel.self)
            case "action": doc.wxAction = try setting(value, key: path, defaultErrno: ProfileDefaults.wxErrno)
            default: throw nodes.unknownKey(keyNode, key: path, known: ["level", "action"])
            }
        }
    }

    private func readEscape(_ node: Node, into doc: inout ProfileDocument) throws(ProfileError) {
        for (keyNode, value) in try nodes.mapping(node, key: "escape") {
            let key = try nodes.keyName(keyNode, parent: "escape")
            let path = "escape.\(key)"
            guard EscapePolicy.keys.contains(key) else {
                throw nodes.unknownKey(keyNode, key: path, known: EscapePolicy.keys)
            }
            let errno = key == "foreign-abi" ? ProfileDefaults.foreignABIErrno : ProfileDefaults.escapeErrno
            doc.escape[key] = try setting(value, key: path, defaultErrno: errno)
        }
    }

    private func readTLS(_ node: Node) throws(ProfileError) -> TLSDocument {
        var tls = TLSDocument()
        for (keyNode, value) in try nodes.mapping(node, key: "tls") {
            let key = try nodes.keyName(keyNode, parent: "tls")
            let path = "tls.\(key)"
            switch key {
            case "ports":
                guard case .sequence(let items) = value else { throw nodes.typeError(value, key: path, expected: "a list of ports") }
                tls.ports = try items.enumerated().map { (index, item) throws(ProfileError) -> UInt16 in
                    let text = try nodes.string(item, key: "\(path)[\(index)]")
                    guard let port = UInt16(text), port > 0 else {
                        throw ProfileError(at: nodes.location(item), file: file, key: "\(path)[\(index)]",
                                           "not a TCP port: '\(text)'")
                    }
                    return port
                }
            case "action":
                tls.action = try setting(value, key: path, defaultErrno: ECONNREFUSED, allowRoute: true)
            case "mode":
                let word = try nodes.string(value, key: path)
                guard word == "terminate" || word == "relay" else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown value '\(word)' (expected terminate or relay)")
                }
                tls.relay = word == "relay"
            case "trust":
                let word = try nodes.string(value, key: path)
                tls.trustBundle = word == "system" ? .some(nil) : .some(word)
            case "latency-per-record":
                let text = try nodes.string(value, key: path)
                let number = text.hasSuffix("ms") ? String(text.dropLast(2)) : text
                guard let ms = Double(number.trimmingCharacters(in: .whitespaces)), ms >= 0 else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "expected milliseconds, e.g. 2ms: '\(text)'")
                }
                tls.latencyPerRecordMs = ms
            case "client-certificates":
                tls.clientCertificates = try readClientCertificates(value, key: path)
            default:
                throw nodes.unknownKey(keyNode, key: path, known: ["ports", "action", "mode", "trust",
                                                            "latency-per-record", "client-certificates"])
            }
        }
        return tls
    }

    private func readClientCertificates(_ node: Node, key: String) throws(ProfileError) -> [ClientCertificate] {
        guard case .sequence(let items) = node else { throw nodes.typeError(node, key: key, expected: "a list") }
        var out: [ClientCertificate] = []
        for (index, item) in items.enumerated() {
            let base = "\(key)[\(index)]"
            var fields: [String: String] = [:]
            for (keyNode, value) in try nodes.mapping(item, key: base) {
                let name = try nodes.keyName(keyNode, parent: base)
                guard ["host", "certificate", "key"].contains(name) else {
                    throw nodes.unknownKey(keyNode, key: "\(base).\(name)", known: ["host", "certificate", "key"])
                }
                fields[name] = try nodes.string(value, key: "\(base).\(name)")
            }
            for required in ["host", "certificate", "key"] where fields[required] == nil {
                throw ProfileError(at: nodes.location(item), file: file, key: "\(base).\(required)", "missing")
            }
            // Paths are relative to the profile file.
            let directory = (file as NSString).deletingLastPathComponent
            func absolute(_ path: String) -> String {
                path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
            }
            out.append(ClientCertificate(host: fields["host"]!, certificate: absolute(fields["certificate"]!),
                                         key: absolute(fields["key"]!), location: nodes.location(item)))
        }
        return out
    }

    private func readRules(_ node: Node) throws(ProfileError) -> [SyscallRule] {
        guard case .sequence(let items) = node else {
            throw nodes.typeError(node, key: "rules", expected: "a list of rules")
        }
        var rules: [SyscallRule] = []
        for (index, item) in items.enumerated() {
            let base = "rules[\(index)]"
            var syscall: String?
            var category = "policy"
            var name: String?
            var action: RuleSetting?
            var errnoNode: Node?
            for (keyNode, value) in try nodes.mapping(item, key: base) {
                let key = try nodes.keyName(keyNode, parent: base)
                let path = "\(base).\(key)"
                switch key {
                case "syscall":
                    let value_ = try nodes.string(value, key: path)
                    guard syscallExists(value_) else {
                        throw ProfileError(at: nodes.location(value), file: file, key: path,
                                           "unknown syscall '\(value_)' on x86_64")
                    }
                    syscall = value_
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
            rules.append(SyscallRule(syscall: syscall, category: category, name: name ?? syscall, setting: action))
        }
        return rules
    }

    // MARK: values

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
}

/// The `tls` section as written (values optional, merged over an extended profile's).
struct TLSDocument: Sendable {
    var ports: [UInt16]?
    var action: RuleSetting?
    var relay: Bool?
    /// `.some(nil)`: `trust: system` written explicitly.
    var trustBundle: String??
    var latencyPerRecordMs: Double?
    var clientCertificates: [ClientCertificate]?

    func merged(over base: TLSDocument?) -> TLSDocument {
        guard let base else { return self }
        return TLSDocument(ports: ports ?? base.ports, action: action ?? base.action, relay: relay ?? base.relay,
                           trustBundle: trustBundle ?? base.trustBundle,
                           latencyPerRecordMs: latencyPerRecordMs ?? base.latencyPerRecordMs,
                           clientCertificates: clientCertificates ?? base.clientCertificates)
    }

    func resolved() -> TLSPolicy {
        TLSPolicy(ports: ports ?? TLSPolicy.defaultPorts, action: action ?? RuleSetting(.route),
                  relay: relay ?? false, trustBundle: trustBundle ?? nil,
                  clientCertificates: clientCertificates ?? [], latencyPerRecordMs: latencyPerRecordMs ?? 0)
    }
}

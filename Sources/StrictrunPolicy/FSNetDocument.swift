import Foundation
import Yams

/// The `fs` section as written (values optional, merged over an extended profile's).
struct FSDocument: Sendable {
    var view: FSView?
    var grants: [FSGrant]?
    var readOnlyImage: Bool?
    var hide: [String]?
    var passthrough: [String]?
    var functions: [FSFunction: RuleSetting] = [:]
    var unixSocketDirectories: [String]?
    var unixSocketAction: RuleSetting?

    func merged(over base: FSDocument?) -> FSDocument {
        guard let base else { return self }
        var out = self
        out.view = view ?? base.view
        out.grants = grants ?? base.grants
        out.readOnlyImage = readOnlyImage ?? base.readOnlyImage
        out.hide = hide ?? base.hide
        out.passthrough = passthrough ?? base.passthrough
        out.functions = base.functions.merging(functions) { _, mine in mine }
        out.unixSocketDirectories = unixSocketDirectories ?? base.unixSocketDirectories
        out.unixSocketAction = unixSocketAction ?? base.unixSocketAction
        return out
    }

    func resolved() -> FSPolicy {
        FSPolicy(view: view ?? .host, grants: grants ?? [], readOnlyImage: readOnlyImage ?? false, hide: hide ?? [],
                 passthrough: passthrough ?? [], functions: functions, unixSocketDirectories: unixSocketDirectories,
                 unixSocketAction: unixSocketAction ?? RuleSetting(.deny(errno: ProfileDefaults.unixSocketErrno)))
    }
}

/// The `net` section as written.
struct NetDocument: Sendable {
    var isolated: Bool?
    var families: [NetFamily: RuleSetting] = [:]
    var passthroughFamilies: [NetFamily]?
    var socketpair: RuleSetting?
    var raw: RuleSetting?
    var tcpPorts: [UInt16]?
    var multicast: RuleSetting?
    var options: [SocketOption: RuleSetting] = [:]

    func merged(over base: NetDocument?) -> NetDocument {
        guard let base else { return self }
        var out = self
        out.isolated = isolated ?? base.isolated
        out.families = base.families.merging(families) { _, mine in mine }
        out.passthroughFamilies = passthroughFamilies ?? base.passthroughFamilies
        out.socketpair = socketpair ?? base.socketpair
        out.raw = raw ?? base.raw
        out.tcpPorts = tcpPorts ?? base.tcpPorts
        out.multicast = multicast ?? base.multicast
        out.options = base.options.merging(options) { _, mine in mine }
        return out
    }

    func resolved() -> NetPolicy {
        var families = families
        for family in passthroughFamilies ?? [] { families[family] = nil }
        return NetPolicy(isolated: isolated ?? false, families: families,
                         passthroughFamilies: passthroughFamilies ?? [], socketpair: socketpair, raw: raw,
                         tcpPorts: tcpPorts, multicast: multicast, options: options)
    }
}

extension ProfileDocumentReader {
    static let fsKeys = ["view", "grants", "image", "hide", "platform-passthrough", "unix-sockets"]
        + FSFunction.allCases.map(\.rawValue)
    static let netKeys = ["stack", "families", "platform-passthrough", "socketpair", "raw", "tcp-ports",
                          "multicast", "options"]

    func readFS(_ node: Node) throws(ProfileError) -> FSDocument {
        var fs = FSDocument()
        for (keyNode, value) in try nodes.mapping(node, key: "fs") {
            let key = try nodes.keyName(keyNode, parent: "fs")
            let path = "fs.\(key)"
            switch key {
            case "view": fs.view = try enumValue(value, key: path, FSView.self)
            case "image":
                let word = try nodes.string(value, key: path)
                guard word == "read-only" || word == "writable" else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown value '\(word)' (expected read-only or writable)")
                }
                fs.readOnlyImage = word == "read-only"
            case "grants": fs.grants = try readGrants(value, key: path)
            case "hide": fs.hide = try pathList(value, key: path)
            case "platform-passthrough": fs.passthrough = try pathList(value, key: path)
            case "unix-sockets":
                for (subNode, sub) in try nodes.mapping(value, key: path) {
                    let name = try nodes.keyName(subNode, parent: path)
                    switch name {
                    case "directories": fs.unixSocketDirectories = try pathList(sub, key: "\(path).directories")
                    case "action":
                        fs.unixSocketAction = try behaviour(sub, key: "\(path).action",
                                                            defaultErrno: ProfileDefaults.unixSocketErrno)
                    default: throw nodes.unknownKey(subNode, key: "\(path).\(name)", known: ["directories", "action"])
                    }
                }
            default:
                guard let function = FSFunction(rawValue: key) else {
                    throw nodes.unknownKey(keyNode, key: path, known: Self.fsKeys)
                }
                fs.functions[function] = try behaviour(value, key: path, defaultErrno: ProfileDefaults.fsFunctionErrno,
                                                       allowNoop: true)
            }
        }
        return fs
    }

    func readNet(_ node: Node) throws(ProfileError) -> NetDocument {
        var net = NetDocument()
        for (keyNode, value) in try nodes.mapping(node, key: "net") {
            let key = try nodes.keyName(keyNode, parent: "net")
            let path = "net.\(key)"
            switch key {
            case "stack":
                let word = try nodes.string(value, key: path)
                guard word == "isolated" || word == "host" else {
                    throw ProfileError(at: nodes.location(value), file: file, key: path,
                                       "unknown value '\(word)' (expected isolated or host)")
                }
                net.isolated = word == "isolated"
            case "families":
                for (subNode, sub) in try nodes.mapping(value, key: path) {
                    let name = try nodes.keyName(subNode, parent: path)
                    guard let family = NetFamily(rawValue: name) else {
                        throw nodes.unknownKey(subNode, key: "\(path).\(name)", known: NetFamily.allCases.map(\.rawValue))
                    }
                    net.families[family] = try behaviour(sub, key: "\(path).\(name)",
                                                         defaultErrno: ProfileDefaults.familyErrno)
                }
            case "platform-passthrough":
                guard case .sequence(let items) = value else {
                    throw nodes.typeError(value, key: path, expected: "a list of families")
                }
                net.passthroughFamilies = try items.enumerated().map { (index, item) throws(ProfileError) in
                    try enumValue(item, key: "\(path)[\(index)]", NetFamily.self)
                }
            case "socketpair":
                net.socketpair = try behaviour(value, key: path, defaultErrno: ProfileDefaults.socketpairErrno)
            case "raw": net.raw = try behaviour(value, key: path, defaultErrno: ProfileDefaults.rawErrno)
            case "multicast":
                net.multicast = try behaviour(value, key: path, defaultErrno: ProfileDefaults.socketOptionErrno)
            case "tcp-ports":
                guard case .sequence(let items) = value else {
                    throw nodes.typeError(value, key: path, expected: "a list of TCP ports (0: ephemeral)")
                }
                net.tcpPorts = try items.enumerated().map { (index, item) throws(ProfileError) -> UInt16 in
                    let text = try nodes.string(item, key: "\(path)[\(index)]")
                    guard let port = UInt16(text) else {
                        throw ProfileError(at: nodes.location(item), file: file, key: "\(path)[\(index)]",
                                           "not a TCP port: '\(text)'")
                    }
                    return port
                }
            case "options":
                for (subNode, sub) in try nodes.mapping(value, key: path) {
                    let name = try nodes.keyName(subNode, parent: path)
                    guard let option = SocketOption.named(name) else {
                        throw nodes.unknownKey(subNode, key: "\(path).\(name)", known: SocketOption.table.map(\.name))
                    }
                    net.options[option] = try behaviour(sub, key: "\(path).\(name)",
                                                        defaultErrno: ProfileDefaults.socketOptionErrno)
                }
                // A whole level and one of its options would be two rules on the same call.
                for (option, _) in net.options where option.option != nil {
                    if let level = net.options.keys.first(where: { $0.option == nil && $0.level == option.level }) {
                        throw ProfileError(at: nodes.location(value), file: file, key: "\(path).\(option.name)",
                                           "overlaps '\(level.name)' (name one or the other)")
                    }
                }
            default:
                throw nodes.unknownKey(keyNode, key: path, known: Self.netKeys)
            }
        }
        return net
    }

    /// A setting that may also be written as a bare errno name (`ENOSYS` is `deny` with
    /// ENOSYS) or, where `allowNoop`, `noop`.
    private func behaviour(_ node: Node, key: String, defaultErrno: Int32,
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

    private func pathList(_ node: Node, key: String) throws(ProfileError) -> [String] {
        guard case .sequence(let items) = node else { throw nodes.typeError(node, key: key, expected: "a list of paths") }
        return try items.enumerated().map { (index, item) throws(ProfileError) -> String in
            try absolutePath(item, key: "\(key)[\(index)]")
        }
    }

    private func absolutePath(_ node: Node, key: String) throws(ProfileError) -> String {
        let text = try nodes.string(node, key: key)
        guard text.hasPrefix("/") || text == "$CWD" || text.hasPrefix("$CWD/") else {
            throw ProfileError(at: nodes.location(node), file: file, key: key,
                               "not an absolute path (or $CWD): '\(text)'")
        }
        var trimmed = text
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// `- {host: /srv/data, path: /data, mode: ro}`; `path` defaults to `host`, `mode` to ro.
    private func readGrants(_ node: Node, key: String) throws(ProfileError) -> [FSGrant] {
        guard case .sequence(let items) = node else { throw nodes.typeError(node, key: key, expected: "a list of grants") }
        var grants: [FSGrant] = []
        for (index, item) in items.enumerated() {
            let base = "\(key)[\(index)]"
            var host: String?
            var seen: String?
            var writable = false
            for (keyNode, value) in try nodes.mapping(item, key: base) {
                let name = try nodes.keyName(keyNode, parent: base)
                switch name {
                case "host": host = try absolutePath(value, key: "\(base).host")
                case "path": seen = try absolutePath(value, key: "\(base).path")
                case "mode":
                    let word = try nodes.string(value, key: "\(base).mode")
                    guard word == "ro" || word == "rw" else {
                        throw ProfileError(at: nodes.location(value), file: file, key: "\(base).mode",
                                           "unknown value '\(word)' (expected ro or rw)")
                    }
                    writable = word == "rw"
                default: throw nodes.unknownKey(keyNode, key: "\(base).\(name)", known: ["host", "path", "mode"])
                }
            }
            guard let host else { throw ProfileError(at: nodes.location(item), file: file, key: "\(base).host", "missing") }
            grants.append(FSGrant(host: host, path: seen ?? host, writable: writable, location: nodes.location(item)))
        }
        return grants
    }
}

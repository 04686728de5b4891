#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `fs` section: files as the target serves them (view, grants, hidden paths, the
// POSIX function families a target may lack, UNIX socket directories).

/// What the program sees of the host's file tree (`fs.view`).
public enum FSView: String, Sendable, Hashable, CaseIterable {
    /// The host's tree (read-only with `image: read-only`), minus `hide`, plus the grants.
    case host
    /// Only the grants (and the program itself must be among them): a new root.
    case grantedOnly = "granted-only"
}

/// One `fs.grants` entry: a host path shown at `path`, read-only or writable.
public struct FSGrant: Sendable, Hashable {
    /// The host path (`$CWD` is the directory strictrun runs in).
    public var host: String
    /// Where the program sees it (default: the same path).
    public var path: String
    public var writable: Bool
    public var location: SourceLocation?

    public init(host: String, path: String, writable: Bool, location: SourceLocation? = nil) {
        self.host = host
        self.path = path
        self.writable = writable
        self.location = location
    }

    /// `host` and `path` with `$CWD` replaced by `cwd`.
    public func resolved(cwd: String) -> FSGrant {
        func expand(_ p: String) -> String {
            p == "$CWD" ? cwd : p.hasPrefix("$CWD/") ? cwd + p.dropFirst(4) : p
        }
        return FSGrant(host: expand(host), path: expand(path), writable: writable, location: location)
    }
}

/// A POSIX function family a target may lack (`fs.<key>`): each is `allow`, `noop` (the
/// call succeeds and does nothing), an errno, `log` or `kill`.
public enum FSFunction: String, Sendable, Hashable, CaseIterable {
    case symlink, readlink, hardlink, fifo, chmod, chown, lock, watch, memfd
}

/// The `fs` section. Absent from a profile, nothing about files is traced or changed.
public struct FSPolicy: Sendable, Hashable {
    public var view: FSView
    public var grants: [FSGrant]
    /// The host image is mounted read-only (writes fail with EROFS outside writable grants).
    public var readOnlyImage: Bool
    /// Paths that do not exist for the program (`/proc`, `/sys`, `/dev/shm`).
    public var hide: [String]
    /// Hidden or ungranted paths the runtime's own platform layer still needs: visible, and
    /// every open under them is reported (rule `platform-passthrough`).
    public var passthrough: [String]
    /// Per-function behaviour; a function not listed is allowed.
    public var functions: [FSFunction: RuleSetting]
    /// Directories where UNIX socket files may be bound; nil: anywhere.
    public var unixSocketDirectories: [String]?
    /// What a bind() of a UNIX socket file elsewhere gets.
    public var unixSocketAction: RuleSetting

    public init(view: FSView = .host, grants: [FSGrant] = [], readOnlyImage: Bool = false, hide: [String] = [],
                passthrough: [String] = [], functions: [FSFunction: RuleSetting] = [:],
                unixSocketDirectories: [String]? = nil,
                unixSocketAction: RuleSetting = RuleSetting(.deny(errno: EACCES))) {
        self.view = view
        self.grants = grants
        self.readOnlyImage = readOnlyImage
        self.hide = hide
        self.passthrough = passthrough
        self.functions = functions
        self.unixSocketDirectories = unixSocketDirectories
        self.unixSocketAction = unixSocketAction
    }

    /// Whether the section changes the program's file tree (needs a mount namespace or Landlock).
    public var changesView: Bool { view == .grantedOnly || readOnlyImage || !hide.isEmpty || !grants.isEmpty }
}

extension ProfileDefaults {
    /// What an absent POSIX function answers on the documented targets (Genode, Fuchsia).
    public static let fsFunctionErrno = ENOSYS
    public static let unixSocketErrno = EACCES
}

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

extension ProfileDocumentReader {
    static let fsKeys = ["view", "grants", "image", "hide", "platform-passthrough", "unix-sockets"]
        + FSFunction.allCases.map(\.rawValue)

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

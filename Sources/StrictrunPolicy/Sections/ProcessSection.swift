#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `process` section: fork, spawn, exec (threads are always allowed).

/// The `process` section: how fork, spawn and exec are treated. Threads are always allowed.
public struct ProcessPolicy: Sendable, Hashable {
    /// fork(2), and clone(2) without CLONE_VM (a copy of the address space).
    public var fork: RuleSetting
    /// vfork(2), and clone(2) with CLONE_VM but without CLONE_THREAD (posix_spawn's way).
    public var spawn: RuleSetting
    /// execve/execveat after the program's first exec.
    public var exec: RuleSetting
}

extension ProfileDefaults {
    public static let forkErrno = EPERM
    public static let spawnErrno = EPERM
    public static let execErrno = EPERM
}

/// The `process` section as written.
struct ProcessDocument: Sendable {
    var fork: RuleSetting?
    var spawn: RuleSetting?
    var exec: RuleSetting?

    func merged(over base: ProcessDocument) -> ProcessDocument {
        ProcessDocument(fork: fork ?? base.fork, spawn: spawn ?? base.spawn, exec: exec ?? base.exec)
    }

    /// Defaults: fork and spawn allowed; exec after the first follows spawn unless set (a
    /// target that cannot spawn cannot exec).
    func resolved() -> ProcessPolicy {
        let spawn = spawn ?? RuleSetting(.allow)
        let exec = exec ?? {
            switch spawn.action {
            case .deny: RuleSetting(.deny(errno: ProfileDefaults.execErrno), at: spawn.location)
            default: RuleSetting(spawn.action, at: spawn.location)
            }
        }()
        return ProcessPolicy(fork: fork ?? RuleSetting(.allow), spawn: spawn, exec: exec)
    }
}

extension ProfileDocumentReader {
    func readProcess(_ node: Node) throws(ProfileError) -> ProcessDocument {
        var doc = ProcessDocument()
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
        return doc
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Yams

// The `escape` section: side doors out of the emulated target, closed by default.

/// The `escape` section: side doors out of the emulated target, closed by default.
public struct EscapePolicy: Sendable, Hashable {
    /// A syscall from another ABI (i386 `int 0x80`, x32).
    public var foreignABI: RuleSetting
    /// clone(2) with CLONE_UNTRACED: a child the tracer would not follow.
    public var untracedClone: RuleSetting
    /// ptrace(2) from the program (PTRACE_TRACEME, attaching to a sibling).
    public var ptrace: RuleSetting
    /// process_vm_writev(2): writing into another process's memory.
    public var processVMWrite: RuleSetting
    /// personality(READ_IMPLIES_EXEC): every readable mapping executable.
    public var readImpliesExec: RuleSetting
    /// seccomp(2) and prctl calls that touch seccomp, no_new_privs, MDWE or the ptracer
    /// (they cannot loosen anything; logged by default).
    public var seccompChange: RuleSetting

    /// Profile keys under `escape:`, in order.
    public static let keys = ["foreign-abi", "untraced-clone", "ptrace", "process-vm-writev",
                              "read-implies-exec", "seccomp"]
}

extension ProfileDefaults {
    public static let foreignABIErrno = ENOSYS
    public static let escapeErrno = EPERM
}

/// The `escape` section as written: settings by key (`EscapePolicy.keys`).
struct EscapeDocument: Sendable {
    var settings: [String: RuleSetting] = [:]

    func merged(over base: EscapeDocument) -> EscapeDocument {
        EscapeDocument(settings: base.settings.merging(settings) { _, mine in mine })
    }

    /// Defaults: every side door denied (foreign ABIs with ENOSYS, the rest EPERM); seccomp
    /// changes logged.
    func resolved() -> EscapePolicy {
        func deny(_ key: String) -> RuleSetting {
            settings[key] ?? RuleSetting(.deny(errno: ProfileDefaults.escapeErrno))
        }
        return EscapePolicy(
            foreignABI: settings["foreign-abi"] ?? RuleSetting(.deny(errno: ProfileDefaults.foreignABIErrno)),
            untracedClone: deny("untraced-clone"),
            ptrace: deny("ptrace"),
            processVMWrite: deny("process-vm-writev"),
            readImpliesExec: deny("read-implies-exec"),
            seccompChange: settings["seccomp"] ?? RuleSetting(.log))
    }
}

extension ProfileDocumentReader {
    func readEscape(_ node: Node) throws(ProfileError) -> EscapeDocument {
        var doc = EscapeDocument()
        for (keyNode, value) in try nodes.mapping(node, key: "escape") {
            let key = try nodes.keyName(keyNode, parent: "escape")
            let path = "escape.\(key)"
            guard EscapePolicy.keys.contains(key) else {
                throw nodes.unknownKey(keyNode, key: path, known: EscapePolicy.keys)
            }
            let errno = key == "foreign-abi" ? ProfileDefaults.foreignABIErrno : ProfileDefaults.escapeErrno
            doc.settings[key] = try setting(value, key: path, defaultErrno: errno)
        }
        return doc
    }
}

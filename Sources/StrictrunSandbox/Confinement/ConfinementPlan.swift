#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims
import Foundation
import StrictrunPolicy

/// How the `fs` view and the `net` stack were put in place for one run.
public enum ConfinementMechanism: String, Sendable {
    /// User + mount (+ network) namespaces: hidden and ungranted paths do not exist (ENOENT),
    /// the image is a read-only mount (EROFS).
    case namespaces
    /// No user namespace here: Landlock rules instead, so the same paths fail with EACCES.
    case landlock
    /// The profile changes nothing about files or the network stack.
    case none
}

/// What the tracer needs to know to name the rule behind a failure the view caused.
public struct ConfinementView: Sendable {
    public var mechanism: ConfinementMechanism
    public var hidden: [String]
    /// Grants with `$CWD` resolved.
    public var grants: [FSGrant]
    public var grantedOnly: Bool
    public var readOnlyImage: Bool
    public var passthrough: [String]
    /// The network stack is the program's own (a network namespace).
    public var isolated: Bool
    /// TCP ports the Landlock rules allow, nil when any.
    public var tcpPorts: [UInt16]?
}

/// The child's confinement steps, planned in the parent (nsjail's way: prepare here, apply
/// there): the C child path only runs them (`strictrun_confine`). Also the lines the run
/// summary shows about how the view was built.
struct ConfinementPlan {
    enum Step {
        case unshare(Int32)
        case writeFile(String, String)
        case loopbackUp
        case mount(source: String?, target: String, type: String?, flags: UInt, data: String?)
        case cloneTree(String, slot: Int32)
        case moveTree(slot: Int32, to: String)
        case setReadOnly(String, recursive: Bool)
        case mkdirs(String)
        case mkfile(String)
        case pivotRoot(String)
        case chdir(String)
        case landlockCreate(fs: Bool, net: Bool)
        case landlockPath(String, writable: Bool)
        case landlockPort(UInt16)
        case landlockRestrict
    }

    var steps: [(step: Step, optional: Bool, what: String)] = []
    /// For the summary and the `start` line: what was applied, and every fallback.
    var notes: [String] = []
    var view: ConfinementView?

    /// Probe the host for what `profile` needs, then plan (the call site in `Sandbox`).
    static func make(profile: Profile, cwd: String, fallback: ConfinementFallback = .none) -> ConfinementPlan {
        let request = ConfinementPlanner.probeRequest(profile: profile, fallback: fallback)
        let host = request == .nothing
            ? HostCapabilities(userNamespaces: .unavailable(reason: "not probed"), landlockABI: 0)
            : HostCapabilities.probe(request)
        return ConfinementPlanner.plan(profile: profile, cwd: cwd, host: host, fallback: fallback)
    }

    mutating func add(_ step: Step, _ what: String, optional: Bool = false) {
        steps.append((step, optional, what))
    }

    // MARK: to C

    /// Runs `body` with the steps as C structs (strings live until `body` returns).
    func withCSteps<R>(_ body: (UnsafePointer<strictrun_confine_op>?, Int32) -> R) -> R {
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        func c(_ text: String?) -> UnsafePointer<CChar>? {
            guard let text, let copy = strdup(text) else { return nil }
            strings.append(copy)
            return UnsafePointer(copy)
        }
        let ops: [strictrun_confine_op] = steps.map { entry in
            var op = strictrun_confine_op()
            op.optional = entry.optional ? 1 : 0
            switch entry.step {
            case .unshare(let flags): op.op = Int32(STRICTRUN_OP_UNSHARE); op.flags = UInt(flags)
            case .writeFile(let path, let text): op.op = Int32(STRICTRUN_OP_WRITE_FILE); op.path = c(path); op.data = c(text)
            case .loopbackUp: op.op = Int32(STRICTRUN_OP_LOOPBACK_UP)
            case .mount(let source, let target, let type, let flags, let data):
                op.op = Int32(STRICTRUN_OP_MOUNT); op.source = c(source); op.path = c(target); op.data2 = c(type)
                op.flags = flags; op.data = c(data)
            case .cloneTree(let source, let slot): op.op = Int32(STRICTRUN_OP_CLONE_TREE); op.source = c(source); op.slot = slot
            case .moveTree(let slot, let target): op.op = Int32(STRICTRUN_OP_MOVE_TREE); op.slot = slot; op.path = c(target)
            case .setReadOnly(let path, let recursive):
                op.op = Int32(STRICTRUN_OP_SET_READONLY); op.path = c(path); op.flags = recursive ? 1 : 0
            case .mkdirs(let path): op.op = Int32(STRICTRUN_OP_MKDIRS); op.path = c(path)
            case .mkfile(let path): op.op = Int32(STRICTRUN_OP_MKFILE); op.path = c(path)
            case .pivotRoot(let path): op.op = Int32(STRICTRUN_OP_PIVOT_ROOT); op.path = c(path)
            case .chdir(let path): op.op = Int32(STRICTRUN_OP_CHDIR); op.path = c(path)
            case .landlockCreate(let fs, let net):
                op.op = Int32(STRICTRUN_OP_LANDLOCK_CREATE); op.value = fs ? 1 : 0; op.flags = net ? 1 : 0
            case .landlockPath(let path, let writable):
                op.op = Int32(STRICTRUN_OP_LANDLOCK_PATH); op.path = c(path); op.value = writable ? 1 : 0
            case .landlockPort(let port): op.op = Int32(STRICTRUN_OP_LANDLOCK_PORT); op.value = UInt64(port)
            case .landlockRestrict: op.op = Int32(STRICTRUN_OP_LANDLOCK_RESTRICT)
            }
            return op
        }
        return ops.withUnsafeBufferPointer { body($0.baseAddress, Int32($0.count)) }
    }
}

/// How the fs view is built when user namespaces would work: the executable reads
/// `STRICTRUN_FS_FALLBACK` and passes the value down (for tests, and for machines where
/// namespaces misbehave).
public enum ConfinementFallback: String, Sendable, Hashable {
    /// Namespaces where they work, Landlock where they do not.
    case none
    /// Plan the Landlock fallback even where user namespaces work.
    case landlock

    /// The environment variable the executable reads (named in the run summary's notes).
    public static let environmentVariable = "STRICTRUN_FS_FALLBACK"

    /// The value `environment` asks for (`STRICTRUN_FS_FALLBACK=landlock`); `none` otherwise.
    public init(environment: [String: String]) {
        self = environment[Self.environmentVariable] == "landlock" ? .landlock : .none
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// One step the child runs between fork and exec to build the fs view and net stack, planned in
/// the parent (nsjail's way: prepare here, apply there); the C child path only carries them out.
public enum ConfinementStep: Sendable, Hashable {
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

/// What the child is made of: the program, its argv and environment, the seccomp filter, the
/// confinement steps, and whether it asks to be traced.
public struct ChildSpec: Sendable {
    /// The file to execute, argv and the environment (`NAME=value` entries, in order): bytes as the
    /// user gave them, never through `String` (which would repair what is not UTF-8).
    public var path: [UInt8]
    public var argv: [[UInt8]]
    public var environment: [[UInt8]]
    public var filter: [BPFInstruction]
    /// Set the kernel's memory-deny-write-execute (PR_SET_MDWE) before exec.
    public var setMDWE: Bool
    /// PTRACE_TRACEME and stop before exec (false: the filter only).
    public var trace: Bool
    /// Steps, each optional (its failure is ignored) or not.
    public var steps: [(step: ConfinementStep, optional: Bool)]

    public init(path: [UInt8], argv: [[UInt8]], environment: [[UInt8]], filter: [BPFInstruction], setMDWE: Bool,
                trace: Bool, steps: [(step: ConfinementStep, optional: Bool)]) {
        self.path = path
        self.argv = argv
        self.environment = environment
        self.filter = filter
        self.setMDWE = setMDWE
        self.trace = trace
        self.steps = steps
    }
}

/// The first step that failed in the child, as it reported it before `_exit(127)`.
public enum ChildFailure: Sendable, Hashable {
    case exec(errno: Int32)
    case traceMe(errno: Int32)
    case seccomp(errno: Int32)
    /// Confinement step `index` of the spec.
    case confine(index: Int, errno: Int32)
    /// Another prctl step of the child path (`step` is the shim's number).
    case other(step: Int32, errno: Int32)
}

/// A started child: its pid, the read end of its error pipe, and the private copy of its spec it
/// reads until its execve when it shares strictrun's memory (nil after a fork).
public struct LaunchedChild {
    public let pid: pid_t
    public let report: Int32
    let arena: UnsafeMutableRawPointer?
}

/// Starts the child (`strictrun_launch`: clone or fork, PTRACE_TRACEME, NO_NEW_PRIVS, the
/// confinement steps, PR_SET_MDWE, seccomp, exec) and
/// reads what it reports through its close-on-exec error pipe.
public enum ChildLauncher {
    /// How many trees `cloneTree`/`moveTree` can hold at once.
    public static let treeSlots = Int(STRICTRUN_CONFINE_SLOTS)

    /// The child, its error pipe (closed by `closeReport`) and its arena (freed by `release`).
    public static func launch(_ spec: ChildSpec) throws(SystemError) -> LaunchedChild {
        let cArgv: [UnsafeMutablePointer<CChar>?] = spec.argv.map(Self.cString) + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = spec.environment.map(Self.cString) + [nil]
        let cPath = Self.cString(spec.path)
        defer {
            cArgv.forEach { $0?.deallocate() }
            cEnv.forEach { $0?.deallocate() }
            cPath.deallocate()
        }
        let filter = spec.filter.map { sock_filter(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
        var errorFD: Int32 = -1
        var arena: UnsafeMutableRawPointer?
        let pid = withCSteps(spec.steps) { confine, confineCount in
            filter.withUnsafeBufferPointer { filterBuffer in
                cArgv.withUnsafeBufferPointer { argvBuffer in
                    cEnv.withUnsafeBufferPointer { envBuffer in
                        var cSpec = strictrun_launch_spec(
                            path: cPath, argv: argvBuffer.baseAddress, envp: envBuffer.baseAddress,
                            filter: filterBuffer.baseAddress, filter_len: UInt16(filterBuffer.count),
                            set_mdwe: spec.setMDWE ? 1 : 0, trace: spec.trace ? 1 : 0,
                            confine: confine, confine_count: confineCount)
                        return strictrun_launch(&cSpec, &errorFD, &arena)
                    }
                }
            }
        }
        if pid < 0 { throw SystemError("clone") }
        return LaunchedChild(pid: pid, report: errorFD, arena: arena)
    }

    /// Frees what the child read before its execve. Call it only once the child has exec'd or
    /// is gone (a wait saw it exit, or the tracer saw its exec): until then it may still read it.
    public static func release(_ child: LaunchedChild) { strictrun_launch_release(child.arena) }

    /// A NUL-terminated copy of `bytes` (freed with `deallocate`).
    private static func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in bytes.enumerated() { copy[index] = CChar(bitPattern: byte) }
        copy[bytes.count] = 0
        return copy
    }

    /// What the child reported on `fd` (nil: it reached exec, or nothing yet).
    public static func failure(report fd: Int32) -> ChildFailure? {
        var report: (Int32, Int32) = (0, 0)
        let n = withUnsafeMutableBytes(of: &report) { read(fd, $0.baseAddress, $0.count) }
        guard n == 8 else { return nil }
        let (step, code) = report
        switch Int(step) {
        case Int(STRICTRUN_STEP_EXEC): return .exec(errno: code)
        case Int(STRICTRUN_STEP_TRACEME): return .traceMe(errno: code)
        case Int(STRICTRUN_STEP_SECCOMP): return .seccomp(errno: code)
        case Int(STRICTRUN_STEP_CONFINE)...: return .confine(index: Int(step) - Int(STRICTRUN_STEP_CONFINE), errno: code)
        default: return .other(step: step, errno: code)
        }
    }

    public static func closeReport(_ fd: Int32) { close(fd) }

    /// Runs `body` with the steps as C structs (strings live until `body` returns).
    private static func withCSteps<R>(_ steps: [(step: ConfinementStep, optional: Bool)],
                                      _ body: (UnsafePointer<strictrun_confine_op>?, Int32) -> R) -> R {
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

/// What the kernel allows for confinement, asked once per run.
public enum HostProbe {
    /// Whether a child can `unshare(flags)` (`strictrun_probe_userns`); the errno when not.
    public static func unshare(_ flags: Int32) -> Int32? {
        strictrun_probe_userns(flags) == 0 ? nil : errno
    }

    /// The Landlock ABI version (0: none).
    public static func landlockABI() -> Int32 { strictrun_landlock_abi() }

    /// CLONE_NEWUSER | CLONE_NEWNS, plus CLONE_NEWNET when `network`.
    public static func namespaceFlags(network: Bool) -> Int32 { strictrun_namespace_flags(network ? 1 : 0) }
}

/// An anonymous in-memory file (`memfd_create`), for libraries that write only to a descriptor.
public struct MemoryFile: ~Copyable {
    public let fd: Int32

    public init(name: String) throws(SystemError) {
        let fd = strictrun_memfd_create(name)
        if fd < 0 { throw SystemError("memfd_create") }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Everything written so far.
    public func contents() throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("pread")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            offset += off_t(n)
        }
        return bytes
    }
}

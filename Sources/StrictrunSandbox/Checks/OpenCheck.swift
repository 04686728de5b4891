import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// What an open-like call asks for: the one reader of open flags (`open_how` of openat2
/// included), used by every check that must know whether a call writes.
enum OpenFlags {
    /// The index of the path argument of an open-like call (from the syscall table).
    static func pathArgument(of syscall: String) -> Int? {
        SyscallSignatures.arguments(of: syscall)?.first { $0.kind == .path }?.index
    }

    /// The open flags of open/creat/openat/openat2; nil when they cannot be read (openat2's
    /// `struct open_how` is in the program's memory).
    static func flags(syscall: String, args: [UInt64], memory: some MemoryReading) -> UInt64? {
        switch syscall {
        case "open": args[1]
        case "creat": Xlat.openCreate | Xlat.openTruncate | 0o1  // O_CREAT|O_WRONLY|O_TRUNC
        case "openat": args[2]
        case "openat2": memory.word(at: args[2])  // open_how.flags comes first
        default: nil
        }
    }

    /// Whether an open asks for write access (O_WRONLY or O_RDWR). Flags that cannot be read
    /// count as writing: a check must not pass what it could not see.
    static func opensForWriting(syscall: String, args: [UInt64], memory: some MemoryReading) -> Bool {
        guard let flags = flags(syscall: syscall, args: args, memory: memory) else { return true }
        return flags & Xlat.openAccessMode != 0
    }

    /// Whether a path call asks to change the file tree: an open for writing, creating or
    /// truncating; mkdir, unlink, rename…; not a stat, access or chdir.
    static func changesTree(syscall: String, args: [UInt64], memory: some MemoryReading) -> Bool {
        switch syscall {
        case "open", "creat", "openat", "openat2":
            guard let flags = flags(syscall: syscall, args: args, memory: memory) else { return true }
            return flags & Xlat.openAccessMode != 0 || flags & (Xlat.openCreate | Xlat.openTruncate) != 0
        case "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "chdir":
            return false
        default:
            return true
        }
    }
}

/// open/creat/openat/openat2 traced for the client-certificate keys (the broker's, never the
/// program's), for /proc/PID/mem opened for writing (it writes through page protections) and
/// for the trace file (strictrun's, never the program's).
/// A path that passes is pinned: the call opens exactly the bytes that were checked.
struct OpenCheck {
    /// Real paths of the client-certificate keys.
    let keyFiles: Set<[UInt8]>
    /// The `proc-mem-write` rule, checked at every traced open.
    let procMemRule: CompiledRule?
    /// The trace file, refused to every open that writes or truncates.
    var tamper = TraceTamperCheck(trace: nil)
    /// A write open of a file that is mapped executable: W+X by alias.
    var alias = WXAliasCheck(rule: nil)

    func decide(_ rule: CompiledRule, _ stop: SyscallStop, view: some TraceeView) -> Decision {
        let memory = view.memory(stop.tid)
        guard let pathArgument = OpenFlags.pathArgument(of: stop.name),
              let path = memory.cString(at: stop.args[pathArgument]) else { return .pass }
        let dirfd = pathArgument == 0 ? atCurrentDirectory : Int32(truncatingIfNeeded: stop.args[0])
        let resolved = PathBytes.opened(path, dirfd: dirfd, tid: stop.tid, tgid: stop.tgid, view: view)
        let shown = TraceBytes.members("path", path)
        if let refused = writeRefusal(stop, path: path, dirfd: dirfd, view: view) { return refused }
        if rule.check == .clientKeyOpen && keyFiles.contains(resolved) {
            return .act(rule, stop, decoded: shown, extra: [("reason", .string("a client-certificate key of the broker"))])
        }
        if let denied = procMemWrite(stop, path: path, resolved: resolved, view: view) { return denied }
        var verdict = Self.pinned(stop, path: path, pathArgument: pathArgument, memory: memory)
        verdict.atExit = openedFile(stop, view: view)
        return Decision(verdict: verdict)
    }

    /// For an open that writes or truncates: the file actually opened, judged by its descriptor at
    /// the exit stop (a symlink or mount swapped between the check and the open cannot hide it).
    /// The process's own `mem` file or the trace file ends the process — the open cannot be undone.
    /// Nil for opens that only read (nothing to re-check).
    func openedFile(_ stop: SyscallStop, view: some TraceeView) -> ((Int64) -> [EventDraft])? {
        let flags = OpenFlags.flags(syscall: stop.name, args: stop.args, memory: view.memory(stop.tid)) ?? Xlat.openAccessMode
        guard flags & (Xlat.openAccessMode | Xlat.openTruncate) != 0, procMemRule != nil || tamper.trace != nil else { return nil }
        return { [procMemRule, tamper] result in
            guard result >= 0 else { return [] }
            let opened = Array("/proc/\(stop.tgid)/fd/\(result)".utf8)
            let file = view.identity(opened, follow: true)
            if let trace = tamper.trace, file == trace {
                return [EventDraft(rule: .builtIn(Category.escape.name, "trace-tamper", .kill), stop: stop,
                                   extra: [("reason", .string("the descriptor opened is strictrun's trace file"))])]
            }
            guard let rule = procMemRule, view.fileSystemType(opened) == ProcFS.procSuperMagic else { return [] }
            let target = view.readLink(opened) ?? []
            let mine = ["/proc/\(stop.tgid)/mem", "/proc/\(stop.tgid)/task/\(stop.tid)/mem"]
            let isMem = (target.count >= 4 && target.suffix(4).elementsEqual("/mem".utf8))
                || mine.contains { file != nil && view.identity(Array($0.utf8), follow: true) == file }
            guard isMem else { return [] }
            return [EventDraft(rule: rule.named(rule.name, action: rule.action.blocks ? .kill : rule.action), stop: stop,
                               extra: [("reason", .string("the descriptor opened for writing is a process's mem file"))])]
        }
    }

    /// An open that passes, pinned: the path that was checked is the path opened, and for openat2
    /// the flags that were judged are the flags the kernel gets (open_how pinned too, the path
    /// right after it).
    static func pinned(_ stop: SyscallStop, path: [UInt8], pathArgument: Int, memory: some MemoryReading) -> Verdict {
        var verdict = Verdict.allow
        verdict.pin = (pathArgument, path + [0])
        if stop.number == SyscallNumber.openat2, let how = openHow(stop, memory: memory) {
            let offset = (how.count + 7) & ~7
            verdict.pin = (2, how + Array(repeating: 0, count: offset - how.count) + path + [0])
            verdict.pinAlso = [(pathArgument, offset)]
        }
        return verdict
    }

    /// openat2's `struct open_how` as the program passed it (its size in argument 3; nil when it
    /// cannot be read or is not a size the kernel takes).
    static func openHow(_ stop: SyscallStop, memory: some MemoryReading) -> [UInt8]? {
        let size = Int(clamping: stop.args[3])
        guard size >= 24, size <= 4096 else { return nil }
        let bytes = memory.read(at: stop.args[2], count: size)
        return bytes.count == size ? bytes : nil
    }

    /// Whether an open names a process's `mem` file: as strictrun resolves the path (with
    /// `/proc/self` taken as the caller), and as the program itself does, under its own root and
    /// mount namespace (a chroot, a procfs of its own, a bind mount of its own `mem` elsewhere).
    static func isMemFile(_ stop: SyscallStop, path: [UInt8], resolved: [UInt8], view: some TraceeView) -> Bool {
        let named = { (p: [UInt8]) in p.count >= 4 && p.suffix(4).elementsEqual("/mem".utf8) }
        if named(resolved) && view.fileSystemType(resolved) == ProcFS.procSuperMagic { return true }
        let dirfd = OpenFlags.pathArgument(of: stop.name) == 0 ? atCurrentDirectory : Int32(truncatingIfNeeded: stop.args[0])
        let own = PathBytes.inOwnRoot(path, dirfd: dirfd, pid: stop.tgid)
        guard view.fileSystemType(own) == ProcFS.procSuperMagic else { return false }
        if named(view.realPath(own) ?? own) { return true }
        guard let file = view.identity(own, follow: true) else { return false }
        let mine = ["/proc/\(stop.tgid)/mem", "/proc/\(stop.tgid)/task/\(stop.tid)/mem"]
        return mine.contains { view.identity(Array($0.utf8), follow: true) == file }
    }

    /// An open that writes or truncates strictrun's trace, or that writes a file the process has
    /// mapped executable (W+X by alias): the name resolved as the program resolves it, one stat
    /// for both checks.
    func writeRefusal(_ stop: SyscallStop, path: [UInt8], dirfd: Int32, view: some TraceeView) -> Decision? {
        guard tamper.trace != nil || alias.rule != nil else { return nil }
        // Flags that cannot be read count as writing.
        let flags = OpenFlags.flags(syscall: stop.name, args: stop.args, memory: view.memory(stop.tid)) ?? Xlat.openAccessMode
        guard flags & (Xlat.openAccessMode | Xlat.openTruncate) != 0,
              let file = view.identity(PathBytes.inOwnRoot(path, dirfd: dirfd, pid: stop.tgid), follow: true) else { return nil }
        if let refused = tamper.refusal(stop, path: path, file: file) { return refused }
        return flags & Xlat.openAccessMode != 0 ? alias.writable(stop, file: file, view: view) : nil
    }

    /// An open of some process's `mem` file for writing, under a W^X level: the rule's
    /// decision, or nil when it is not one.
    func procMemWrite(_ stop: SyscallStop, path: [UInt8], resolved: [UInt8], view: some TraceeView) -> Decision? {
        guard let rule = procMemRule,
              OpenFlags.opensForWriting(syscall: stop.name, args: stop.args, memory: view.memory(stop.tid)),
              Self.isMemFile(stop, path: path, resolved: resolved, view: view) else { return nil }
        return .act(rule, stop, decoded: TraceBytes.members("path", path),
                    extra: [("reason", .string("writes to /proc/PID/mem ignore page protections"))])
    }
}

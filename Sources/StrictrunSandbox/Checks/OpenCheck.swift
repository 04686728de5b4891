import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// What an open-like call asks for: the one reader of open flags (`open_how` of openat2
/// included), used by every check that must know whether a call writes.
enum OpenFlags {
    /// Whether a call is one of the opens (open, creat, openat, openat2).
    static func isOpen(_ syscall: String) -> Bool {
        syscall == "openat" || syscall == "open" || syscall == "openat2" || syscall == "creat"
    }

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

/// open/creat/openat/openat2, whichever rule the filter traced them under: the client-certificate
/// keys (the broker's, never the program's), private-key material (`tls/key-read`), /proc/PID/mem
/// opened for writing (it writes through page protections), the trace file (strictrun's, never the
/// program's) and W+X by alias are all checked at every traced open.
/// A path that passes is pinned: the call opens exactly the bytes that were checked.
struct OpenCheck {
    /// Real paths of the client-certificate keys.
    let keyFiles: Set<[UInt8]>
    /// The `proc-mem-write` rule, checked at every traced open.
    let procMemRule: CompiledRule?
    /// The `tls/client-key` rule (with `keyFiles`), checked first at every traced open.
    var clientKeyRule: CompiledRule?
    /// Opens that can read private-key material.
    var keyRead = KeyReadCheck(rule: nil)
    /// The trace file, refused to every open that writes or truncates.
    var tamper = TraceTamperCheck(trace: nil)
    /// A write open of a file that is mapped executable: W+X by alias.
    var alias = WXAliasCheck(rule: nil)

    func decide(_ stop: SyscallStop, view: some TraceeView) -> Decision {
        let memory = view.memory(stop.tid)
        guard let pathArgument = OpenFlags.pathArgument(of: stop.name),
              let path = memory.cString(at: stop.args[pathArgument]) else { return .pass }
        let dirfd = pathArgument == 0 ? atCurrentDirectory : Int32(truncatingIfNeeded: stop.args[0])
        switch judge(stop, path: path, pathArgument: pathArgument, dirfd: dirfd, view: view) {
        case .refused(let decision): return decision
        case .allowed(let verdict, let events): return Decision(verdict: verdict, events: events)
        }
    }

    /// What judging an open comes to: refused, or allowed as this verdict (pinned, re-checked at
    /// its exit stop where it writes or where the file read could change) with events to write
    /// (a rule that only logs).
    enum Judgement {
        case refused(Decision)
        case allowed(Verdict, [EventDraft])
    }

    /// Judging an open, here and under an fs view: the client-certificate keys first, the flags
    /// read once (openat2's open_how included, and then pinned as read), the trace, W+X-by-alias,
    /// `mem` and key-material checks, the pinned path, the exit-stop re-checks and the held-back
    /// O_TRUNC. The path is resolved on the host (`PathBytes.opened`) only for the checks that
    /// compare it: client keys, and `mem` files opened for writing.
    func judge(_ stop: SyscallStop, path: [UInt8], pathArgument: Int, dirfd: Int32,
               view: some TraceeView) -> Judgement {
        let resolve = { PathBytes.opened(path, dirfd: dirfd, tid: stop.tid, tgid: stop.tgid, view: view) }
        if let rule = clientKeyRule, !keyFiles.isEmpty, keyFiles.contains(resolve()) {
            return .refused(.act(rule, stop, decoded: TraceBytes.members("path", path),
                                 extra: [("reason", .string("a client-certificate key of the broker"))]))
        }
        var how: [UInt8]?
        if stop.number == SyscallNumber.openat2 {
            switch Self.readOpenHow(stop, memory: view.memory(stop.tid)) {
            case .success(let bytes): how = bytes
            case .failure(let unreadable): return .refused(Decision(verdict: .deny(unreadable.errno)))
            }
        }
        // Flags that cannot be read count as writing.
        let flags = how.map { Self.word($0) }
            ?? OpenFlags.flags(syscall: stop.name, args: stop.args, memory: view.memory(stop.tid)) ?? Xlat.openAccessMode
        if let refused = writeRefusal(stop, flags: flags, path: path, dirfd: dirfd, view: view) { return .refused(refused) }
        if procMemRule != nil, flags & Xlat.openAccessMode != 0,
           let denied = procMemWrite(stop, flags: flags, path: path, resolved: resolve(), view: view) {
            return .refused(denied)
        }
        let keyEvents: [EventDraft], keyExit: ((Int64) -> [EventDraft])?
        switch keyRead.judge(stop, path: path, dirfd: dirfd, flags: flags, view: view) {
        case .refused(let decision): return .refused(decision)
        case .allowed(let events, let atExit): (keyEvents, keyExit) = (events, atExit)
        }
        // A read from a process alone under the tracer needs no pin: nothing else could rewrite the
        // path (or open_how) while the caller is stopped; an open that writes is pinned whatever.
        let writes = flags & (Xlat.openAccessMode | Xlat.openTruncate) != 0
        var verdict = !writes && tamper.company.isAlone(stop.tgid)
            ? Verdict.allow : Self.pinned(stop, path: path, pathArgument: pathArgument, how: how)
        let written = openedFile(stop, flags: flags, view: view)
        if written != nil { Self.holdTruncation(&verdict, stop, flags: flags) }
        verdict.atExit = Self.both(written, keyExit)
        return .allowed(verdict, keyEvents)
    }

    /// Two exit-stop checks as one: the second is not asked once the first ends the process.
    static func both(_ first: ((Int64) -> [EventDraft])?, _ second: ((Int64) -> [EventDraft])?) -> ((Int64) -> [EventDraft])? {
        guard let first, let second else { return first ?? second }
        return { result in
            let events = first(result)
            return events.contains { $0.rule.action == .kill } ? events : events + second(result)
        }
    }

    /// An open that writes and truncates, and is judged again at its exit stop: its O_TRUNC is
    /// held back (the flag cleared in the register or in the pinned open_how; creat made as
    /// open(O_CREAT|O_WRONLY)) and carried out by the executor once the file opened is known to be
    /// allowed — a name swapped between the check and the open cannot empty the trace. An open
    /// that only reads keeps its O_TRUNC (the kernel checks write permission for it; nothing here
    /// could do that as the program).
    static func holdTruncation(_ verdict: inout Verdict, _ stop: SyscallStop, flags: UInt64) {
        guard flags & Xlat.openTruncate != 0, flags & Xlat.openAccessMode != 0 else { return }
        let held = flags & ~Xlat.openTruncate
        switch stop.name {
        case "open": verdict.rewrites.append((1, held))
        case "openat": verdict.rewrites.append((2, held))
        case "creat":
            verdict.syscallNumber = SyscallNumber.open
            verdict.rewrites += [(1, held), (2, stop.args[1])]
        case "openat2":
            guard var pin = verdict.pin, pin.bytes.count >= 8 else { return }
            pin.bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: held.littleEndian) { Array($0) })
            verdict.pin = pin
        default: return
        }
        verdict.truncateAtExit = true
    }

    /// For an open that writes or truncates: the file actually opened, judged by its descriptor at
    /// the exit stop (a symlink or mount swapped between the check and the open cannot hide it).
    /// The process's own `mem` file or the trace file ends the process — the open cannot be undone.
    /// Nil for opens that only read (nothing to re-check).
    func openedFile(_ stop: SyscallStop, flags: UInt64, view: some TraceeView) -> ((Int64) -> [EventDraft])? {
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
            var event = EventDraft(rule: rule.named(rule.name, action: rule.action.blocks ? .kill : rule.action), stop: stop,
                                   extra: [("reason", .string("the descriptor opened for writing is a process's mem file"))])
            // Whatever another thread wrote through it before this stop dies with both processes.
            event.alsoEnd = Self.memOwner(target)
            return [event]
        }
    }

    /// An open that passes, pinned: the path that was checked is the path opened, and for openat2
    /// the flags that were judged are the flags the kernel gets (open_how pinned too, the path
    /// right after it).
    static func pinned(_ stop: SyscallStop, path: [UInt8], pathArgument: Int, how: [UInt8]?) -> Verdict {
        var verdict = Verdict.allow
        verdict.pin = (pathArgument, path + [0])
        if let how {
            let offset = (how.count + 7) & ~7
            verdict.pin = (2, how + Array(repeating: 0, count: offset - how.count) + path + [0])
            verdict.pinAlso = [(pathArgument, offset)]
        }
        return verdict
    }

    /// The process whose `mem` file a `/proc/PID/mem` or `/proc/PID/task/TID/mem` link names.
    static func memOwner(_ target: [UInt8]) -> ProcessID? {
        let parts = target.split(separator: PathBytes.slash)
        guard parts.count >= 3, parts[0].elementsEqual("proc".utf8) else { return nil }
        return ProcessID(String(decoding: parts[1], as: UTF8.self))
    }

    /// openat2's `struct open_how` as the program passed it (its size in argument 3), or the
    /// errno the kernel itself would answer: EINVAL below the first version's 24 bytes, E2BIG
    /// above a page, EFAULT when it cannot be read. Never judged from one read and run from another.
    static func readOpenHow(_ stop: SyscallStop, memory: some MemoryReading) -> Result<[UInt8], UnreadableOpenHow> {
        let size = Int(clamping: stop.args[3])
        guard size >= 24 else { return .failure(UnreadableOpenHow(errno: Errno.invalid)) }
        guard size <= 4096 else { return .failure(UnreadableOpenHow(errno: Errno.argumentListTooLong)) }
        let bytes = memory.read(at: stop.args[2], count: size)
        return bytes.count == size ? .success(bytes) : .failure(UnreadableOpenHow(errno: Errno.fault))
    }

    /// An open_how that cannot be judged, and the errno the kernel would give it.
    struct UnreadableOpenHow: Error {
        let errno: Int32
    }

    /// A little-endian 64-bit value at the start of `bytes`.
    static func word(_ bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
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
    func writeRefusal(_ stop: SyscallStop, flags: UInt64, path: [UInt8], dirfd: Int32, view: some TraceeView) -> Decision? {
        guard tamper.trace != nil || alias.rule != nil else { return nil }
        guard flags & (Xlat.openAccessMode | Xlat.openTruncate) != 0,
              let file = view.identity(PathBytes.inOwnRoot(path, dirfd: dirfd, pid: stop.tgid), follow: true) else { return nil }
        if let refused = tamper.refusal(stop, path: path, file: file) { return refused }
        return flags & Xlat.openAccessMode != 0 ? alias.writable(stop, file: file, view: view) : nil
    }

    /// An open of some process's `mem` file for writing, under a W^X level: the rule's
    /// decision, or nil when it is not one.
    func procMemWrite(_ stop: SyscallStop, flags: UInt64, path: [UInt8], resolved: [UInt8], view: some TraceeView) -> Decision? {
        guard let rule = procMemRule, flags & Xlat.openAccessMode != 0,
              Self.isMemFile(stop, path: path, resolved: resolved, view: view) else { return nil }
        return .act(rule, stop, decoded: TraceBytes.members("path", path),
                    extra: [("reason", .string("writes to /proc/PID/mem ignore page protections"))])
    }
}

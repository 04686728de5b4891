import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// `tls/key-read`: on the target, private keys are provisioned in the trusted component (the TLS
/// broker), so an open that could read a file holding private-key material (`KeyMaterial`) gets the
/// profile's `tls.keys` action (EACCES under `microkernel`), with the call's stack.
///
/// At the open's entry stop the file is looked up as the program would (its root, cwd or `dirfd`;
/// `TraceeView.fileForOpen`) and, when it is a regular file of at most `limit` bytes, read and
/// judged. The path that passes is pinned by `OpenCheck`, but the file behind it can still change
/// (a rename, a symlink swapped) before the kernel opens it; so where that can happen — another
/// thread or traced process could make the change (`TracedCompany`), or the path could not be
/// looked up as the program would (a magic link such as `/dev/stdin` or `/proc/self/fd/N`, `..` out
/// of a relative path's directory) — the descriptor actually opened is judged again at the exit
/// stop. It cannot be taken back there: key material found then ends the process (`kill`), or is
/// logged when the rule only logs.
struct KeyReadCheck {
    /// The `tls/key-read` rule; nil: key files are not checked.
    let rule: CompiledRule?
    /// Who could change a file between the check and the open (shared with the other open checks).
    var company = TracedCompany()

    /// Files above this size are not read (1 MiB: a key, even with its certificate chain, is a few
    /// KiB; reading every large file a program opens would cost every open). A key padded past it
    /// is not seen.
    static let limit = 1 << 20

    /// Whether an open with `flags` can read the file's content: O_RDONLY or O_RDWR, not O_PATH
    /// (reads nothing) nor O_DIRECTORY (a regular file then fails with ENOTDIR).
    static func reads(_ flags: UInt64) -> Bool {
        let access = flags & Xlat.openAccessMode
        return (access == 0 || access == 2) && flags & (Xlat.openPath | Xlat.openDirectory) == 0
    }

    /// What judging one open came to.
    enum Outcome {
        /// Refused (the rule blocks): the decision.
        case refused(Decision)
        /// Allowed: an event to write (key material, under a rule that only logs) and a re-check of
        /// the descriptor at the exit stop.
        case allowed([EventDraft], atExit: ((Int64) -> [EventDraft])?)
    }

    /// The open of `path` (from `dirfd`) with `flags`, at its entry stop.
    func judge(_ stop: SyscallStop, path: [UInt8], dirfd: Int32, flags: UInt64, view: some TraceeView) -> Outcome {
        guard let rule, Self.reads(flags) else { return .allowed([], atExit: nil) }
        let file = view.fileForOpen(path, dirfd: dirfd, tid: stop.tid, followLast: flags & Xlat.openNoFollow == 0,
                                    limit: Self.limit, wanted: KeyMaterial.worthReading)
        var checked: FileIdentity?
        var events: [EventDraft] = []
        switch file {
        case .read(let identity, let bytes):
            checked = identity
            if let found = KeyMaterial.find(in: bytes) {
                let event = Self.event(rule, stop, path: path, found: found,
                                       reason: "the file holds private-key material (\(found.format)); on the target, "
                                           + "keys are provisioned in the trusted component (the TLS broker)")
                if rule.action.blocks { return .refused(Decision(verdict: .carrying(rule.action), events: [event])) }
                events.append(event)
            }
        case .notRead(let identity):
            checked = identity
        case .missing:
            checked = nil
        case .unresolved:
            // Judged by the descriptor the kernel gives, whoever else is around.
            return .allowed([], atExit: descriptorCheck(stop, path: path, checked: nil, view: view))
        }
        guard !company.isAlone(stop.tgid) else { return .allowed(events, atExit: nil) }
        return .allowed(events, atExit: descriptorCheck(stop, path: path, checked: checked, view: view))
    }

    /// At the exit stop: the file the descriptor reaches, unless it is the one judged at entry.
    func descriptorCheck(_ stop: SyscallStop, path: [UInt8], checked: FileIdentity?,
                         view: some TraceeView) -> (Int64) -> [EventDraft] {
        { [rule] result in
            guard let rule, result >= 0 else { return [] }
            let fd = Int32(truncatingIfNeeded: result)
            if let checked, view.descriptorFile(stop.tid, fd: fd) == checked { return [] }
            guard case .read(_, let bytes) = view.descriptorContents(stop.tid, fd: fd, limit: Self.limit,
                                                                      wanted: KeyMaterial.worthReading),
                  let found = KeyMaterial.find(in: bytes) else { return [] }
            let ended = rule.named(rule.name, action: rule.action.blocks ? .kill : rule.action)
            return [Self.event(ended, stop, path: path, found: found,
                               reason: "the descriptor opened holds private-key material (\(found.format)), which "
                                   + "could not be judged before the open (the file changed after its check, or the "
                                   + "path goes through a magic link): the open cannot be taken back")]
        }
    }

    static func event(_ rule: CompiledRule, _ stop: SyscallStop, path: [UInt8], found: KeyMaterial,
                      reason: String) -> EventDraft {
        EventDraft(rule: rule, stop: stop, decoded: TraceBytes.members("path", path),
                   extra: [("reason", .string(reason)), ("key_format", .string(found.format))])
    }
}

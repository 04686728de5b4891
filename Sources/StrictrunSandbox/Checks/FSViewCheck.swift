import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// The `fs` view's path calls: their denials come from a mount namespace or Landlock, which
/// seccomp cannot see, so the call runs to its exit stop and a failure the view caused is
/// logged there with the rule behind it; an open under a `platform-passthrough` path is
/// reported. Every open is traced here, so the W^X level's /proc/PID/mem check is made here too.
struct FSViewCheck {
    let view: ConfinementView?
    let openCheck: OpenCheck

    func decide(_ rule: CompiledRule, _ stop: SyscallStop, tracee: some TraceeView) -> Decision {
        let isOpen = stop.name.hasPrefix("open") || stop.name == "creat"
        if !isOpen, let refused = openCheck.tamper.decide(stop, view: tracee) { return refused }
        guard let view else { return isOpen ? openCheck.decide(stop, view: tracee) : .pass }
        guard let call = FSNetTables.pathCalls.first(where: { $0.name == stop.name }) else { return .pass }
        let index = call.paths[0]
        let memory = tracee.memory(stop.tid)
        guard let path = memory.cString(at: stop.args[index]), !path.isEmpty else {
            return .pass  // statx(fd, "", AT_EMPTY_PATH) and the like: no path, nothing to see
        }
        let dirfd = index == 0 ? atCurrentDirectory : Int32(truncatingIfNeeded: stop.args[index - 1])
        // An open is judged as everywhere (OpenCheck: client keys, key material, trace, mem, alias)
        // and pinned (path, and openat2's open_how): what was checked is what runs.
        var verdict = Verdict.allow
        var events: [EventDraft] = []
        if isOpen {
            switch openCheck.judge(stop, path: path, pathArgument: index, dirfd: dirfd, view: tracee) {
            case .refused(let decision): return decision
            case .allowed(let judged, let judgedEvents): (verdict, events) = (judged, judgedEvents)
            }
        }
        let writes = OpenFlags.changesTree(syscall: stop.name, args: stop.args, memory: memory)
        let shown = TraceBytes.members("path", path)
        // What the view has to say about the call's result.
        func viewEvents(_ result: Int64) -> [EventDraft] {
            if !isOpen, writes, !openCheck.tamper.company.isAlone(stop.tgid),
               case let changed = openCheck.tamper.changedAfterCheck(stop, result: result), !changed.isEmpty {
                return changed
            }
            let absolute = PathBytes.absolute(path, dirfd: dirfd, pid: stop.tgid, tracee: tracee)
            if result >= 0 {
                guard view.passthrough.contains(where: { PathBytes.isWithin(absolute, Array($0.utf8)) }) else { return [] }
                // Expected start-up reads: reported, never worth an unwind.
                return [EventDraft(rule: rule.named("platform-passthrough", action: .log), stop: stop, decoded: shown,
                                   extra: [("reason", .string("a platform path the target serves another way"))],
                                   withStack: false)]
            }
            let code = Int32(-result)
            guard let (name, reason) = Self.viewRule(errno: code, path: absolute, writes: writes, view: view,
                                                     exists: tracee.exists) else { return [] }
            return [ResultEvent.draft(rule, name: name, category: "fs", errno: code, stop: stop, decoded: shown,
                                      reason: reason, view: view)]
        }
        let openedFile = verdict.atExit
        verdict.atExit = { result in
            // The open's own re-checks first; one that ends the process is all there is to say.
            let opened = openedFile?(result) ?? []
            if opened.contains(where: { $0.rule.action == .kill }) { return opened }
            return opened + viewEvents(result)
        }
        return Decision(verdict: verdict, events: events)
    }

    /// Which rule of the view made a path call fail with `errno`; nil when the view had no
    /// part in it (the file is missing on the host too, permissions, …).
    static func viewRule(errno code: Int32, path: [UInt8], writes: Bool, view: ConfinementView,
                         exists: ([UInt8]) -> Bool) -> (String, String)? {
        let hidden = view.hidden.first { PathBytes.isWithin(path, Array($0.utf8)) }
        let granted = view.grants.first { PathBytes.isWithin(path, Array($0.path.utf8)) }
        let hostPath = granted.map { Array($0.host.utf8) + path.dropFirst($0.path.utf8.count) } ?? path
        let onHost = exists(hostPath)
        switch (code, view.mechanism) {
        case (Errno.readOnlyFS, _):
            if let granted, !granted.writable { return ("read-only-grant", "granted read-only: \(granted.path)") }
            return ("read-only-image", "the image is read-only")
        case (Errno.noEntry, .namespaces), (Errno.access, .landlock):
            if let hidden, onHost, granted == nil { return ("hidden", "\(hidden) does not exist on the target") }
            if view.grantedOnly, granted == nil, onHost { return ("outside-grants", "not granted to the program") }
            if code == Errno.access, let granted, !granted.writable, writes {
                return ("read-only-grant", "granted read-only: \(granted.path) (Landlock: EACCES)")
            }
            if code == Errno.access, view.readOnlyImage, writes, granted?.writable != true {
                return ("read-only-image", "the image is read-only (Landlock: EACCES)")
            }
            return nil
        default:
            return nil
        }
    }

}

/// The event of a failure the kernel returned at a call's exit stop (the view, Landlock,
/// the isolated stack), under a refined rule.
enum ResultEvent {
    static func draft(_ base: CompiledRule, name: String, category: String, errno code: Int32, stop: SyscallStop,
                      decoded: [(String, JSONValue)]?, reason: String, view: ConfinementView?) -> EventDraft {
        let mechanism = view?.mechanism.rawValue ?? "kernel"
        return EventDraft(rule: base.named(name, category: category, action: .deny(errno: code)), stop: stop,
                          decoded: decoded, extra: [("reason", .string(reason)), ("mechanism", .string(mechanism))])
    }
}

import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// Failures the executor can be made to meet on purpose (`strictrun run --inject-failure`,
/// for the fail-closed tests): the named ptrace step is treated as failed.
public struct InjectedFailures: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// PTRACE_GET_SYSCALL_INFO at a seccomp stop.
    public static let syscallInfo = InjectedFailures(rawValue: 1)
    /// Copying checked bytes below the stack (argument pinning).
    public static let pin = InjectedFailures(rawValue: 2)
    /// Skipping a call with an errno.
    public static let deny = InjectedFailures(rawValue: 4)
    /// Rewriting argument registers.
    public static let rewrite = InjectedFailures(rawValue: 8)
    /// The rule id a seccomp stop carries (as if a filter of the program's had returned TRACE
    /// with data of its own — which strictrun refuses to install).
    public static let ruleData = InjectedFailures(rawValue: 16)
    /// Truncating, at its exit stop, a file whose open had its O_TRUNC held back.
    public static let truncate = InjectedFailures(rawValue: 32)

    /// By name, as the option takes them.
    public static let names: [String: InjectedFailures] = [
        "syscall-info": .syscallInfo, "pin": .pin, "deny": .deny, "rewrite": .rewrite, "rule-data": .ruleData,
        "truncate": .truncate,
    ]
}

/// The only code that acts on a stopped call: it carries out verdicts with ptrace and fails
/// closed. A rewrite or pin that cannot be made becomes a deny; a deny that cannot be made
/// becomes a kill of the process; each with an event that says why. Lives on the tracer thread.
final class Executor {
    private let recorder: EventRecorder
    private let router: ConnectRouting?
    private let injected: InjectedFailures
    /// Threads resumed to their syscall-exit-stop, and what to decide there.
    private var exitChecks: [ProcessID: (stop: SyscallStop, check: (Int64) -> [EventDraft], truncate: Bool)] = [:]
    /// strictrun's own failures (the summary's and the final line's `error`).
    var onFailure: (String) -> Void = { _ in }
    /// Whether a process is under the tracer (only those are ended for an event's `alsoEnd`).
    var isTraced: (ProcessID) -> Bool = { _ in false }
    /// The profile's answers per call site (empty: every blocked call gets the profile's answer).
    var answers = AnswerBook([])
    /// A call the profile blocks that an answer let run (the tracer must know of a fork it allowed).
    var onAnsweredAllow: (SyscallStop, CompiledRule) -> Void = { _, _ in }
    /// How a stopped thread runs on (the tracer keeps some threads stopping at every call).
    var resume: (ProcessID, Int32) -> Void = { Ptrace.resume($0, signal: $1) }

    init(recorder: EventRecorder, router: ConnectRouting?, injected: InjectedFailures) {
        self.recorder = recorder
        self.router = router
        self.injected = injected
    }

    /// Carries out a check's decision at a seccomp stop and resumes the thread.
    func carryOut(_ decision: Decision, at stop: SyscallStop) {
        var decision = decision
        if !answers.isEmpty, case .answered(let answered) = answers.apply(decision, at: stop, capture: { [recorder] in
            recorder.stack(for: $0, tid: stop.tid, tgid: stop.tgid)
        }) {
            decision = answered
            if case .allow = decision.verdict.action, let event = decision.events.first {
                onAnsweredAllow(stop, event.rule)
            }
        }
        if case .route(let fd, let destination, let quiet) = decision.verdict.action {
            route(fd: fd, destination: destination, quiet: quiet, event: decision.events.first, at: stop)
            return
        }
        for event in decision.events { recorder.record(event, tid: stop.tid, tgid: stop.tgid) }
        var verdict = decision.verdict
        if !verdict.rewrites.isEmpty || verdict.pin != nil || verdict.syscallNumber != nil,
           case let prepared = prepare(verdict, at: stop), prepared != .done {
            if prepared == .gone {
                // Killed while stopped (SIGKILL ends a ptrace-stopped thread): its call never runs.
                return
            }
            // The call cannot be made to run as checked: it must not run at all.
            let code = verdict.failClosedErrno
            recorder.record(failClosed("argument-change-failed", stop: stop, errno: code,
                                       reason: verdict.pin != nil ? "the checked bytes could not be pinned"
                                                                  : "the arguments could not be rewritten"),
                            tid: stop.tid, tgid: stop.tgid)
            verdict.action = .deny(errno: code)
        }
        switch verdict.action {
        case .allow, .route:
            if let check = verdict.atExit {
                exitChecks[stop.tid] = (stop, check, verdict.truncateAtExit)
                Ptrace.resumeToExit(stop.tid)
            } else {
                resume(stop.tid, 0)
            }
        case .deny(let code):
            skip(stop, returning: -Int64(code))
            _ = verdict.atExit?(-Int64(code))  // what was prepared for the exit is undone
        case .skip(let value):
            let memory = TraceeMemory(pid: stop.tid)
            let written = verdict.writes.allSatisfy { memory.write($0.bytes, at: $0.address) }
            skip(stop, returning: written ? value : -Int64(Errno.fault))
            _ = verdict.atExit?(written ? value : -Int64(Errno.fault))
        case .kill:
            Signals.send(Signals.kill, to: stop.tgid)
            resume(stop.tid, 0)
        }
    }

    /// A call whose syscall info could not be read: denied like any undecidable call, unless
    /// the thread left its stop meanwhile (ESRCH, no longer stopped): only a SIGKILL does that,
    /// so the call will never run and there is nothing to refuse.
    func unreadable(tid: ProcessID, tgid: ProcessID, error: any Error) {
        if (error as? SystemError)?.errno == Errno.noSuchProcess && !Self.stillStopped(tid) { return }
        undecidable(tid: tid, tgid: tgid, reason: "the call could not be read (\(error)): refused")
    }

    /// A call that cannot be decided (no readable syscall info): denied with ENOSYS, or the
    /// process killed when even that fails.
    func undecidable(tid: ProcessID, tgid: ProcessID, reason: String) {
        let stop = SyscallStop(tid: tid, tgid: tgid, info: SyscallInfo(arch: SyscallABI.auditArchX86_64, number: 0,
                                                                       arguments: [], ruleData: 0))
        var event = failClosed("undecidable", stop: stop, errno: Errno.noSys, reason: reason)
        event.syscall = "?"
        event.withStack = false
        recorder.record(event, tid: tid, tgid: tgid)
        skip(stop, returning: -Int64(Errno.noSys))
    }

    /// A thread at its syscall-exit-stop (nil: not one the executor waits for).
    func exitStop(tid: ProcessID, tgid: ProcessID) -> Bool {
        guard let (stop, check, truncate) = exitChecks.removeValue(forKey: tid) else { return false }
        if let result = try? Registers.read(tid).returnValue {
            var events = check(result)
            let ends = events.contains { $0.rule.action == .kill }
            if truncate && !ends && result >= 0 {
                // The O_TRUNC held back at entry, now that the file opened is known to be allowed.
                do {
                    if injected.contains(.truncate) { throw SystemError("ftruncate [injected]", errno: 5) }
                    try ProcessHandle(pid: tgid).truncateRegularFile(Int32(truncatingIfNeeded: result))
                } catch {
                    var event = failClosed("truncate-failed", stop: stop, errno: 0, reason:
                        "the O_TRUNC held back could not be carried out (\(error)): the process is ended")
                    event.rule.action = .kill
                    event.withStack = false
                    events.append(event)
                }
            }
            for event in events { recorder.record(event, tid: tid, tgid: tgid) }
            // A call whose outcome breaks the policy (it cannot be undone): the process ends.
            if events.contains(where: { $0.rule.action == .kill }) { Signals.send(Signals.kill, to: tgid) }
            for event in events where event.rule.action == .kill {
                if let other = event.alsoEnd, other != tgid, isTraced(other) { Signals.send(Signals.kill, to: other) }
            }
        }
        resume(tid, 0)
        return true
    }

    func threadGone(_ tid: ProcessID) { exitChecks[tid] = nil }

    // MARK: ptrace

    /// Skips the call with `value`; when that fails the process is killed (the call must not run).
    private func skip(_ stop: SyscallStop, returning value: Int64) {
        do throws(SystemError) {
            if injected.contains(.deny) { throw SystemError("ptrace(PTRACE_SETREGS, \(stop.tid)) [injected]", errno: 3) }
            try Ptrace.skipSyscall(stop.tid, returning: value)
        } catch where error.errno == Errno.noSuchProcess && !injected.contains(.deny) {
            // Killed while stopped: the call never runs, there is nothing left to deny.
            return
        } catch {
            let message = "could not deny \(stop.name) in \(stop.tid): \(error); killed the process"
            onFailure(message)
            var event = failClosed("deny-failed", stop: stop, errno: 0, reason: message)
            event.rule.action = .kill
            event.withStack = false
            recorder.record(event, tid: stop.tid, tgid: stop.tgid)
            Signals.send(Signals.kill, to: stop.tgid)
        }
        resume(stop.tid, 0)
    }

    /// How applying a verdict's changes went.
    private enum Preparation {
        case done
        case failed
        /// The thread is no longer stopped for us (ESRCH): only a SIGKILL takes a ptrace-stopped
        /// thread out of its stop, so it is dying and its call will not run.
        case gone
    }

    /// Applies a verdict's rewrites and pin.
    private func prepare(_ verdict: Verdict, at stop: SyscallStop) -> Preparation {
        let regs: Registers
        do {
            regs = try Registers.read(stop.tid)
        } catch {
            return error.errno == Errno.noSuchProcess ? .gone : .failed
        }
        if apply(verdict, to: regs, at: stop) { return .done }
        // A failed write into a thread that was killed meanwhile is the kill's doing, not ours.
        return Self.stillStopped(stop.tid) ? .failed : .gone
    }

    /// Whether a thread is still in its ptrace stop (PTRACE_GETREGS answers ESRCH otherwise).
    private static func stillStopped(_ tid: ProcessID) -> Bool {
        do {
            _ = try Registers.read(tid)
            return true
        } catch {
            return error.errno != Errno.noSuchProcess
        }
    }

    /// Writes a verdict's rewrites and pin into a stopped thread; false when they could not all be made.
    private func apply(_ verdict: Verdict, to registers: Registers, at stop: SyscallStop) -> Bool {
        var regs = registers
        if !verdict.rewrites.isEmpty && injected.contains(.rewrite) { return false }
        if let number = verdict.syscallNumber { regs.syscallNumber = number }
        for (argument, value) in verdict.rewrites { regs.setArgument(argument, value) }
        if let (argument, original) = verdict.pin {
            // Below the red zone, 16-byte aligned: a copy no other thread of the program knows of.
            let target = (regs.stackPointer &- 128 &- UInt64(original.count) &- 64) & ~15
            var bytes = original
            for offset in verdict.pinRelocations where offset + 8 <= bytes.count {
                let value = bytes[offset..<offset + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } &+ target
                bytes.replaceSubrange(offset..<offset + 8, with: withUnsafeBytes(of: value.littleEndian) { Array($0) })
            }
            guard !injected.contains(.pin), TraceeMemory(pid: stop.tid).write(bytes, at: target) else { return false }
            regs.setArgument(argument, target)
            for (other, offset) in verdict.pinAlso { regs.setArgument(other, target &+ UInt64(offset)) }
        }
        return (try? regs.write(stop.tid)) != nil
    }

    /// The event of a call strictrun refused because it could not carry out its decision.
    private func failClosed(_ name: String, stop: SyscallStop, errno code: Int32, reason: String) -> EventDraft {
        EventDraft(rule: .builtIn("supervisor", name, .deny(errno: code)), stop: stop,
                   extra: [("reason", .string(reason))])
    }

    // MARK: routing

    private func route(fd: Int32, destination: SocketAddress, quiet: Bool, event: EventDraft?, at stop: SyscallStop) {
        guard var event, let router else {
            carryOut(Decision(verdict: .deny(Errno.connectionRefused)), at: stop)
            return
        }
        // The stack is taken while the broker starts (the first routed connect), not after.
        var captured: CapturedStack?
        let outcome = router.route(pid: stop.tgid, fd: fd, destination: destination) {
            if event.withStack, event.captured == nil { captured = recorder.stack(for: event, tid: stop.tid, tgid: stop.tgid) }
        }
        if let captured { event.captured = captured }
        switch outcome {
        case .connected(let result, let id, let local, let server):
            event.extra += [("outcome", .string("routed")), ("connection", .uint(id)),
                            ("broker_local", .string(local.description))]
            if let server { event.extra.append(("server_pid", .int(Int64(server)))) }
            // Recorded before the call returns, and handed to the broker for its later lines.
            let recorded = recorder.record(event, tid: stop.tid, tgid: stop.tgid)
            router.router.routed(connectionID: id, connect: recorded, server: server)
            carryOut(Decision(verdict: Verdict(action: .skip(returning: Int64(result)))), at: stop)
        case .direct(let reason):
            // The program's own connect runs, on the bytes that were checked.
            event.extra += [("outcome", .string("not routed: \(reason)"))]
            var pinned = Verdict.allow
            pinned.pin = (1, destination.bytes)
            carryOut(Decision(verdict: pinned, events: quiet ? [] : [event]), at: stop)
        case .failed(let code, let reason):
            event.extra += [("outcome", .string("failed")), ("reason", .string(reason))]
            carryOut(Decision(verdict: .deny(code), events: [event]), at: stop)
        }
    }
}

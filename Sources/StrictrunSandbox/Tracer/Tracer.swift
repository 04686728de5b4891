import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// The ptrace loop. Lives entirely on the one thread that forked the program: every ptrace
/// request comes from here. Wakes only for seccomp stops, clone/fork/vfork/exec events and
/// signals; turns each wait status into a stop, hands seccomp stops to the checks, and their
/// decisions to the executor.
final class Tracer {
    let policy: CompiledPolicy
    let writer: TraceWriter
    let stacks: StackRecorder
    let recorder: EventRecorder
    private let executor: Executor
    private let checks: Checks
    let routing: ConnectRouting?
    private let injected: InjectedFailures
    var table: TaskTable
    private var rootExecSeen = false
    var rootStatus: WaitStatus?
    var failure: String?
    private var killedAll = false
    /// `wx: emulate`: flips the pages of W+X requests on faults.
    let emulator: WXEmulator?
    var wxTotals = WXEmulationCounters()
    /// Write faults per process, to sample the stacks of the code that writes code.
    private var codeWrites: [ProcessID: Int] = [:]
    var notices: [String] = []
    /// Children sharing their parent's memory where fork is denied, stopped at every call until
    /// they exec (SpawnChildCheck).
    private var spawnChildren: Set<ProcessID> = []
    /// Processes with a fork in flight that an answer allowed (`answers:`), and the processes such
    /// forks made: their children do not share memory, so they are not spawn children.
    private var answeredForks: Set<ProcessID> = []
    private var forkedChildren: Set<ProcessID> = []
    /// The TLS broker's side: the per-run CA the program must trust is made while the program is
    /// launched, and waited for at the program's exec (before its first instruction).
    private let router: (any ConnectionRouter)?

    init(policy: CompiledPolicy, writer: TraceWriter, stacks: StackRecorder, router: (any ConnectionRouter)?,
         root: ProcessID, exe: String, wxSlowPathOnly: Bool = false, injected: InjectedFailures = []) {
        self.policy = policy
        self.writer = writer
        self.stacks = stacks
        self.injected = injected
        table = TaskTable(root: root, exe: exe)
        let tracee = LiveTracee()
        recorder = EventRecorder(stacks: stacks, tracee: tracee)
        routing = router.map(ConnectRouting.init)
        self.router = router
        executor = Executor(recorder: recorder, router: routing, injected: injected)
        emulator = policy.rules.values.contains { $0.check == .wx(.emulate) } ? WXEmulator(slowPathOnly: wxSlowPathOnly) : nil
        checks = Checks(policy: policy, tracee: tracee, emulator: emulator, canRoute: routing != nil, routed: routing?.routed,
                        trace: writer.file.map { FileIdentity(device: $0.device, inode: $0.inode) },
                        traceDamage: { [writer] in writer.damage() })
        emulator?.processStarted(root, from: nil, sharesMemory: false)
        checks.alias.known?.started(root)
        emulator?.onWriteFault = { [unowned self] tid, tgid in self.sampleCodeWriter(tid: tid, tgid: tgid) }
        recorder.executable = { [unowned self] in self.table.executable($0) }
        recorder.sink = { [unowned self] in self.emit($0) }
        executor.onFailure = { [unowned self] in self.recordFailure($0) }
        executor.resume = { [unowned self] in self.resume($0, signal: $1) }
        executor.isTraced = { [unowned self] in self.table.processes[$0] != nil }
        checks.open.tamper.company.isAlone = { [unowned self] in self.table.isAlone($0) }
        routing?.tracedProcesses = { [unowned self] in self.table.groups }
        executor.answers = AnswerBook(policy.profile.answers, stacksEnabled: stacks.enabled)
        executor.onAnsweredAllow = { [unowned self] stop, _ in
            if ["fork", "clone", "vfork"].contains(stop.name) { self.answeredForks.insert(stop.tgid) }
        }
        emulator?.resume = { [unowned self] in self.resume($0, signal: $1) }
    }

    /// Runs until every traced task is gone. The root is already resumed.
    func run() -> RunOutcome {
        loop: while true {
            // Threads waiting for a page's lease: poll until the first is due.
            let result = Wait.any(noHang: emulator?.nextDue != nil)
            switch result {
            case .task(let tid, let status):
                handle(tid: tid, status: status)
            case .nothingYet:
                guard let due = emulator?.nextDue else { continue }
                let now = Clock.monotonic()
                if now < due {
                    Clock.sleep(microseconds: UInt32(min(200, max(20, (due - now) / 1000))))
                } else {
                    for waiting in emulator?.takeDue(now: now) ?? [] { faultStop(tid: waiting.tid, tgid: waiting.tgid) }
                }
            case .noTasks:
                break loop
            case .failed(let error):
                recordFailure("\(error)")
                break loop
            }
        }
        return finish()
    }

    // MARK: dispatch

    private func handle(tid: ProcessID, status: WaitStatus) {
        switch status {
        case .exited, .signaled:
            reaped(tid: tid, status: status)
        case .stopped(_, .some(.seccomp)):
            seccompStop(tid: tid)
        case .stopped(_, .some(let event)) where event == .fork || event == .vfork || event == .clone:
            newTask(ProcessID(truncatingIfNeeded: Ptrace.eventMessage(tid)), createdBy: tid, event: event)
            resume(tid)
        case .stopped(_, .some(.exec)):
            execEvent(tid: tid)
            resume(tid)
        case .stopped(_, .some):
            resume(tid)
        case .stopped(Ptrace.syscallStopSignal, nil) where executor.exitStop(tid: tid, tgid: table.group(of: tid)):
            break
        case .stopped(Ptrace.syscallStopSignal, nil) where spawnChildren.contains(tid):
            spawnChildStop(tid: tid)
        case .stopped(let signal, nil):
            signalStop(tid: tid, signal: signal)
        }
    }

    private func seccompStop(tid: ProcessID) {
        let tgid = table.group(of: tid)
        let info: SyscallInfo
        do {
            if injected.contains(.syscallInfo) { throw SystemError("ptrace(PTRACE_GET_SYSCALL_INFO) [injected]", errno: 5) }
            info = try Ptrace.syscallInfo(tid)
        } catch {
            executor.unreadable(tid: tid, tgid: tgid, error: error)
            return
        }
        var stop = SyscallStop(tid: tid, tgid: tgid, info: info)
        if injected.contains(.ruleData) { stop.info.ruleData = 0x7777 }
        guard let rule = checks.rule(for: stop.info) else {
            executor.carryOut(Checks.unknownRule(stop), at: stop)
            return
        }
        let decision = checks.decide(rule, stop, firstExecOfRoot: tgid == table.root && !rootExecSeen)
        executor.carryOut(decision, at: stop)
    }

    /// Runs a stopped thread on: to its next call when it is a spawn child, else freely.
    func resume(_ tid: ProcessID, signal: Int32 = 0) {
        if spawnChildren.contains(tid) {
            Ptrace.resumeSyscall(tid, signal: signal)
        } else {
            Ptrace.resume(tid, signal: signal)
        }
    }

    /// A spawn child at a syscall-entry or -exit stop: its call judged at entry.
    private func spawnChildStop(tid: ProcessID) {
        guard let rule = checks.spawnChild else { return resume(tid) }
        let tgid = table.group(of: tid)
        let info: SyscallInfo
        do {
            info = try Ptrace.syscallInfo(tid)
        } catch {
            executor.unreadable(tid: tid, tgid: tgid, error: error)
            return
        }
        guard info.stop == .entry else { return resume(tid) }
        let stop = SyscallStop(tid: tid, tgid: tgid, info: info)
        executor.carryOut(SpawnChildCheck.decide(rule, stop), at: stop)
    }

    private func signalStop(tid: ProcessID, signal: Int32) {
        if signal == Signals.stop, table.takeInitialStop(tid) {
            // Where fork is denied every new process shares its parent's memory until it execs
            // (under audit forks exist: the parent's clone event tells).
            if checks.spawnChild?.action.blocks == true && tid != table.root && table.group(of: tid) == tid
                && !isAnsweredFork(tid) {
                spawnChildren.insert(tid)
            }
            resume(tid)  // the initial stop of an auto-attached task
            return
        }
        let tgid = table.group(of: tid)
        if signal == Signals.segv, let emulator, emulator.emulates(tgid) {
            faultStop(tid: tid, tgid: tgid)
            return
        }
        if Signals.stopping.contains(signal) && Ptrace.isGroupStop(tid) {
            // A group-stop of a non-seized tracee: let it run on (see README, limitations).
            resume(tid)
            return
        }
        // Every other signal — SIGTRAP from the program's own int3 included — is the
        // program's: pass it on unchanged.
        resume(tid, signal: signal)
    }

    /// A new process made by a fork an answer allowed (its creator's event seen, or its parent
    /// still has such a fork in flight). Costs nothing without answers that allowed a fork.
    private func isAnsweredFork(_ tid: ProcessID) -> Bool {
        if forkedChildren.remove(tid) != nil { return true }
        guard !answeredForks.isEmpty, let parent = ProcFS.parent(of: tid) else { return false }
        return answeredForks.contains(parent)
    }

    private func newTask(_ child: ProcessID, createdBy parent: ProcessID, event: Ptrace.Event) {
        let parentGroup = table.group(of: parent)
        var isThread = false
        var sharesMemory = event == .vfork
        if event == .clone {
            // The parent is stopped in clone(2): its flags say whether the child is a thread,
            // without reading /proc (clone3 keeps them in memory: ask /proc then).
            if let regs = try? Registers.read(parent), regs.syscallNumber == SyscallNumber.clone {
                isThread = regs.argument(0) & Xlat.cloneThread != 0
                sharesMemory = regs.argument(0) & Xlat.cloneVM != 0
            } else {
                isThread = (ProcFS.threadGroup(of: child) ?? child) != child
            }
        }
        table.created(child, by: parent, isThread: isThread)
        guard !isThread else { return }
        if checks.spawnChild != nil && sharesMemory { spawnChildren.insert(child) }
        if !answeredForks.isEmpty && !sharesMemory {
            answeredForks.remove(parentGroup)
            forkedChildren.insert(child)
        }
        checks.alias.known?.inherit(child, from: parentGroup)
        emulator?.processStarted(child, from: parentGroup, sharesMemory: sharesMemory)
        let via: ProcessEvent.Via = switch event {
        case .fork: .fork
        case .vfork: .vfork
        default: .clone
        }
        emit(ProcessEvent(pid: Int64(child), parent: Int64(parentGroup), via: via, exe: table.executable(child)))
    }

    private func execEvent(tid: ProcessID) {
        let former = ProcessID(truncatingIfNeeded: Ptrace.eventMessage(tid))
        let exe = ProcFS.executable(pid: tid) ?? "?"
        let tgid = table.execed(tid, former: former, exe: exe)
        spawnChildren.remove(tid)
        spawnChildren.remove(former)
        checks.alias.known?.forget(tgid)
        if tgid == table.root && !rootExecSeen { awaitTrust(tgid) }
        if tgid == table.root { rootExecSeen = true }
        emulator?.exec(tgid)
        stacks.forget(pid: tgid)
        routing?.forget(pid: tgid)
        let argv = ProcFS.commandLine(pid: tid) ?? []
        emit(ExecEvent(pid: Int64(tgid), tid: Int64(tid), exe: exe, argv: argv))
        if let rule = checks.execStack,
           let event = ExecStackCheck.decide(rule, tid: tid, tgid: tgid, exe: exe, view: checks.tracee) {
            recorder.record(event, tid: tid, tgid: tgid)
            if rule.action.blocks {
                notices.append("pid \(tgid) ended: \(exe) has an executable stack")
                Signals.send(Signals.kill, to: tgid)
            }
        }
    }

    private func reaped(tid: ProcessID, status: WaitStatus) {
        spawnChildren.remove(tid)
        executor.threadGone(tid)
        emulator?.threadGone(tid)
        let (tgid, leader) = table.reaped(tid)
        guard leader else { return }
        stacks.forget(pid: tgid)
        routing?.forget(pid: tgid)
        checks.alias.known?.gone(tgid)
        codeWrites[tgid] = nil
        if tid == table.root {
            rootStatus = status
            return  // the root's exit line closes the trace, after every other process
        }
        emit(exitLine(pid: tid, status: status))
        table.processGone(tid)
    }

    // MARK: W^X emulation faults

    /// A SIGSEGV of a process with emulated pages (or a thread whose lease wait is over).
    private func faultStop(tid: ProcessID, tgid: ProcessID) {
        guard let emulator else { return }
        switch emulator.fault(tid: tid, tgid: tgid) {
        case .notOurs:
            resume(tid, signal: Signals.segv)
        case .handled, .deferred:
            break
        case .died(let status):
            reaped(tid: tid, status: status)
        case .livelock(let reason, let instruction, let address):
            let event = EventDraft(rule: .builtIn("wx", "wx-livelock", .kill), syscall: "fault",
                                   decoded: [("rip", ArgumentDecoder.hex(instruction)),
                                             ("address", ArgumentDecoder.hex(address))],
                                   extra: [("reason", .string(reason))])
            recorder.record(event, tid: tid, tgid: tgid)
            notices.append("pid \(tgid) ended: \(reason)")
            Signals.send(Signals.kill, to: tgid)
            resume(tid)
        }
    }

    /// The stacks of the code that writes code: every write fault of a process's first 100,
    /// then one in 32 (an unwind costs more than a flip).
    private func sampleCodeWriter(tid: ProcessID, tgid: ProcessID) {
        let seen = codeWrites[tgid, default: 0]
        codeWrites[tgid] = seen + 1
        guard seen < 100 || seen % 32 == 0 else { return }
        _ = stacks.capture(pid: tgid, tid: tid, category: "wx", rule: "code-write")
    }

    // MARK: output

    func emit(_ event: some TraceEvent) {
        do {
            try writer.write(event)
        } catch {
            // Nothing may run unobserved: without a trace the run ends.
            recordFailure("\(error); stopping the program")
            killEverything()
        }
    }

    /// The program has exec'd and not run yet: its trust files (`NODE_EXTRA_CA_CERTS`, …) must exist
    /// before it does. They were made on another thread meanwhile (fork, the child's set-up, exec);
    /// if they could not be, the run cannot be what the profile says, and ends.
    private func awaitTrust(_ root: ProcessID) {
        guard let router else { return }
        do {
            try router.waitUntilTrusted()
        } catch {
            recordFailure(error.description)
            killEverything()
        }
    }

    func recordFailure(_ message: String) {
        if failure == nil { failure = message }
    }

    private func killEverything() {
        guard !killedAll else { return }
        killedAll = true
        for tgid in table.groups { Signals.send(Signals.kill, to: tgid) }
    }
}

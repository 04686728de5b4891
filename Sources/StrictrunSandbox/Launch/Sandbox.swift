#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace
import Synchronization

/// One `strictrun run`: what to run, under which policy, and where the trace goes.
public struct RunRequest: Sendable {
    /// argv[0] as text: the name resolved on `PATH` and shown in messages.
    public var program: String { String(decoding: argv.first ?? [], as: UTF8.self) }
    /// The program's argv (argv[0] first) and environment (`NAME=value`, in order), exactly the
    /// bytes the user gave (`EnvironmentEntries`).
    public var argv: [[UInt8]]
    public var environment: [[UInt8]]
    public var policy: CompiledPolicy
    /// The trace to write (the TLS broker's events go to the same one).
    public var trace: TraceWriter
    /// Where connect() calls the policy routes go; nil without a `tls` route rule.
    public var router: (any ConnectionRouter)?
    /// Install the filter without a tracer, every call a rule would trace allowed
    /// (`CompiledPolicy.untracedProgram`): the plain-filter floor of the benchmarks.
    public var filterOnly: Bool
    public var stacks: StackSettings
    /// W^X emulation flips by single-stepping only, never through its trampoline (the
    /// fallback, made testable: `STRICTRUN_WX_SLOW_PATH=1`).
    public var wxSlowPathOnly: Bool
    /// ptrace steps the executor treats as failed (the fail-closed tests).
    public var injectedFailures: InjectedFailures
    /// How the fs view is built where user namespaces work (`STRICTRUN_FS_FALLBACK`, read by the executable).
    public var confinementFallback: ConfinementFallback = .none

    public init(argv: [[UInt8]], environment: [[UInt8]],
                policy: CompiledPolicy, trace: TraceWriter, router: (any ConnectionRouter)? = nil,
                filterOnly: Bool = false, stacks: StackSettings = StackSettings(), wxSlowPathOnly: Bool = false,
                injectedFailures: InjectedFailures = []) {
        self.wxSlowPathOnly = wxSlowPathOnly
        self.injectedFailures = injectedFailures
        self.argv = argv
        self.environment = environment
        self.policy = policy
        self.trace = trace
        self.router = router
        self.filterOnly = filterOnly
        self.stacks = stacks
    }
}

/// Runs programs under a compiled policy: launch, trace, report.
public enum Sandbox {
    /// Signals strictrun forwards to the program. Block them in the calling thread before
    /// any other thread exists (call first thing in `main`), so only the forwarder sees them.
    public static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    public static func blockForwardedSignals() { Signals.block(forwardedSignals) }

    /// Run `request` to the end. Throws `LaunchError` when the program cannot be found or
    /// executed (after writing `start` and `exit` lines to the trace), `TraceError` when the
    /// trace cannot be created, `SystemError` when the program cannot be traced.
    public static func run(_ request: RunRequest) throws -> RunOutcome {
        let result = Locked<Result<RunOutcome, any Error>?>(nil)
        let rootPid = Locked<pid_t>(0)
        try SupervisorProcess.hideProcEntries()
        try startSignalForwarder(to: rootPid)
        // The tracer must be the thread that forks: ptrace answers only to it.
        let done = DispatchSemaphore(value: 0)
        let started = Threads.start(stackSize: 8 << 20) {
            let outcome = Result { try runOnTracerThread(request, rootPid: rootPid) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        guard started else { throw SystemError("cannot start the tracer thread", errno: EAGAIN) }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    private static func runOnTracerThread(_ request: RunRequest, rootPid: Locked<pid_t>) throws -> RunOutcome {
        let writer = request.trace
        let argv = request.argv.map { String(decoding: $0, as: UTF8.self) }
        let cwd = FileManager.default.currentDirectoryPath
        let plan = ConfinementPlan.make(profile: request.policy.profile, cwd: cwd, fallback: request.confinementFallback)
        let profile = request.policy.profile
        try writer.write(StartEvent(profile: profile.name, profileFiles: profile.sources, mode: profile.mode.rawValue,
                                    argv: argv, cwd: cwd, strictrun: strictrunVersion,
                                    filterInstructions: request.policy.program.count, confinement: plan.notes))
        let steps = plan.steps.map(\.what)
        let path: [UInt8]
        do {
            path = try ProgramResolver.resolve(request.argv.first ?? [],
                                               path: EnvironmentEntries.value("PATH", in: request.environment))
        } catch {
            try writer.write(ExitEvent.failure(pid: nil, exitStatus: Int(error.exitStatus), error: error.description))
            throw error
        }
        // The per-run CA is still being made: the tracer waits for it at the program's exec (a
        // program without a tracer waits here).
        if request.filterOnly { try request.router?.waitUntilTrusted() }
        let child = try launch(request, path: path, plan: plan)
        let (pid, errorFD) = (child.pid, child.report)
        // Freed once the child is known to be past its execve or gone; never while it may run.
        var childDone = false
        defer {
            ChildLauncher.closeReport(errorFD)
            if childDone { ChildLauncher.release(child) }
        }
        rootPid.withLock { $0 = pid }

        if request.filterOnly {
            let status = Wait.task(pid) ?? .stopped(signal: 0, event: nil)
            childDone = status.isGone
            if let failure = childFailure(errorFD, program: request.program, steps: steps) {
                try writer.write(ExitEvent.failure(pid: Int64(pid), exitStatus: Int(failure.exitStatus),
                                                   error: failure.description))
                throw failure
            }
            let exit = status.shellStatus
            var line = ExitEvent(pid: Int64(pid))
            line.exitStatus = Int(exit)
            line.final = true
            try writer.write(line)
            return RunOutcome(exitStatus: exit, ending: "exited with status \(exit)", counts: [], firstBlocked: nil,
                              eventsWritten: writer.count, processes: 1, failure: nil, confinement: plan.notes)
        }

        // The child stops itself after PTRACE_TRACEME; set the options before it goes on.
        let first = Wait.task(pid)
        guard case .stopped(SIGSTOP, nil) = first else {
            childDone = first?.isGone ?? false
            let failure = childFailure(errorFD, program: request.program, steps: steps)
            throw failure ?? SystemError("child did not stop for tracing", errno: ECHILD)
        }
        do {
            try Ptrace.setOptions(pid, Ptrace.defaultOptions)
        } catch {
            _ = Signals.send(Signals.kill, to: pid)
            throw error
        }
        var policy = request.policy
        policy.confinement = plan.view
        let tracer = Tracer(policy: policy, writer: writer, stacks: StackRecorder(settings: request.stacks),
                            router: request.router, root: pid, exe: String(decoding: path, as: UTF8.self), wxSlowPathOnly: request.wxSlowPathOnly,
                            injected: request.injectedFailures)
        Ptrace.resume(pid)
        var outcome = tracer.run()
        childDone = true
        outcome.confinement = plan.notes
        if let failure = childFailure(errorFD, program: request.program, steps: steps) {
            // execve itself failed (the trace holds start, exit): report it as a shell would.
            throw failure
        }
        return outcome
    }

    private static func launch(_ request: RunRequest, path: [UInt8], plan: ConfinementPlan) throws -> LaunchedChild {
        let spec = ChildSpec(path: path, argv: request.argv, environment: request.environment,
                             filter: request.filterOnly ? request.policy.untracedProgram : request.policy.program,
                             setMDWE: request.policy.kernelMDWE,
                             trace: !request.filterOnly, steps: plan.steps.map { ($0.step, $0.optional) })
        return try ChildLauncher.launch(spec)
    }

    /// The step the child reported failing before `_exit(127)`, as a `LaunchError`.
    private static func childFailure(_ fd: Int32, program: String, steps: [String] = []) -> LaunchError? {
        guard let failure = ChildLauncher.failure(report: fd) else { return nil }
        switch failure {
        case .exec(let code):
            return LaunchError(program: program, reason: SystemError.text(code),
                               exitStatus: ProgramResolver.exitStatus(forExecErrno: code))
        case .traceMe(let code):
            return LaunchError(program: program, reason: "cannot be traced (PTRACE_TRACEME): \(SystemError.text(code))",
                               exitStatus: 125)
        case .seccomp(let code):
            return LaunchError(program: program, reason: "cannot install the seccomp filter: \(SystemError.text(code))",
                               exitStatus: 125)
        case .confine(let index, let code):
            let what = index < steps.count ? steps[index] : "step \(index)"
            return LaunchError(program: program, reason: "cannot set up the fs/net view (\(what)): \(SystemError.text(code))",
                               exitStatus: 125)
        case .other(let step, let code):
            return LaunchError(program: program, reason: "cannot confine (prctl step \(step)): \(SystemError.text(code))",
                               exitStatus: 125)
        }
    }

    /// A thread that waits for the forwarded signals and passes those sent to strictrun
    /// itself on to the program. A terminal's Ctrl-C (si_code SI_KERNEL) already reached
    /// the program, which shares strictrun's process group: it is not sent twice.
    private static func startSignalForwarder(to rootPid: Locked<pid_t>) throws {
        let started = Threads.start {
            while true {
                guard let (signal, code, _) = Signals.wait(forwardedSignals) else { continue }
                let target = rootPid.withLock { $0 }
                if code == Signals.fromKernel { continue }
                if target > 0 { Signals.send(signal, to: target) }
            }
        }
        guard started else { throw SystemError("cannot start the signal forwarder", errno: EAGAIN) }
    }
}

/// strictrun's version, in `start` lines and `--version`.
public let strictrunVersion = "0.1.0"

/// A value shared between threads behind a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try mutex.withLock { try body(&$0) } }
}

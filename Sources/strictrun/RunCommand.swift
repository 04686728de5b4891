import ArgumentParser
import Foundation
import StrictrunPolicy
import StrictrunSandbox
import StrictrunSystem
import StrictrunTrace

/// `strictrun run`: run one program under a profile.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run PROGRAM under a profile; write every blocked call to a JSON-lines trace.")

    @Option(name: .shortAndLong, help: "Profile name (see `strictrun profile list`) or a path to a .yaml file.")
    var profile = "microkernel"

    @Option(name: .shortAndLong, help: "Trace file (JSON lines). Default: ./strictrun-trace-PID.jsonl.")
    var trace: String?

    @Flag(help: "Turn every deny and kill of the profile into log: nothing is blocked, everything is recorded.")
    var audit = false

    @Flag(name: .shortAndLong, help: "No summary on stderr.")
    var quiet = false

    @Flag(help: "Do not unwind stacks (events carry no `stack` and no `site`).")
    var noStacks = false

    @Option(help: "Frames kept per stack.")
    var stackDepth = 64

    @Option(help: "Events of one call site that carry a full stack; later ones are counted with their site only.")
    var siteCap = 20

    @Option(help: "Symbolized top frames that identify a call site.")
    var siteFrames = 5

    @Flag(help: "Name JIT frames of Node.js: adds --perf-basic-prof to a node program, so V8 writes /tmp/perf-PID.map.")
    var jsFrames = false

    @Option(name: .customLong("answer"), help: ArgumentHelp(
        "Answer the calls blocked at one call site differently (repeatable): SITE[:SYSCALL]=ACTION, ACTION one of "
        + "profile, noop, allow or an errno name (ENOSYS); rule=RULE[:SYSCALL]=ACTION answers every site of a rule.",
        valueName: "answer"))
    var answers: [String] = []

    @Flag(help: .hidden)
    var filterOnly = false

    /// Testing: say on stderr what the filter cache did and which program came out.
    @Flag(help: .hidden)
    var filterCacheStats = false

    /// Testing only: treat a ptrace step as failed (syscall-info, pin, deny, rewrite), to show
    /// that strictrun fails closed.
    @Option(help: .hidden)
    var injectFailure: [String] = []

    @Argument(parsing: .captureForPassthrough, help: "-- PROGRAM [ARGS...]")
    var command: [String] = []

    /// What was parsed, as plain values.
    var options: LaunchOptions {
        LaunchOptions(profile: profile, trace: trace, audit: audit, quiet: quiet, noStacks: noStacks,
                   stackDepth: stackDepth, siteCap: siteCap, siteFrames: siteFrames, jsFrames: jsFrames,
                   answers: answers, filterOnly: filterOnly, filterCacheStats: filterCacheStats,
                   injectFailure: injectFailure, command: command)
    }

    func run() throws { options.execute() }
}

extension LaunchOptions {
    /// Runs the program; ends the process with its exit status.
    func execute() -> Never {
        var command = command
        if command.first == "--" { command.removeFirst() }
        guard let program = command.first else {
            Environment.fail("no program given (usage: strictrun run [--profile P] -- PROGRAM [ARGS...])", status: 125)
        }
        guard stackDepth > 0, siteCap >= 0, siteFrames > 0 else {
            Environment.fail("--stack-depth and --site-frames must be positive, --site-cap not negative", status: 125)
        }
        var injected = InjectedFailures()
        for name in injectFailure {
            guard let failure = InjectedFailures.names[name] else {
                Environment.fail("--inject-failure: unknown step '\(name)' (one of: "
                                 + InjectedFailures.names.keys.sorted().joined(separator: ", ") + ")", status: 125)
            }
            injected.insert(failure)
        }
        var siteAnswers: [SiteAnswer] = []
        for text in answers {
            do {
                siteAnswers.append(try SiteAnswer.parse(text, syscallExists: { SyscallNames.exists($0) }))
            } catch {
                Environment.fail("\(error)", status: 125)
            }
        }
        let loaded = Environment.profile(profile, audit: audit, answers: siteAnswers)
        // The key-holding TLS broker, when the profile routes TLS connections to it: its per-run CA
        // now, on a thread of its own while the program is launched (the program must trust it from its
        // first instruction: the tracer waits for it at the exec); the broker on the first routed connect.
        var bridge: BrokerBridge?
        if let tls = loaded.tls, loaded.effective(tls.action) == .route, !filterOnly {
            bridge = BrokerBridge(tls: tls)
        }
        let policy = Environment.compiledPolicy(loaded, forRun: true, cached: true, cacheStats: filterCacheStats)
        let tracePath = trace ?? "strictrun-trace-\(getpid()).jsonl"
        var argv = Environment.commandBytes(command)
        var jsLogDirectory: String?
        if jsFrames, ["node", "nodejs"].contains(URL(fileURLWithPath: program).lastPathComponent) {
            // V8 writes its perf map to /tmp/perf-PID.map; its isolate log goes to a directory
            // strictrun removes afterwards, not into the program's working directory.
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("strictrun-v8-\(getpid())").path
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            jsLogDirectory = directory
            let flags = ["--perf-basic-prof", "--interpreted-frames-native-stack", "--no-logfile-per-isolate",
                         "--logfile=\(directory)/v8.log"]
            argv.insert(contentsOf: flags.map { Array($0.utf8) }, at: 1)
        }
        let writer: TraceWriter
        do {
            writer = try TraceWriter(path: tracePath)
        } catch {
            Environment.fail("\(error)", status: 125)
        }
        var environment = EnvironmentEntries.current()
        if let bridge {
            bridge.attach(writer)
            environment = EnvironmentEntries.setting(bridge.environment, in: environment)
        }
        var request = RunRequest(argv: argv, environment: environment, policy: policy,
                                 trace: writer, router: bridge, filterOnly: filterOnly,
                                 stacks: StackSettings(enabled: !noStacks, depth: stackDepth,
                                                       siteFrames: siteFrames, siteCap: siteCap,
                                                       symbolCacheDirectory: Environment.symbolCacheDirectory()),
                                 wxSlowPathOnly: getenv("STRICTRUN_WX_SLOW_PATH").map { String(cString: $0) } == "1",
                                 injectedFailures: injected)
        // libdw would ask debuginfod servers for symbols when this is set: never stall the
        // tracer on the network (the program keeps its own environment).
        unsetenv("DEBUGINFOD_URLS")
        request.confinementFallback = Environment.confinementFallback()
        let outcome: RunOutcome
        do {
            outcome = try Sandbox.run(request)
        } catch let error as LaunchError {
            Environment.fail(error.description, status: error.exitStatus)
        } catch {
            Environment.fail("\(error)", status: 125)
        }
        bridge?.shutdown()
        if let jsLogDirectory {
            try? FileManager.default.removeItem(atPath: jsLogDirectory)
            // The perf maps V8 wrote because strictrun asked: their names are in the trace now.
            for pid in outcome.processIDs { try? FileManager.default.removeItem(atPath: "/tmp/perf-\(pid).map") }
        }
        if !quiet { Summary(outcome: outcome, policy: policy, program: program, tracePath: tracePath).print() }
        if let failure = outcome.failure { Environment.note("error: \(failure)") }
        // strictrun's own failure (e.g. the trace could not be written) outranks the program's status.
        // The process ends here, its objects not torn down one by one: each type destroyed for the
        // first time had its metadata made, a scan of the binary's conformances each (about 0.1 ms).
        // Every trace line is written already (the writer does not buffer).
        Foundation.exit(outcome.failure != nil ? 125 : outcome.exitStatus)
    }
}

/// The short report on stderr after a run, like `strace -c`.
struct Summary {
    var outcome: RunOutcome
    var policy: CompiledPolicy
    var program: String
    var tracePath: String

    func print() {
        var lines: [String] = []
        let profile = policy.profile
        lines.append("strictrun: \(program) \(outcome.ending) — profile \(profile.name) (\(profile.mode.rawValue)), "
                     + "\(outcome.processes) process\(outcome.processes == 1 ? "" : "es")")
        for note in outcome.confinement { lines.append("strictrun: fs/net: \(note)") }
        if outcome.counts.isEmpty {
            lines.append("strictrun: no rule was tripped")
        } else {
            let rows = outcome.counts.map { count in
                [count.category, count.rule, count.auditedFrom.map { "log (audit: \($0))" } ?? count.action,
                 String(count.count)]
            }
            let header = ["category", "rule", "action", "calls"]
            let widths = (0..<4).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            func format(_ row: [String]) -> String {
                "  " + row.enumerated().map { index, cell in
                    index == 3 ? String(repeating: " ", count: widths[index] - cell.count) + cell
                               : cell + String(repeating: " ", count: widths[index] - cell.count)
                }.joined(separator: "  ")
            }
            lines.append(format(header))
            lines += rows.map(format)
        }
        // Code-writing sites (W^X emulation's write faults) are samples, not policy events.
        let codeWriters = outcome.sites.filter { $0.rule == "code-write" }
        let byCategory = Dictionary(grouping: outcome.sites.filter { $0.rule != "code-write" }, by: \.category)
        for (title, sites) in byCategory.keys.sorted().map({ ("top \($0) sites", byCategory[$0]!) })
            + (codeWriters.isEmpty ? [] : [("top sites writing JIT code (write faults, sampled)", codeWriters)]) {
            lines.append("strictrun: \(title) (\(sites.count) in all):")
            for site in sites.prefix(3) {
                let names = site.names.isEmpty ? "(no symbols)"
                    : site.names.map(shortSymbolName).joined(separator: " ← ")
                lines.append("  \(site.count)× \(site.rule) \(site.site)  \(names)")
            }
        }
        if let emulation = outcome.wxEmulation {
            lines.append("strictrun: W^X emulation: \(emulation.summary)")
        }
        for notice in outcome.notices { lines.append("strictrun: \(notice)") }
        if let first = outcome.firstBlocked {
            lines.append("strictrun: first \(profile.mode == .audit ? "would-block" : "blocked"): \(first)")
        }
        lines.append("strictrun: trace: \(tracePath) (\(outcome.eventsWritten) events)")
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

import ArgumentParser
import Foundation
import StrictrunPolicy
import StrictrunSandbox
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

    @Flag(help: .hidden)
    var filterOnly = false

    @Argument(parsing: .captureForPassthrough, help: "-- PROGRAM [ARGS...]")
    var command: [String] = []

    func run() throws {
        var command = command
        if command.first == "--" { command.removeFirst() }
        guard let program = command.first else {
            Environment.fail("no program given (usage: strictrun run [--profile P] -- PROGRAM [ARGS...])", status: 125)
        }
        let policy = Environment.compiledPolicy(profile, audit: audit)
        let tracePath = trace ?? "strictrun-trace-\(getpid()).jsonl"
        let request = RunRequest(program: program, arguments: Array(command.dropFirst()),
                                 environment: ProcessInfo.processInfo.environment, policy: policy,
                                 tracePath: tracePath, filterOnly: filterOnly)
        let outcome: RunOutcome
        do {
            outcome = try Sandbox.run(request)
        } catch let error as LaunchError {
            Environment.fail(error.description, status: error.exitStatus)
        } catch {
            Environment.fail("\(error)", status: 125)
        }
        if !quiet { Summary(outcome: outcome, policy: policy, program: program, tracePath: tracePath).print() }
        if let failure = outcome.failure { Environment.note("error: \(failure)") }
        throw ExitCode(outcome.failure != nil && outcome.exitStatus == 0 ? 125 : outcome.exitStatus)
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
        if let first = outcome.firstBlocked {
            lines.append("strictrun: first \(profile.mode == .audit ? "would-block" : "blocked"): \(first)")
        }
        lines.append("strictrun: trace: \(tracePath) (\(outcome.eventsWritten) events)")
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

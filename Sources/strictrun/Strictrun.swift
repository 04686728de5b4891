import ArgumentParser
import Foundation
import StrictrunSandbox

/// `strictrun`: run unmodified programs under an emulated microkernel's rules.
@main
struct Strictrun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strictrun",
        abstract: "Run an unmodified program under a microkernel target's rules (seccomp-BPF + ptrace) "
            + "and log every assumption that breaks.",
        discussion: """
            Exit status of `run`: the program's own status (128+N when killed by signal N); \
            125 when strictrun itself fails (bad profile, cannot trace, cannot write the trace); \
            126 when the program cannot be executed; 127 when it is not found.
            """,
        version: strictrunVersion,
        subcommands: [Run.self, ProfileCommand.self, ConformanceCommand.self, ReportCommand.self])

    static func main() {
        // Before any thread exists: only the forwarder thread may receive these.
        Sandbox.blockForwardedSignals()
        do {
            if let options = fastRun() {
                options.execute()
            } else {
                var command = try parseAsRoot()
                try command.run()
            }
        } catch let code as ExitCode {
            // A subcommand's own status (`conformance`, `profile`, …): no message to format.
            Foundation.exit(code.rawValue)
        } catch {
            exit(withError: error)
        }
    }

    /// `strictrun run …`, parsed by `Run` alone: swift-argument-parser's root parse builds the
    /// argument sets of every subcommand (reflection, a scan of the binary's protocol
    /// conformances per type), which was a fifth of an untripped run's CPU. Anything this
    /// parse does not accept (help, a typo, a missing value) goes back to the root parse,
    /// which prints the messages and help exactly as before.
    /// The usual launcher command lines do not reach the parser at all (`RunArguments`).
    static func fastRun() -> LaunchOptions? {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.first == "run" else { return nil }
        if let options = RunArguments.recognize(Array(arguments.dropFirst())) { return options }
        guard let run = try? Run.parse(Array(arguments.dropFirst())) else { return nil }
        // The program's arguments are captured for passthrough, so a help request where the program
        // would be (`strictrun run --help`) arrives as the program; after an explicit `--` it is one.
        if let first = run.command.first, ["-h", "--help"].contains(first) {
            exit(withError: CleanExit.helpRequest(Run.self))
        }
        return run.options
    }
}

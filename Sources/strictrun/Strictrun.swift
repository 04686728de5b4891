import ArgumentParser
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
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

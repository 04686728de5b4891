import ArgumentParser

/// `strictrun conformance …` (issue 5) — being written.
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance", abstract: "Run a test suite natively and under a profile (not yet available).")
}

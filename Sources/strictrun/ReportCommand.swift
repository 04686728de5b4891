import ArgumentParser

/// `strictrun report …` (issue 6) — being written.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Porting report from traces (not yet available).")
}

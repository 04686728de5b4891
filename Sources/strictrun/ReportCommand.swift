import ArgumentParser
import Foundation
import StrictrunConformance
import StrictrunResults
import StrictrunReport

/// `strictrun report`: the porting map of traces and conformance output directories — where,
/// in whose code, each blocked call lives (issue 6).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Porting report from traces and conformance output directories (HTML with charts, Markdown, JSON, text).",
        discussion: """
            Inputs: trace files of 'strictrun run' and output directories of 'strictrun conformance run' \
            (or 'merge'). Traces are read streaming: memory grows with the number of call sites, not of \
            events. A truncated last line is reported and skipped. Exit status: 0; 2 when an input cannot \
            be read (missing, not a trace) or the output cannot be written.
            """)

    @Argument(help: "Trace files (.jsonl) and/or conformance output directories.") var inputs: [String]
    @Option(name: .shortAndLong, help: "html, md, json or text (default: from --out's extension, else text).")
    var format: String?
    @Option(name: .shortAndLong, help: "Write the report here (default: stdout).") var out: String?
    @Option(help: "Compare with an earlier run: a trace, a conformance directory or a JSON report.") var baseline: String?
    @Option(help: "Sites shown per category in charts and tables (the JSON has all).") var top = 10
    @Option(help: "The report's title.") var title: String?

    func run() throws {
        // strictrun blocks SIGINT/SIGTERM/SIGHUP in every thread (for `run`): end a long report on them.
        SignalWatch.start { _ in Foundation.exit(130) }
        let chosen: ReportFormat
        if let format {
            guard let parsed = ReportFormat(rawValue: format == "markdown" ? "md" : format) else {
                Environment.fail("--format \(format): expected html, md, json or text", status: 2)
            }
            chosen = parsed
        } else {
            chosen = out.map(ReportFormat.forFile) ?? .text
        }
        guard top > 0 else { Environment.fail("--top must be positive", status: 2) }
        let generated = ISO8601DateFormatter().string(from: Date())
        var builder = ReportBuilder()
        do {
            for input in inputs { try builder.add(input) }
        } catch {
            Environment.fail("report: \(error)", status: 2)
        }
        var old: Report?
        if let baseline {
            do {
                old = try Report.baseline(baseline, generated: generated)
            } catch {
                Environment.fail("report: \(error)", status: 2)
            }
        }
        let report = builder.build(generated: generated, baseline: old, baselinePath: baseline)
        for problem in report.problems { Environment.note("report: \(problem)") }
        let heading = title ?? Self.defaultTitle(report)
        let text: String
        do {
            text = try chosen.render(report, title: heading, top: top)
        } catch {
            Environment.fail("report: \(error)", status: 2)
        }
        guard let out else {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            Environment.fail("report: cannot write \(out): \(error.localizedDescription)", status: 2)
        }
        Environment.note("report: \(chosen.rawValue) written to \(out) (\(report.sites.count) site(s), \(report.totals.policyEvents) policy event(s))")
    }

    static func defaultTitle(_ report: Report) -> String {
        if let conformance = report.conformance {
            return "Porting map: \(conformance.suite) under \(conformance.profile)"
        }
        let profiles = Set(report.inputs.compactMap(\.profile)).sorted().joined(separator: ", ")
        let subject = report.inputs.count == 1 ? (report.inputs[0].subject ?? report.inputs[0].path)
                                               : "\(report.inputs.count) traces"
        return "Porting map: \(subject)" + (profiles.isEmpty ? "" : " under \(profiles)")
    }
}

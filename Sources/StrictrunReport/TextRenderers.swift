import Foundation
import StrictrunResults
import StrictrunTrace

/// The output formats of `strictrun report`.
public enum ReportFormat: String, Sendable, CaseIterable {
    case html
    case md
    case json
    case text

    /// The format a file name implies (`.html`, `.md`, `.json`, else text).
    public static func forFile(_ path: String) -> ReportFormat {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "html", "htm": .html
        case "md", "markdown": .md
        case "json": .json
        default: .text
        }
    }

    /// Render `report`.
    public func render(_ report: Report, title: String, top: Int) throws(ReportError) -> String {
        switch self {
        case .html: return HTMLRenderer.render(report, title: title, top: top)
        case .md: return MarkdownRenderer.render(report, title: title, top: top)
        case .text: return TextRenderer.render(report, title: title, top: top)
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do {
                return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
            } catch {
                throw .output("cannot encode the report: \(error)")
            }
        }
    }
}

/// Markdown for a CI job summary or a pull-request comment: the same tables as the HTML page,
/// sites collapsed in `<details>`.
public enum MarkdownRenderer {
    public static func render(_ report: Report, title: String, top: Int) -> String {
        var out = ["# \(title)", ""]
        if let conformance = report.conformance { out += ["**\(conformance.headline)**", ""] }
        out += ["## Summary", "", "| measure | count |", "|---|---:|"]
        for (measure, value) in summaryRows(report) { out.append("| \(measure) | \(value) |") }
        out += ["", "## Categories", "",
                "| category | new failures (first blocked call) | tests broken | blocked calls | events | sites | processes |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for c in report.categories {
            out.append("| \(c.category) | \(c.newFailuresPrimary) | \(c.testsBroken) | \(c.blocked) | \(c.events) | \(c.sites) | \(c.processes) |")
        }
        if let wx = report.wxEmulation { out += [""] + wxSection(wx) }
        if let tls = report.tlsAdaptation {
            out += [""] + TLSRenderer.markdown(tls, runNoun: TLSRenderer.runNoun(report), top: top)
        }
        if let explore = report.explore { out += [""] + ExploreRenderer.markdown(explore) }
        out += ["", "## Top sites", ""]
        var categories: [String] = []
        for site in report.sites where !categories.contains(site.category) { categories.append(site.category) }
        for category in categories {
            let sites = report.sites(in: category)
            out += ["### \(category) (\(sites.count) site\(sites.count == 1 ? "" : "s"))", "",
                    "| rank | site | rules | tests broken (first) | tests broken | tests | events | processes | component | owner |",
                    "|---:|---|---|---:|---:|---:|---:|---:|---|---|"]
            for site in sites.prefix(top) {
                out.append("| \(site.rank) | `\(site.id)` | \(cell(site.rules.joined(separator: ", "))) | \(site.testsBrokenPrimary) | "
                           + "\(site.testsBroken) | \(site.tests) | \(site.events) | \(site.processes) | \(cell(site.component)) | "
                           + "`\(cell(site.owner.map(Component.brief) ?? "—"))` |")
            }
            if sites.count > top { out.append("\n\(sites.count - top) more \(category) site(s) in the JSON report.") }
            out.append("")
            for site in sites.prefix(min(top, 5)) { out += details(site) }
        }
        if report.sites.isEmpty { out += ["No policy event in the input.", ""] }
        out += ["## Components", "", "| component | sites | tests broken | events | categories |", "|---|---:|---:|---:|---|"]
        for c in report.components {
            out.append("| \(cell(c.name)) | \(c.sites) | \(c.testsBroken) | \(c.events) | \(c.categories.joined(separator: ", ")) |")
        }
        out.append("")
        if let diff = report.baseline {
            out += ["## Compared with `\(diff.path)`", "",
                    "\(diff.gone.count) site(s) gone, \(diff.new.count) new, \(diff.changed.count) changed, \(diff.unchanged) unchanged.", "",
                    "| change | site | category | rules | owner | events before | events after | tests broken before | tests broken after |",
                    "|---|---|---|---|---|---:|---:|---:|---:|"]
            for (kind, list) in [("gone", diff.gone), ("new", diff.new), ("changed", diff.changed)] {
                for c in list {
                    out.append("| \(kind) | `\(c.id)` | \(c.category) | \(cell(c.rules.joined(separator: ", "))) | `\(cell(c.owner ?? c.component))` | "
                               + "\(c.eventsBefore) | \(c.eventsAfter) | \(c.testsBrokenBefore) | \(c.testsBrokenAfter) |")
                }
            }
            out.append("")
        }
        if !report.problems.isEmpty {
            out += ["## Problems", ""] + report.problems.map { "- \(cell($0))" } + [""]
        }
        return out.joined(separator: "\n")
    }

    /// W^X emulation: what the JIT rework must carry.
    static func wxSection(_ wx: WXEmulationReport) -> [String] {
        var out = ["## W^X emulation: what the JIT rework must carry", "", wx.headline + ".", "",
                   "| run | flips | W+X requests |", "|---|---:|---:|"]
        for run in wx.byRun.prefix(15) { out.append("| \(cell(run.name)) | \(run.flips) | \(run.rewritten) |") }
        if !wx.codeWriters.isEmpty {
            out += ["", "Code that writes code (write faults, sampled):", "", "| site | sampled faults | top frames |", "|---|---:|---|"]
            for writer in wx.codeWriters {
                out.append("| `\(writer.site)` | \(writer.sampledFaults) | "
                           + writer.frames.prefix(3).map { "`\(cell(shortSymbolName($0)))`" }.joined(separator: " ← ") + " |")
            }
        }
        return out
    }

    /// The rows of the summary table, shared with the text renderer.
    static func summaryRows(_ report: Report) -> [(String, Int)] {
        var rows: [(String, Int)] = []
        if let c = report.conformance {
            rows += [("tests", c.tests), ("pass natively", c.nativePass), ("pass unmodified under \(c.profile)", c.pass),
                     ("new failures", c.newFailures), ("fail natively too (baseline-fail)", c.baselineFail), ("flaky", c.flaky)]
            if c.skipped > 0 { rows.append(("skipped natively", c.skipped)) }
            if c.incomplete > 0 { rows.append(("not finished", c.incomplete)) }
        }
        let t = report.totals
        rows += [("traces", t.traces), ("events", t.events), ("policy events", t.policyEvents), ("blocked calls", t.blocked),
                 ("logged calls", t.logged), ("processes", t.processes), ("sites", t.sites)]
        return rows
    }

    static func details(_ site: SiteStats) -> [String] {
        var out = ["<details><summary>#\(site.rank) <code>\(site.id)</code>: \(HTML.escape(site.owner.map(Component.brief) ?? "no stack")) "
                   + "— stack, tests, first call</summary>", ""]
        if let first = site.firstEvent { out += ["First call: `\(cell(first.oneLine))`", ""] }
        if !site.frames.isEmpty {
            out += ["```"] + site.frames.enumerated().map { index, frame in
                let source = frame.file.map { "  \($0)\(frame.line.map { ":\($0)" } ?? "")" } ?? ""
                return "#\(index) \(frame.symbol ?? "?") (\(frame.module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?"))\(source)"
            } + ["```", ""]
        }
        if !site.testList.isEmpty {
            out += ["Tests: " + site.testList.prefix(30).map { "`\($0)`" }.joined(separator: ", ")
                    + (site.testList.count > 30 || site.testListTruncated ? ", …" : ""), ""]
        }
        out += ["</details>", ""]
        return out
    }

    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "`", with: "'")
    }
}

/// Plain text for the terminal.
public enum TextRenderer {
    public static func render(_ report: Report, title: String, top: Int) -> String {
        var out = [title]
        if let conformance = report.conformance { out.append(conformance.headline) }
        out.append("")
        out += table(["measure", "count"], MarkdownRenderer.summaryRows(report).map { [$0.0, String($0.1)] }, numeric: [1])
        out.append("")
        let conformance = report.conformance != nil
        if conformance {
            out += table(["category", "new failures (first)", "tests broken", "blocked", "events", "sites"],
                         report.categories.map { [$0.category, String($0.newFailuresPrimary), String($0.testsBroken),
                                                  String($0.blocked), String($0.events), String($0.sites)] },
                         numeric: [1, 2, 3, 4, 5])
        } else {
            out += table(["category", "blocked", "events", "sites", "processes"],
                         report.categories.map { [$0.category, String($0.blocked), String($0.events), String($0.sites),
                                                  String($0.processes)] },
                         numeric: [1, 2, 3, 4])
        }
        if let wx = report.wxEmulation {
            out.append("")
            out.append(wx.headline)
            out += table(["run", "flips", "W+X requests"], wx.byRun.prefix(top).map { [$0.name, String($0.flips), String($0.rewritten)] },
                         numeric: [1, 2])
            for writer in wx.codeWriters.prefix(3) {
                out.append("  writes code: \(writer.sampledFaults)× \(writer.site)  "
                           + writer.frames.prefix(3).map(shortSymbolName).joined(separator: " ← "))
            }
        }
        if let tls = report.tlsAdaptation {
            out.append("")
            out += TLSRenderer.text(tls, runNoun: TLSRenderer.runNoun(report), top: top)
        }
        out.append("")
        out.append("top sites:")
        out += table(["#", "site", "category/rules"] + (conformance ? ["tests broken"] : []) + ["events", "owner", "component"],
                     report.sites.prefix(top).map { site in
                         [String(site.rank), site.id, "\(site.category)/\(site.rules.joined(separator: ","))"]
                             + (conformance ? ["\(site.testsBroken) (\(site.testsBrokenPrimary) first)"] : [])
                             + [String(site.events), String((site.owner.map(Component.brief) ?? "—").prefix(60)), site.component]
                     }, numeric: conformance ? [0, 4] : [0, 3])
        if !report.components.isEmpty {
            out.append("")
            out.append("components:")
            out += table(["component", "sites"] + (conformance ? ["tests broken"] : []) + ["events"],
                         report.components.prefix(top).map {
                             [$0.name, String($0.sites)] + (conformance ? [String($0.testsBroken)] : []) + [String($0.events)]
                         }, numeric: conformance ? [1, 2, 3] : [1, 2])
        }
        if let diff = report.baseline {
            out.append("")
            out.append("compared with \(diff.path): \(diff.gone.count) gone, \(diff.new.count) new, \(diff.changed.count) changed, \(diff.unchanged) unchanged")
            for (kind, list) in [("gone", diff.gone), ("new", diff.new), ("changed", diff.changed)] {
                for c in list {
                    out.append("  \(kind) \(c.id) \(c.category)/\(c.rules.joined(separator: ",")) \(c.owner ?? c.component): "
                               + "events \(c.eventsBefore) → \(c.eventsAfter), tests broken \(c.testsBrokenBefore) → \(c.testsBrokenAfter)")
                }
            }
        }
        for problem in report.problems { out.append("problem: \(problem)") }
        return out.joined(separator: "\n") + "\n"
    }

    static func table(_ header: [String], _ rows: [[String]], numeric: Set<Int>) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            var line = "  " + row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return numeric.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }
    }
}

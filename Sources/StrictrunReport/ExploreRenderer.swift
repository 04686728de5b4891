import Foundation
import StrictrunResults

/// The explore section of `summary.md` and of the Markdown and HTML reports: the verdicts, the
/// porting plan (sites ranked by tests regained), the ablation per rule and the JIT sentence.
public enum ExploreRenderer {
    static func cell(_ text: String) -> String { MarkdownRenderer.cell(text) }

    /// The headline: `explore: 12 new failures — 5 ENOSYS enough, …; 3 runs per failure`.
    public static func headline(_ explore: ExploreResults) -> String {
        guard !explore.verdicts.isEmpty else { return "explore: no new failure to explore" }
        let counts = explore.countsByKind.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")
        let regained = explore.verdicts.filter { $0.kind.regains }.count
        return "explore: \(explore.verdicts.count) new failure\(explore.verdicts.count == 1 ? "" : "s") — \(counts); "
            + "\(regained) regained by one answer at one site"
            + (explore.complete ? "" : explore.interrupted ? " (interrupted: partial)" : " (budget reached: partial)")
    }

    /// `ratio: 0.42× the conformance run (N runs, W s)`.
    public static func cost(_ explore: ExploreResults) -> String {
        let ratio = explore.conformanceWallSeconds > 0 ? explore.wallSeconds / explore.conformanceWallSeconds : 0
        return String(format: "%d runs (%d reused from the journal), %.1f s wall, %.2f× the conformance run's %.1f s",
                      explore.runs, explore.runsReused, explore.wallSeconds, ratio, explore.conformanceWallSeconds)
    }

    /// Markdown lines (a `##` section).
    public static func markdown(_ explore: ExploreResults) -> [String] {
        var out = ["## Explore: what would make each new failure pass", "", headline(explore), "",
                   "Cost: " + cost(explore) + ".", ""]
        out += ["### Porting plan (sites ranked by tests they give back)", ""]
        if explore.plan.isEmpty {
            out.append("No single site's answer gives a test back.")
        } else {
            out.append("| # | site | component | function | file:line | rule / call | answer | tests |")
            out.append("|---|---|---|---|---|---|---|---|")
            for (rank, entry) in explore.plan.enumerated() {
                let position = entry.file.map { "\($0)\(entry.line.map { ":\($0)" } ?? "")" } ?? "—"
                let answers = entry.byAnswer.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                out.append("| \(rank + 1) | `\(entry.site)` | \(cell(entry.component)) | `\(cell(entry.function))` | "
                           + "\(cell(position)) | \(entry.rule) / \(entry.syscall) | **\(entry.answer)** (\(answers)) | \(entry.tests.count) |")
            }
        }
        out.append("")
        if !explore.ablation.isEmpty {
            out += ["### If the target lifted one rule entirely", "", "| rule | tests regained | re-run | not applied |",
                    "|---|---|---|---|"]
            for rule in explore.ablation {
                out.append("| \(rule.rule) | +\(rule.regained.count) | \(rule.tried.count) | \(rule.notApplied) |")
            }
            out.append("")
        }
        if let jit = explore.jit {
            out += ["### JIT", "", jit.sentence + " (\(jit.tried.count) W^X crash\(jit.tried.count == 1 ? "" : "es") re-run under \(jit.profile))."]
            if !jit.regained.isEmpty { out.append("Tests: " + jit.regained.map { "`\($0)`" }.joined(separator: ", ")) }
            out.append("")
        }
        out += ["### Verdict per new failure", "",
                "| test | verdict (attribution) | site | answer | first blocked | evidence |", "|---|---|---|---|---|---|"]
        for verdict in explore.verdicts {
            out.append("| \(cell(verdict.test)) | \(verdict.kind.rawValue): \(cell(verdict.kind.sentence)) | "
                       + "\(verdict.site.map { "`\($0)` \(verdict.rule ?? "")" } ?? "—") | \(verdict.answer ?? "—") | "
                       + "\(verdict.firstBlocked ?? "—") | \(verdict.evidenceLog.map { "`\($0)`" } ?? "—") |")
        }
        out.append("")
        return out
    }

    /// The HTML section, with a chart of tests regained per site and per rule.
    public static func html(_ explore: ExploreResults) -> String {
        var out = "<section id=\"explore\"><h2>Explore: what would make each new failure pass</h2>"
        out += "<p class=\"headline\">\(HTML.escape(headline(explore)))</p><p class=\"meta\">\(HTML.escape(cost(explore)))</p>"
        let siteBars = explore.plan.prefix(12).map { entry in
            SVGChart.Bar(label: "\(entry.function) [\(entry.answer)]", value: entry.tests.count, color: "#2e86c1",
                         detail: "\(entry.site) \(entry.component) \(entry.rule): \(entry.answer)", data: [("site", entry.site)])
        }
        let ruleBars = explore.ablation.map { rule in
            SVGChart.Bar(label: rule.rule, value: rule.regained.count, color: "#27ae60",
                         detail: "\(rule.regained.count) of \(rule.tried.count) re-run", data: [("rule", rule.rule)])
        }
        out += "<section class=\"charts\">"
        out += SVGChart.rows(Array(siteBars), title: "Tests regained per site (one answer)", id: "explore-sites", unit: "tests")
        out += SVGChart.rows(ruleBars, title: "Tests regained per rule lifted", id: "explore-rules", unit: "tests")
        out += "</section><h3>Porting plan</h3><table id=\"plan\"><tr><th>#</th><th>site</th><th>component</th><th>function</th>"
            + "<th>file:line</th><th>rule / call</th><th>answer</th><th>tests</th></tr>"
        for (rank, entry) in explore.plan.enumerated() {
            let position = entry.file.map { "\($0)\(entry.line.map { ":\($0)" } ?? "")" } ?? "—"
            out += "<tr data-site=\"\(entry.site)\"><td class=\"n\">\(rank + 1)</td><td><code>\(entry.site)</code></td>"
                + "<td>\(HTML.escape(entry.component))</td><td><code>\(HTML.escape(entry.function))</code></td>"
                + "<td>\(HTML.escape(position))</td><td>\(HTML.escape(entry.rule)) / \(HTML.escape(entry.syscall))</td>"
                + "<td><b>\(HTML.escape(entry.answer))</b></td><td class=\"n\" title=\"\(HTML.escape(entry.tests.joined(separator: " ")))\">"
                + "\(entry.tests.count)</td></tr>"
        }
        out += "</table>"
        if let jit = explore.jit { out += "<h3>JIT</h3><p id=\"explore-jit\">\(HTML.escape(jit.sentence))</p>" }
        out += "<h3>Verdict per new failure</h3><table id=\"verdicts\"><tr><th>test</th><th>verdict (attribution)</th><th>site</th>"
            + "<th>answer</th><th>first blocked</th><th>evidence</th></tr>"
        for verdict in explore.verdicts {
            out += "<tr data-verdict=\"\(verdict.kind.rawValue)\"><td>\(HTML.escape(verdict.test))</td>"
                + "<td>\(verdict.kind.rawValue): \(HTML.escape(verdict.kind.sentence))</td>"
                + "<td>\(verdict.site.map { "<code>\($0)</code> \(HTML.escape(verdict.rule ?? ""))" } ?? "—")</td>"
                + "<td>\(HTML.escape(verdict.answer ?? "—"))</td><td>\(HTML.escape(verdict.firstBlocked ?? "—"))</td>"
                + "<td>\(verdict.evidenceLog.map { "<code>\(HTML.escape($0))</code>" } ?? "—")</td></tr>"
        }
        return out + "</table></section>"
    }
}

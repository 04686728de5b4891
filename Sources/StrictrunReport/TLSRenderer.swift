import Foundation
import StrictrunResults
import StrictrunTrace

/// "What the TLS adaptation must carry": the TLS section of `summary.md` and of the Markdown,
/// HTML and text reports (the W^X section's counterpart), drawn from one `TLSAdaptation`.
public enum TLSRenderer {
    /// The section's title.
    public static let title = "TLS: what the TLS adaptation must carry"

    /// What each column means, under the headline.
    static let explanation = "Each mediated handshake is an exchange the port makes with the trusted component that "
        + "holds the keys; each verification failure a connection the app's own trust accepted and the target's trust "
        + "store refuses; each private-key read key material the app must stop holding; each server-side TLS a "
        + "listener whose key must move to the trusted component."

    /// What a run is called: a test of a conformance input, else a run (a trace).
    static func runNoun(_ report: Report) -> String { report.conformance != nil ? "test" : "run" }

    static let countHeaders = ["handshakes", "verification failures", "key reads", "server-side TLS", "connections routed",
                               "relayed (not TLS)"]

    static func countCells(_ c: TLSCounts) -> [String] {
        [c.handshakes, c.verificationFailures, c.keyReads, c.serverInApp, c.connections, c.relayed].map(String.init)
    }

    /// What a site's lists say: destinations, failure reasons, key files.
    static func details(_ site: TLSSite) -> String {
        var parts: [String] = []
        if !site.destinations.isEmpty { parts.append("to " + site.destinations.joined(separator: ", ")) }
        if !site.reasons.isEmpty { parts.append("refused: " + site.reasons.joined(separator: "; ")) }
        if !site.paths.isEmpty {
            parts.append("reads " + site.paths.joined(separator: ", ")
                         + (site.keyFormats.isEmpty ? "" : " (\(site.keyFormats.joined(separator: ", ")))"))
        }
        return parts.joined(separator: " · ")
    }

    static func frames(_ site: TLSSite, _ limit: Int = 4) -> [String] {
        site.frames.prefix(limit).map(shortSymbolName)
    }

    /// Markdown lines (a `##` section); `runNoun` names a run (`test` in `summary.md`, `run` in a report).
    public static func markdown(_ tls: TLSAdaptation, runNoun: String = "run", top: Int = 15) -> [String] {
        func cell(_ text: String) -> String { MarkdownRenderer.cell(text) }
        var out = ["## \(title)", "", tls.headline(runNoun: runNoun) + ".", "", explanation, "",
                   "| \(runNoun) | " + countHeaders.joined(separator: " | ") + " |",
                   "|---|" + String(repeating: "---:|", count: countHeaders.count)]
        for run in tls.byRun.prefix(top) {
            out.append("| \(cell(run.name)) | " + countCells(run.counts).joined(separator: " | ") + " |")
        }
        if tls.runs > min(top, tls.byRun.count) {
            out.append("\n\(tls.runs - min(top, tls.byRun.count)) more \(runNoun)(s) in the JSON.")
        }
        out += ["", "By call site (routed connects, key reads, listens):", "",
                "| site | rules | \(runNoun)s | " + countHeaders.prefix(4).joined(separator: " | ") + " | what | top frames |",
                "|---|---|---:|---:|---:|---:|---:|---|---|"]
        for entry in tls.sites.prefix(top) {
            let site = entry.site
            let frames = frames(site).map { "`\(cell($0))`" }.joined(separator: " ← ")
            let what = details(site)
            out.append("| `\(cell(site.id))` | \(cell(site.rules.joined(separator: ", "))) | \(entry.runs) | "
                       + countCells(site.counts).prefix(4).joined(separator: " | ")
                       + " | \(what.isEmpty ? "—" : cell(what)) | \(frames.isEmpty ? "—" : frames) |")
        }
        if tls.sites.count > top { out.append("\n\(tls.sites.count - top) more site(s) in the JSON.") }
        out.append("")
        return out
    }

    /// The HTML section (`id="tls-adaptation"`; a row per run with `data-run`, per site with `data-site`).
    public static func html(_ tls: TLSAdaptation, runNoun: String = "run", top: Int = 15) -> String {
        func th(_ names: [String]) -> String { "<tr>" + names.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr>" }
        func numbers(_ cells: [String]) -> String { cells.map { "<td class=\"n\">\($0)</td>" }.joined() }
        var html = "<section id=\"tls-adaptation\"><h2>\(HTML.escape(title))</h2>"
            + "<p id=\"tls-headline\">\(HTML.escape(tls.headline(runNoun: runNoun))).</p>"
            + "<p class=\"muted\">\(HTML.escape(explanation))</p>"
            + "<table id=\"tls-runs\">" + th([runNoun] + countHeaders)
        for run in tls.byRun.prefix(top) {
            html += "<tr data-run=\"\(HTML.escape(run.name))\"><td>\(HTML.escape(run.name))</td>\(numbers(countCells(run.counts)))</tr>"
        }
        html += "</table><h3>By call site</h3><table id=\"tls-sites\">"
            + th(["site", "rules", "\(runNoun)s"] + countHeaders.prefix(4) + ["what", "top frames"])
        for entry in tls.sites.prefix(top) {
            let site = entry.site
            html += "<tr data-site=\"\(HTML.escape(site.id))\"><td><code>\(HTML.escape(site.id))</code></td>"
                + "<td>\(HTML.escape(site.rules.joined(separator: ", ")))</td><td class=\"n\">\(entry.runs)</td>"
                + numbers(Array(countCells(site.counts).prefix(4)))
                + "<td>\(HTML.escape(details(site)))</td>"
                + "<td><code>\(frames(site).map(HTML.escape).joined(separator: " ← "))</code></td></tr>"
        }
        return html + "</table></section>"
    }

    /// Text lines for the terminal.
    static func text(_ tls: TLSAdaptation, runNoun: String = "run", top: Int) -> [String] {
        var out = [tls.headline(runNoun: runNoun)]
        out += TextRenderer.table([runNoun, "handshakes", "verif. failures", "key reads", "server TLS"],
                                  tls.byRun.prefix(top).map { [$0.name] + countCells($0.counts).prefix(4) },
                                  numeric: [1, 2, 3, 4])
        for entry in tls.sites.prefix(min(top, 5)) {
            let c = entry.site.counts
            out.append("  tls site \(entry.site.id): \(c.handshakes) handshakes, \(c.verificationFailures) verification failures, "
                       + "\(c.keyReads) key reads, \(c.serverInApp) server TLS  "
                       + frames(entry.site, 3).joined(separator: " ← "))
        }
        return out
    }
}

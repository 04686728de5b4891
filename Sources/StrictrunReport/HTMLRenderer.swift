import Foundation
import StrictrunResults
import StrictrunTrace

/// One self-contained HTML page (inline CSS and SVG; no script, no network): the summary table,
/// a chart of new failures (or blocked calls) per category, charts of the top sites and
/// components, and every site expandable (`<details>`) to its whole stack, the tests it breaks
/// and its first blocked call's decoded arguments.
public enum HTMLRenderer {
    public static func render(_ report: Report, title: String, top: Int = 10) -> String {
        var body: [String] = []
        body.append("<header><h1>\(HTML.escape(title))</h1>")
        body.append("<p class=\"meta\">strictrun report · \(HTML.escape(report.generated)) · \(report.inputs.count) input(s): "
                    + report.inputs.map { "<code>\(HTML.escape($0.path))</code> (\($0.kind))" }.joined(separator: ", ") + "</p></header>")
        if let conformance = report.conformance {
            body.append("<p class=\"headline\" id=\"headline\">\(HTML.escape(conformance.headline))</p>")
        }
        body.append("<section class=\"charts\"><div>")
        body.append(summaryTable(report))
        body.append("</div><div><h2>New failures and calls</h2>")
        body.append(categoryChart(report))
        body.append("</div></section><section class=\"charts\">")
        body.append(siteChart(report, top: top))
        body.append(componentChart(report, top: top))
        body.append("</section>")
        body.append(categoriesTable(report))
        if let wx = report.wxEmulation { body.append(wxSection(wx)) }
        if let tls = report.tlsAdaptation { body.append(TLSRenderer.html(tls, runNoun: TLSRenderer.runNoun(report), top: top)) }
        if let explore = report.explore { body.append(ExploreRenderer.html(explore)) }
        body.append(sitesSection(report))
        body.append(componentsTable(report))
        if let baseline = report.baseline { body.append(baselineSection(baseline)) }
        if !report.problems.isEmpty {
            body.append("<section id=\"problems\"><h2>Problems</h2><ul>"
                        + report.problems.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul></section>")
        }
        body.append("<footer>JSON of this report: <code>strictrun report --format json</code> (schema <code>\(reportSchema)</code>).</footer>")
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title))</title>
            <style>\(style)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }

    static let style = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;margin:0 auto;max-width:1180px;padding:16px 24px}
        h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        h3{font-size:15px;margin:18px 0 6px}.meta{color:#666;font-size:12px}code{font:12px ui-monospace,"DejaVu Sans Mono",monospace}
        .headline{font-size:17px;font-weight:600;background:#f4f6f8;border-left:4px solid #c0392b;padding:10px 14px}
        table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
        th{background:#f4f6f8}td.n{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even) td{background:#fafbfc}
        .charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.chart{background:#fff;border:1px solid #e3e3e3;border-radius:4px;max-width:100%;height:auto}
        .chart-title{font-size:14px;font-weight:600;fill:#333}.chart .label{font-size:12px;fill:#333}.chart .value{font-size:12px;fill:#111;font-weight:600}
        .chart .axis{font-size:11px;fill:#777}.chart .grid{stroke:#eee}.chart .axis-line{stroke:#999}.chart .empty{fill:#999;font-size:13px}
        details.site{border:1px solid #e3e3e3;border-radius:4px;margin:6px 0;padding:4px 10px}details.site[open]{background:#fcfcfd}
        details.site summary{cursor:pointer}.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
        .frames td{font:12px ui-monospace,"DejaVu Sans Mono",monospace}.frames tr.owner td{background:#fff4d6;font-weight:600}.tests{columns:3;font-size:12px}.muted{color:#888}
        footer{margin-top:32px;color:#888;font-size:12px}
        """

    /// W^X emulation: flips by run and the code that writes code.
    static func wxSection(_ wx: WXEmulationReport) -> String {
        var html = "<section id=\"wx-emulation\"><h2>W^X emulation: what the JIT rework must carry</h2>"
            + "<p>\(HTML.escape(wx.headline)).</p><table><tr><th>run</th><th>flips</th><th>W+X requests</th></tr>"
        for run in wx.byRun.prefix(15) {
            html += "<tr><td>\(HTML.escape(run.name))</td><td class=\"n\">\(run.flips)</td><td class=\"n\">\(run.rewritten)</td></tr>"
        }
        html += "</table>"
        if !wx.codeWriters.isEmpty {
            html += "<h3>Code that writes code (write faults, sampled)</h3><table><tr><th>site</th><th>sampled faults</th><th>top frames</th></tr>"
            for writer in wx.codeWriters {
                html += "<tr><td><code>\(HTML.escape(writer.site))</code></td><td class=\"n\">\(writer.sampledFaults)</td><td><code>"
                    + writer.frames.prefix(3).map { HTML.escape(shortSymbolName($0)) }.joined(separator: " ← ") + "</code></td></tr>"
            }
            html += "</table>"
        }
        return html + "</section>"
    }

    static func summaryTable(_ report: Report) -> String {
        let rows = MarkdownRenderer.summaryRows(report)
        return "<h2>Summary</h2><table id=\"summary\"><tr><th>measure</th><th>count</th></tr>"
            + rows.map { "<tr data-measure=\"\(HTML.escape($0.0))\"><td>\(HTML.escape($0.0))</td><td class=\"n\">\($0.1)</td></tr>" }.joined()
            + "</table>"
    }

    static func categoryChart(_ report: Report) -> String {
        if report.conformance != nil {
            // The seed's three categories always, then the others, `unattributed` last.
            var names = ConformanceResults.headlineCategories
            for category in report.categories where !names.contains(category.category) && category.category != Attribution.unattributed {
                names.append(category.category)
            }
            names.append(Attribution.unattributed)
            let bars = names.map { name in
                SVGChart.Bar(label: name, value: report.categories.first { $0.category == name }?.newFailuresPrimary ?? 0,
                             color: SVGChart.color(category: name),
                             detail: "\(name): new failures whose first blocked call is of this category",
                             data: [("category", name)])
            }
            return SVGChart.columns(bars, title: "New failures per category (first blocked call)", id: "chart-categories",
                                    unit: "tests", width: 560)
        }
        let bars = report.categories.map { category in
            SVGChart.Bar(label: category.category, value: category.blocked, color: SVGChart.color(category: category.category),
                         data: [("category", category.category)])
        }
        return SVGChart.columns(bars, title: "Blocked calls per category", id: "chart-categories", unit: "calls", width: 560)
    }

    /// The owning function and its caller: two sites in one function differ by who called it.
    static func siteLabel(_ site: SiteStats) -> String {
        guard let owner = site.owner else { return "\(site.syscalls.joined(separator: ",")) [\(site.category)]" }
        var label = Component.brief(owner)
        if let index = site.frames.firstIndex(of: owner), index + 1 < site.frames.count {
            let caller = Component.brief(site.frames[index + 1]).components(separatedBy: "::").suffix(2).joined(separator: "::")
            label += " ← " + caller
        }
        return label
    }

    static func siteChart(_ report: Report, top: Int) -> String {
        let conformance = report.conformance != nil
        let bars = report.sites.prefix(top).map { site in
            SVGChart.Bar(label: siteLabel(site), value: conformance ? site.testsBroken : site.events,
                         color: SVGChart.color(category: site.category),
                         detail: "site \(site.id) (\(site.category)/\(site.rules.joined(separator: ",")))",
                         data: [("site", site.id), ("category", site.category)])
        }
        return SVGChart.rows(Array(bars), title: conformance ? "Top sites: tests they break" : "Top sites: calls",
                             id: "chart-sites", unit: conformance ? "tests" : "calls")
    }

    static func componentChart(_ report: Report, top: Int) -> String {
        let conformance = report.conformance != nil
        let bars = report.components.prefix(top).map { component in
            SVGChart.Bar(label: "\(component.name) (\(component.sites) site\(component.sites == 1 ? "" : "s"))",
                         value: conformance ? component.testsBroken : component.events,
                         color: SVGChart.color(category: component.categories.first ?? ""),
                         data: [("component", component.name)])
        }
        return SVGChart.rows(Array(bars), title: conformance ? "Components: tests broken" : "Components: calls",
                             id: "chart-components", unit: conformance ? "tests" : "calls")
    }

    static func categoriesTable(_ report: Report) -> String {
        var html = "<h2>Categories</h2><table id=\"categories\"><tr><th>category</th><th>new failures (first blocked call)</th>"
            + "<th>tests broken</th><th>blocked calls</th><th>events</th><th>sites</th><th>processes</th><th>rules</th></tr>"
        for c in report.categories {
            let rules = c.rules.map { "\($0.rule) (\($0.events))" }.joined(separator: ", ")
            html += "<tr data-category=\"\(HTML.escape(c.category))\"><td><span class=\"swatch\" style=\"background:\(SVGChart.color(category: c.category))\"></span>"
                + "\(HTML.escape(c.category))</td><td class=\"n\">\(c.newFailuresPrimary)</td><td class=\"n\">\(c.testsBroken)</td>"
                + "<td class=\"n\">\(c.blocked)</td><td class=\"n\">\(c.events)</td><td class=\"n\">\(c.sites)</td>"
                + "<td class=\"n\">\(c.processes)</td><td>\(HTML.escape(rules))</td></tr>"
        }
        return html + "</table>"
    }

    static func sitesSection(_ report: Report) -> String {
        var html = "<h2>Sites</h2><p class=\"muted\">Ranked within each category"
            + (report.conformance != nil ? " by the tests whose first blocked call is there, then by the tests they appear in." : " by calls.")
            + " Open a site for its whole stack, the tests and its first call.</p>"
        var categories: [String] = []
        for site in report.sites where !categories.contains(site.category) { categories.append(site.category) }
        for category in categories {
            html += "<h3><span class=\"swatch\" style=\"background:\(SVGChart.color(category: category))\"></span>\(HTML.escape(category))</h3>"
            for site in report.sites(in: category) { html += siteDetails(site) }
        }
        if report.sites.isEmpty { html += "<p class=\"muted\">No policy event in the input.</p>" }
        return html
    }

    static func siteDetails(_ site: SiteStats) -> String {
        var summary = "#\(site.rank) <code>\(HTML.escape(site.id))</code> \(HTML.escape(site.rules.joined(separator: ", "))) — "
        if site.tests > 0 { summary += "\(site.testsBroken) test(s) broken (\(site.testsBrokenPrimary) first), \(site.tests) hit, " }
        summary += "\(site.events) call(s), \(site.processes) process(es) — <b>\(HTML.escape(site.owner.map(Component.brief) ?? "no stack"))</b>"
            + " <span class=\"muted\">\(HTML.escape(site.component))</span>"
        var html = "<details class=\"site\"\(site.rank == 1 ? " open" : "") id=\"site-\(HTML.escape(site.id))\" data-site=\"\(HTML.escape(site.id))\" "
            + "data-tests-broken=\"\(site.testsBroken)\" data-events=\"\(site.events)\"><summary>\(summary)</summary>"
        let actions = site.actions.map { "\($0.action) ×\($0.events)" }.joined(separator: ", ")
        html += "<table><tr><th>syscalls</th><td>\(HTML.escape(site.syscalls.joined(separator: ", ")))</td></tr>"
            + "<tr><th>actions</th><td>\(HTML.escape(actions))</td></tr>"
            + "<tr><th>programs</th><td>\(HTML.escape(site.programs.joined(separator: ", ")))</td></tr>"
            + "<tr><th>first / last seen</th><td>\(HTML.escape(site.firstSeen ?? "?")) / \(HTML.escape(site.lastSeen ?? "?"))</td></tr></table>"
        if let first = site.firstEvent {
            html += "<h4>First call: <code>\(HTML.escape(first.oneLine))</code></h4>"
            if case .object(let members)? = first.args?.value, !members.isEmpty {
                html += "<table class=\"args\"><tr><th>argument</th><th>value</th></tr>"
                    + members.map { "<tr><td>\(HTML.escape($0.0))</td><td><code>\(HTML.escape($0.1.stringValue ?? $0.1.serialized()))</code></td></tr>" }.joined()
                    + "</table>"
            }
        }
        if site.frames.isEmpty {
            html += "<p class=\"muted\">No stack (the run had --no-stacks, or the site cap was reached before).</p>"
        } else {
            html += "<table class=\"frames\"><tr><th>#</th><th>function</th><th>module</th><th>source</th></tr>"
            let ownerIndex = site.owner.flatMap { site.frames.firstIndex(of: $0) }
            for (index, frame) in site.frames.enumerated() {
                let module = frame.module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?"
                let source = frame.file.map { "\($0)\(frame.line.map { ":\($0)" } ?? "")" } ?? ""
                html += "<tr\(index == ownerIndex ? " class=\"owner\" title=\"the owner: first frame outside the C library\"" : "")><td class=\"n\">\(index)</td><td>\(HTML.escape(frame.symbol ?? "?"))</td>"
                    + "<td>\(HTML.escape(module))+\(HTML.escape(frame.offset ?? "?"))</td><td>\(HTML.escape(source))</td></tr>"
            }
            html += "</table>"
        }
        if !site.testList.isEmpty {
            html += "<h4>Tests (\(site.testsBroken) broken, \(site.tests) hit\(site.testListTruncated ? "; first \(site.testList.count) shown" : ""))</h4>"
                + "<ul class=\"tests\">" + site.testList.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>"
        }
        return html + "</details>"
    }

    static func componentsTable(_ report: Report) -> String {
        var html = "<h2>Components</h2><p class=\"muted\">Sites grouped by the code that makes the call: "
            + "the first frame outside the C library, by module and namespace prefix.</p>"
            + "<table id=\"components\"><tr><th>component</th><th>sites</th><th>tests broken</th><th>events</th><th>categories</th></tr>"
        for c in report.components {
            html += "<tr><td>\(HTML.escape(c.name))</td><td class=\"n\">\(c.sites)</td><td class=\"n\">\(c.testsBroken)</td>"
                + "<td class=\"n\">\(c.events)</td><td>\(HTML.escape(c.categories.joined(separator: ", ")))</td></tr>"
        }
        return html + "</table>"
    }

    static func baselineSection(_ diff: BaselineDiff) -> String {
        var html = "<section id=\"baseline\"><h2>Compared with <code>\(HTML.escape(diff.path))</code></h2>"
            + "<p>\(diff.gone.count) site(s) gone, \(diff.new.count) new, \(diff.changed.count) changed, \(diff.unchanged) unchanged.</p>"
            + "<table id=\"baseline-changes\"><tr><th>change</th><th>site</th><th>category / rules</th><th>owner</th>"
            + "<th>events before</th><th>events after</th><th>tests broken before</th><th>tests broken after</th></tr>"
        for (kind, list) in [("gone", diff.gone), ("new", diff.new), ("changed", diff.changed)] {
            for change in list {
                html += "<tr class=\"\(kind)\" data-change=\"\(kind)\" data-site=\"\(HTML.escape(change.id))\"><td>\(kind)</td>"
                    + "<td><code>\(HTML.escape(change.id))</code></td><td>\(HTML.escape(change.category)) / \(HTML.escape(change.rules.joined(separator: ", ")))</td>"
                    + "<td>\(HTML.escape(change.owner ?? change.component))</td><td class=\"n\">\(change.eventsBefore)</td>"
                    + "<td class=\"n\">\(change.eventsAfter)</td><td class=\"n\">\(change.testsBrokenBefore)</td>"
                    + "<td class=\"n\">\(change.testsBrokenAfter)</td></tr>"
            }
        }
        return html + "</table></section>"
    }
}

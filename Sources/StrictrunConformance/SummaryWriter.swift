import Foundation
import StrictrunReport
import StrictrunResults
import StrictrunTrace

/// `summary.md`: the seed's table ("N of M tests passed unmodified under P; of the F new
/// failures: process …, wx …, tls …, unattributed …"), the top sites by the number of tests
/// they break, and the lists a reader acts on.
public enum SummaryWriter {
    /// The categories the summary sentence always names, in this order (the seed's three).
    public static var headlineCategories: [String] { ConformanceResults.headlineCategories }

    /// The one-sentence summary.
    public static func headline(_ results: ConformanceResults) -> String { results.headline }

    /// A site and the new failures whose traces blocked a call there.
    public struct SiteBreakage: Sendable {
        public var site: String
        public var category: String
        public var rules: [String]
        public var tests: [String]
        /// Tests whose first blocked call was at this site.
        public var primaryTests: Int
        public var frames: [Frame]
    }

    /// Sites ranked by the number of new failures they appear in (then by first-blocked-call count).
    public static func sitesByTests(_ results: ConformanceResults) -> [SiteBreakage] {
        var sites: [String: SiteBreakage] = [:]
        for test in results.tests where test.status == .newFailure {
            guard let attribution = test.attribution else { continue }
            for hit in attribution.categories {
                for site in hit.sites {
                    var entry = sites[site] ?? SiteBreakage(site: site, category: hit.category, rules: [], tests: [],
                                                            primaryTests: 0, frames: [])
                    if !entry.tests.contains(test.id) { entry.tests.append(test.id) }
                    for rule in hit.rules where !entry.rules.contains(rule) { entry.rules.append(rule) }
                    sites[site] = entry
                }
            }
            if let first = attribution.first, let site = first.site {
                sites[site]?.primaryTests += 1
                if sites[site]?.frames.isEmpty == true { sites[site]?.frames = first.frames }
            }
        }
        return sites.values.sorted {
            $0.tests.count != $1.tests.count ? $0.tests.count > $1.tests.count
                : $0.primaryTests != $1.primaryTests ? $0.primaryTests > $1.primaryTests : $0.site < $1.site
        }
    }

    /// Tests by the W^X flips of their constrained run (`wx: emulate`), most first; empty
    /// under other levels.
    public static func flipsByTest(_ results: ConformanceResults) -> [(test: String, counters: WXEmulationDigest)] {
        results.tests.compactMap { test in
            guard let counters = test.profile?.attempts.last?.digest?.wxEmulation else { return nil }
            return (test.id, counters)
        }.sorted { $0.counters.flips != $1.counters.flips ? $0.counters.flips > $1.counters.flips : $0.test < $1.test }
    }

    /// One line on the flips of a run: what the JIT rework must carry. Nil without emulation.
    public static func flipsLine(_ results: ConformanceResults) -> String? {
        let byTest = flipsByTest(results)
        guard !byTest.isEmpty else { return nil }
        let flips = byTest.reduce(0) { $0 + $1.counters.flips }
        let rewritten = byTest.reduce(0) { $0 + $1.counters.rewritten }
        let flipping = byTest.filter { $0.counters.flips > 0 }
        let top = flipping.prefix(3).map { "\($0.test) \($0.counters.flips)" }.joined(separator: ", ")
        return "W^X emulation: \(flips) page flips in \(flipping.count) of \(byTest.count) tests, "
            + "\(rewritten) W+X requests granted as RW" + (top.isEmpty ? "" : " (most: \(top))")
    }

    /// One line on the run's TLS: what the TLS adaptation must carry. Nil when no test did anything TLS.
    public static func tlsLine(_ results: ConformanceResults) -> String? {
        results.tlsAdaptation?.headline(runNoun: "test")
    }

    public static func markdown(_ results: ConformanceResults, topSites: Int = 15) -> String {
        let t = results.totals
        let p = "`\(results.profile)`"
        var out: [String] = []
        out.append("# strictrun conformance: \(results.suite.name) under \(results.profile)")
        out.append("")
        if let problems = results.mergeProblems, !problems.isEmpty {
            out.append("> **Incomplete merge** (`--allow-partial`): the numbers cover the inputs that were there.")
            for problem in problems { out.append("> - \(cell(problem))") }
            out.append("")
        } else if !results.complete {
            out.append("> **Incomplete run** (interrupted): the numbers cover the tests that finished.\n")
        }
        out.append("**\(headline(results))**")
        out.append("")
        out.append("| | tests |")
        out.append("|---|---:|")
        out.append("| tests | \(t.tests) |")
        out.append("| pass natively | \(t.nativePass) |")
        out.append("| pass unmodified under \(p) | \(t.pass) |")
        out.append("| new failures (pass natively, fail under \(p)) | \(t.newFailure) |")
        out.append("| fail natively too (baseline-fail, excluded) | \(t.baselineFail) |")
        out.append("| flaky (passed on retry) | \(t.flaky) |")
        if t.skipped > 0 { out.append("| skipped themselves natively (excluded) | \(t.skipped) |") }
        if t.incomplete > 0 { out.append("| not finished | \(t.incomplete) |") }
        out.append("")

        out.append("## New failures by category")
        out.append("")
        let explored = results.tests.contains { $0.attribution?.explored != nil }
        out.append(explored ? "| category | tests (attribution: explore's verdict, else first blocked call) | tests (any blocked call) |"
                            : "| category | tests (first blocked call) | tests (any blocked call) |")
        out.append("|---|---:|---:|")
        let primary = Dictionary(uniqueKeysWithValues: t.newFailuresByPrimary.map { ($0.category, $0.tests) })
        let any = Dictionary(uniqueKeysWithValues: t.newFailuresByCategory.map { ($0.category, $0.tests) })
        var categories = headlineCategories
        for count in t.newFailuresByPrimary + t.newFailuresByCategory
            where !categories.contains(count.category) && count.category != Attribution.unattributed {
            categories.append(count.category)
        }
        for category in categories {
            out.append("| \(category) | \(primary[category] ?? 0) | \(any[category] ?? 0) |")
        }
        out.append("| unattributed | \(primary[Attribution.unattributed] ?? 0) | — |")
        if t.newFailureTimeouts + t.newFailureCrashes > 0 {
            out.append("")
            out.append("Of the new failures, \(t.newFailureCrashes) crashed (a signal) and \(t.newFailureTimeouts) timed out under \(p).")
        }
        out.append("")

        let sites = sitesByTests(results)
        if !sites.isEmpty {
            out.append("## Top sites by tests they break")
            out.append("")
            out.append("| site | category / rule | tests | first blocked there | top frames |")
            out.append("|---|---|---:|---:|---|")
            for site in sites.prefix(topSites) {
                let frames = site.frames.prefix(4).map { "`\(cell($0.shortName))`" }.joined(separator: " ← ")
                out.append("| `\(site.site)` | \(site.category) / \(site.rules.joined(separator: ", ")) | "
                           + "\(site.tests.count) | \(site.primaryTests) | \(frames.isEmpty ? "—" : frames) |")
            }
            if sites.count > topSites { out.append("\n\(sites.count - topSites) more site(s) in `results.json`.") }
            out.append("")
        }

        let flips = flipsByTest(results)
        if let line = flipsLine(results) {
            out.append("## W^X emulation: what the JIT rework must carry")
            out.append("")
            out.append(line + ". Each flip is a page the JIT wrote and then ran (or the reverse): under strict W^X "
                       + "the port must separate code generation from execution at least that often.")
            out.append("")
            out.append("| test | flips | exec faults | write faults | lease waits | W+X requests |")
            out.append("|---|---:|---:|---:|---:|---:|")
            for (test, c) in flips.prefix(15) where c.flips > 0 {
                out.append("| \(cell(test)) | \(c.flips) | \(c.execFaults) | \(c.writeFaults) | \(c.leaseWaits) | \(c.rewritten) |")
            }
            out.append("")
        }

        if let tls = results.tlsAdaptation {
            out += TLSRenderer.markdown(tls, runNoun: "test", top: topSites)
        }

        let failures = results.tests.filter { $0.status == .newFailure }
        if !failures.isEmpty {
            out.append("## New failures")
            out.append("")
            out.append("| test | under \(p) | \(explored ? "attribution (explore) | " : "")first blocked call | categories |")
            out.append(explored ? "|---|---|---|---|---|" : "|---|---|---|---|")
            for test in failures {
                let first = test.attribution?.first.map { "`\(cell($0.oneLine))`" } ?? "unattributed"
                let categories = test.attribution?.categories.map(\.category).joined(separator: ", ") ?? ""
                let verdict = test.attribution?.explored.map { "\(cell($0.text)) | " } ?? (explored ? "— | " : "")
                out.append("| \(cell(test.id)) | \(JUnitWriter.describe(test.profile?.attempts.first)) | \(verdict)\(first) | "
                           + "\(categories.isEmpty ? "—" : categories) |")
            }
            out.append("")
        }
        let flaky = results.tests.filter { $0.status == .flaky }
        if !flaky.isEmpty {
            out.append("## Flaky (failed, then passed on retry)")
            out.append("")
            for test in flaky {
                let modes = [test.native?.flaky == true ? "natively" : nil,
                             test.profile?.flaky == true ? "under \(p)" : nil].compactMap { $0 }
                out.append("- \(cell(test.id)) (\(modes.joined(separator: " and ")))")
            }
            out.append("")
        }
        let baseline = results.tests.filter { $0.status == .baselineFail }
        if !baseline.isEmpty {
            out.append("## Fail natively too (excluded)")
            out.append("")
            for test in baseline {
                out.append("- \(cell(test.id)): natively \(JUnitWriter.describe(test.native?.attempts.first)), "
                           + "under \(p) \(JUnitWriter.describe(test.profile?.attempts.first))")
            }
            out.append("")
        }
        let w = results.wallSeconds
        var timing = String(format: "Wall time: native pass %.1f s, constrained pass %.1f s", w.native, w.profile)
        if w.native > 0 && w.profile > 0 { timing += String(format: " (%.2f×)", w.profile / w.native) }
        timing += String(format: ", retries %.1f s; --jobs %d", w.retries, results.jobs)
        if let shard = results.shard {
            timing += "; shard \(shard)" + (shard.source.map { " from \($0)" } ?? "")
            if shard.assignment == "durations" { timing += ", balanced by durations" }
        }
        if let resumed = results.resumed { timing += "; resumed \(resumed.count)× (times: since the last resume)" }
        if let merged = results.mergedFrom { timing += "; merged from \(merged.count) result sets (times added up)" }
        out.append(timing + ".")
        if !results.environment.isEmpty {
            out.append("")
            out.append("Environment: " + results.environment.sorted { $0.key < $1.key }
                .map { "`\($0.key)=\($0.value)`" }.joined(separator: ", "))
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Text safe inside a Markdown table cell.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "`", with: "'")
    }
}

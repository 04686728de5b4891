import Foundation
import StrictrunResults

/// The seed's table over one or more conformance result sets (added up).
enum ConformanceSummaryBuilder {
    static func summary(_ sets: [ConformanceResults]) -> ConformanceSummary? {
        guard let first = sets.first else { return nil }
        var primary: [String: Int] = [:]
        var any: [String: Int] = [:]
        var summary = ConformanceSummary(
            suite: Array(Set(sets.map(\.suite.name))).sorted().joined(separator: ", "),
            profile: Array(Set(sets.map(\.profile))).sorted().joined(separator: ", "),
            tests: 0, pass: 0, nativePass: 0, newFailures: 0, baselineFail: 0, flaky: 0, skipped: 0, incomplete: 0,
            newFailuresByPrimary: [], newFailuresByCategory: [], headline: "")
        for results in sets {
            let t = results.totals
            summary.tests += t.tests
            summary.pass += t.pass
            summary.nativePass += t.nativePass
            summary.newFailures += t.newFailure
            summary.baselineFail += t.baselineFail
            summary.flaky += t.flaky
            summary.skipped += t.skipped
            summary.incomplete += t.incomplete
            for count in t.newFailuresByPrimary { primary[count.category, default: 0] += count.tests }
            for count in t.newFailuresByCategory { any[count.category, default: 0] += count.tests }
        }
        func ordered(_ counts: [String: Int]) -> [CategoryCount] {
            counts.map { CategoryCount(category: $0.key, tests: $0.value) }.sorted {
                if ($0.category == Attribution.unattributed) != ($1.category == Attribution.unattributed) {
                    return $1.category == Attribution.unattributed
                }
                return $0.tests != $1.tests ? $0.tests > $1.tests : $0.category < $1.category
            }
        }
        summary.newFailuresByPrimary = ordered(primary)
        summary.newFailuresByCategory = ordered(any)
        if sets.count == 1 {
            summary.headline = first.headline
        } else {
            var merged = first
            merged.profile = summary.profile
            merged.totals.tests = summary.tests
            merged.totals.pass = summary.pass
            merged.totals.newFailure = summary.newFailures
            merged.totals.newFailuresByPrimary = summary.newFailuresByPrimary
            summary.headline = merged.headline
        }
        return summary
    }
}

extension ComponentStats {
    /// Sites grouped by component, most tests broken (then events) first.
    static func group(_ sites: [SiteStats], brokenTests: [String: Set<String>]) -> [ComponentStats] {
        var groups: [String: (module: String, prefix: String?, sites: [SiteStats], tests: Set<String>)] = [:]
        for site in sites {
            let (module, prefix) = site.frames.isEmpty ? ("(no stack)", nil) : Component.name(of: site.owner)
            var entry = groups[site.component] ?? (module, prefix, [], [])
            entry.sites.append(site)
            entry.tests.formUnion(brokenTests[site.id] ?? [])
            groups[site.component] = entry
        }
        return groups.map { name, entry in
            var categories: [String] = []
            for site in entry.sites where !categories.contains(site.category) { categories.append(site.category) }
            return ComponentStats(name: name, module: entry.module, prefix: entry.prefix, sites: entry.sites.count,
                                  events: entry.sites.reduce(0) { $0 + $1.events }, testsBroken: entry.tests.count,
                                  categories: categories, siteIDs: entry.sites.map(\.id))
        }.sorted { a, b in
            if a.testsBroken != b.testsBroken { return a.testsBroken > b.testsBroken }
            if a.events != b.events { return a.events > b.events }
            return a.name < b.name
        }
    }
}

extension BaselineDiff {
    /// Compare two reports site by site (by `SiteStats.id`).
    static func compare(old: Report, new: Report, path: String) -> BaselineDiff {
        let before = Dictionary(old.sites.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.sites.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func change(_ site: SiteStats, _ old: SiteStats?, _ new: SiteStats?) -> SiteChange {
            SiteChange(id: site.id, category: site.category, rules: site.rules, component: site.component,
                       owner: site.owner.map(Component.brief), eventsBefore: old?.events ?? 0,
                       eventsAfter: new?.events ?? 0, testsBrokenBefore: old?.testsBroken ?? 0,
                       testsBrokenAfter: new?.testsBroken ?? 0)
        }
        var diff = BaselineDiff(path: path, gone: [], new: [], changed: [], unchanged: 0)
        for site in old.sites where after[site.id] == nil { diff.gone.append(change(site, site, nil)) }
        for site in new.sites {
            guard let previous = before[site.id] else {
                diff.new.append(change(site, nil, site))
                continue
            }
            if previous.events != site.events || previous.testsBroken != site.testsBroken {
                diff.changed.append(change(site, previous, site))
            } else {
                diff.unchanged += 1
            }
        }
        return diff
    }
}

extension Report {
    /// Read a report for `--baseline`: a JSON report, a trace, or a conformance output directory.
    public static func baseline(_ path: String, generated: String) throws(ReportError) -> Report {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .input("--baseline \(path): no such file or directory")
        }
        if !isDirectory.boolValue && !looksLikeTrace(path) {
            guard let data = FileManager.default.contents(atPath: path),
                  let report = try? JSONDecoder().decode(Report.self, from: data), report.schema == reportSchema else {
                throw .input("--baseline \(path): neither a trace, a conformance directory nor a JSON report (\(reportSchema))")
            }
            return report
        }
        var builder = ReportBuilder()
        try builder.add(path)
        return builder.build(generated: generated)
    }

    /// Whether the file's first line is a trace event (`{"v":1,…,"type":…}`): read 4 KB at most.
    static func looksLikeTrace(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4096)) ?? Data()
        let line = head.split(separator: 0x0A, maxSplits: 1).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return line.hasPrefix("{\"v\":") && line.contains("\"type\":")
    }
}

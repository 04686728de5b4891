import Foundation
import StrictrunResults
import StrictrunTrace

/// Inputs a report cannot read.
public enum ReportError: Error, Sendable, CustomStringConvertible {
    /// Missing, unreadable, not a trace, not a result directory, not a report.
    case input(String)
    case output(String)

    public var description: String {
        switch self {
        case .input(let message), .output(let message): message
        }
    }
}

/// Builds a `Report` from traces and conformance output directories, streaming every trace
/// (one line in memory at a time): memory grows with the number of distinct sites, processes
/// and tests, never with the number of events.
public struct ReportBuilder {
    /// Tests listed per site.
    public var testListLimit = 100

    private var inputs: [InputSummary] = []
    private var problems: [String] = []
    private var sites: [String: SiteAccumulator] = [:]
    private var categoryProcesses: [String: Set<String>] = [:]
    private var categoryTests: [String: Set<String>] = [:]
    private var categoryBroken: [String: Set<String>] = [:]
    private var totals = ReportTotals(events: 0, policyEvents: 0, blocked: 0, logged: 0, processes: 0, sites: 0, traces: 0)
    private var processes = Set<String>()
    private var conformance: [ConformanceResults] = []
    /// The explore of the first conformance input that has one.
    private var explore: ExploreResults?
    private var traceCounter = 0
    private var wx: WXEmulationReport?
    private var wxWriters: [String: WXEmulationReport.Writer] = [:]
    private var tls = TLSAdaptationBuilder()

    public init() {}

    /// Add whatever `path` is: a conformance output directory, or a trace file.
    public mutating func add(_ path: String) throws(ReportError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .input("\(path): no such file or directory")
        }
        if isDirectory.boolValue { try add(conformance: path) } else { try add(trace: path) }
    }

    /// Add one `strictrun run` trace.
    public mutating func add(trace path: String) throws(ReportError) {
        var input = InputSummary(path: path, kind: "trace", events: 0, policyEvents: 0, traces: 1, truncatedLastLines: 0,
                                 malformedLines: 0, profile: nil, subject: nil, exitStatus: nil)
        try read(trace: path, test: nil, brokenTest: false, primarySite: nil, into: &input)
        if input.events == 0 && input.truncatedLastLines == 0 { problems.append("\(path): empty trace") }
        inputs.append(input)
    }

    /// Add a `strictrun conformance` output directory: each test's first constrained trace, with
    /// the verdicts of `results.json` (or of `runs.jsonl` when the run died before writing it).
    public mutating func add(conformance directory: String) throws(ReportError) {
        let results: ConformanceResults
        do {
            results = try ResultsDirectory.load(directory)
        } catch {
            throw .input("\(error)")
        }
        if let mergeProblems = results.mergeProblems, !mergeProblems.isEmpty {
            problems.append("\(directory): an incomplete merge (--allow-partial): " + mergeProblems.joined(separator: "; "))
        } else if !results.complete {
            problems.append("\(directory): the run did not finish (interrupted): counts cover what finished")
        }
        var input = InputSummary(path: directory, kind: "conformance", events: 0, policyEvents: 0, traces: 0,
                                 truncatedLastLines: 0, malformedLines: 0, profile: results.profile,
                                 subject: results.suite.name, exitStatus: nil)
        for test in results.tests {
            guard let attempt = test.profile?.attempts.first, let trace = attempt.trace else { continue }
            let path = trace.hasPrefix("/") ? trace : directory + "/" + trace
            guard FileManager.default.fileExists(atPath: path) else {
                problems.append("\(path): trace of \(test.id) missing")
                continue
            }
            input.traces += 1
            let broken = test.status == .newFailure
            do throws(ReportError) {
                try read(trace: path, test: test.id, brokenTest: broken,
                         primarySite: broken ? test.attribution?.first.map(Self.key) : nil, into: &input)
            } catch {
                problems.append("\(error) (test \(test.id)): skipped")
            }
        }
        conformance.append(results)
        if explore == nil { explore = ExploreResults.load(conformanceDirectory: directory) }
        inputs.append(input)
    }

    /// The key of a blocked event's site (see `SiteStats.id`).
    static func key(_ event: BlockedEvent) -> String {
        SiteKey.of(site: event.site, category: event.category, rule: event.rule, syscall: event.syscall, exe: event.exe)
    }

    private mutating func read(trace path: String, test: String?, brokenTest: Bool, primarySite: String?,
                               into input: inout InputSummary) throws(ReportError) {
        traceCounter += 1
        let traceID = traceCounter
        var events = 0
        var policyEvents = 0
        var seenInTrace = Set<String>()
        let problemsFound: TraceReader.Problems
        // Move the state out (no copy-on-write of the sets), and back whatever happens.
        var local = Accumulation(sites: sites, totals: totals, processes: processes,
                                 categoryProcesses: categoryProcesses, categoryTests: categoryTests,
                                 categoryBroken: categoryBroken)
        (sites, processes, categoryProcesses, categoryTests, categoryBroken) = ([:], [], [:], [:], [:])
        defer {
            sites = local.sites
            totals = local.totals
            processes = local.processes
            categoryProcesses = local.categoryProcesses
            categoryTests = local.categoryTests
            categoryBroken = local.categoryBroken
        }
        var emulation: WXEmulationDigest?
        var writers: [WXEmulationReport.Writer] = []
        var tlsReader = TLSTraceReader()
        do {
            problemsFound = try TraceReader.forEachEvent(path: path) { header, line in
                events += 1
                switch line {
                case .start(let event):
                    if input.profile == nil { input.profile = event.profile }
                    if input.subject == nil { input.subject = event.argv.joined(separator: " ") }
                case .exit(let event):
                    emulation = WXEmulationDigest.adding(event, to: emulation)
                    writers += event.codeWriters.map {
                        WXEmulationReport.Writer(site: $0.site, sampledFaults: $0.sampledFaults, frames: $0.frames)
                    }
                    if event.final && test == nil { input.exitStatus = event.exitStatus }
                case .policy(let event):
                    policyEvents += 1
                    tlsReader.policy(event)
                    local.add(event, header: header, traceID: traceID, test: test, brokenTest: brokenTest,
                              primarySite: primarySite, seenInTrace: &seenInTrace)
                case .tls(let event):
                    guard let refusal = tlsReader.tls(event, header: header) else { return }
                    policyEvents += 1
                    local.add(refusal, header: header, traceID: traceID, test: test, brokenTest: brokenTest,
                              primarySite: primarySite, seenInTrace: &seenInTrace)
                default:
                    break
                }
            }
        } catch let error as TraceReader.ReadError {
            throw .input(error.description)
        } catch {
            throw .input("\(path): \(error)")
        }
        // Verification failures no policy event recorded (older traces): counted once, at the end.
        let (late, tlsDigest) = tlsReader.finish()
        for (header, refusal) in late {
            policyEvents += 1
            local.add(refusal, header: header, traceID: traceID, test: test, brokenTest: brokenTest,
                      primarySite: primarySite, seenInTrace: &seenInTrace)
        }
        tls.add(run: test ?? path, digest: tlsDigest)
        if let emulation {
            var report = wx ?? WXEmulationReport(runs: 0, rewritten: 0, flips: 0, execFaults: 0, writeFaults: 0,
                                                 leaseWaits: 0, byRun: [], codeWriters: [])
            report.runs += 1
            report.flips += emulation.flips
            report.rewritten += emulation.rewritten
            report.execFaults += emulation.execFaults
            report.writeFaults += emulation.writeFaults
            report.leaseWaits += emulation.leaseWaits
            report.byRun.append(.init(name: test ?? path, flips: emulation.flips, rewritten: emulation.rewritten))
            report.byRun.sort { $0.flips != $1.flips ? $0.flips > $1.flips : $0.name < $1.name }
            if report.byRun.count > 25 { report.byRun.removeLast(report.byRun.count - 25) }
            wx = report
            for writer in writers {
                var merged = wxWriters[writer.site] ?? WXEmulationReport.Writer(site: writer.site, sampledFaults: 0,
                                                                                 frames: writer.frames)
                merged.sampledFaults += writer.sampledFaults
                wxWriters[writer.site] = merged
            }
        }
        local.totals.events += events
        local.totals.traces += 1
        input.events += events
        input.policyEvents += policyEvents
        if problemsFound.truncatedLastLine {
            input.truncatedLastLines += 1
            problems.append("\(path): the last line is truncated (a writer that crashed?): skipped")
        }
        if problemsFound.seqBreaks > 0 {
            problems.append("\(path): seq numbers break \(problemsFound.seqBreaks) time(s) (first: "
                            + "\(problemsFound.firstSeqBreak ?? "?")): lines were lost, removed or forged")
        }
        if !problemsFound.malformedLines.isEmpty {
            input.malformedLines += problemsFound.malformedLines.count
            let lines = problemsFound.malformedLines.prefix(5).map(String.init).joined(separator: ", ")
            problems.append("\(path): \(problemsFound.malformedLines.count) malformed line(s) skipped (line \(lines)\(problemsFound.malformedLines.count > 5 ? ", …" : ""))")
        }
    }

    /// The report of everything added.
    public func build(generated: String, baseline: Report? = nil, baselinePath: String? = nil) -> Report {
        let summary = ConformanceSummaryBuilder.summary(conformance)
        let isConformance = !conformance.isEmpty
        var ranked = sites.values.map { $0.stats(limit: testListLimit) }
        ranked.sort { a, b in
            if isConformance {
                if a.testsBrokenPrimary != b.testsBrokenPrimary { return a.testsBrokenPrimary > b.testsBrokenPrimary }
                if a.testsBroken != b.testsBroken { return a.testsBroken > b.testsBroken }
                if a.tests != b.tests { return a.tests > b.tests }
            }
            if a.blocked != b.blocked { return a.blocked > b.blocked }
            if a.events != b.events { return a.events > b.events }
            return a.id < b.id
        }
        var perCategory: [String: Int] = [:]
        for index in ranked.indices {
            ranked[index].rank = index + 1
            perCategory[ranked[index].category, default: 0] += 1
            ranked[index].categoryRank = perCategory[ranked[index].category]!
        }
        let primary = Dictionary(uniqueKeysWithValues: (summary?.newFailuresByPrimary ?? []).map { ($0.category, $0.tests) })
        var categories: [CategoryStats] = Dictionary(grouping: ranked, by: \.category).map { category, list in
            var rules: [String: [String: Int]] = [:]
            for site in sites.values where site.category == category {
                for (rule, actions) in site.ruleActions {
                    for (action, count) in actions { rules[rule, default: [:]][action, default: 0] += count }
                }
            }
            return CategoryStats(
                category: category, events: list.reduce(0) { $0 + $1.events }, blocked: list.reduce(0) { $0 + $1.blocked },
                sites: list.count, processes: categoryProcesses[category]?.count ?? 0,
                tests: categoryTests[category]?.count ?? 0, testsBroken: categoryBroken[category]?.count ?? 0,
                newFailuresPrimary: primary[category] ?? 0,
                rules: rules.map { rule, actions in
                    RuleStats(rule: rule, events: actions.values.reduce(0, +),
                              actions: actions.map { ActionCount(action: $0.key, events: $0.value) }.sorted { $0.action < $1.action })
                }.sorted { $0.events != $1.events ? $0.events > $1.events : $0.rule < $1.rule })
        }
        // New failures attributed to a category with no site in the traces read (or unattributed).
        for (category, count) in primary where !categories.contains(where: { $0.category == category }) {
            categories.append(CategoryStats(category: category, events: 0, blocked: 0, sites: 0, processes: 0, tests: 0,
                                            testsBroken: 0, newFailuresPrimary: count, rules: []))
        }
        categories.sort { a, b in
            if a.category == Attribution.unattributed || b.category == Attribution.unattributed {
                return b.category == Attribution.unattributed && a.category != Attribution.unattributed
            }
            if a.newFailuresPrimary != b.newFailuresPrimary { return a.newFailuresPrimary > b.newFailuresPrimary }
            if a.blocked != b.blocked { return a.blocked > b.blocked }
            return a.category < b.category
        }
        var report = Report(
            schema: reportSchema, generated: generated, kind: isConformance ? "conformance" : "traces", inputs: inputs,
            problems: problems,
            totals: ReportTotals(events: totals.events, policyEvents: totals.policyEvents, blocked: totals.blocked,
                                 logged: totals.logged, processes: processes.count, sites: ranked.count, traces: totals.traces),
            conformance: summary, categories: categories, sites: ranked,
            components: ComponentStats.group(ranked, brokenTests: sites.mapValues(\.testsBroken)), baseline: nil)
        report.explore = explore
        report.tlsAdaptation = tls.build()
        if let baseline { report.baseline = BaselineDiff.compare(old: baseline, new: report, path: baselinePath ?? "baseline") }
        if var emulation = wx {
            emulation.codeWriters = wxWriters.values.sorted {
                $0.sampledFaults != $1.sampledFaults ? $0.sampledFaults > $1.sampledFaults : $0.site < $1.site
            }.prefix(10).map { $0 }
            report.wxEmulation = emulation
        }
        return report
    }
}

/// The mutable state one trace read updates (kept apart so the reader's closure can own it).
struct Accumulation {
    var sites: [String: SiteAccumulator]
    var totals: ReportTotals
    var processes: Set<String>
    var categoryProcesses: [String: Set<String>]
    var categoryTests: [String: Set<String>]
    var categoryBroken: [String: Set<String>]

    mutating func add(_ event: PolicyEvent, header: LineHeader, traceID: Int, test: String?, brokenTest: Bool,
                      primarySite: String?, seenInTrace: inout Set<String>) {
        totals.policyEvents += 1
        let blocked = event.blocks
        if blocked { totals.blocked += 1 } else { totals.logged += 1 }
        let category = event.category
        let summary = TraceDigest.blockedEvent(event, seq: header.seq, frameLimit: 0)
        let key = ReportBuilder.key(summary)
        let site: SiteAccumulator
        if let existing = sites[key] {
            site = existing
        } else {
            site = SiteAccumulator(key: key, site: summary.site, category: category)
            sites[key] = site
        }
        let process = "\(traceID):\(event.pid ?? 0)"
        processes.insert(process)
        categoryProcesses[category, default: []].insert(process)
        site.add(event, time: header.time, summary: summary, blocked: blocked, process: process)
        if let test {
            site.tests.insert(test)
            categoryTests[category, default: []].insert(test)
            if brokenTest && blocked {
                site.testsBroken.insert(test)
                categoryBroken[category, default: []].insert(test)
                if key == primarySite && seenInTrace.insert(key).inserted { site.testsBrokenPrimary.insert(test) }
            }
        }
    }
}

/// Everything known about one site while traces are read.
final class SiteAccumulator {
    let key: String
    let site: String?
    let category: String
    var rules: [String] = []
    var ruleActions: [String: [String: Int]] = [:]
    var syscalls: [String] = []
    var actions: [String: Int] = [:]
    var events = 0
    var blocked = 0
    var processes = Set<String>()
    var tests = Set<String>()
    var testsBroken = Set<String>()
    var testsBrokenPrimary = Set<String>()
    var firstSeen: String?
    var lastSeen: String?
    var programs: [String] = []
    var frames: [Frame] = []
    var firstEvent: BlockedEvent?

    init(key: String, site: String?, category: String) {
        self.key = key
        self.site = site
        self.category = category
    }

    func add(_ event: PolicyEvent, time: String?, summary: BlockedEvent, blocked: Bool, process: String) {
        events += 1
        if blocked { self.blocked += 1 }
        if !rules.contains(summary.rule) { rules.append(summary.rule) }
        if !syscalls.contains(summary.syscall) { syscalls.append(summary.syscall) }
        let action = event.audited.map { "log (audit: \($0))" } ?? event.action.rawValue
        actions[action, default: 0] += 1
        ruleActions[summary.rule, default: [:]][action, default: 0] += 1
        processes.insert(process)
        if let time {
            if firstSeen.map({ time < $0 }) ?? true { firstSeen = time }
            if lastSeen.map({ time > $0 }) ?? true { lastSeen = time }
        }
        if let exe = summary.exe, programs.count < 10, !programs.contains(exe) { programs.append(exe) }
        if firstEvent == nil { firstEvent = summary }
        if frames.isEmpty, let stack = event.stack.frames, !stack.isEmpty {
            frames = TraceDigest.frames(stack)
            firstEvent?.frames = Array(frames.prefix(TraceDigest.frameLimit))
        }
    }

    func stats(limit: Int) -> SiteStats {
        let owner = Component.owner(of: frames)
        let ordered = testsBrokenPrimary.sorted() + testsBroken.subtracting(testsBrokenPrimary).sorted()
            + tests.subtracting(testsBroken).sorted()
        return SiteStats(
            rank: 0, categoryRank: 0, id: key, site: site, category: category, rules: rules, syscalls: syscalls,
            actions: actions.map { ActionCount(action: $0.key, events: $0.value) }.sorted { $0.action < $1.action },
            events: events, blocked: blocked, processes: processes.count, tests: tests.count,
            testsBroken: testsBroken.count, testsBrokenPrimary: testsBrokenPrimary.count, firstSeen: firstSeen,
            lastSeen: lastSeen, programs: programs, component: frames.isEmpty ? "(no stack)" : Component.label(of: owner),
            owner: owner, frames: frames, firstEvent: firstEvent, testList: Array(ordered.prefix(limit)),
            testListTruncated: ordered.count > limit)
    }
}

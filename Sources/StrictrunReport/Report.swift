import StrictrunResults

/// The schema name of a JSON report (documented in `SCHEMA.md`).
public let reportSchema = "strictrun.report/1"

/// A porting map: blocked calls aggregated by category, rule, call site and owning component,
/// from `strictrun run` traces and `strictrun conformance` output directories. Every renderer
/// (text, Markdown, HTML, JSON) draws from this one value, so their counts agree.
public struct Report: Codable, Sendable {
    public var schema: String
    public var generated: String
    /// `conformance` when any input is a conformance output directory, else `traces`.
    public var kind: String
    public var inputs: [InputSummary]
    /// Non-fatal problems: truncated last lines, malformed lines, missing traces.
    public var problems: [String]
    public var totals: ReportTotals
    /// Present for conformance input: the seed's table.
    public var conformance: ConformanceSummary?
    public var categories: [CategoryStats]
    /// Every site, ranked (see `SiteStats.rank`).
    public var sites: [SiteStats]
    public var components: [ComponentStats]
    public var baseline: BaselineDiff?
    /// W^X emulation (`wx: emulate`) over the runs read; nil when none emulated.
    public var wxEmulation: WXEmulationReport?
    /// What the TLS adaptation must carry over the runs read (handshakes, verification failures,
    /// key reads, server-side TLS, by run and by site); nil when no run did anything TLS.
    public var tlsAdaptation: TLSAdaptation?
    /// `conformance explore` of the (first) conformance input: verdicts, plan, ablation; nil when none.
    public var explore: ExploreResults?

    enum CodingKeys: String, CodingKey {
        case schema, generated, kind, inputs, problems, totals, conformance, categories, sites, components, baseline
        case explore
        case wxEmulation = "wx_emulation"
        case tlsAdaptation = "tls_adaptation"
    }

    /// Sites of `category`, in rank order.
    public func sites(in category: String) -> [SiteStats] { sites.filter { $0.category == category } }
}

/// What W^X emulation cost the runs read: the pages their JITs flipped (what separating code
/// generation from execution must carry), by run, and the code that writes code.
public struct WXEmulationReport: Codable, Sendable {
    /// A run (a trace, or a test of a conformance directory) and its counters.
    public struct Run: Codable, Sendable {
        public var name: String
        public var flips: Int
        public var rewritten: Int
    }
    /// A call site that writes JIT code (stacks of write faults, sampled by strictrun).
    public struct Writer: Codable, Sendable {
        public var site: String
        public var sampledFaults: Int
        public var frames: [String]

        enum CodingKeys: String, CodingKey {
            case site, frames
            case sampledFaults = "sampled_faults"
        }
    }

    public var runs: Int
    public var rewritten: Int
    public var flips: Int
    public var execFaults: Int
    public var writeFaults: Int
    public var leaseWaits: Int
    /// Runs by flips, most first (at most 25).
    public var byRun: [Run]
    /// Most sampled first (at most 10).
    public var codeWriters: [Writer]

    enum CodingKeys: String, CodingKey {
        case runs, rewritten, flips
        case execFaults = "exec_faults"
        case writeFaults = "write_faults"
        case leaseWaits = "lease_waits"
        case byRun = "by_run"
        case codeWriters = "code_writers"
    }

    /// One sentence for the top of a report.
    public var headline: String {
        "W^X emulation: \(flips) page flips (\(execFaults) to execute, \(writeFaults) to write) in \(runs) run\(runs == 1 ? "" : "s"), "
            + "\(rewritten) W+X requests granted as RW, \(leaseWaits) lease waits"
    }
}

/// One file or directory the report read.
public struct InputSummary: Codable, Sendable {
    public var path: String
    /// `trace` or `conformance`.
    public var kind: String
    /// Trace lines read (all traces of a conformance directory together).
    public var events: Int
    public var policyEvents: Int
    public var traces: Int
    public var truncatedLastLines: Int
    public var malformedLines: Int
    /// The profile of the run (from a trace's `start` line or the results).
    public var profile: String?
    /// A trace's program (`argv`), or a conformance run's suite name.
    public var subject: String?
    public var exitStatus: Int?

    enum CodingKeys: String, CodingKey {
        case path, kind, events, traces, profile, subject
        case policyEvents = "policy_events"
        case truncatedLastLines = "truncated_last_lines"
        case malformedLines = "malformed_lines"
        case exitStatus = "exit_status"
    }
}

/// Counts over all inputs.
public struct ReportTotals: Codable, Sendable {
    public var events: Int
    public var policyEvents: Int
    /// Policy events that were denied or killed (audit mode: would have been).
    public var blocked: Int
    /// Policy events allowed and recorded.
    public var logged: Int
    public var processes: Int
    public var sites: Int
    public var traces: Int

    enum CodingKeys: String, CodingKey {
        case events, blocked, logged, processes, sites, traces
        case policyEvents = "policy_events"
    }
}

/// The numbers of a conformance result set (several are added up).
public struct ConformanceSummary: Codable, Sendable {
    public var suite: String
    public var profile: String
    public var tests: Int
    public var pass: Int
    public var nativePass: Int
    public var newFailures: Int
    public var baselineFail: Int
    public var flaky: Int
    public var skipped: Int
    public var incomplete: Int
    public var newFailuresByPrimary: [CategoryCount]
    public var newFailuresByCategory: [CategoryCount]
    public var headline: String

    enum CodingKeys: String, CodingKey {
        case suite, profile, tests, pass, flaky, skipped, incomplete, headline
        case nativePass = "native_pass"
        case newFailures = "new_failures"
        case baselineFail = "baseline_fail"
        case newFailuresByPrimary = "new_failures_by_primary"
        case newFailuresByCategory = "new_failures_by_category"
    }
}

/// One category (`process`, `wx`, `escape`, a profile's own).
public struct CategoryStats: Codable, Sendable {
    public var category: String
    public var events: Int
    public var blocked: Int
    public var sites: Int
    public var processes: Int
    /// Tests whose trace has an event of this category.
    public var tests: Int
    /// New failures whose trace blocked a call of this category.
    public var testsBroken: Int
    /// New failures whose first blocked call is of this category.
    public var newFailuresPrimary: Int
    public var rules: [RuleStats]

    enum CodingKeys: String, CodingKey {
        case category, events, blocked, sites, processes, tests, rules
        case testsBroken = "tests_broken"
        case newFailuresPrimary = "new_failures_primary"
    }
}

/// One rule of a category.
public struct RuleStats: Codable, Sendable {
    public var rule: String
    public var events: Int
    public var actions: [ActionCount]
}

/// Events per action (`deny`, `kill`, `log`, `route`; audit mode: `log (audit: deny(EPERM))`).
public struct ActionCount: Codable, Sendable, Hashable {
    public var action: String
    public var events: Int

    public init(action: String, events: Int) {
        self.action = action
        self.events = events
    }
}

/// One call site: the stack-based site id of the trace (or, without stacks, category, rule,
/// syscall and program), with everything a porting team needs to find it in the code.
public struct SiteStats: Codable, Sendable {
    /// 1 = deal with it first. Conformance: by tests whose first blocked call is here, then by
    /// tests it appears in, then by events; traces: by events.
    public var rank: Int
    /// Rank within its category.
    public var categoryRank: Int
    /// The key sites are compared by (`--baseline`): the site id, or `~category/rule/syscall@program`.
    public var id: String
    /// The trace's `site`, when stacks were recorded.
    public var site: String?
    public var category: String
    public var rules: [String]
    public var syscalls: [String]
    public var actions: [ActionCount]
    public var events: Int
    public var blocked: Int
    public var processes: Int
    public var tests: Int
    public var testsBroken: Int
    public var testsBrokenPrimary: Int
    public var firstSeen: String?
    public var lastSeen: String?
    public var programs: [String]
    /// The component that owns the site (see `ComponentStats`).
    public var component: String
    /// The first frame outside the C library: the code that made the call.
    public var owner: Frame?
    /// The representative stack (the first event's that had one), whole.
    public var frames: [Frame]
    /// The first event, with its decoded arguments.
    public var firstEvent: BlockedEvent?
    /// Tests it breaks first, then the other tests it appears in (at most 100).
    public var testList: [String]
    public var testListTruncated: Bool

    enum CodingKeys: String, CodingKey {
        case rank, id, site, category, rules, syscalls, actions, events, blocked, processes, tests, programs
        case component, owner, frames
        case categoryRank = "category_rank"
        case testsBroken = "tests_broken"
        case testsBrokenPrimary = "tests_broken_primary"
        case firstSeen = "first_seen"
        case lastSeen = "last_seen"
        case firstEvent = "first_event"
        case testList = "test_list"
        case testListTruncated = "test_list_truncated"
    }
}

/// Sites grouped by the code that owns them: the owning frame's module and a namespace prefix
/// (`node · v8::`, `node · uv_`, `libpython3.11.so.1.0 · os_`).
public struct ComponentStats: Codable, Sendable {
    public var name: String
    public var module: String
    public var prefix: String?
    public var sites: Int
    public var events: Int
    public var testsBroken: Int
    public var categories: [String]
    public var siteIDs: [String]

    enum CodingKeys: String, CodingKey {
        case name, module, prefix, sites, events, categories
        case testsBroken = "tests_broken"
        case siteIDs = "site_ids"
    }
}

/// Two runs compared site by site (`--baseline OLD`).
public struct BaselineDiff: Codable, Sendable {
    public var path: String
    /// Sites in the baseline and not now (e.g. a fork the runtime no longer makes).
    public var gone: [SiteChange]
    /// Sites now and not in the baseline.
    public var new: [SiteChange]
    /// Sites in both whose events or broken tests changed.
    public var changed: [SiteChange]
    public var unchanged: Int
}

/// One site in a comparison: its counts before and after.
public struct SiteChange: Codable, Sendable {
    public var id: String
    public var category: String
    public var rules: [String]
    public var component: String
    public var owner: String?
    public var eventsBefore: Int
    public var eventsAfter: Int
    public var testsBrokenBefore: Int
    public var testsBrokenAfter: Int

    enum CodingKeys: String, CodingKey {
        case id, category, rules, component, owner
        case eventsBefore = "events_before"
        case eventsAfter = "events_after"
        case testsBrokenBefore = "tests_broken_before"
        case testsBrokenAfter = "tests_broken_after"
    }
}

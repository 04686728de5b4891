#if canImport(Glibc)
import Glibc
#endif
import StrictrunStacks
import StrictrunTrace

/// How much stack context a run records (`run --stack-depth`, `--site-cap`, `--no-stacks`).
public struct StackSettings: Sendable, Hashable {
    /// Unwind each blocked call's thread at all.
    public var enabled: Bool
    /// Frames kept per stack.
    public var depth: Int
    /// Symbolized top frames that make a call site's id.
    public var siteFrames: Int
    /// Events of one site that carry a full stack; later ones carry only the site.
    public var siteCap: Int
    /// Where symbol indexes are cached across runs (nil: no on-disk cache).
    public var symbolCacheDirectory: String?

    public init(enabled: Bool = true, depth: Int = 64, siteFrames: Int = 5, siteCap: Int = 20,
                symbolCacheDirectory: String? = nil) {
        self.enabled = enabled
        self.depth = depth
        self.siteFrames = siteFrames
        self.siteCap = siteCap
        self.symbolCacheDirectory = symbolCacheDirectory
    }
}

/// One call site over a run: how often it was hit and its first named frames.
public struct SiteSummary: Sendable, Hashable {
    public var category: String
    public var rule: String
    public var site: String
    public var count: Int
    /// The first named frames (up to 3), innermost first.
    public var names: [String]
}

/// Unwinds the thread of each policy event (libdw, through `StackUnwinder`) and groups
/// events by call site. Lives on the tracer thread, like the unwinder.
final class StackRecorder {
    private let settings: StackSettings
    private let unwinder: StackUnwinder
    private var sites: [String: SiteSummary] = [:]
    /// Rules that have a capped site: their events are unwound shallowly first.
    private var rulesWithCappedSites: Set<String> = []

    init(settings: StackSettings) {
        self.settings = settings
        unwinder = StackUnwinder(options: StackOptions(maxFrames: settings.depth, siteFrames: settings.siteFrames,
                                                              symbolCacheDirectory: settings.symbolCacheDirectory))
    }

    /// Whether stacks (and so call sites) are taken at all.
    var enabled: Bool { settings.enabled }

    /// The `stack`, `site`, `site_frames` (and `stack_omitted`) fields of one event.
    func capture(pid: pid_t, tid: pid_t, category: String, rule: String) -> CapturedStack {
        guard settings.enabled else { return .none }
        let ruleKey = category + "/" + rule
        var full: StackTrace?
        let siteSource: [StackFrame]
        if rulesWithCappedSites.contains(ruleKey) {
            // A storm on this rule: find the site with a shallow unwind, and unwind fully
            // only when the site is still under its cap.
            siteSource = unwinder.unwind(pid: pid, tid: tid, maxFrames: settings.siteFrames).frames
        } else {
            full = unwinder.unwind(pid: pid, tid: tid)
            siteSource = full!.frames
        }
        let (site, used) = callSite(of: siteSource, count: settings.siteFrames)
        var summary = sites[site] ?? SiteSummary(category: category, rule: rule, site: site, count: 0,
                                                 names: Array(siteSource.compactMap(\.symbol).prefix(3)))
        summary.count += 1
        sites[site] = summary
        var captured = CapturedStack(site: site, siteFrames: used)
        if summary.count > settings.siteCap {
            rulesWithCappedSites.insert(ruleKey)
            captured.omitted = "site cap of \(settings.siteCap) reached"
        } else {
            let trace = full ?? unwinder.unwind(pid: pid, tid: tid)
            captured.frames = trace.frames.map(Self.record)
            captured.error = trace.error
        }
        return captured
    }

    /// The process replaced its image or exited.
    func forget(pid: pid_t) { unwinder.forget(pid: pid) }

    /// Sites by category, most hit first.
    var summaries: [SiteSummary] {
        sites.values.sorted { ($0.category, -$0.count, $0.site) < ($1.category, -$1.count, $1.site) }
    }

    var stats: UnwinderStats { unwinder.stats }

    static func record(_ frame: StackFrame) -> TraceFrame {
        TraceFrame(pc: frame.pc, module: frame.module, offset: frame.offset, symbol: frame.symbol, file: frame.file,
                   line: frame.line)
    }
}

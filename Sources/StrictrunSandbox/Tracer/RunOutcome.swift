import StrictrunSystem

/// How the traced program ended, and what the run observed.
public struct RunOutcome: Sendable {
    /// What strictrun exits with: the program's status, 128+N for signal N.
    public var exitStatus: Int32
    /// `exited 3`, `killed by SIGTRAP`, …
    public var ending: String
    public var counts: [RuleCount]
    /// The first blocked (or, in audit mode, first logged) call, readable.
    public var firstBlocked: String?
    public var eventsWritten: Int64
    public var processes: Int
    /// A failure of strictrun itself during the run (e.g. the trace could not be written).
    public var failure: String?
    /// Call sites by category, most hit first (empty without stacks).
    public var sites: [SiteSummary] = []
    /// Every process id the run traced, the root first.
    public var processIDs: [ProcessID] = []
    /// W^X emulation over all processes (`wx: emulate`), nil when the level is another.
    public var wxEmulation: WXEmulationCounters?
    /// Things the reader must know about how the run ended (e.g. a W^X livelock).
    public var notices: [String] = []
    /// How the fs view and net stack were built, fallbacks included (ConfinementPlan).
    public var confinement: [String] = []
}

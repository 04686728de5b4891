import StrictrunTrace

/// The W^X emulation counters of one process (or a run's total).
public struct WXEmulationCounters: Sendable, Hashable {
    /// W+X requests granted as RW.
    public var rewritten = 0
    public var execFaults = 0
    public var writeFaults = 0
    public var flips = 0
    /// Flips made by single-stepping a syscall in the thread (no trampoline).
    public var slowFlips = 0
    /// Faults that waited for another thread's lease on the page.
    public var leaseWaits = 0
    public var leaseWaitNanoseconds: UInt64 = 0
    /// Tracer CPU spent handling faults.
    public var handlerNanoseconds: UInt64 = 0
    public var livelocks = 0
    var startedAt: UInt64 = 0
    public var elapsedNanoseconds: UInt64 = 0

    init(startedAt: UInt64) {
        self.startedAt = startedAt
    }

    public init() {}

    mutating func finish(at now: UInt64) {
        elapsedNanoseconds = now &- startedAt
    }

    public var flipsPerSecond: Double {
        elapsedNanoseconds == 0 ? 0 : Double(flips) / (Double(elapsedNanoseconds) / 1e9)
    }

    public var isEmpty: Bool { rewritten == 0 && flips == 0 && execFaults == 0 && writeFaults == 0 }

    public mutating func add(_ other: WXEmulationCounters) {
        rewritten += other.rewritten
        execFaults += other.execFaults
        writeFaults += other.writeFaults
        flips += other.flips
        slowFlips += other.slowFlips
        leaseWaits += other.leaseWaits
        leaseWaitNanoseconds += other.leaseWaitNanoseconds
        handlerNanoseconds += other.handlerNanoseconds
        livelocks += other.livelocks
        elapsedNanoseconds = max(elapsedNanoseconds, other.elapsedNanoseconds)
    }

    /// The `wx_emulation` object of an `exit` event.
    public var record: WXEmulationCounts {
        var out = WXEmulationCounts()
        out.rewritten = rewritten
        out.execFaults = execFaults
        out.writeFaults = writeFaults
        out.flips = flips
        out.flipsPerSecond = (flipsPerSecond * 10).rounded() / 10
        out.slowFlips = slowFlips
        out.leaseWaits = leaseWaits
        out.leaseWaitMilliseconds = Double(leaseWaitNanoseconds / 1000) / 1000
        out.handlerMicrosecondsPerFlip = flips == 0 ? 0 : (Double(handlerNanoseconds) / Double(flips) / 10).rounded() / 100
        out.livelocks = livelocks
        return out
    }

    /// One line for the run summary.
    public var summary: String {
        "\(rewritten) W+X requests granted as RW; \(flips) flips (\(execFaults) exec faults, \(writeFaults) write faults, "
            + "\(Int(flipsPerSecond.rounded()))/s), \(leaseWaits) lease waits"
            + (slowFlips > 0 ? ", \(slowFlips) slow flips" : "") + (livelocks > 0 ? ", \(livelocks) livelocks" : "")
    }
}

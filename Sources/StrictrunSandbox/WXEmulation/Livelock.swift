import StrictrunSystem

/// Telling a program that can never make progress under strict W^X from one that faults a lot:
/// an instruction that stores into its own page, or one thread faulting with an identical
/// register file alternately to execute and to write (a loop that comes back to identical
/// registers faults the same way each time, so it does not alternate).
struct LivelockDetector {
    private struct Thread {
        var lastKey: UInt64 = 0
        var lastWasExec = false
        var alternations = 0
    }

    /// Alternating faults with identical registers before a livelock is declared.
    let alternations: Int
    private var threads: [ProcessID: Thread] = [:]

    init(alternations: Int = 4) { self.alternations = alternations }

    /// The reason the fault at `address` of the instruction at `rip` can never complete, nil
    /// when it may. `registers`: a fingerprint of the thread's whole register file.
    mutating func observe(tid: ProcessID, registers: UInt64, rip: UInt64, address: UInt64, isExec: Bool) -> String? {
        let page = address >> AddressSpace.pageShift
        if !isExec && (rip >> AddressSpace.pageShift == page || (rip &+ 15) >> AddressSpace.pageShift == page) {
            return "the instruction at \(hex(rip)) stores into its own code page \(hex(page << AddressSpace.pageShift)): "
                + "under strict W^X a page cannot be written and executed at once"
        }
        var thread = threads[tid] ?? Thread()
        if registers == thread.lastKey && isExec != thread.lastWasExec {
            thread.alternations += 1
        } else {
            thread.alternations = 1
        }
        thread.lastKey = registers
        thread.lastWasExec = isExec
        threads[tid] = thread
        guard thread.alternations >= alternations else { return nil }
        return "the instruction at \(hex(rip)) faulted \(thread.alternations) times in a row "
            + "with the same registers, alternately to execute and to write (last at \(hex(address))): "
            + "it cannot complete under strict W^X"
    }

    mutating func threadGone(_ tid: ProcessID) { threads[tid] = nil }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}

/// The lease (2 ms by default): a page another thread just flipped stays as it is for a
/// moment, so two threads wanting it both ways take turns instead of flipping it back and
/// forth; the waiting thread stays stopped until the lease ends.
struct Leases {
    private struct Deferral {
        var tgid: ProcessID
        var due: UInt64
    }

    let nanoseconds: UInt64
    private var deferrals: [ProcessID: Deferral] = [:]
    /// Threads that waited (or wait): not made to wait twice for one fault; since when.
    private var waitingSince: [ProcessID: UInt64] = [:]

    init(nanoseconds: UInt64 = 2_000_000) { self.nanoseconds = nanoseconds }

    /// Whether `tid`, wanting `want` on `page` at `now`, must wait for another thread's lease;
    /// if so it is deferred until the lease ends.
    mutating func mustWait(tid: ProcessID, tgid: ProcessID, page: AddressSpace.Page, want: PageProtection, now: UInt64) -> Bool {
        guard page.protection != want, page.flippedBy != tid, page.flippedAt != 0,
              now &- page.flippedAt < nanoseconds, waitingSince[tid] == nil else { return false }
        waitingSince[tid] = now
        deferrals[tid] = Deferral(tgid: tgid, due: page.flippedAt + nanoseconds)
        return true
    }

    /// Whether the thread's fault is one it already waited for (counted once).
    func isRetry(_ tid: ProcessID) -> Bool { waitingSince[tid] != nil }

    /// The fault goes on: how long the thread waited (nil when it did not).
    mutating func end(_ tid: ProcessID, now: UInt64) -> UInt64? {
        waitingSince.removeValue(forKey: tid).map { now &- $0 }
    }

    /// The earliest time a deferred thread is due (CLOCK_MONOTONIC ns), nil when none waits.
    var nextDue: UInt64? { deferrals.isEmpty ? nil : deferrals.values.lazy.map(\.due).min() }

    /// Deferred threads whose lease has run out, with their thread group.
    mutating func takeDue(now: UInt64) -> [(tid: ProcessID, tgid: ProcessID)] {
        let due = deferrals.filter { $0.value.due <= now }
        for tid in due.keys { deferrals[tid] = nil }
        return due.map { ($0.key, $0.value.tgid) }
    }

    mutating func threadGone(_ tid: ProcessID) {
        deferrals[tid] = nil
        waitingSince[tid] = nil
    }
}

import StrictrunSystem
import StrictrunTrace

extension Tracer {
    /// The `exit` line of one process.
    func exitLine(pid: ProcessID, status: WaitStatus) -> ExitEvent {
        var line = ExitEvent(pid: Int64(pid))
        line.exe = table.executable(pid)
        switch status {
        case .exited(let code): line.code = Int(code)
        case .signaled(let signal): line.signal = Xlat.signalName(signal)
        case .stopped: break
        }
        if let emulator {
            let counters = emulator.processGone(pid)
            wxTotals.add(counters)
            line.wxEmulation = counters.record
        }
        return line
    }

    /// The root's final `exit` line (counts, stacks, W^X totals, notices, strictrun's own
    /// failure), and the outcome for the summary.
    func finish() -> RunOutcome {
        let status = rootStatus ?? .signaled(signal: Signals.kill)
        let exitStatus = status.shellStatus
        // The broker's connections end first: their lines precede the final one.
        let ruleCounts = recorder.counts + (routing?.router.finish() ?? [])
        var line = exitLine(pid: table.root, status: status)
        line.exitStatus = Int(exitStatus)
        line.final = true
        line.processes = table.processIDs.count
        line.counts = ruleCounts.map { count in
            RuleCountEntry(category: count.category, rule: count.rule, action: count.action, count: count.count,
                           audited: count.auditedFrom)
        }
        let unwinding = stacks.stats
        if unwinding.unwinds > 0 {
            line.stacks = UnwindCost(unwinds: unwinding.unwinds,
                                     unwindMilliseconds: Double(unwinding.unwindNanoseconds) / 1e6,
                                     symbolIndexMilliseconds: Double(unwinding.symbolIndexNanoseconds) / 1e6,
                                     symbolIndexes: unwinding.symbolIndexBuilds,
                                     symbolIndexesCached: unwinding.symbolIndexesLoaded)
        }
        if emulator != nil {
            line.wxEmulationTotal = wxTotals.record
            line.codeWriters = stacks.summaries.filter { $0.rule == "code-write" }.prefix(5).map { site in
                CodeWriter(site: site.site, sampledFaults: site.count, frames: site.names)
            }
        }
        // The trace is checked whole before its last line: a change the program made to it
        // anyway (a race no check could see) is undone from the writer's own copy.
        let damage = writer.damage(contents: true)
        if let damage {
            notices.append(writer.hasCopy
                ? "the program changed the trace file (\(damage)): strictrun wrote it again from its own copy"
                : "the program changed the trace file (\(damage)); it is larger than the copy strictrun keeps")
        }
        line.notices = notices
        line.error = failure
        emit(line)
        if damage != nil {
            do { _ = try writer.restore() } catch { recordFailure("\(error)") }
        }
        return RunOutcome(exitStatus: exitStatus, ending: status.ending, counts: ruleCounts,
                          firstBlocked: recorder.firstBlocked, eventsWritten: writer.count,
                          processes: table.processIDs.count, failure: failure, sites: stacks.summaries,
                          processIDs: table.processIDs, wxEmulation: emulator == nil ? nil : wxTotals, notices: notices)
    }
}

import StrictrunSystem
import StrictrunTrace

extension Tracer {
    /// The `exit` line of one process.
    func exitFields(pid: ProcessID, status: WaitStatus) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [("pid", .int(Int64(pid))), ("exe", .string(table.executable(pid)))]
        switch status {
        case .exited(let code): fields.append(("code", .int(Int64(code))))
        case .signaled(let signal): fields.append(("signal", .string(Xlat.signalName(signal))))
        case .stopped: break
        }
        if let emulator {
            let counters = emulator.processGone(pid)
            wxTotals.add(counters)
            fields.append(("wx_emulation", counters.json))
        }
        return fields
    }

    /// The root's final `exit` line (counts, stacks, W^X totals, notices, strictrun's own
    /// failure), and the outcome for the summary.
    func finish() -> RunOutcome {
        let status = rootStatus ?? .signaled(signal: Signals.kill)
        let exitStatus = status.shellStatus
        let ruleCounts = recorder.counts
        var fields = exitFields(pid: table.root, status: status)
        fields.append(("exit_status", .int(Int64(exitStatus))))
        fields.append(("final", .bool(true)))
        fields.append(("processes", .int(Int64(table.processIDs.count))))
        fields.append(("counts", .array(ruleCounts.map { count in
            var members: [(String, JSONValue)] = [
                ("category", .string(count.category)), ("rule", .string(count.rule)),
                ("action", .string(count.action)), ("count", .int(Int64(count.count))),
            ]
            if let audited = count.auditedFrom { members.append(("audited", .string(audited))) }
            return .object(members)
        })))
        let unwinding = stacks.stats
        if unwinding.unwinds > 0 {
            fields.append(("stacks", .object([
                ("unwinds", .int(Int64(unwinding.unwinds))),
                ("unwind_ms", .double(Double(unwinding.unwindNanoseconds) / 1e6)),
                ("symbol_index_ms", .double(Double(unwinding.symbolIndexNanoseconds) / 1e6)),
                ("symbol_indexes", .int(Int64(unwinding.symbolIndexBuilds))),
                ("symbol_indexes_cached", .int(Int64(unwinding.symbolIndexesLoaded))),
            ])))
        }
        if emulator != nil {
            fields.append(("wx_emulation_total", wxTotals.json))
            let writers = stacks.summaries.filter { $0.rule == "code-write" }.prefix(5)
            if !writers.isEmpty {
                fields.append(("code_writers", .array(writers.map { site in
                    .object([("site", .string(site.site)), ("sampled_faults", .int(Int64(site.count))),
                             ("frames", .array(site.names.map { .string($0) }))])
                })))
            }
        }
        if !notices.isEmpty { fields.append(("notices", .array(notices.map { .string($0) }))) }
        if let failure { fields.append(("error", .string(failure))) }
        emit(.exit, fields)
        return RunOutcome(exitStatus: exitStatus, ending: status.ending, counts: ruleCounts,
                          firstBlocked: recorder.firstBlocked, eventsWritten: writer.count,
                          processes: table.processIDs.count, failure: failure, sites: stacks.summaries,
                          processIDs: table.processIDs, wxEmulation: emulator == nil ? nil : wxTotals, notices: notices)
    }
}

/// The `wx_emulation` object of an `exit` line: what W^X emulation did in one process (or, as
/// `wx_emulation_total`, the run).
public struct WXEmulationCounts: Sendable, Hashable {
    public var rewritten = 0
    public var execFaults = 0
    public var writeFaults = 0
    public var flips = 0
    public var flipsPerSecond = 0.0
    public var slowFlips = 0
    public var leaseWaits = 0
    public var leaseWaitMilliseconds = 0.0
    public var handlerMicrosecondsPerFlip = 0.0
    public var livelocks = 0

    public init() {}

    public var json: JSONValue {
        .object([
            ("rewritten", .int(Int64(rewritten))), ("exec_faults", .int(Int64(execFaults))),
            ("write_faults", .int(Int64(writeFaults))), ("flips", .int(Int64(flips))),
            ("flips_per_second", .double(flipsPerSecond)), ("slow_flips", .int(Int64(slowFlips))),
            ("lease_waits", .int(Int64(leaseWaits))), ("lease_wait_ms", .double(leaseWaitMilliseconds)),
            ("handler_us_per_flip", .double(handlerMicrosecondsPerFlip)), ("livelocks", .int(Int64(livelocks))),
        ])
    }

    public init(json: JSONValue) {
        let int = { (key: String) in Int(json[key]?.intValue ?? 0) }
        let double = { (key: String) in json[key]?.doubleValue ?? 0 }
        rewritten = int("rewritten")
        execFaults = int("exec_faults")
        writeFaults = int("write_faults")
        flips = int("flips")
        flipsPerSecond = double("flips_per_second")
        slowFlips = int("slow_flips")
        leaseWaits = int("lease_waits")
        leaseWaitMilliseconds = double("lease_wait_ms")
        handlerMicrosecondsPerFlip = double("handler_us_per_flip")
        livelocks = int("livelocks")
    }
}

/// One entry of the final line's `counts`: how often a rule matched.
public struct RuleCountEntry: Sendable, Hashable {
    public var category: String
    public var rule: String
    /// As written (`deny(EPERM)`).
    public var action: String
    public var count: Int
    /// Under `mode: audit`, the action the profile wrote.
    public var audited: String?

    public init(category: String, rule: String, action: String, count: Int, audited: String? = nil) {
        self.category = category
        self.rule = rule
        self.action = action
        self.count = count
        self.audited = audited
    }

    var json: JSONValue {
        var out: [(String, JSONValue)] = [("category", .string(category)), ("rule", .string(rule)),
                                          ("action", .string(action)), ("count", .int(Int64(count)))]
        out.append("audited", audited.map(JSONValue.string))
        return .object(out)
    }

    init(json: JSONValue) {
        self.init(category: json["category"]?.stringValue ?? "?", rule: json["rule"]?.stringValue ?? "?",
                  action: json["action"]?.stringValue ?? "?", count: Int(json["count"]?.intValue ?? 0),
                  audited: json["audited"]?.stringValue)
    }
}

/// The final line's `stacks`: what unwinding cost.
public struct UnwindCost: Sendable, Hashable {
    public var unwinds: Int
    public var unwindMilliseconds: Double
    public var symbolIndexMilliseconds: Double
    public var symbolIndexes: Int
    public var symbolIndexesCached: Int

    public init(unwinds: Int, unwindMilliseconds: Double, symbolIndexMilliseconds: Double, symbolIndexes: Int,
                symbolIndexesCached: Int) {
        self.unwinds = unwinds
        self.unwindMilliseconds = unwindMilliseconds
        self.symbolIndexMilliseconds = symbolIndexMilliseconds
        self.symbolIndexes = symbolIndexes
        self.symbolIndexesCached = symbolIndexesCached
    }

    var json: JSONValue {
        .object([("unwinds", .int(Int64(unwinds))), ("unwind_ms", .double(unwindMilliseconds)),
                 ("symbol_index_ms", .double(symbolIndexMilliseconds)), ("symbol_indexes", .int(Int64(symbolIndexes))),
                 ("symbol_indexes_cached", .int(Int64(symbolIndexesCached)))])
    }

    init(json: JSONValue) {
        self.init(unwinds: Int(json["unwinds"]?.intValue ?? 0), unwindMilliseconds: json["unwind_ms"]?.doubleValue ?? 0,
                  symbolIndexMilliseconds: json["symbol_index_ms"]?.doubleValue ?? 0,
                  symbolIndexes: Int(json["symbol_indexes"]?.intValue ?? 0),
                  symbolIndexesCached: Int(json["symbol_indexes_cached"]?.intValue ?? 0))
    }
}

/// One entry of the final line's `code_writers`: a site that wrote code (sampled write faults).
public struct CodeWriter: Sendable, Hashable {
    public var site: String
    public var sampledFaults: Int
    public var frames: [String]

    public init(site: String, sampledFaults: Int, frames: [String]) {
        self.site = site
        self.sampledFaults = sampledFaults
        self.frames = frames
    }

    var json: JSONValue {
        .object([("site", .string(site)), ("sampled_faults", .int(Int64(sampledFaults))),
                 ("frames", .array(frames.map(JSONValue.string)))])
    }

    init(json: JSONValue) {
        self.init(site: json["site"]?.stringValue ?? "?", sampledFaults: Int(json["sampled_faults"]?.intValue ?? 0),
                  frames: json["frames"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}

/// `exit`: a process ended. The root's line is `final`, closes the trace and carries the run's
/// counts; a run that could not start has a final line with a null pid and the `error`.
public struct ExitEvent: TraceEvent, Hashable {
    public static let type = EventType.exit
    public var pid: Int64?
    public var exe: String?
    /// The exit code, when the process exited.
    public var code: Int?
    /// The signal's name (`SIGKILL`), when a signal ended it.
    public var signal: String?
    public var wxEmulation: WXEmulationCounts?
    /// What a shell would see (the code, or 128 + signal).
    public var exitStatus: Int?
    public var final = false
    public var processes: Int?
    public var counts: [RuleCountEntry]?
    public var stacks: UnwindCost?
    public var wxEmulationTotal: WXEmulationCounts?
    public var codeWriters: [CodeWriter] = []
    public var notices: [String] = []
    /// strictrun's own failure (the run could not start, the trace could not be written…).
    public var error: String?

    public init(pid: Int64?) { self.pid = pid }

    /// The final line of a run strictrun could not start or carry on.
    public static func failure(pid: Int64?, exitStatus: Int, error: String) -> ExitEvent {
        var line = ExitEvent(pid: pid)
        line.exitStatus = exitStatus
        line.final = true
        line.error = error
        return line
    }

    public var members: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [("pid", pid.map(JSONValue.int) ?? .null)]
        out.append("exe", exe.map(JSONValue.string))
        out.append("code", code.map { .int(Int64($0)) })
        out.append("signal", signal.map(JSONValue.string))
        out.append("wx_emulation", wxEmulation?.json)
        out.append("exit_status", exitStatus.map { .int(Int64($0)) })
        if final { out.append(("final", .bool(true))) }
        out.append("processes", processes.map { .int(Int64($0)) })
        out.append("counts", counts.map { .array($0.map(\.json)) })
        out.append("stacks", stacks?.json)
        out.append("wx_emulation_total", wxEmulationTotal?.json)
        if !codeWriters.isEmpty { out.append(("code_writers", .array(codeWriters.map(\.json)))) }
        if !notices.isEmpty { out.append(("notices", .array(notices.map(JSONValue.string)))) }
        out.append("error", error.map(JSONValue.string))
        return out
    }

    public init(line: JSONValue) throws(TraceEventError) {
        let m = Members(line, Self.type)
        guard line["pid"] != nil else { throw TraceEventError(type: "exit", key: "pid", problem: "missing") }
        pid = m.optionalInt("pid")
        exe = m.optionalString("exe")
        code = m.optionalInt("code").map(Int.init)
        signal = m.optionalString("signal")
        wxEmulation = line["wx_emulation"].map(WXEmulationCounts.init(json:))
        exitStatus = m.optionalInt("exit_status").map(Int.init)
        final = line["final"]?.boolValue ?? false
        processes = m.optionalInt("processes").map(Int.init)
        counts = line["counts"]?.arrayValue?.map(RuleCountEntry.init(json:))
        stacks = line["stacks"].map(UnwindCost.init(json:))
        wxEmulationTotal = line["wx_emulation_total"].map(WXEmulationCounts.init(json:))
        codeWriters = line["code_writers"]?.arrayValue?.map(CodeWriter.init(json:)) ?? []
        notices = m.strings("notices")
        error = m.optionalString("error")
    }
}

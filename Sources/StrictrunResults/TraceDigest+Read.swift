import Foundation
import StrictrunTrace

extension TraceDigest {
    /// Frames kept with the first blocked call.
    public static let frameLimit = 12
    /// Sites kept per category.
    public static let siteLimit = 20

    /// Stream the trace at `path` (one line in memory at a time) and summarize it.
    public static func read(path: String) throws -> TraceDigest {
        var digest = TraceDigest(blocked: 0, logged: 0, first: nil, categories: [], processes: nil, exitStatus: nil,
                                 signal: nil, error: nil, complete: false, truncatedLastLine: false, malformedLines: 0)
        var index: [String: Int] = [:]
        let problems = try TraceReader.forEachEvent(path: path) { header, line in
            switch line {
            case .policy(let event):
                digest.add(event, seq: header.seq, index: &index)
            case .tls(let event):
                if let refusal = event.refusal { digest.add(refusal, seq: header.seq, index: &index) }
            case .exit(let event):
                digest.wxEmulation = WXEmulationDigest.adding(event, to: digest.wxEmulation)
                guard event.final else { return }
                digest.complete = true
                digest.exitStatus = event.exitStatus
                digest.signal = event.signal
                digest.error = event.error
                digest.processes = event.processes
            default:
                break
            }
        }
        digest.truncatedLastLine = problems.truncatedLastLine
        digest.malformedLines = problems.malformedLines.count + problems.invalidEvents.count
        if problems.seqBreaks > 0 { digest.seqBreaks = problems.seqBreaks }
        return digest
    }

    private mutating func add(_ event: PolicyEvent, seq: Int64, index: inout [String: Int]) {
        guard event.blocks else {
            logged += 1
            return
        }
        blocked += 1
        if first == nil { first = Self.blockedEvent(event, seq: seq) }
        let position: Int
        if let known = index[event.category] {
            position = known
        } else {
            position = categories.count
            index[event.category] = position
            categories.append(CategoryHit(category: event.category, events: 0, rules: [], sites: []))
        }
        categories[position].events += 1
        if !categories[position].rules.contains(event.rule) { categories[position].rules.append(event.rule) }
        if let site = event.stack.site, categories[position].sites.count < Self.siteLimit,
           !categories[position].sites.contains(site) {
            categories[position].sites.append(site)
        }
    }

    /// The fields of a policy event a failure message and a report need.
    public static func blockedEvent(_ event: PolicyEvent, seq: Int64, frameLimit: Int = frameLimit) -> BlockedEvent {
        BlockedEvent(
            seq: Int(seq), pid: event.pid.map(Int.init), exe: event.exe, syscall: event.syscall,
            args: JSONArgument(.object(event.args)), category: event.category, rule: event.rule,
            action: event.audited ?? event.action.rawValue, errno: event.errno, site: event.stack.site,
            frames: frames(event.stack.frames ?? [], limit: frameLimit))
    }

    /// Result frames of a trace's stack.
    public static func frames(_ stack: [TraceFrame], limit: Int = .max) -> [Frame] {
        stack.prefix(limit).map { frame in
            Frame(symbol: frame.symbol, module: frame.module, offset: frame.offset.flatMap { JSONValue.hex($0).stringValue },
                  file: frame.file, line: frame.line)
        }
    }
}

extension WXEmulationDigest {
    /// `sum` plus the `wx_emulation` counters of one `exit` line (each process has its own).
    public static func adding(_ event: ExitEvent, to sum: WXEmulationDigest?) -> WXEmulationDigest? {
        guard let counters = event.wxEmulation else { return sum }
        var total = sum ?? WXEmulationDigest(rewritten: 0, flips: 0, execFaults: 0, writeFaults: 0, leaseWaits: 0)
        total.rewritten += counters.rewritten
        total.flips += counters.flips
        total.execFaults += counters.execFaults
        total.writeFaults += counters.writeFaults
        total.leaseWaits += counters.leaseWaits
        return total
    }
}

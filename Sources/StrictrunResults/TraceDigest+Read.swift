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
        var firstSeq: [String: Int64] = [:]
        var tls = TLSTraceReader()
        let problems = try TraceReader.forEachEvent(path: path) { header, line in
            switch line {
            case .policy(let event):
                digest.add(event, seq: header.seq, index: &index, firstSeq: &firstSeq)
                tls.policy(event)
            case .tls(let event):
                if let refusal = tls.tls(event, header: header) {
                    digest.add(refusal, seq: header.seq, index: &index, firstSeq: &firstSeq)
                }
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
        let (late, tlsDigest) = tls.finish()
        if !late.isEmpty {
            // Refusals counted at the end take their place in trace order: `first` and the
            // categories' order of first occurrence.
            for (header, refusal) in late {
                let earlier = digest.first.map { header.seq < Int64($0.seq) } ?? true
                digest.add(refusal, seq: header.seq, index: &index, firstSeq: &firstSeq)
                if earlier { digest.first = Self.blockedEvent(refusal, seq: header.seq) }
            }
            digest.categories.sort { (firstSeq[$0.category] ?? .max) < (firstSeq[$1.category] ?? .max) }
        }
        digest.tls = tlsDigest?.limited()
        digest.truncatedLastLine = problems.truncatedLastLine
        digest.malformedLines = problems.malformedLines.count + problems.invalidEvents.count
        if problems.seqBreaks > 0 { digest.seqBreaks = problems.seqBreaks }
        return digest
    }

    private mutating func add(_ event: PolicyEvent, seq: Int64, index: inout [String: Int],
                              firstSeq: inout [String: Int64]) {
        guard event.blocks else {
            logged += 1
            return
        }
        blocked += 1
        if first == nil { first = Self.blockedEvent(event, seq: seq) }
        firstSeq[event.category] = min(firstSeq[event.category] ?? .max, seq)
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

    /// Members of an event that no system call made (the broker's `tls/verification-failed`) that
    /// stand in for its arguments.
    static let argumentLikeMembers: Set<String> = ["destination", "sni", "reason"]

    /// The fields of a policy event a failure message and a report need.
    public static func blockedEvent(_ event: PolicyEvent, seq: Int64, frameLimit: Int = frameLimit) -> BlockedEvent {
        let args = event.args.isEmpty ? event.extra.filter { argumentLikeMembers.contains($0.0) } : event.args
        return BlockedEvent(
            seq: Int(seq), pid: event.pid.map(Int.init), exe: event.exe, syscall: event.syscall,
            args: JSONArgument(.object(args)), category: event.category, rule: event.rule,
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

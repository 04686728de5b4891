import Foundation
import StrictrunTrace

/// The TLS side of one trace, read line by line beside whoever reads its policy events (the
/// digest, the report), so that both count the same things:
///
/// - each `tls` line is joined to its routed connect by `connection` to find its call site (a
///   connection is forgotten at its `closed` line, so memory follows the open connections);
/// - a verification failure is counted once: from the broker's `tls/verification-failed` policy
///   event when the trace has one for that connection, else from the `verification-failed` line
///   (older traces). The line may come before or after the event, so a line with a connection id
///   waits until `finish()`; `tls(_:header:)` and `finish()` hand back the broker refusals that
///   count as blocked events (`TLSEvent.refusal`), each exactly once.
public struct TLSTraceReader {
    private var sites: [TLSSite] = []
    private var index: [String: Int] = [:]
    /// Open routed connections → their connect's site (an index into `sites`).
    private var connections: [UInt64: Int] = [:]
    /// Connections whose verification failure a policy event recorded.
    private var failedByPolicy = Set<UInt64>()
    /// `verification-failed` lines waiting for a policy event of their connection.
    private var waiting: [UInt64: Waiting] = [:]

    private struct Waiting {
        var header: LineHeader
        var event: TLSEvent
        var site: Int
    }

    public init() {}

    /// A policy line (every one; other categories are ignored).
    public mutating func policy(_ event: PolicyEvent) {
        guard event.category == Category.tls.name else { return }
        if event.isRoutedConnect {
            let at = site(of: event)
            sites[at].counts.connections += 1
            note(destination: event.destination, at: at)
            if let id = event.connection { connections[id] = at }
        } else if event.rule == TLSRule.verificationFailed {
            // The connect's site when the event has none of its own (it should carry the connect's stack).
            let connect = event.stack.site == nil ? event.connection.flatMap { connections[$0] } : nil
            let at = connect ?? site(of: event)
            sites[at].counts.verificationFailures += 1
            note(destination: event.destination, at: at)
            note(reason: event["reason"]?.stringValue, at: at)
            if let id = event.connection {
                failedByPolicy.insert(id)
                waiting[id] = nil
            }
        } else if TLSRule.keyReads.contains(event.rule) {
            let at = site(of: event)
            sites[at].counts.keyReads += 1
            if let path = TraceBytes.bytes("path", in: .object(event.args)) {
                TLSSite.add([String(decoding: path, as: UTF8.self)], to: &sites[at].paths, limit: TLSSite.listLimit.paths)
            }
            if let format = event["key_format"]?.stringValue {
                TLSSite.add([format], to: &sites[at].keyFormats, limit: TLSSite.listLimit.paths)
            }
        } else if event.rule == TLSRule.serverInApp {
            let at = site(of: event)
            sites[at].counts.serverInApp += 1
            note(destination: event.destination, at: at)
        }
    }

    /// A `tls` line. Returns its refusal when it counts now as a blocked event; nil when it is
    /// no refusal, was already counted from a policy event, or waits for `finish()`.
    public mutating func tls(_ event: TLSEvent, header: LineHeader) -> PolicyEvent? {
        let connect = event.connection.flatMap { connections[$0] }
        switch event.kind {
        case .handshake:
            let at = connect ?? site(of: event)
            sites[at].counts.handshakes += 1
        case .relayed:
            let at = connect ?? site(of: event)
            sites[at].counts.relayed += 1
        case .upstreamFailed, .appFailed:
            let at = connect ?? site(of: event)
            sites[at].counts.otherFailures += 1
            note(reason: event.reason, at: at)
        case .verificationFailed:
            guard let id = event.connection else {
                let at = connect ?? site(of: event)
                sites[at].counts.verificationFailures += 1
                note(reason: event.reason, at: at)
                break
            }
            if !failedByPolicy.contains(id) {
                waiting[id] = Waiting(header: header, event: event, site: connect ?? site(of: event))
            }
            return nil
        case .closed, .unregistered:
            if let id = event.connection { connections[id] = nil }
        case .other:
            break
        }
        return event.refusal
    }

    /// The end of the trace: the `verification-failed` lines no policy event recorded (counted
    /// now, in trace order, with their headers for the caller to count as blocked), and the
    /// run's TLS (nil when it did nothing TLS).
    public mutating func finish() -> (refusals: [(header: LineHeader, event: PolicyEvent)], digest: TLSDigest?) {
        let late = waiting.values.sorted { $0.header.seq < $1.header.seq }
        waiting = [:]
        var refusals: [(header: LineHeader, event: PolicyEvent)] = []
        for line in late {
            sites[line.site].counts.verificationFailures += 1
            note(reason: line.event.reason, at: line.site)
            if let refusal = line.event.refusal { refusals.append((line.header, refusal)) }
        }
        var counts = TLSCounts()
        for site in sites { counts += site.counts }
        guard !counts.isEmpty else { return (refusals, nil) }
        return (refusals, TLSDigest(counts: counts, sites: sites.sorted(by: TLSSite.mostConflictsFirst)))
    }

    private mutating func site(of event: PolicyEvent) -> Int {
        let id = SiteKey.of(site: event.stack.site, category: event.category, rule: event.rule, syscall: event.syscall,
                            exe: event.exe)
        let at = site(id: id, site: event.stack.site)
        if !sites[at].rules.contains(event.rule) { sites[at].rules.append(event.rule) }
        if sites[at].frames.isEmpty, let frames = event.stack.frames, !frames.isEmpty {
            // The named frames, as the run's summary shows a site (an unnamed frame says little in a table).
            let named = frames.filter { $0.symbol != nil }
            sites[at].frames = TraceDigest.frames(named.isEmpty ? frames : named, limit: TLSSite.listLimit.frames)
                .map(\.shortName)
        }
        return at
    }

    /// A line whose connection no routed connect of the trace names: `~tls/EVENT`.
    private mutating func site(of event: TLSEvent) -> Int {
        let at = site(id: SiteKey.of(site: nil, category: Category.tls.name, rule: event.kind.name, syscall: "tls", exe: nil),
                      site: nil)
        if !sites[at].rules.contains(event.kind.name) { sites[at].rules.append(event.kind.name) }
        return at
    }

    private mutating func site(id: String, site: String?) -> Int {
        if let known = index[id] { return known }
        index[id] = sites.count
        sites.append(TLSSite(id: id, site: site))
        return sites.count - 1
    }

    private mutating func note(destination: String?, at site: Int) {
        guard let destination else { return }
        TLSSite.add([destination], to: &sites[site].destinations, limit: TLSSite.listLimit.destinations)
    }

    private mutating func note(reason: String?, at site: Int) {
        guard let reason else { return }
        TLSSite.add([reason], to: &sites[site].reasons, limit: TLSSite.listLimit.reasons)
    }
}

extension TLSSite {
    /// Conflicts (verification failures, key reads, server-side TLS) first, then every count, then by id.
    public static func mostConflictsFirst(_ a: TLSSite, _ b: TLSSite) -> Bool {
        if a.counts.conflicts != b.counts.conflicts { return a.counts.conflicts > b.counts.conflicts }
        if a.counts.total != b.counts.total { return a.counts.total > b.counts.total }
        return a.id < b.id
    }
}

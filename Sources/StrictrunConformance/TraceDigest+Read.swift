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
        let problems = try TraceReader.forEach(path: path) { line in
            let event = tlsFailure(line) ?? line
            switch event["type"]?.stringValue {
            case "policy":
                guard isBlocked(event) else {
                    digest.logged += 1
                    return
                }
                digest.blocked += 1
                let category = event["category"]?.stringValue ?? "?"
                let rule = event["rule"]?.stringValue ?? "?"
                let site = event["site"]?.stringValue
                if digest.first == nil { digest.first = blockedEvent(event) }
                let position: Int
                if let known = index[category] {
                    position = known
                } else {
                    position = digest.categories.count
                    index[category] = position
                    digest.categories.append(CategoryHit(category: category, events: 0, rules: [], sites: []))
                }
                digest.categories[position].events += 1
                if !digest.categories[position].rules.contains(rule) { digest.categories[position].rules.append(rule) }
                if let site, digest.categories[position].sites.count < siteLimit,
                   !digest.categories[position].sites.contains(site) {
                    digest.categories[position].sites.append(site)
                }
            case "exit":
                digest.wxEmulation = WXEmulationDigest.adding(event, to: digest.wxEmulation)
                guard event["final"]?.boolValue == true else { return }
                digest.complete = true
                digest.exitStatus = event["exit_status"]?.intValue.map(Int.init)
                digest.signal = event["signal"]?.stringValue
                digest.error = event["error"]?.stringValue
                digest.processes = event["processes"]?.intValue.map(Int.init)
            default:
                break
            }
        }
        digest.truncatedLastLine = problems.truncatedLastLine
        digest.malformedLines = problems.malformedLines.count
        return digest
    }

    /// The TLS broker's failures (`tls` lines: `verification-failed`, `upstream-failed`,
    /// `app-failed`) as policy events of category `tls`, rule = the event, syscall `tls`, action
    /// `refuse`, the destination, SNI and reason as arguments; nil for any other line.
    public static func tlsFailure(_ event: JSONValue) -> JSONValue? {
        guard event["type"]?.stringValue == "tls", let what = event["event"]?.stringValue,
              ["verification-failed", "upstream-failed", "app-failed"].contains(what) else { return nil }
        var args: [(String, JSONValue)] = []
        for key in ["destination", "sni", "reason", "alert"] {
            if let value = event[key] { args.append((key, value)) }
        }
        var fields: [(String, JSONValue)] = [("v", event["v"] ?? .int(1)), ("seq", event["seq"] ?? .int(0)),
                                             ("time", event["time"] ?? .null), ("type", .string("policy"))]
        if let pid = event["pid"] { fields.append(("pid", pid)) }
        fields += [("syscall", .string("tls")), ("args", .object(args)), ("category", .string("tls")),
                   ("rule", .string(what)), ("action", .string("refuse")), ("stack", .null), ("site", .null)]
        return .object(fields)
    }

    /// Denied or killed (or, for TLS, refused by the broker), or (audit mode) logged in place of
    /// a deny or kill.
    public static func isBlocked(_ event: JSONValue) -> Bool {
        switch event["action"]?.stringValue {
        case "deny", "kill", "refuse", "noop": return true
        default:
            guard let audited = event["audited"]?.stringValue else { return false }
            return audited.hasPrefix("deny") || audited.hasPrefix("kill") || audited.hasPrefix("noop")
        }
    }

    /// The fields of a policy event a failure message and a report need.
    public static func blockedEvent(_ event: JSONValue, frameLimit: Int = frameLimit) -> BlockedEvent {
        BlockedEvent(
            seq: Int(event["seq"]?.intValue ?? 0), pid: event["pid"]?.intValue.map(Int.init),
            exe: event["exe"]?.stringValue, syscall: event["syscall"]?.stringValue ?? "?",
            args: event["args"].map(JSONArgument.init),
            category: event["category"]?.stringValue ?? "?", rule: event["rule"]?.stringValue ?? "?",
            action: event["audited"]?.stringValue ?? event["action"]?.stringValue ?? "?",
            errno: event["errno"]?.stringValue, site: event["site"]?.stringValue,
            frames: frames(event["stack"], limit: frameLimit))
    }

    /// The frames of a `stack` value (null or absent: none).
    public static func frames(_ stack: JSONValue?, limit: Int = .max) -> [Frame] {
        guard let items = stack?.arrayValue else { return [] }
        return items.prefix(limit).map { frame in
            Frame(symbol: frame["symbol"]?.stringValue, module: frame["module"]?.stringValue,
                  offset: frame["offset"]?.stringValue, file: frame["file"]?.stringValue,
                  line: frame["line"]?.intValue.map(Int.init))
        }
    }
}

extension WXEmulationDigest {
    /// `sum` plus the `wx_emulation` counters of one `exit` line (each process has its own);
    /// `sum` unchanged for any other line.
    public static func adding(_ event: JSONValue, to sum: WXEmulationDigest?) -> WXEmulationDigest? {
        guard event["type"]?.stringValue == "exit", let counters = event["wx_emulation"] else { return sum }
        let value = { (key: String) in Int(counters[key]?.intValue ?? 0) }
        var total = sum ?? WXEmulationDigest(rewritten: 0, flips: 0, execFaults: 0, writeFaults: 0, leaseWaits: 0)
        total.rewritten += value("rewritten")
        total.flips += value("flips")
        total.execFaults += value("exec_faults")
        total.writeFaults += value("write_faults")
        total.leaseWaits += value("lease_waits")
        return total
    }
}

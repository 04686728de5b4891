import Foundation
import StrictrunTrace

/// One stack frame, as the trace has it.
public struct Frame: Codable, Sendable, Hashable {
    public var symbol: String?
    public var module: String?
    public var offset: String?
    public var file: String?
    public var line: Int?

    public init(symbol: String?, module: String?, offset: String?, file: String?, line: Int?) {
        self.symbol = symbol
        self.module = module
        self.offset = offset
        self.file = file
        self.line = line
    }

    /// The symbol without a C++ parameter list, or `module+offset`: for tables.
    public var shortName: String {
        symbol.map(Frame.shortName) ?? "\(module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?")+\(offset ?? "?")"
    }

    /// A demangled C++ name without its parameter list (`shortSymbolName`).
    public static func shortName(_ symbol: String) -> String { shortSymbolName(symbol) }

    /// `symbol (module basename)` or `module+offset`, for one-line messages.
    public var brief: String {
        let module = module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?"
        if let symbol { return "\(symbol) (\(module))" }
        return "\(module)+\(offset ?? "?")"
    }
}

/// A blocked call, as a failure message and a report need it.
public struct BlockedEvent: Codable, Sendable {
    public var seq: Int
    public var pid: Int?
    public var exe: String?
    public var syscall: String
    /// The decoded arguments, as the trace wrote them.
    public var args: JSONArgument?
    public var category: String
    public var rule: String
    public var action: String
    public var errno: String?
    public var site: String?
    /// The top frames (at most 12).
    public var frames: [Frame]

    /// `clone(flags=CLONE_CHILD_SETTID|SIGCHLD) → EPERM [process/fork]`.
    public var oneLine: String {
        var args = ""
        if case .object(let members)? = self.args?.value {
            args = members.prefix(4).map { "\($0.0)=\($0.1.stringValue ?? $0.1.serialized())" }.joined(separator: ", ")
        }
        let result = errno.map { " → \($0)" } ?? (action == "kill" ? " → killed" : "")
        return "\(syscall)(\(args))\(result) [\(category)/\(rule)]"
    }

    public init(seq: Int, pid: Int? = nil, exe: String? = nil, syscall: String, args: JSONArgument? = nil,
                category: String, rule: String, action: String, errno: String? = nil, site: String? = nil,
                frames: [Frame]) {
        self.seq = seq
        self.pid = pid
        self.exe = exe
        self.syscall = syscall
        self.args = args
        self.category = category
        self.rule = rule
        self.action = action
        self.errno = errno
        self.site = site
        self.frames = frames
    }
}

/// The blocked events of one category in one trace.
public struct CategoryHit: Codable, Sendable, Hashable {
    public var category: String
    public var events: Int
    public var rules: [String]
    /// Distinct call sites, in order of first occurrence (at most 20).
    public var sites: [String]

    public init(category: String, events: Int, rules: [String], sites: [String]) {
        self.category = category
        self.events = events
        self.rules = rules
        self.sites = sites
    }
}

/// What one constrained run's trace says: blocked calls by category, the first one in full, and
/// how the run ended. Computed right after the run, streaming the trace.
public struct TraceDigest: Codable, Sendable {
    /// Calls denied or killed (in audit mode: calls the profile would have blocked).
    public var blocked: Int
    /// Calls allowed and recorded (`log`, `route`).
    public var logged: Int
    public var first: BlockedEvent?
    public var categories: [CategoryHit]
    public var processes: Int?
    /// From the final `exit` line.
    public var exitStatus: Int?
    public var signal: String?
    public var error: String?
    /// Whether the trace ends with its final `exit` line.
    public var complete: Bool
    public var truncatedLastLine: Bool
    public var malformedLines: Int
    /// W^X emulation (`wx: emulate`) over every process of the run; nil under other levels.
    public var wxEmulation: WXEmulationDigest?
    /// Lines whose `seq` does not follow the previous one (lost, removed or forged); nil when none.
    public var seqBreaks: Int?
    /// What the run asked of mediated TLS (what the TLS adaptation must carry); nil when nothing.
    public var tls: TLSDigest?

    enum CodingKeys: String, CodingKey {
        case blocked, logged, first, categories, processes, signal, error, complete, tls
        case seqBreaks = "seq_breaks"
        case wxEmulation = "wx_emulation"
        case exitStatus = "exit_status"
        case truncatedLastLine = "truncated_last_line"
        case malformedLines = "malformed_lines"
    }

    public init(blocked: Int, logged: Int, first: BlockedEvent? = nil, categories: [CategoryHit],
                processes: Int? = nil, exitStatus: Int? = nil, signal: String? = nil, error: String? = nil,
                complete: Bool, truncatedLastLine: Bool, malformedLines: Int, wxEmulation: WXEmulationDigest? = nil) {
        self.blocked = blocked
        self.logged = logged
        self.first = first
        self.categories = categories
        self.processes = processes
        self.exitStatus = exitStatus
        self.signal = signal
        self.error = error
        self.complete = complete
        self.truncatedLastLine = truncatedLastLine
        self.malformedLines = malformedLines
        self.wxEmulation = wxEmulation
    }
}

/// The W^X emulation counters of one run (the `wx_emulation` objects of its `exit` lines,
/// added up): what separating code generation from execution costs this test.
public struct WXEmulationDigest: Codable, Sendable, Hashable {
    public var rewritten: Int
    public var flips: Int
    public var execFaults: Int
    public var writeFaults: Int
    public var leaseWaits: Int

    enum CodingKeys: String, CodingKey {
        case rewritten, flips
        case execFaults = "exec_faults"
        case writeFaults = "write_faults"
        case leaseWaits = "lease_waits"
    }

    public init(rewritten: Int, flips: Int, execFaults: Int, writeFaults: Int, leaseWaits: Int) {
        self.rewritten = rewritten
        self.flips = flips
        self.execFaults = execFaults
        self.writeFaults = writeFaults
        self.leaseWaits = leaseWaits
    }
}

/// A `JSONValue` that round-trips through `Codable` (the decoded arguments of a blocked call).
public struct JSONArgument: Codable, Sendable {
    public var value: JSONValue

    public init(_ value: JSONValue) { self.value = value }

    public init(from decoder: Decoder) throws { value = try JSONValue(from: decoder) }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        try Self.encode(value, to: encoder)
    }

    private static func encode(_ value: JSONValue, to encoder: Encoder) throws {
        switch value {
        case .object(let members):
            var container = encoder.container(keyedBy: Key.self)
            for (key, member) in members {
                try container.encode(JSONArgument(member), forKey: Key(stringValue: key))
            }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(JSONArgument(item)) }
        default:
            var container = encoder.singleValueContainer()
            switch value {
            case .null: try container.encodeNil()
            case .bool(let b): try container.encode(b)
            case .int(let i): try container.encode(i)
            case .uint(let u): try container.encode(u)
            case .double(let d): try container.encode(d)
            case .string(let s): try container.encode(s)
            default: break
            }
        }
    }
}

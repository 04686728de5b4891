/// The trace schema version written in every line's `v`.
public let traceSchemaVersion = 1

/// The kinds of trace lines. Lifecycle lines (`start`, `process`, `exec`, `exit`) frame
/// the `policy` lines, which record one call a rule matched.
public enum EventType: String, Sendable, CaseIterable {
    /// The run began: profile, argv, strictrun version.
    case start
    /// A new process appeared under the tracer (fork, vfork or clone without CLONE_THREAD).
    case process
    /// A process replaced its image (execve).
    case exec
    /// A call matched a rule: decoded arguments, category, rule, action, errno, stack, site.
    case policy
    /// What the TLS broker did with a routed connection (handshake, verification failure…).
    case tls
    /// A process ended; the root process's `exit` closes the trace and carries the counts.
    case exit
}

/// One line of the trace, typed: the schema (version 1) is these types. Each event writes its
/// members in a fixed order after the writer's `v`, `seq`, `time` and `type`, and reads them
/// back from a parsed line; writer and readers share this one definition.
public protocol TraceEvent: Sendable {
    static var type: EventType { get }
    /// The members after `type`, in order.
    var members: [(String, JSONValue)] { get }
    /// The event of a parsed line of this type.
    init(line: JSONValue) throws(TraceEventError)
}

/// A line that does not fit its event type.
public struct TraceEventError: Error, Sendable, CustomStringConvertible {
    public var type: String
    public var key: String
    public var problem: String
    public var description: String { "\(type) line: \(key): \(problem)" }
}

/// The members every line starts with.
public struct LineHeader: Sendable, Hashable {
    public var version: Int
    public var seq: Int64
    public var time: String?
    public var type: String

    public init?(_ line: JSONValue) {
        guard let version = line["v"]?.intValue, let type = line["type"]?.stringValue else { return nil }
        self.version = Int(version)
        seq = line["seq"]?.intValue ?? 0
        time = line["time"]?.stringValue
        self.type = type
    }
}

/// A parsed line as its event: what readers switch over.
public enum TraceLine: Sendable {
    case start(StartEvent)
    case process(ProcessEvent)
    case exec(ExecEvent)
    case policy(PolicyEvent)
    case tls(TLSEvent)
    case exit(ExitEvent)
    /// A type this reader does not know (a newer writer): skipped, not an error.
    case other(String)

    /// The event of `line`; throws when a known type lacks a required member.
    public init(_ line: JSONValue) throws(TraceEventError) {
        switch line["type"]?.stringValue.flatMap(EventType.init(rawValue:)) {
        case .start: self = .start(try StartEvent(line: line))
        case .process: self = .process(try ProcessEvent(line: line))
        case .exec: self = .exec(try ExecEvent(line: line))
        case .policy: self = .policy(try PolicyEvent(line: line))
        case .tls: self = .tls(try TLSEvent(line: line))
        case .exit: self = .exit(try ExitEvent(line: line))
        case nil: self = .other(line["type"]?.stringValue ?? "?")
        }
    }
}

/// Typed access to the members of one line, with errors that name the member.
struct Members {
    let line: JSONValue
    let type: EventType

    init(_ line: JSONValue, _ type: EventType) { self.line = line; self.type = type }

    private func fail(_ key: String, _ problem: String) -> TraceEventError {
        TraceEventError(type: type.rawValue, key: key, problem: problem)
    }
    func string(_ key: String) throws(TraceEventError) -> String {
        guard let value = line[key] else { throw fail(key, "missing") }
        guard let text = value.stringValue else { throw fail(key, "not a string") }
        return text
    }
    func int(_ key: String) throws(TraceEventError) -> Int64 {
        guard let value = line[key] else { throw fail(key, "missing") }
        guard let number = value.intValue else { throw fail(key, "not an integer") }
        return number
    }
    func optionalString(_ key: String) -> String? { line[key]?.stringValue }
    func optionalInt(_ key: String) -> Int64? { line[key]?.intValue }
    func strings(_ key: String) -> [String] { line[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// Members not named in `known` (and not the header), for events with open-ended members.
    func rest(excluding known: Set<String>) -> [(String, JSONValue)] {
        (line.objectValue ?? []).filter { !known.contains($0.0) && !Self.header.contains($0.0) }
    }
    static let header: Set<String> = ["v", "seq", "time", "type"]
}

extension Array where Element == (String, JSONValue) {
    /// Appends `key: value` when `value` is not nil.
    mutating func append(_ key: String, _ value: JSONValue?) {
        if let value { append((key, value)) }
    }
}

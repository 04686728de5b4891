/// `tls`: what the TLS broker did with a routed connection.
public struct TLSEvent: TraceEvent {
    public static let type = EventType.tls
    /// What happened. Unknown kinds (a newer broker) read back as `.other`.
    public enum Kind: Sendable, Hashable {
        case handshake, verificationFailed, upstreamFailed, appFailed, relayed, closed, unregistered
        case other(String)

        public var name: String {
            switch self {
            case .handshake: "handshake"
            case .verificationFailed: "verification-failed"
            case .upstreamFailed: "upstream-failed"
            case .appFailed: "app-failed"
            case .relayed: "relayed"
            case .closed: "closed"
            case .unregistered: "unregistered"
            case .other(let name): name
            }
        }

        public init(name: String) {
            let known: [Kind] = [.handshake, .verificationFailed, .upstreamFailed, .appFailed, .relayed, .closed,
                                 .unregistered]
            self = known.first { $0.name == name } ?? .other(name)
        }

        /// The broker refused the connection: the program's TLS did not get what it asked for.
        public var isFailure: Bool { self == .verificationFailed || self == .upstreamFailed || self == .appFailed }
    }

    /// The process that made the connection (nil when the broker could not tell).
    public var pid: Int64?
    /// A refusal's: the thread whose routed connect this was.
    public var tid: Int64?
    public var connection: UInt64?
    public var kind: Kind
    public var destination: String?
    public var sni: String?
    /// The rest, in order: `reason`, `alert`, `upstream_verified`, `bytes_up`…
    public var details: [(String, JSONValue)]
    /// A refusal's: the stack and site of the routed connect (where the program asked for the
    /// connection the broker refused); nil on other lines.
    public var stack: CapturedStack?

    public init(pid: Int64? = nil, connection: UInt64?, kind: Kind, destination: String?, sni: String? = nil,
                details: [(String, JSONValue)] = []) {
        self.pid = pid
        self.connection = connection
        self.kind = kind
        self.destination = destination
        self.sni = sni
        self.details = details
    }

    public subscript(key: String) -> JSONValue? { details.first { $0.0 == key }?.1 }

    public var members: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = []
        out.append("pid", pid.map(JSONValue.int))
        out.append("connection", connection.map(JSONValue.uint))
        out.append(("event", .string(kind.name)))
        out.append("destination", destination.map(JSONValue.string))
        out.append("sni", sni.map(JSONValue.string))
        out.append("tid", tid.map(JSONValue.int))
        return out + details + (stack?.members ?? [])
    }

    public init(line: JSONValue) throws(TraceEventError) {
        let m = Members(line, Self.type)
        let connection = line["connection"].flatMap { value -> UInt64? in
            if case .uint(let n) = value { return n }
            return value.intValue.flatMap(UInt64.init(exactly:))
        }
        self.init(pid: m.optionalInt("pid"), connection: connection, kind: Kind(name: try m.string("event")),
                  destination: m.optionalString("destination"), sni: m.optionalString("sni"),
                  details: m.rest(excluding: Set(["pid", "tid", "connection", "event", "destination", "sni"])
                      .union(CapturedStack.keys)))
        tid = m.optionalInt("tid")
        if line["stack"] != nil || line["site"] != nil { stack = CapturedStack(line: line) }
    }

    /// A refused connection as the policy event readers count: category `tls`, rule = the kind,
    /// syscall `tls`, action `refuse`, destination, SNI, reason and alert as arguments, and the
    /// routed connect's thread and stack where the line carries them (older traces: none).
    public var refusal: PolicyEvent? {
        guard kind.isFailure else { return nil }
        var args: [(String, JSONValue)] = []
        args.append("destination", destination.map(JSONValue.string))
        args.append("sni", sni.map(JSONValue.string))
        args.append("reason", self["reason"])
        args.append("alert", self["alert"])
        return PolicyEvent(pid: pid, tid: tid, syscall: "tls", args: args, category: Category.tls.name, rule: kind.name,
                           action: .refuse, stack: stack ?? .none)
    }
}

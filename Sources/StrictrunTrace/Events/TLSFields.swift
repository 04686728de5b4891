/// The rule names of category `tls` that readers tell apart, as the tracer and the broker write
/// them (the one list; see `TLSDigest` in StrictrunResults for how a report counts them).
public enum TLSRule {
    /// A `connect()` to a listed TLS port, routed to the broker (port-list mediation).
    public static let tlsPort = "tls-port"
    /// A TCP stream routed to the broker whatever its port (`mediate: all`).
    public static let tcpStream = "tcp-stream"
    /// The broker refused the upstream certificate (a policy event with the connect's stack;
    /// older traces have only the `tls` line of the same name).
    public static let verificationFailed = "verification-failed"
    /// The app opened a file of private-key material (PEM `PRIVATE KEY`, PKCS#8/PKCS#1 DER).
    public static let keyRead = "key-read"
    /// The app opened the key of a client certificate the broker presents for it.
    public static let clientKey = "client-key"
    /// Server-side TLS in the app (its `listen`).
    public static let serverInApp = "server-in-app"

    /// The rules of a routed connect.
    public static let routes: Set<String> = [tlsPort, tcpStream]
    /// The rules of the app reading private-key material.
    public static let keyReads: Set<String> = [keyRead, clientKey]
}

/// Members of category `tls` policy lines, typed.
extension PolicyEvent {
    /// The broker's connection id (`connection`: a routed connect's, or the connection a broker
    /// event is about).
    public var connection: UInt64? { Self.unsigned(self["connection"]) }
    /// A routed connect's `outcome`: `routed`, `failed`, or `not routed: …`.
    public var outcome: String? { self["outcome"]?.stringValue }
    /// `ip:port` the program meant to reach.
    public var destination: String? { self["destination"]?.stringValue }

    /// Whether this is a connect the broker now carries (`tls-port` or `tcp-stream`, outcome `routed`).
    public var isRoutedConnect: Bool {
        category == Category.tls.name && TLSRule.routes.contains(rule) && outcome == "routed"
    }

    static func unsigned(_ value: JSONValue?) -> UInt64? {
        guard let value else { return nil }
        if case .uint(let n) = value { return n }
        return value.intValue.flatMap(UInt64.init(exactly:))
    }
}

/// Members of `tls` lines, typed.
extension TLSEvent {
    /// `handshake`: whether the broker verified the upstream certificate.
    public var upstreamVerified: Bool? { self["upstream_verified"]?.boolValue }
    /// `handshake`: how long the mediated handshake took.
    public var milliseconds: Double? { self["milliseconds"]?.doubleValue }
    /// `handshake`: the protocol negotiated (`h2`, `http/1.1`).
    public var alpn: String? { self["alpn"]?.stringValue }
    /// `verification-failed`, `upstream-failed`, `app-failed`: why.
    public var reason: String? { self["reason"]?.stringValue }
}

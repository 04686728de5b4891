import NIOCore

/// How the broker is set up for one strictrun run.
///
/// Every field has a default except `workDirectory`. The broker reads its files (trust roots, client
/// certificates and keys) once, in ``TLSBroker/start(_:onEvent:)``; a file that cannot be read fails the
/// start with a ``BrokerError``.
public struct BrokerConfiguration: Sendable {
    /// The certificates the broker trusts when it verifies an upstream server.
    public enum TrustRoots: Sendable, Hashable {
        /// The system bundle, `/etc/ssl/certs/ca-certificates.crt` (Debian's `ca-certificates`).
        case system
        /// A PEM bundle named in the profile; only these certificates are trusted.
        case file(String)
    }

    /// What the broker does with a routed connection.
    public enum Mode: Sendable, Hashable {
        /// Terminate the app's TLS with a certificate of the per-run CA, open verified TLS upstream.
        case terminate
        /// Pass the bytes through untouched (no termination), for programs that pin certificates.
        case relay
    }

    /// What the app sees when the upstream certificate fails verification (terminate mode).
    public enum VerificationFailureResponse: Sendable, Hashable {
        /// Present to the app a copy of the upstream chain re-signed so that it fails the app's own verification
        /// for the same reason (an unknown issuer stays unknown, an expired certificate keeps its dates, the names
        /// stay the upstream's names). The app's TLS library then reports its native verification error
        /// (curl exit 60, Python `SSLCertVerificationError`, Node `CERT_HAS_EXPIRED`, ...) and itself sends the
        /// matching alert (`unknown_ca`, `certificate_expired`, ...), which the broker records. No byte is ever
        /// relayed on such a connection, even when the app accepts the copy (verification disabled in the app).
        case mirror
        /// Answer the app's ClientHello with a fatal TLS alert (`unknown_ca`, `certificate_expired`,
        /// `bad_certificate`, ...). The app's TLS library reports an alert received from the peer
        /// (curl exit 35 "tlsv1 alert unknown ca", Python `SSLError` `TLSV1_ALERT_UNKNOWN_CA`, Node
        /// `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`), not a certificate-verification error.
        case alert
    }

    /// Trust roots for upstream verification. Default: `.system`.
    public var trustRoots: TrustRoots = .system
    /// PEM files whose certificates are trusted upstream in addition to `trustRoots` (the trusted component's
    /// store decides, not the app's own CA options). Default: none.
    public var extraTrustRoots: [String] = []
    /// Client certificates presented upstream when a server asks for one; the first matching rule wins.
    public var clientCertificates: [ClientCertificateRule] = []
    /// Default: `.terminate`.
    public var mode: Mode = .terminate
    /// Default: `.mirror`.
    public var verificationFailureResponse: VerificationFailureResponse = .mirror
    /// Emulated crypto-as-IPC cost: each TLS record (up to 16 KiB of plaintext) written toward the app is delayed by
    /// this much, serially (records queue behind each other). Default: zero (no delay).
    public var addedLatencyPerRecord: Duration = .zero
    /// Where `strictrun-ca.pem` (the per-run CA certificate) and `strictrun-ca-bundle.pem` (system roots plus the
    /// per-run CA) are written. The CA's private key is never written anywhere.
    public var workDirectory: String
    /// How long an accepted connection waits for ``TLSBroker/register(appLocal:destination:connectionID:)``
    /// before it is closed and reported as ``BrokerEvent/unregistered(peer:)``. Default: 5 s.
    public var registrationTimeout: Duration = .seconds(5)
    /// Upstream TCP connect timeout. Default: 10 s.
    public var upstreamConnectTimeout: Duration = .seconds(10)
    /// Longest time from accept to an established, relaying connection (both handshakes). Default: 30 s.
    public var handshakeTimeout: Duration = .seconds(30)
    /// TLS 1.3 only: when the server asked for a client certificate, the broker's handshake completes before the
    /// server has judged the certificate. The broker waits this long for the server's next record (session tickets:
    /// accepted; an alert such as `certificate_required`: rejected, and the alert is passed to the app) before it
    /// answers the app. Servers that send no session ticket cost this much per such connection. Default: 500 ms.
    public var clientCertificateVerdictWait: Duration = .milliseconds(500)
    /// Threads of the broker's own event loop group. Default: 2.
    public var threads: Int = 2
    /// Called (on a broker thread) when a connection is accepted before its registration arrived, with the
    /// connection's peer address (the app's local address). strictrun's tracer registers before it connects and
    /// does not need this; tests and tools that point a client at the broker directly use it to register the
    /// destination after the fact. It may call ``TLSBroker/register(appLocal:destination:connectionID:)``
    /// synchronously.
    public var onUnregisteredAccept: (@Sendable (SocketAddressKey) -> Void)? = nil

    public init(workDirectory: String) {
        self.workDirectory = workDirectory
    }
}

/// A client certificate for upstream servers whose name matches `hostPattern`.
///
/// The pattern is a case-insensitive glob (`*` any run of characters, `?` one character) matched against the
/// app's SNI name, else the destination's hostname, else its IP address: `*.corp.example`, `localhost`,
/// `10.0.0.*`. The certificate is only sent when the server requests one.
public struct ClientCertificateRule: Sendable, Hashable {
    public var hostPattern: String
    /// PEM file: the certificate, then any intermediates.
    public var certificateChainPath: String
    /// PEM file: the private key (unencrypted). Read once, at start, by the broker only.
    public var privateKeyPath: String

    public init(hostPattern: String, certificateChainPath: String, privateKeyPath: String) {
        self.hostPattern = hostPattern
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }

    /// Whether `name` matches `hostPattern` (case-insensitive glob).
    public func matches(_ name: String) -> Bool {
        globMatch(Array(hostPattern.lowercased().utf8), Array(name.lowercased().utf8))
    }
}

/// Glob matching with `*` and `?`, iterative with one backtrack point (linear in practice).
func globMatch(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
    var p = 0, t = 0
    var starP = -1, starT = 0
    while t < text.count {
        if p < pattern.count, pattern[p] == UInt8(ascii: "?") || pattern[p] == text[t] {
            p += 1; t += 1
        } else if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
            starP = p; starT = t; p += 1
        } else if starP >= 0 {
            p = starP + 1; starT += 1; t = starT
        } else {
            return false
        }
    }
    while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
    return p == pattern.count
}

/// Where the app meant to connect: the IP and port of its `connect()`, and a hostname when strictrun knows one.
public struct Destination: Sendable, Hashable, CustomStringConvertible {
    public var ip: String
    public var port: Int
    public var hostname: String?

    public init(ip: String, port: Int, hostname: String? = nil) {
        self.ip = SocketAddressKey.canonicalIP(ip)
        self.port = port
        self.hostname = hostname
    }

    /// `ip:port`, or `[ip]:port` for IPv6.
    public var description: String { SocketAddressKey(ip: ip, port: port).description }
}

/// An IP address and port, canonicalised so that the tracer's view of the app's socket (`getsockname`) and the
/// broker's view of the accepted connection (`getpeername`) compare equal: IPv6 text is normalised
/// (`::1`, lower case) and IPv4-mapped IPv6 (`::ffff:127.0.0.1`, from a dual-stack socket) becomes IPv4.
public struct SocketAddressKey: Sendable, Hashable, CustomStringConvertible {
    public let ip: String
    public let port: Int

    public init(ip: String, port: Int) {
        self.ip = Self.canonicalIP(ip)
        self.port = port
    }

    init?(_ address: SocketAddress) {
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        self.init(ip: ip, port: port)
    }

    public var description: String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    static func canonicalIP(_ ip: String) -> String {
        var text = ip
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        guard let address = try? SocketAddress(ipAddress: text, port: 0), let canonical = address.ipAddress else {
            return text.lowercased()
        }
        let lower = canonical.lowercased()
        if lower.hasPrefix("::ffff:"), !lower.dropFirst(7).contains(":"), lower.dropFirst(7).contains(".") {
            return String(lower.dropFirst(7))
        }
        return lower
    }
}

/// What the broker did with a connection. Events arrive on broker threads; the handler must not block.
///
/// Every registered connection ends with exactly one ``closed(id:destination:bytesUp:bytesDown:)``, after
/// any other event for it.
public enum BrokerEvent: Sendable, Hashable {
    /// Both handshakes completed and bytes flow. `upstreamVerified` is true when the upstream chain and name were
    /// verified (always, in terminate mode: a failure is ``verificationFailed``). `clientCertificatePresented`: the
    /// server requested a certificate and a rule supplied one. `alpn`: the protocol negotiated upstream and
    /// passed on to the app. `milliseconds`: from accept to the app's completed handshake.
    case handshake(
        id: UInt64, destination: Destination, sni: String?, upstreamVerified: Bool,
        clientCertificatePresented: Bool, alpn: String?, milliseconds: Double)
    /// The upstream certificate failed verification. `reason` is OpenSSL's wording plus detail, e.g.
    /// `unable to get local issuer certificate (unknown CA: issuer 'CN=Test CA')`, `certificate has expired
    /// (CN=localhost, notAfter 2024-01-01T00:00:00Z)`, `hostname mismatch: cert for a.example, wanted b.example`.
    /// `alert` is the TLS alert this failure corresponds to (RFC 8446 name: `unknown_ca`, `certificate_expired`,
    /// `bad_certificate`, ...): sent to the app in `.alert` mode, expected from the app in `.mirror` mode.
    /// `appAlert` is the alert the app actually sent back (mirror mode), `nil` when it sent none.
    /// `appResponse` says what the app did, in words: `rejected the certificate with alert unknown_ca` (OpenSSL
    /// clients: curl, Python), `completed the handshake, then closed the connection` (Node.js checks the chain
    /// after the handshake), `completed the handshake and sent data (verification off in the app); closed without
    /// relaying`, `alert unknown_ca sent to the app` (`.alert` mode). Nothing is ever relayed on such a connection.
    case verificationFailed(
        id: UInt64, destination: Destination, sni: String?, reason: String, alert: String, appAlert: String?,
        appResponse: String)
    /// The upstream could not be reached or its handshake failed for another reason than verification
    /// (`connection refused`, `connect timed out`, an alert from the server such as `certificate_required`).
    /// `alertToApp`: the server's alert, forwarded to the app; `nil` when the app's connection was reset instead.
    case upstreamFailed(id: UInt64, destination: Destination, sni: String?, reason: String, alertToApp: String?)
    /// The app's own handshake with the broker failed (typically: the app does not trust the per-run CA).
    case appFailed(id: UInt64, destination: Destination, sni: String?, reason: String)
    /// The connection is relayed byte for byte (relay mode, or the app did not speak TLS: `reason` says which).
    case relayed(id: UInt64, destination: Destination, reason: String)
    /// The connection is gone. Byte counts are application bytes (plaintext when terminated): `bytesUp` from the
    /// app to the destination, `bytesDown` back.
    case closed(id: UInt64, destination: Destination, bytesUp: Int, bytesDown: Int)
    /// A connection from `peer` was accepted but no registration arrived within `registrationTimeout`; it was
    /// closed.
    case unregistered(peer: SocketAddressKey)
}

/// Why the broker could not start.
public enum BrokerError: Error, CustomStringConvertible, Sendable {
    case cannotReadTrustRoots(path: String, reason: String)
    case noUsableTrustRoots(path: String)
    case cannotLoadClientCertificate(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case cannotListen(address: String, reason: String)
    case certificateAuthority(reason: String)

    public var description: String {
        switch self {
        case .cannotReadTrustRoots(let path, let reason): return "cannot read trust roots \(path): \(reason)"
        case .noUsableTrustRoots(let path): return "no usable certificate in trust roots \(path)"
        case .cannotLoadClientCertificate(let path, let reason):
            return "cannot load client certificate or key \(path): \(reason)"
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)"
        case .cannotListen(let address, let reason): return "cannot listen on \(address): \(reason)"
        case .certificateAuthority(let reason): return "cannot create the per-run CA: \(reason)"
        }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

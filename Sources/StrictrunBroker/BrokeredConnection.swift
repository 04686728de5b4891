import NIOCore
import NIOPosix
import NIOSSL
import X509

/// One accepted app connection, from accept to close. Every method runs on the app channel's event loop; the
/// upstream channel is created on the same loop, so the relay never crosses threads.
///
/// Terminate mode, in order: the registration (who the app meant) and the app's ClientHello (SNI, ALPN) are both
/// awaited; the broker connects to the destination and completes a verified TLS handshake with it, offering the
/// app's SNI and ALPN; only then is the app's ClientHello handed to a TLS server that presents a per-run-CA leaf
/// for the SNI name (or the IP) and the ALPN protocol the upstream chose. A failed upstream verification instead
/// answers the app with a mirrored chain or an alert (``BrokerConfiguration/VerificationFailureResponse``).
final class BrokeredConnection {
    enum Phase {
        /// Waiting for the registration and the ClientHello.
        case waiting
        case upstreamHandshake
        /// TLS 1.3 with a client certificate: the client's handshake is complete before the server has checked the
        /// certificate; wait for the server's next record (a session ticket: accepted; an alert: rejected).
        case upstreamVerdict
        case appHandshake
        case mirroring
        case relaying
        case done
    }

    let core: BrokerCore
    let app: Channel
    let peer: SocketAddressKey
    let acceptedAt = NIODeadline.now()
    let hold: InboundHoldHandler
    var phase = Phase.waiting
    var registration: Registration?
    var firstFlight: ClientHelloParse?
    var relayReason: String?
    var hello = ClientHelloInfo(serverName: nil, alpn: [])
    var upstream: Channel?
    var upstreamHold: InboundHoldHandler?
    var appWatcher: HandshakeWatcher?
    var appObserver: RecordObserver?
    var upstreamWatcher: HandshakeWatcher?
    var upstreamObserver: RecordObserver?
    var upstreamTLS: NIOSSLClientHandler?
    var glue: (app: GlueHandler, upstream: GlueHandler)?
    var timers: [Scheduled<Void>] = []
    var verification: VerificationOutcome?
    var pendingFailure: VerificationFailure?
    /// Set when the upstream server sent a CertificateRequest.
    let certificateRequested = Flag()
    var clientRule: Int?
    var closedReported = false
    var negotiatedALPN: String?
    /// Bytes the server sent before it closed, delivered without a relay.
    var glueClosedBytes = 0

    static let mirrorResponseWait = TimeAmount.seconds(2)

    init(core: BrokerCore, app: Channel, peer: SocketAddressKey) {
        self.core = core
        self.app = app
        self.peer = peer
        self.hold = InboundHoldHandler(parseHello: core.configuration.mode == .terminate)
    }

    var configuration: BrokerConfiguration { core.configuration }
    var loop: NIOIsolatedEventLoop { app.eventLoop.assumeIsolated() }

    /// Starts on a connection the front (``StreamFront``) handed over: the registration known, the
    /// destination connected (`upstream`), the app's first bytes (a TLS record) still unread.
    func start(_ registration: Registration, upstream: Channel) throws {
        hold.onFirstFlight = { [self] result in
            firstFlight = result
            proceedIfReady()
        }
        try app.pipeline.syncOperations.addHandler(hold)
        app.closeFuture.assumeIsolated().whenComplete { [self] _ in appClosed() }
        timers.append(loop.scheduleTask(in: configuration.handshakeTimeout.timeAmount) { [self] in handshakeTimedOut() })
        self.registration = registration
        self.upstream = upstream
        upstreamHold = try? upstream.pipeline.syncOperations.handler(type: InboundHoldHandler.self)
        upstreamHold?.onFirstFlight = { [self] _ in destinationSpokeFirst() }
        upstream.closeFuture.assumeIsolated().whenComplete { [self] _ in upstreamClosed() }
        proceedIfReady()
    }

    func proceedIfReady() {
        guard phase == .waiting, let registration, let firstFlight, let upstream else { return }
        switch (configuration.mode, firstFlight) {
        case (.relay, _):
            relay(reason: "relay mode", registration)
        case (.terminate, .hello(let info)):
            hello = info
            startUpstreamTLS(upstream)
        case (.terminate, .notTLS(let byte)):
            relay(reason: relayReason ?? "the app does not speak TLS (first byte 0x\(String(byte, radix: 16)))", registration)
        case (.terminate, .malformed(let why)):
            fail(app: "malformed ClientHello: \(why)")
        case (.terminate, .needMoreData):
            break
        }
    }

    /// The destination sent bytes (or ended its side) before the app sent any: TLS is never
    /// server-first, so the stream is relayed as it is (SMTP, MySQL, a test server's greeting).
    func destinationSpokeFirst() {
        guard phase == .waiting, firstFlight == nil else { return }
        relayReason = "the destination spoke first (a server-speaks-first protocol)"
        firstFlight = .notTLS(firstByte: 0)
        proceedIfReady()
    }

    func relay(reason: String, _ registration: Registration) {
        core.emit(.relayed(id: registration.id, destination: registration.destination, reason: reason))
        startRelay(tls: false)
    }
}

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
    var waiter: EventLoopPromise<Registration>?
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

    func start() throws {
        hold.onFirstFlight = { [self] result in
            firstFlight = result
            proceedIfReady()
        }
        try app.pipeline.syncOperations.addHandler(hold)
        app.closeFuture.assumeIsolated().whenComplete { [self] _ in appClosed() }
        timers.append(loop.scheduleTask(in: configuration.handshakeTimeout.timeAmount) { [self] in handshakeTimedOut() })

        let promise = app.eventLoop.makePromise(of: Registration.self)
        if let registration = core.registry.claim(peer, promise: promise) {
            promise.fail(ChannelError.alreadyClosed)      // never handed out: completes the unused promise
            registered(registration)
            return
        }
        waiter = promise
        promise.futureResult.assumeIsolated().whenSuccess { [self] registration in
            waiter = nil
            registered(registration)
        }
        timers.append(loop.scheduleTask(in: configuration.registrationTimeout.timeAmount) { [self] in
            guard let waiter, core.registry.abandon(peer, promise: waiter) else { return }
            self.waiter = nil
            waiter.fail(ChannelError.alreadyClosed)
            phase = .done
            core.emit(.unregistered(peer: peer))
            app.close(promise: nil)
        })
        configuration.onUnregisteredAccept?(peer)
    }

    func registered(_ registration: Registration) {
        guard phase == .waiting else { return }
        self.registration = registration
        if configuration.mode == .terminate, firstFlight == nil, let after = configuration.plaintextRelayAfter {
            timers.append(loop.scheduleTask(in: after.timeAmount) { [self] in
                guard phase == .waiting, firstFlight == nil else { return }
                relayReason = "the app sent nothing for \(after) (a server-speaks-first protocol?)"
                firstFlight = .notTLS(firstByte: 0)
                proceedIfReady()
            })
        }
        connectUpstream(registration.destination)
    }

    /// The TCP connection to the destination is opened as soon as the destination is known, while the app is still
    /// preparing its ClientHello (the app's own connect() would have started it then, too).
    func connectUpstream(_ destination: Destination) {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: destination.ip, port: destination.port)
        } catch {
            failUpstream("invalid destination address \(destination)", alert: nil)
            return
        }
        ClientBootstrap(group: app.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(configuration.upstreamConnectTimeout.timeAmount)
            .channelInitializer { channel in
                // Keeps what a server-speaks-first destination sends before the broker has decided.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(InboundHoldHandler(parseHello: false))
                }
            }
            .connect(to: address)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .failure(let error):
                    guard phase == .waiting else { return }
                    failUpstream(Self.describe(connectError: error, timeout: configuration.upstreamConnectTimeout),
                                 alert: nil)
                case .success(let channel):
                    guard phase == .waiting else {
                        channel.close(promise: nil)
                        return
                    }
                    upstream = channel
                    upstreamHold = try? channel.pipeline.syncOperations.handler(type: InboundHoldHandler.self)
                    upstreamHold?.onFirstFlight = { [self] _ in destinationSpokeFirst() }
                    channel.closeFuture.assumeIsolated().whenComplete { [self] _ in upstreamClosed() }
                    proceedIfReady()
                }
            }
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

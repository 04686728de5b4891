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
    private enum Phase {
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

    private let core: BrokerCore
    private let app: Channel
    private let peer: SocketAddressKey
    private let acceptedAt = NIODeadline.now()
    private let hold: InboundHoldHandler
    private var phase = Phase.waiting
    private var registration: Registration?
    private var waiter: EventLoopPromise<Registration>?
    private var firstFlight: ClientHelloParse?
    private var relayReason: String?
    private var hello = ClientHelloInfo(serverName: nil, alpn: [])
    private var upstream: Channel?
    private var upstreamHold: InboundHoldHandler?
    private var appWatcher: HandshakeWatcher?
    private var appObserver: RecordObserver?
    private var upstreamWatcher: HandshakeWatcher?
    private var upstreamObserver: RecordObserver?
    private var upstreamTLS: NIOSSLClientHandler?
    private var glue: (app: GlueHandler, upstream: GlueHandler)?
    private var timers: [Scheduled<Void>] = []
    private var verification: VerificationOutcome?
    private var pendingFailure: VerificationFailure?
    /// Set when the upstream server sent a CertificateRequest.
    private let certificateRequested = Flag()
    private var clientRule: Int?
    private var closedReported = false
    private var negotiatedALPN: String?

    private static let mirrorResponseWait = TimeAmount.seconds(2)

    init(core: BrokerCore, app: Channel, peer: SocketAddressKey) {
        self.core = core
        self.app = app
        self.peer = peer
        self.hold = InboundHoldHandler(parseHello: core.configuration.mode == .terminate)
    }

    private var configuration: BrokerConfiguration { core.configuration }
    private var loop: NIOIsolatedEventLoop { app.eventLoop.assumeIsolated() }

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

    private func registered(_ registration: Registration) {
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
    private func connectUpstream(_ destination: Destination) {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: destination.ip, port: destination.port)
        } catch {
            failUpstream("invalid destination address \(destination)", alert: nil)
            return
        }
        ClientBootstrap(group: app.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
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
                    channel.closeFuture.assumeIsolated().whenComplete { [self] _ in upstreamClosed() }
                    proceedIfReady()
                }
            }
    }

    private func proceedIfReady() {
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

    private func relay(reason: String, _ registration: Registration) {
        core.emit(.relayed(id: registration.id, destination: registration.destination, reason: reason))
        startRelay(tls: false)
    }

    // MARK: Upstream

    /// The SNI name to send upstream (an IP address is never sent as SNI).
    private var upstreamServerName: String? {
        guard let name = hello.serverName, !name.isEmpty, name.utf8.count <= 255, !name.utf8.contains(0),
              (try? SocketAddress(ipAddress: name, port: 0)) == nil
        else { return nil }
        return name
    }

    private func startUpstreamTLS(_ channel: Channel) {
        phase = .upstreamHandshake
        let destination = registration!.destination
        let serverName = upstreamServerName
        let verifyIP: String? = serverName == nil ? destination.ip : nil
        let verifier = core.verifier
        let connection = NIOLoopBound(self, eventLoop: app.eventLoop)
        do {
            clientRule = core.clientRule(sni: serverName, destination: destination)
            let context = try core.upstreamContext(alpn: hello.alpn, rule: clientRule,
                                                   certificateRequested: certificateRequested)
            let tls = try NIOSSLClientHandler(context: context, serverHostname: serverName,
                                              customVerificationCallback: { certificates, promise in
                let chain = certificates.compactMap { try? $0.toDERBytes() }
                let eventLoop = promise.futureResult.eventLoop
                Task {
                    let outcome = await verifier.verify(der: chain, hostname: serverName, ip: verifyIP)
                    eventLoop.execute {
                        connection.value.verification = outcome
                        if case .verified = outcome {
                            promise.succeed(.certificateVerified)
                        } else {
                            promise.succeed(.failed)
                        }
                    }
                }
            })
            let watcher = HandshakeWatcher { [self] outcome in upstreamHandshake(outcome) }
            let observer = RecordObserver()
            upstreamWatcher = watcher
            upstreamObserver = observer
            upstreamTLS = tls
            try channel.pipeline.syncOperations.addHandler(observer)
            try channel.pipeline.syncOperations.addHandler(tls)
            try channel.pipeline.syncOperations.addHandler(watcher)
            if let upstreamHold { channel.pipeline.syncOperations.removeHandler(upstreamHold, promise: nil) }
        } catch {
            failUpstream("cannot set up TLS toward the destination: \(error)", alert: nil)
        }
    }

    private func upstreamHandshake(_ outcome: HandshakeWatcher.Outcome) {
        guard phase == .upstreamHandshake else { return }
        if case .failed(let failure)? = verification {
            verificationFailed(failure)
            return
        }
        switch outcome {
        case .completed(let alpn):
            negotiatedALPN = alpn
            upstreamWatcher?.afterHandshake = { [self] after in upstreamAfterHandshake(after) }
            if certificateRequested.isSet, upstreamTLS?.tlsVersion == .tlsv13 {
                phase = .upstreamVerdict
                upstreamObserver?.onInbound = { [self] in
                    if phase == .upstreamVerdict { proceedToApp() }
                }
                timers.append(loop.scheduleTask(in: configuration.clientCertificateVerdictWait.timeAmount) { [self] in
                    if phase == .upstreamVerdict { proceedToApp() }
                })
            } else {
                proceedToApp()
            }
        case .failed(let error):
            let alert = TLSAlert.received(in: error)
            let reason = alert.map { "the server sent alert \($0.name) during the TLS handshake" }
                ?? "TLS handshake failed: \(error)"
            failUpstream(reason, alert: alert)
        case .closed:
            failUpstream("the server closed the connection during the TLS handshake", alert: nil)
        }
    }

    /// The upstream session is established (and, with a client certificate, accepted): serve the app.
    private func proceedToApp() {
        upstreamObserver?.onInbound = nil
        let name = hello.serverName ?? registration!.destination.ip
        do {
            startAppTLS(try core.appContext(name: name, alpn: negotiatedALPN), mirroring: false)
        } catch {
            failUpstream("cannot issue a certificate for \(name): \(error)", alert: nil)
        }
    }

    /// The server spoke, failed or left after its handshake and before the relay was wired.
    private func upstreamAfterHandshake(_ after: HandshakeWatcher.After) {
        let reason: String
        let alert: TLSAlert?
        switch after {
        case .data:
            if phase == .upstreamVerdict { proceedToApp() }
            return
        case .error(let error):
            alert = TLSAlert.received(in: error)
            reason = alert.map { "the server sent alert \($0.name) after the handshake" + (certificateRequested.isSet ? (clientRule == nil ? " (it wants a client certificate; no rule matches)" : " (it rejected the client certificate)") : "") }
                ?? "the TLS session with the server failed: \(error)"
        case .closed:
            alert = nil
            reason = "the server closed the connection after the handshake"
        }
        switch phase {
        case .upstreamVerdict:
            failUpstream(reason, alert: alert)      // the app's handshake has not begun: the alert goes as is
        case .appHandshake:
            core.emit(.upstreamFailed(id: registration!.id, destination: registration!.destination,
                                      sni: hello.serverName, reason: reason, alertToApp: nil))
            phase = .done
            app.close(promise: nil)
        default:
            break
        }
    }

    // MARK: Verification failures

    private func verificationFailed(_ failure: VerificationFailure) {
        upstream?.close(promise: nil)
        guard configuration.verificationFailureResponse == .mirror, !failure.presented.isEmpty else {
            answerWithAlert(failure)
            return
        }
        let mirrored: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, certificates: [Certificate])
        let context: NIOSSLContext
        do {
            mirrored = try core.authority.mirror(failure.presented, trust: core.verifier.trust)
            context = try core.mirrorContext(chain: mirrored.chain, key: mirrored.key)
        } catch {
            answerWithAlert(failure)
            return
        }
        phase = .mirroring
        pendingFailure = failure
        // Make sure the copy fails for an app that trusts the per-run CA; if it would pass, send the alert instead.
        let checker = core.mirrorChecker
        let serverName = upstreamServerName
        let ip: String? = serverName == nil ? registration!.destination.ip : nil
        let connection = NIOLoopBound(self, eventLoop: app.eventLoop)
        let eventLoop = app.eventLoop
        let certificates = mirrored.certificates
        Task {
            let outcome = await checker.verify(certificates, hostname: serverName, ip: ip)
            eventLoop.execute {
                let connection = connection.value
                guard connection.phase == .mirroring else { return }
                if case .failed = outcome {
                    connection.startAppTLS(context, mirroring: true)
                } else {
                    connection.pendingFailure = nil
                    connection.answerWithAlert(failure)
                }
            }
        }
    }

    private func answerWithAlert(_ failure: VerificationFailure) {
        report(failure, appAlert: nil, appResponse: "alert \(failure.alert.name) sent to the app")
        sendAlertAndClose(failure.alert)
    }

    private func report(_ failure: VerificationFailure, appAlert: String?, appResponse: String) {
        pendingFailure = nil
        core.emit(.verificationFailed(
            id: registration!.id, destination: registration!.destination, sni: hello.serverName,
            reason: failure.reason, alert: failure.alert.name, appAlert: appAlert, appResponse: appResponse))
    }

    // MARK: The app's handshake

    private func startAppTLS(_ context: NIOSSLContext, mirroring: Bool) {
        phase = mirroring ? .mirroring : .appHandshake
        let tls = NIOSSLServerHandler(context: context)
        let watcher = HandshakeWatcher { [self] outcome in appHandshake(outcome) }
        let observer = RecordObserver()
        appWatcher = watcher
        appObserver = observer
        do {
            try app.pipeline.syncOperations.addHandler(observer, position: .after(hold))
            try app.pipeline.syncOperations.addHandler(tls, position: .after(observer))
            try app.pipeline.syncOperations.addHandler(watcher, position: .after(tls))
            app.pipeline.syncOperations.removeHandler(hold, promise: nil)
        } catch {
            fail(app: "cannot set up TLS toward the app: \(error)")
        }
    }

    private func appHandshake(_ outcome: HandshakeWatcher.Outcome) {
        switch phase {
        case .appHandshake:
            switch outcome {
            case .completed:
                core.emit(.handshake(
                    id: registration!.id, destination: registration!.destination, sni: hello.serverName,
                    upstreamVerified: true, clientCertificatePresented: certificateRequested.isSet && clientRule != nil,
                    alpn: negotiatedALPN, milliseconds: Double((NIODeadline.now() - acceptedAt).nanoseconds) / 1e6))
                startRelay(tls: true)
            case .failed(let error):
                let alert = TLSAlert.received(in: error) ?? appObserver?.lastPlaintextAlert
                fail(app: alert.map { "the app rejected the broker's certificate with alert \($0.name) (does it trust the per-run CA?)" }
                    ?? "TLS handshake with the app failed: \(error)")
            case .closed:
                fail(app: "the app closed the connection during the TLS handshake")
            }
        case .mirroring:
            guard let failure = pendingFailure else { return }
            switch outcome {
            case .completed:
                // Node.js finishes the handshake and then checks the chain itself; an app with verification off
                // goes on to send data. Either way nothing is relayed: wait briefly to tell which it was.
                appWatcher?.afterHandshake = { [self] after in
                    guard let failure = pendingFailure else { return }
                    switch after {
                    case .data:
                        report(failure, appAlert: nil, appResponse:
                            "completed the handshake and sent data (verification off in the app); closed without relaying")
                    case .closed:
                        report(failure, appAlert: nil, appResponse: "completed the handshake, then closed the connection")
                    case .error(let error):
                        let alert = TLSAlert.received(in: error)
                        report(failure, appAlert: alert?.name,
                               appResponse: "completed the handshake, then failed: \(alert.map { "alert \($0.name)" } ?? "\(error)")")
                    }
                    app.close(promise: nil)
                }
                timers.append(loop.scheduleTask(in: Self.mirrorResponseWait) { [self] in
                    guard let failure = pendingFailure else { return }
                    report(failure, appAlert: nil, appResponse: "completed the handshake and stayed silent; closed")
                    app.close(promise: nil)
                })
            case .failed(let error):
                let alert = TLSAlert.received(in: error) ?? appObserver?.lastPlaintextAlert
                let response: String
                if let alert {
                    response = "rejected the certificate with alert \(alert.name)"
                } else if String(describing: error).contains("EOF during handshake") {
                    response = "closed the connection during the handshake"
                } else {
                    response = "handshake failed: \(error)"
                }
                report(failure, appAlert: alert?.name, appResponse: response)
                phase = .done
                app.close(promise: nil)
            case .closed:
                report(failure, appAlert: nil, appResponse: "closed the connection during the handshake")
                phase = .done
            }
        default:
            break
        }
    }


    // MARK: Relay

    private func startRelay(tls: Bool) {
        guard let upstream, upstream.isActive else {
            phase = .done
            app.close(promise: nil)
            return
        }
        phase = .relaying
        let pair = GlueHandler.matchedPair(delayTowardApp: tls ? configuration.addedLatencyPerRecord.timeAmount : .zero)
        glue = pair
        do {
            try app.pipeline.syncOperations.addHandler(pair.app)
            try upstream.pipeline.syncOperations.addHandler(pair.upstream)
            if tls {
                if let upstreamWatcher { upstream.pipeline.syncOperations.removeHandler(upstreamWatcher, promise: nil) }
                if let appWatcher { app.pipeline.syncOperations.removeHandler(appWatcher, promise: nil) }
                if let upstreamObserver { upstream.pipeline.syncOperations.removeHandler(upstreamObserver, promise: nil) }
                if let appObserver { app.pipeline.syncOperations.removeHandler(appObserver, promise: nil) }
            } else {
                app.pipeline.syncOperations.removeHandler(hold, promise: nil)
                if let upstreamHold { upstream.pipeline.syncOperations.removeHandler(upstreamHold, promise: nil) }
            }
        } catch {
            app.close(promise: nil)
            upstream.close(promise: nil)
        }
        for timer in timers { timer.cancel() }
        timers = []
    }

    // MARK: Failures and closing

    private func failUpstream(_ reason: String, alert: TLSAlert?) {
        guard let registration else { return }
        core.emit(.upstreamFailed(id: registration.id, destination: registration.destination, sni: hello.serverName,
                                  reason: reason, alertToApp: alert?.name))
        upstream?.close(promise: nil)
        if let alert { sendAlertAndClose(alert) } else { resetApp() }
    }

    private func fail(app reason: String) {
        if let registration {
            core.emit(.appFailed(id: registration.id, destination: registration.destination, sni: hello.serverName,
                                 reason: reason))
        }
        phase = .done
        upstream?.close(promise: nil)
        app.close(promise: nil)
    }

    /// A fatal alert in a plaintext record: the app's TLS library reports "alert <name>" from its peer.
    private func sendAlertAndClose(_ alert: TLSAlert) {
        phase = .done
        let app = self.app
        app.writeAndFlush(ByteBuffer(bytes: alert.fatalRecord)).assumeIsolated().whenComplete { _ in
            app.close(promise: nil)
        }
    }

    /// Close with RST (SO_LINGER 0): the app sees ECONNRESET, the nearest thing to a refused connect once its
    /// connect() has already succeeded.
    private func resetApp() {
        phase = .done
        let app = self.app
        if let provider = app as? SocketOptionProvider {
            provider.setSoLinger(NIOLinger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                app.close(promise: nil)
            }
        } else {
            app.close(promise: nil)
        }
    }

    private func handshakeTimedOut() {
        let seconds = configuration.handshakeTimeout
        switch phase {
        case .waiting:
            if registration == nil {
                app.close(promise: nil)
            } else if upstream == nil {
                failUpstream("no TCP connection to the destination within \(seconds)", alert: nil)
            } else {
                fail(app: "the app sent no ClientHello within \(seconds)")
            }
        case .upstreamHandshake, .upstreamVerdict:
            failUpstream("no TLS session with the destination within \(seconds)", alert: nil)
        case .appHandshake:
            fail(app: "the app did not complete its TLS handshake within \(seconds)")
        case .mirroring:
            if let failure = pendingFailure { report(failure, appAlert: nil, appResponse: "no answer within \(seconds)") }
            phase = .done
            app.close(promise: nil)
        case .relaying, .done:
            break
        }
    }

    private func upstreamClosed() {
        if phase == .appHandshake || phase == .upstreamVerdict { upstreamAfterHandshake(.closed) }
    }

    private func appClosed() {
        for timer in timers { timer.cancel() }
        timers = []
        if let waiter, core.registry.abandon(peer, promise: waiter) {
            waiter.fail(ChannelError.alreadyClosed)
        }
        waiter = nil
        upstream?.close(promise: nil)
        if let failure = pendingFailure {
            report(failure, appAlert: nil, appResponse: "closed the connection")
        }
        phase = .done
        guard let registration, !closedReported else { return }
        closedReported = true
        core.emit(.closed(id: registration.id, destination: registration.destination,
                          bytesUp: glue?.app.bytesRead ?? 0, bytesDown: glue?.upstream.bytesRead ?? 0))
    }

    static func describe(connectError error: any Error, timeout: Duration) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case 111: return "connection refused (ECONNREFUSED)"
            case 110: return "connection timed out (ETIMEDOUT)"
            case 113: return "no route to host (EHOSTUNREACH)"
            case 101: return "network unreachable (ENETUNREACH)"
            case 104: return "connection reset (ECONNRESET)"
            default: return "connect failed: \(io)"
            }
        }
        if case ChannelError.connectTimeout = error { return "connect timed out after \(timeout)" }
        return "connect failed: \(error)"
    }
}

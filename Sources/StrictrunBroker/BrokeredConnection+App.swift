import NIOCore
import NIOPosix
import NIOSSL
import X509

/// The app's side: its TLS handshake with a per-run-CA leaf, the relay, failures and closing.
extension BrokeredConnection {

    func startAppTLS(_ context: NIOSSLContext, mirroring: Bool) {
        phase = mirroring ? .mirroring : .appHandshake
        try? app.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)  // as upstream (startUpstreamTLS)
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

    func appHandshake(_ outcome: HandshakeWatcher.Outcome) {
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

    func startRelay(tls: Bool) {
        guard let upstream, upstream.isActive else {
            phase = .done
            // What the server sent before it closed (held since its handshake) still reaches the app.
            if tls, let held = upstreamWatcher?.takeHeld(), held.readableBytes > 0 {
                let app = self.app
                glueClosedBytes = held.readableBytes
                app.writeAndFlush(held).assumeIsolated().whenComplete { _ in app.close(promise: nil) }
            } else {
                app.close(promise: nil)
            }
            return
        }
        phase = .relaying
        let pair = GlueHandler.matchedPair(delayTowardApp: tls ? configuration.addedLatencyPerRecord.timeAmount : .zero,
                                           halfClose: !tls)
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

    func failUpstream(_ reason: String, alert: TLSAlert?) {
        guard let registration else { return }
        core.emit(.upstreamFailed(id: registration.id, destination: registration.destination, sni: hello.serverName,
                                  reason: reason, alertToApp: alert?.name))
        upstream?.close(promise: nil)
        if let alert { sendAlertAndClose(alert) } else { resetApp() }
    }

    func fail(app reason: String) {
        if let registration {
            core.emit(.appFailed(id: registration.id, destination: registration.destination, sni: hello.serverName,
                                 reason: reason))
        }
        phase = .done
        upstream?.close(promise: nil)
        app.close(promise: nil)
    }

    /// A fatal alert in a plaintext record: the app's TLS library reports "alert <name>" from its peer.
    func sendAlertAndClose(_ alert: TLSAlert) {
        phase = .done
        let app = self.app
        app.writeAndFlush(ByteBuffer(bytes: alert.fatalRecord)).assumeIsolated().whenComplete { _ in
            app.close(promise: nil)
        }
    }

    /// Close with RST (SO_LINGER 0): the app sees ECONNRESET, the nearest thing to a refused connect once its
    /// connect() has already succeeded.
    func resetApp() {
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

    func handshakeTimedOut() {
        let seconds = configuration.handshakeTimeout
        switch phase {
        case .waiting:
            // Handed over registered and connected, after the app's first TLS byte (StreamFront).
            fail(app: "the app sent no complete ClientHello within \(seconds)")
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

    func upstreamClosed() {
        if phase == .appHandshake || phase == .upstreamVerdict { upstreamAfterHandshake(.closed) }
        if phase == .waiting, firstFlight == nil, registration != nil {
            // Accepted and closed before either side sent a byte: the app sees the end of the stream.
            relayReason = "the destination closed the connection before either side sent a byte"
            firstFlight = .notTLS(firstByte: 0)
            proceedIfReady()
        }
    }

    func appClosed() {
        for timer in timers { timer.cancel() }
        timers = []
        upstream?.close(promise: nil)
        if let failure = pendingFailure {
            report(failure, appAlert: nil, appResponse: "closed the connection")
        }
        phase = .done
        guard let registration, !closedReported else { return }
        closedReported = true
        core.emit(.closed(id: registration.id, destination: registration.destination,
                          bytesUp: glue?.app.bytesRead ?? 0, bytesDown: glue?.upstream.bytesRead ?? glueClosedBytes))
    }
}

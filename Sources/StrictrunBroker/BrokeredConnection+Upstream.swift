import NIOCore
import NIOPosix
import NIOSSL
import X509

/// The upstream side: connecting to the destination, its verified TLS handshake, and what a failed
/// verification answers the app.
extension BrokeredConnection {

    /// The SNI name to send upstream (an IP address is never sent as SNI).
    var upstreamServerName: String? {
        guard let name = hello.serverName, !name.isEmpty, name.utf8.count <= 255, !name.utf8.contains(0),
              (try? SocketAddress(ipAddress: name, port: 0)) == nil
        else { return nil }
        return name
    }

    func startUpstreamTLS(_ channel: Channel) {
        phase = .upstreamHandshake
        // Half-closes are passed on in plain relays only: NIOSSL would wait out its shutdown
        // timeout for a peer's close_notify that a half-closed TCP stream never brings.
        try? channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)
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

    func upstreamHandshake(_ outcome: HandshakeWatcher.Outcome) {
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
    func proceedToApp() {
        upstreamObserver?.onInbound = nil
        let name = hello.serverName ?? registration!.destination.ip
        do {
            startAppTLS(try core.appContext(name: name, alpn: negotiatedALPN), mirroring: false)
        } catch {
            failUpstream("cannot issue a certificate for \(name): \(error)", alert: nil)
        }
    }

    /// The server spoke, failed or left after its handshake and before the relay was wired.
    func upstreamAfterHandshake(_ after: HandshakeWatcher.After) {
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
        case .appHandshake where alert == nil && after.isClosed:
            // The server answered and closed at once (a response, then the end of the stream): the app
            // gets what it sent once its own handshake is done (`startRelay`).
            break
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

    func verificationFailed(_ failure: VerificationFailure) {
        upstream?.close(promise: nil)
        guard configuration.verificationFailureResponse == .mirror, !failure.presented.isEmpty else {
            answerWithAlert(failure)
            return
        }
        let mirrored: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, certificates: [Certificate])
        let context: NIOSSLContext
        do {
            mirrored = try core.authority.mirror(failure.presented, trust: core.verifier.source.store())
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

    func answerWithAlert(_ failure: VerificationFailure) {
        report(failure, appAlert: nil, appResponse: "alert \(failure.alert.name) sent to the app")
        sendAlertAndClose(failure.alert)
    }

    func report(_ failure: VerificationFailure, appAlert: String?, appResponse: String) {
        pendingFailure = nil
        core.emit(.verificationFailed(
            id: registration!.id, destination: registration!.destination, sni: hello.serverName,
            reason: failure.reason, alert: failure.alert.name, appAlert: appAlert, appResponse: appResponse))
    }
}

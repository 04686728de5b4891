import Foundation
import StrictrunBroker
import Testing

/// The broker against real clients (curl, Node, CPython) and a real TLS upstream with the test's own CA, all on
/// loopback. Unannounced connections are registered by `Harness.registrar` (the tracer's stand-in) unless a test
/// says otherwise.
@Suite(.serialized)
struct BrokerTests {
    @Test func curlNodeAndPythonGetTheBodyThroughTheBroker() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"], ips: ["127.0.0.1"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        let broker = try harness.startBroker()

        let curl = try harness.curl(path: "/curl", upstreamPort: upstream.port)
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout == "hello from upstream /curl client=none\n")

        let node = try harness.node(path: "/node")
        #expect(node.status == 0, "\(node.stderr)")
        #expect(node.stdout == "hello from upstream /node client=none\n")

        let python = try harness.python(path: "/python")
        #expect(python.status == 0, "\(python.stderr)")
        #expect(python.stdout == "hello from upstream /python client=none\n")

        let handshakes = harness.events.wait(for: 3) { $0.isHandshake }
        #expect(handshakes.count == 3)
        for event in handshakes {
            guard case .handshake(_, let destination, let sni, let verified, let clientCertificate, _, let ms) = event
            else { continue }
            #expect(destination == Destination(ip: "127.0.0.1", port: upstream.port))
            #expect(sni == "localhost")
            #expect(verified)
            #expect(!clientCertificate)
            #expect(ms > 0)
        }
        let closed = harness.events.wait(for: 3) { $0.isClosed }
        #expect(closed.count == 3)
        for case .closed(_, _, let up, let down) in closed {
            #expect(up > 0)
            #expect(down > 0)
        }
        // The app trusts the per-run CA through the files the launcher points it at; the CA key is not in them.
        let bundle = try String(contentsOfFile: broker.combinedBundlePath, encoding: .utf8)
        let ca = try String(contentsOfFile: broker.caCertificatePath, encoding: .utf8)
        #expect(bundle.contains(ca.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!bundle.contains("PRIVATE KEY") && !ca.contains("PRIVATE KEY"))
    }

    @Test func theAppGetsTheProtocolTheUpstreamChose() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        var tls = try leaf.serverConfiguration()
        tls.applicationProtocols = ["http/1.1"]
        let upstream = try harness.upstream(tls: tls)
        try harness.startBroker()
        // curl offers h2 and http/1.1; the upstream picks http/1.1, and so does the broker toward curl.
        let curl = try harness.curl(path: "/alpn", upstreamPort: upstream.port, extra: ["-w", "%{http_version}"])
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout.hasSuffix("client=none\n1.1"), "\(curl.stdout)")
        let handshake = harness.events.wait { $0.isHandshake }
        if case .handshake(_, _, _, _, _, let alpn, _)? = handshake.first { #expect(alpn == "http/1.1") }
    }

    @Test func registrationBeforeTheConnectionArrives() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration(), registerAsDestination: false)
        let broker = try harness.startBroker(autoRegister: false) { $0.registrationTimeout = .milliseconds(500) }

        // As the tracer does: the app socket's local address is known before it is connected to the broker.
        let localPort = try freePort()
        broker.register(appLocal: SocketAddressKey(ip: "::ffff:127.0.0.1", port: localPort),
                        destination: Destination(ip: "127.0.0.1", port: upstream.port, hostname: "localhost"),
                        connectionID: 42)
        let curl = try harness.curl(path: "/early", upstreamPort: upstream.port, extra: ["--local-port", String(localPort)])
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout.hasPrefix("hello from upstream /early"))
        let handshake = harness.events.wait { $0.isHandshake }
        #expect(handshake.first?.connectionID == 42)

        // Nobody registers this one: it is closed after the timeout and reported.
        let unannounced = try harness.curl(path: "/late", upstreamPort: upstream.port)
        #expect(unannounced.status != 0)
        let unregistered = harness.events.wait { if case .unregistered = $0 { return true } else { return false } }
        #expect(unregistered.count == 1)
        if case .unregistered(let peer)? = unregistered.first { #expect(peer.ip == "127.0.0.1") }
    }

    /// Each client gets, through the broker, exactly the error (exit status and message) it gets talking to the
    /// upstream directly while trusting what the broker trusts.
    private func expectSameErrorAsDirect(_ harness: Harness, upstreamPort: Int) throws
        -> (curl: ProcessResult, node: ProcessResult, python: ProcessResult) {
        let direct = try harness.directClients(upstreamPort: upstreamPort)
        let brokered = try harness.brokeredClients(upstreamPort: upstreamPort)
        #expect(brokered.curl == direct.curl)
        #expect(brokered.node == direct.node)
        #expect(brokered.python == direct.python)
        #expect(brokered.curl.status != 0 && brokered.node.status != 0 && brokered.python.status != 0)
        return brokered
    }

    @Test func untrustedUpstreamCAIsAVerificationErrorInEveryClient() throws {
        let harness = try Harness()
        let stranger = try TestCA(name: "Test Stranger CA", directory: harness.directory)
        let leaf = try stranger.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker()

        let seen = try expectSameErrorAsDirect(harness, upstreamPort: upstream.port)
        #expect(seen.curl.status == 60)
        #expect(seen.curl.stderr.contains("SSL certificate problem: unable to get local issuer certificate"), "\(seen.curl.stderr)")
        #expect(seen.node.stderr.contains("UNABLE_TO_VERIFY_LEAF_SIGNATURE unable to verify the first certificate"), "\(seen.node.stderr)")
        #expect(seen.python.stderr.contains("SSLCertVerificationError 20"), "\(seen.python.stderr)")

        let failures = harness.events.wait(for: 3) { $0.isVerificationFailure }
        #expect(failures.count == 3)
        var responses: [String] = []
        for case .verificationFailed(_, _, let sni, let reason, let alert, let appAlert, let response) in failures {
            #expect(sni == "localhost")
            #expect(reason == "unable to get local issuer certificate (unknown CA: issuer 'CN=Test Stranger CA,O=strictrun tests')")
            #expect(alert == "unknown_ca")
            #expect(appAlert == nil || appAlert == "unknown_ca")
            responses.append(response)
        }
        // curl and CPython (OpenSSL) reject during the handshake with the alert; Node closes during the handshake.
        #expect(responses == ["rejected the certificate with alert unknown_ca", "closed the connection during the handshake",
                              "rejected the certificate with alert unknown_ca"])
        #expect(harness.events.all.filter(\.isHandshake).isEmpty)
        // Nothing was relayed on any of them.
        for case .closed(_, _, let up, let down) in harness.events.wait(for: 3, { $0.isClosed }) {
            #expect(up == 0 && down == 0)
        }
    }

    @Test func alertResponseSendsTheAlertItself() throws {
        let harness = try Harness()
        let stranger = try TestCA(name: "Test Stranger CA", directory: harness.directory)
        let leaf = try stranger.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker { $0.verificationFailureResponse = .alert }

        let curl = try harness.curl(upstreamPort: upstream.port)
        #expect(curl.status == 35, "\(curl.stderr)")
        #expect(curl.stderr.contains("alert unknown ca"), "\(curl.stderr)")
        let python = try harness.python()
        #expect(python.stderr.contains("TLSV1_ALERT_UNKNOWN_CA"), "\(python.stderr)")
        let failures = harness.events.wait(for: 2) { $0.isVerificationFailure }
        for case .verificationFailed(_, _, _, _, let alert, _, let response) in failures {
            #expect(alert == "unknown_ca")
            #expect(response == "alert unknown_ca sent to the app")
        }
    }

    @Test func expiredUpstreamCertificate() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"], expired: true)
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker()

        let seen = try expectSameErrorAsDirect(harness, upstreamPort: upstream.port)
        #expect(seen.curl.status == 60)
        #expect(seen.curl.stderr.contains("SSL certificate problem: certificate has expired"), "\(seen.curl.stderr)")
        #expect(seen.node.stderr.contains("CERT_HAS_EXPIRED"), "\(seen.node.stderr)")
        #expect(seen.python.stderr.contains("SSLCertVerificationError 10"), "\(seen.python.stderr)")

        let failures = harness.events.wait(for: 3) { $0.isVerificationFailure }
        #expect(failures.count == 3)
        for case .verificationFailed(_, _, _, let reason, let alert, let appAlert, _) in failures {
            #expect(reason.hasPrefix("certificate has expired (CN=localhost, notAfter "), "\(reason)")
            #expect(alert == "certificate_expired")
            #expect(appAlert == nil || appAlert == "certificate_expired")
        }
    }

    @Test func hostnameMismatch() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "other.example", dnsNames: ["other.example", "*.other.example"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker()

        let seen = try expectSameErrorAsDirect(harness, upstreamPort: upstream.port)
        #expect(seen.curl.status == 60)
        #expect(seen.curl.stderr.contains("no alternative certificate subject name matches"), "\(seen.curl.stderr)")
        #expect(seen.node.stderr.contains("ERR_TLS_CERT_ALTNAME_INVALID"), "\(seen.node.stderr)")
        #expect(seen.python.stderr.contains("SSLCertVerificationError 62"), "\(seen.python.stderr)")

        let failures = harness.events.wait(for: 3) { $0.isVerificationFailure }
        #expect(failures.count == 3)
        for case .verificationFailed(_, _, _, let reason, let alert, _, _) in failures {
            #expect(reason == "hostname mismatch: cert for other.example, *.other.example, wanted localhost")
            #expect(alert == "bad_certificate")
        }
    }

    @Test func clientCertificateIsPresentedWhenTheServerAsks() throws {
        let harness = try Harness()
        let clientCA = try TestCA(name: "Test Client CA", directory: harness.directory)
        let client = try clientCA.issue(commonName: "strictrun broker client", clientAuth: true)
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration(requireClientCertificateFrom: clientCA))
        try harness.startBroker {
            $0.clientCertificates = [
                ClientCertificateRule(hostPattern: "*.corp.example", certificateChainPath: harness.trustedCA.pemPath,
                                      privateKeyPath: client.keyPath),
                ClientCertificateRule(hostPattern: "local*", certificateChainPath: client.certificatePath,
                                      privateKeyPath: client.keyPath),
            ]
        }
        let curl = try harness.curl(path: "/mtls", upstreamPort: upstream.port)
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout.contains("client=") && curl.stdout.contains("strictrun broker client"), "\(curl.stdout)")
        let handshake = harness.events.wait { $0.isHandshake }
        if case .handshake(_, _, _, _, let presented, _, _)? = handshake.first { #expect(presented) } else {
            Issue.record("no handshake event: \(harness.events.all)")
        }
    }

    @Test func serverAskingForACertificateNoRuleProvides() throws {
        let harness = try Harness()
        let clientCA = try TestCA(name: "Test Client CA", directory: harness.directory)
        let client = try clientCA.issue(commonName: "strictrun broker client", clientAuth: true)
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration(requireClientCertificateFrom: clientCA))
        try harness.startBroker {
            $0.clientCertificates = [ClientCertificateRule(hostPattern: "*.corp.example",
                                                           certificateChainPath: client.certificatePath,
                                                           privateKeyPath: client.keyPath)]
        }
        let curl = try harness.curl(upstreamPort: upstream.port)
        #expect(curl.status != 0)
        #expect(curl.stderr.contains("alert certificate required"), "\(curl.stderr)")
        let failed = harness.events.wait { if case .upstreamFailed = $0 { return true } else { return false } }
        if case .upstreamFailed(_, _, _, let reason, let alert)? = failed.first {
            #expect(reason == "the server sent alert certificate_required after the handshake (it wants a client certificate; no rule matches)")
            #expect(alert == "certificate_required")
        } else {
            Issue.record("no upstreamFailed event: \(harness.events.all)")
        }
    }

    @Test func refusedUpstreamResetsTheApp() throws {
        let harness = try Harness()
        let port = try freePort()
        harness.registrar.set(destination: Destination(ip: "127.0.0.1", port: port))
        try harness.startBroker()
        let curl = try harness.curl(upstreamPort: port)
        // The broker connects upstream as soon as the destination is registered and resets the app's connection
        // when that fails: depending on how far curl got, a failed connect (7) or a reset during the handshake.
        #expect([7, 35, 56].contains(curl.status), "\(curl.status) \(curl.stderr)")
        let failed = harness.events.wait { if case .upstreamFailed = $0 { return true } else { return false } }
        if case .upstreamFailed(_, _, _, let reason, let alert)? = failed.first {
            #expect(reason == "connection refused (ECONNREFUSED)")
            #expect(alert == nil)
        } else {
            Issue.record("no upstreamFailed event: \(harness.events.all)")
        }
    }

    @Test func ipv6AndAnIPDestinationWithoutSNI() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "loopback", dnsNames: ["localhost"], ips: ["::1", "127.0.0.1"])
        let upstream = try harness.upstream(host: "::1", tls: try leaf.serverConfiguration())
        let broker = try harness.startBroker()
        let v6Port = try #require(broker.ipv6Port)

        // The app connects to https://[::1]:PORT/: no SNI, the broker's leaf carries an IP SAN, upstream is checked
        // against its IP address.
        let curl = try harness.curl(path: "/v6", upstreamPort: upstream.port, brokerHost: "::1", brokerPort: v6Port,
                                    urlHost: "::1")
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout.hasPrefix("hello from upstream /v6"))
        let handshake = harness.events.wait { $0.isHandshake }
        if case .handshake(_, let destination, let sni, let verified, _, _, _)? = handshake.first {
            #expect(destination == Destination(ip: "::1", port: upstream.port))
            #expect(sni == nil)
            #expect(verified)
        } else {
            Issue.record("no handshake event: \(harness.events.all)")
        }
    }

    @Test func fiftyConcurrentConnections() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        _ = try harness.upstream(tls: try leaf.serverConfiguration())
        let broker = try harness.startBroker()
        let script = """
            const https = require('https');
            const get = i => new Promise((ok, fail) => https.get(
              {host: 'localhost', port: +process.argv[1], path: '/c' + i, agent: false},
              r => { let b = ''; r.on('data', d => b += d); r.on('end', () => ok(b)); }).on('error', fail));
            Promise.all([...Array(50).keys()].map(get))
              .then(bodies => { process.stdout.write(bodies.filter((b, i) => b.startsWith('hello from upstream /c' + i + ' ')).length + '\\n'); })
              .catch(e => { console.error('ERR', e.code, e.message); process.exit(3); });
            """
        let node = try runProcess(["/usr/bin/node", "-e", script, String(broker.ipv4Port)],
                                  environment: harness.clientEnvironment())
        #expect(node.status == 0, "\(node.stderr)")
        #expect(node.stdout == "50\n")
        let handshakes = harness.events.wait(for: 50) { $0.isHandshake }
        #expect(handshakes.count == 50)
        #expect(Set(handshakes.compactMap(\.connectionID)).count == 50)
        #expect(harness.events.wait(for: 50) { $0.isClosed }.count == 50)
    }

    @Test func relayModePassesTheUpstreamCertificateThrough() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker { $0.mode = .relay }
        // The client trusts only the test CA: it succeeds only if it sees the upstream's own certificate.
        let curl = try harness.curl(path: "/relay", upstreamPort: upstream.port,
                                    environment: ["CURL_CA_BUNDLE": harness.trustedCA.pemPath])
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout.hasPrefix("hello from upstream /relay"))
        let relayed = harness.events.wait { if case .relayed = $0 { return true } else { return false } }
        if case .relayed(_, let destination, let reason)? = relayed.first {
            #expect(destination.port == upstream.port)
            #expect(reason == "relay mode")
        } else {
            Issue.record("no relayed event: \(harness.events.all)")
        }
        #expect(harness.events.all.filter(\.isHandshake).isEmpty)
        let closed = harness.events.wait { $0.isClosed }
        if case .closed(_, _, let up, let down)? = closed.first {
            #expect(up > 300 && down > 300)      // the TLS records themselves
        }
    }

    @Test func plaintextOnATLSPortIsRelayed() throws {
        let harness = try Harness()
        let upstream = try harness.upstream(tls: nil)
        let broker = try harness.startBroker()
        let curl = try runProcess(["/usr/bin/curl", "-sS", "--max-time", "20", "http://127.0.0.1:\(broker.ipv4Port)/plain"],
                                  environment: harness.clientEnvironment())
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout == "hello from upstream /plain client=none\n")
        let relayed = harness.events.wait { if case .relayed = $0 { return true } else { return false } }
        if case .relayed(_, let destination, let reason)? = relayed.first {
            #expect(destination.port == upstream.port)
            #expect(reason == "the app does not speak TLS (first byte 0x47)")
        } else {
            Issue.record("no relayed event: \(harness.events.all)")
        }
    }

    @Test func addedLatencyStillDeliversEveryByte() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker { $0.addedLatencyPerRecord = .milliseconds(2) }
        let curl = try harness.curl(path: "/bulk/1000000", upstreamPort: upstream.port,
                                    extra: ["-o", "/dev/null", "-w", "%{size_download}"])
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(curl.stdout == "1000000")
        let closed = harness.events.wait { $0.isClosed }
        if case .closed(_, _, _, let down)? = closed.first { #expect(down > 1_000_000) }
    }

    @Test func startFailsOnUnreadableFiles() throws {
        let harness = try Harness()
        #expect(throws: BrokerError.self) {
            try harness.startBroker { $0.trustRoots = .file(harness.directory + "/missing.pem") }
        }
        #expect(throws: BrokerError.self) {
            try harness.startBroker {
                $0.clientCertificates = [ClientCertificateRule(hostPattern: "*", certificateChainPath: "/nonexistent.pem",
                                                               privateKeyPath: "/nonexistent.key")]
            }
        }
    }
}

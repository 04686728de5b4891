import Foundation
import StrictrunBroker
import Testing

/// Handshake latency and bulk throughput, direct TLS vs through the broker, measured by curl (`time_appconnect`,
/// `speed_download`) against the same loopback upstream. Runs only with STRICTRUN_BROKER_BENCH=1 and prints its
/// figures; it asserts nothing about time.
///
///     STRICTRUN_BROKER_BENCH=1 swift test --scratch-path .build-broker --skip-build --filter BrokerBenchmark
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["STRICTRUN_BROKER_BENCH"] == "1"))
struct BrokerBenchmark {
    static let rounds = Int(ProcessInfo.processInfo.environment["STRICTRUN_BROKER_BENCH_ROUNDS"] ?? "") ?? 41
    static let bulkBytes = 256 << 20

    @Test func handshakeAndThroughput() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let upstream = try harness.upstream(tls: try leaf.serverConfiguration())
        try harness.startBroker()
        // Small bundles isolate the broker's cost: the app trusts only the upstream's CA (direct) or only the
        // per-run CA (through the broker). "As launched": the app trusts the system roots plus that CA, which is
        // what the launcher sets up; OpenSSL 3.0 then spends tens of ms on the big bundle either way.
        let systemBundle = try String(contentsOfFile: TLSBroker.systemBundlePath, encoding: .utf8)
        let directBundle = harness.directory + "/direct-bundle.pem"
        try (systemBundle + "\n" + (try String(contentsOfFile: harness.trustedCA.pemPath, encoding: .utf8)))
            .write(toFile: directBundle, atomically: true, encoding: .utf8)
        let directSmall = harness.clientEnvironment(["CURL_CA_BUNDLE": harness.trustedCA.pemPath])
        let brokerSmall = harness.clientEnvironment(["CURL_CA_BUNDLE": harness.broker.caCertificatePath])
        let directLaunched = harness.clientEnvironment(["CURL_CA_BUNDLE": directBundle])
        let brokerLaunched = harness.clientEnvironment()
        let url = "https://localhost:\(upstream.port)"
        let brokered = ["--connect-to", "localhost:\(upstream.port):127.0.0.1:\(harness.broker.ipv4Port)"]

        func curl(_ extra: [String], _ path: String, _ environment: [String: String]) throws -> [Double] {
            let result = try runProcess(["/usr/bin/curl", "-sS", "-o", "/dev/null", "--http1.1", "-w",
                                         "%{time_connect} %{time_appconnect} %{speed_download}"] + extra + [url + path],
                                        environment: environment, timeout: 120)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.split(separator: " ").compactMap { Double($0) }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func handshakeMS(_ extra: [String], _ environment: [String: String]) throws -> Double {
            let times = try curl(extra, "/", environment)
            return (times[1] - times[0]) * 1000
        }

        // Warm up both paths (the broker's leaf cache, curl's first-run costs).
        _ = try curl([], "/", directSmall)
        _ = try curl(brokered, "/", brokerSmall)

        var direct: [Double] = [], viaBroker: [Double] = [], directFull: [Double] = [], viaBrokerFull: [Double] = []
        for _ in 0..<Self.rounds {       // interleaved, so drift of the machine hits both alike
            direct.append(try handshakeMS([], directSmall))
            viaBroker.append(try handshakeMS(brokered, brokerSmall))
        }
        for _ in 0..<max(5, Self.rounds / 4) {
            directFull.append(try handshakeMS([], directLaunched))
            viaBrokerFull.append(try handshakeMS(brokered, brokerLaunched))
        }
        var directSpeed: [Double] = [], brokerSpeed: [Double] = []
        for _ in 0..<3 {
            directSpeed.append(try curl([], "/bulk/\(Self.bulkBytes)", directSmall)[2])
            brokerSpeed.append(try curl(brokered, "/bulk/\(Self.bulkBytes)", brokerSmall)[2])
        }
        let handshakes = harness.events.all.compactMap { event -> Double? in
            if case .handshake(_, _, _, _, _, _, let ms) = event { return ms } else { return nil }
        }
        print(String(format: """
            BENCH handshake, small bundles (curl time_appconnect - time_connect, median of %d): direct %.2f ms, broker %.2f ms, added %.2f ms
            BENCH handshake, system bundle + CA as launched (median of %d): direct %.2f ms, broker %.2f ms, added %.2f ms
            BENCH broker-side handshake (accept to app handshake done, median): %.2f ms
            BENCH throughput (%d MiB, median of 3): direct %.1f MB/s, broker %.1f MB/s, ratio %.0f%%
            """, direct.count, median(direct), median(viaBroker), median(viaBroker) - median(direct),
            directFull.count, median(directFull), median(viaBrokerFull), median(viaBrokerFull) - median(directFull),
            median(handshakes), Self.bulkBytes >> 20, median(directSpeed) / 1e6, median(brokerSpeed) / 1e6,
            100 * median(brokerSpeed) / median(directSpeed)))
    }

    /// Bulk throughput against an optimised C upstream (`openssl s_server -WWW`), so that the upstream is not the
    /// bottleneck of the direct path.
    @Test func throughputAgainstOpenSSLServer() throws {
        let harness = try Harness()
        let leaf = try harness.trustedCA.issue(commonName: "localhost", dnsNames: ["localhost"])
        let port = try freePort()
        harness.registrar.set(destination: Destination(ip: "127.0.0.1", port: port))
        try harness.startBroker()
        let file = harness.directory + "/bulk.bin"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: UInt64(Self.bulkBytes))
        try handle.close()

        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = ["s_server", "-quiet", "-accept", "127.0.0.1:\(port)", "-cert", leaf.certificatePath,
                            "-key", leaf.keyPath, "-WWW"]
        server.currentDirectoryURL = URL(fileURLWithPath: harness.directory)
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            for _ in 0..<200 where server.isRunning { usleep(10_000) }
        }
        usleep(300_000)

        func speed(_ extra: [String], _ environment: [String: String]) throws -> Double {
            let result = try runProcess(["/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}"] + extra
                                        + ["https://localhost:\(port)/bulk.bin"], environment: environment, timeout: 120)
            #expect(result.status == 0, "\(result.stderr)")
            return Double(result.stdout) ?? 0
        }
        let direct = harness.clientEnvironment(["CURL_CA_BUNDLE": harness.trustedCA.pemPath])
        let brokered = ["--connect-to", "localhost:\(port):127.0.0.1:\(harness.broker.ipv4Port)"]
        var directSpeed: [Double] = [], brokerSpeed: [Double] = []
        for _ in 0..<3 {
            directSpeed.append(try speed([], direct))
            brokerSpeed.append(try speed(brokered, harness.clientEnvironment()))
        }
        let d = directSpeed.sorted()[1], b = brokerSpeed.sorted()[1]
        print(String(format: "BENCH throughput vs openssl s_server (%d MiB, median of 3): direct %.1f MB/s, broker %.1f MB/s, ratio %.0f%%",
                     Self.bulkBytes >> 20, d / 1e6, b / 1e6, 100 * b / d))
    }
}

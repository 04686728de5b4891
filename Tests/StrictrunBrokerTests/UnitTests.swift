import NIOCore
import NIOEmbedded
import NIOSSL
@testable import StrictrunBroker
import Testing

/// Pieces of the broker that need no sockets: ClientHello parsing, glob rules, address canonicalisation, alerts.
struct UnitTests {
    /// A real ClientHello, as BoringSSL writes it for `serverName` offering `alpn`.
    static func clientHello(serverName: String?, alpn: [String]) throws -> ByteBuffer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.applicationProtocols = alpn
        let context = try NIOSSLContext(configuration: configuration)
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var hello = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { hello.writeBuffer(&chunk) }
        return hello
    }

    @Test func parsesSNIAndALPNFromARealClientHello() throws {
        let hello = try Self.clientHello(serverName: "api.example.com", alpn: ["h2", "http/1.1"])
        #expect(parseClientHello(hello) == .hello(ClientHelloInfo(serverName: "api.example.com", alpn: ["h2", "http/1.1"])))
        let bare = try Self.clientHello(serverName: nil, alpn: [])
        #expect(parseClientHello(bare) == .hello(ClientHelloInfo(serverName: nil, alpn: [])))
    }

    @Test func clientHelloInPiecesAndSplitAcrossRecords() throws {
        let hello = try Self.clientHello(serverName: "split.example", alpn: ["http/1.1"])
        let bytes = Array(hello.readableBytesView)
        for cut in [1, 5, 40, bytes.count - 1] {
            #expect(parseClientHello(ByteBuffer(bytes: bytes.prefix(cut))) == .needMoreData)
        }
        // The same handshake message carried in two records.
        let body = Array(bytes[5...])
        let half = body.count / 2
        func record(_ payload: ArraySlice<UInt8>) -> [UInt8] {
            [0x16, 0x03, 0x01, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] + payload
        }
        let twoRecords = record(body[..<half]) + record(body[half...])
        #expect(parseClientHello(ByteBuffer(bytes: twoRecords))
                == .hello(ClientHelloInfo(serverName: "split.example", alpn: ["http/1.1"])))
        #expect(parseClientHello(ByteBuffer(bytes: record(body[..<half])) ) == .needMoreData)
    }

    @Test func otherProtocolsAreNotTLS() {
        #expect(parseClientHello(ByteBuffer(string: "GET / HTTP/1.1\r\n")) == .notTLS(firstByte: 0x47))
        #expect(parseClientHello(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0]))
                == .malformed("first handshake message is type 2"))
    }

    @Test func hostPatterns() {
        let rule = { ClientCertificateRule(hostPattern: $0, certificateChainPath: "", privateKeyPath: "") }
        #expect(rule("*.corp.example").matches("api.corp.example"))
        #expect(rule("*.corp.example").matches("API.Corp.Example"))
        #expect(!rule("*.corp.example").matches("corp.example"))
        #expect(rule("localhost").matches("localhost"))
        #expect(!rule("localhost").matches("localhost.evil"))
        #expect(rule("10.0.0.?").matches("10.0.0.7"))
        #expect(!rule("10.0.0.?").matches("10.0.0.17"))
        #expect(rule("*").matches("anything"))
    }

    @Test func addressesCompareAsTheKernelSeesThem() {
        #expect(SocketAddressKey(ip: "::ffff:127.0.0.1", port: 5) == SocketAddressKey(ip: "127.0.0.1", port: 5))
        #expect(SocketAddressKey(ip: "0:0:0:0:0:0:0:1", port: 5) == SocketAddressKey(ip: "::1", port: 5))
        #expect(SocketAddressKey(ip: "[::1]", port: 5).description == "[::1]:5")
        #expect(Destination(ip: "::FFFF:10.1.2.3", port: 443).description == "10.1.2.3:443")
    }

    @Test func alertsAreReadFromBoringSSLErrors() {
        struct Fake: Error, CustomStringConvertible { var description: String }
        #expect(TLSAlert.received(in: Fake(description: "error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA")) == .unknownCA)
        #expect(TLSAlert.received(in: Fake(description: "x:SSLV3_ALERT_CERTIFICATE_EXPIRED]")) == .certificateExpired)
        #expect(TLSAlert.received(in: Fake(description: "CERTIFICATE_VERIFY_FAILED")) == nil)
        #expect(TLSAlert.certificateRequired.fatalRecord == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 116])
    }
}

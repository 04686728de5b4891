import NIOCore

/// TLS alert descriptions (RFC 8446 §6, plus the TLS 1.2 ones still seen), by their RFC names.
enum TLSAlert: UInt8, Sendable, CaseIterable {
    case closeNotify = 0
    case unexpectedMessage = 10
    case badRecordMAC = 20
    case recordOverflow = 22
    case handshakeFailure = 40
    case badCertificate = 42
    case unsupportedCertificate = 43
    case certificateRevoked = 44
    case certificateExpired = 45
    case certificateUnknown = 46
    case illegalParameter = 47
    case unknownCA = 48
    case accessDenied = 49
    case decodeError = 50
    case decryptError = 51
    case protocolVersion = 70
    case insufficientSecurity = 71
    case internalError = 80
    case inappropriateFallback = 86
    case userCanceled = 90
    case missingExtension = 109
    case unsupportedExtension = 110
    case unrecognizedName = 112
    case badCertificateStatusResponse = 113
    case unknownPSKIdentity = 115
    case certificateRequired = 116
    case noApplicationProtocol = 120

    /// The RFC name: `unknown_ca`, `certificate_expired`, ...
    var name: String {
        switch self {
        case .closeNotify: return "close_notify"
        case .unexpectedMessage: return "unexpected_message"
        case .badRecordMAC: return "bad_record_mac"
        case .recordOverflow: return "record_overflow"
        case .handshakeFailure: return "handshake_failure"
        case .badCertificate: return "bad_certificate"
        case .unsupportedCertificate: return "unsupported_certificate"
        case .certificateRevoked: return "certificate_revoked"
        case .certificateExpired: return "certificate_expired"
        case .certificateUnknown: return "certificate_unknown"
        case .illegalParameter: return "illegal_parameter"
        case .unknownCA: return "unknown_ca"
        case .accessDenied: return "access_denied"
        case .decodeError: return "decode_error"
        case .decryptError: return "decrypt_error"
        case .protocolVersion: return "protocol_version"
        case .insufficientSecurity: return "insufficient_security"
        case .internalError: return "internal_error"
        case .inappropriateFallback: return "inappropriate_fallback"
        case .userCanceled: return "user_canceled"
        case .missingExtension: return "missing_extension"
        case .unsupportedExtension: return "unsupported_extension"
        case .unrecognizedName: return "unrecognized_name"
        case .badCertificateStatusResponse: return "bad_certificate_status_response"
        case .unknownPSKIdentity: return "unknown_psk_identity"
        case .certificateRequired: return "certificate_required"
        case .noApplicationProtocol: return "no_application_protocol"
        }
    }

    /// A plaintext fatal alert record, as sent before any key is agreed (legacy record version 3.3).
    var fatalRecord: [UInt8] { [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, rawValue] }

    /// The alert a peer sent, read from a BoringSSL error: its reason names are `SSLV3_ALERT_<NAME>` and
    /// `TLSV1_ALERT_<NAME>` for an alert *received*.
    static func received(in error: any Error) -> TLSAlert? {
        let text = String(describing: error)
        for prefix in ["TLSV1_ALERT_", "SSLV3_ALERT_"] {
            guard let range = text.range(of: prefix) else { continue }
            let name = text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }.lowercased()
            if name == "user_cancelled" { return .userCanceled }
            return TLSAlert.allCases.first { $0.name == name }
        }
        return nil
    }
}

/// What the app's first flight says, read without consuming it.
struct ClientHelloInfo: Sendable, Hashable {
    /// The SNI host name, when the app sent one.
    var serverName: String?
    /// The ALPN protocols the app offered, in its order.
    var alpn: [String]
}

enum ClientHelloParse: Sendable, Hashable {
    case needMoreData
    /// The first byte is not a TLS handshake record: the app speaks something else on this port.
    case notTLS(firstByte: UInt8)
    case malformed(String)
    case hello(ClientHelloInfo)
}

/// Reads SNI and ALPN from a ClientHello that may span several TLS records (RFC 8446 §4.1.2, RFC 6066 §3,
/// RFC 7301 §3.1).
func parseClientHello(_ buffer: ByteBuffer) -> ClientHelloParse {
    let bytes = buffer.readableBytesView
    guard let first = bytes.first else { return .needMoreData }
    guard first == 0x16 else { return .notTLS(firstByte: first) }
    // Reassemble the handshake layer from consecutive handshake records.
    var handshake: [UInt8] = []
    var index = bytes.startIndex
    var needed: Int? = nil
    while needed.map({ handshake.count < $0 }) ?? true {
        guard bytes.endIndex - index >= 5 else { return .needMoreData }
        let type = bytes[index], major = bytes[index + 1]
        guard type == 0x16 else { return .malformed("record type \(type) inside the ClientHello") }
        guard major == 3 else { return index == bytes.startIndex ? .notTLS(firstByte: first) : .malformed("record version") }
        let length = Int(bytes[index + 3]) << 8 | Int(bytes[index + 4])
        guard length > 0, length <= 16384 + 256 else { return .malformed("record length \(length)") }
        guard bytes.endIndex - index >= 5 + length else { return .needMoreData }
        handshake.append(contentsOf: bytes[(index + 5)..<(index + 5 + length)])
        index += 5 + length
        if needed == nil, handshake.count >= 4 {
            guard handshake[0] == 1 else { return .malformed("first handshake message is type \(handshake[0])") }
            needed = 4 + (Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3]))
        }
    }
    var reader = ByteReader(handshake, start: 4, end: needed!)
    return reader.clientHello().map(ClientHelloParse.hello) ?? .malformed("truncated ClientHello")
}

private struct ByteReader {
    let bytes: [UInt8]
    var position: Int
    let end: Int

    init(_ bytes: [UInt8], start: Int, end: Int) {
        self.bytes = bytes; self.position = start; self.end = end
    }

    mutating func skip(_ count: Int) -> Bool {
        guard end - position >= count else { return false }
        position += count
        return true
    }

    mutating func u8() -> Int? {
        guard position < end else { return nil }
        defer { position += 1 }
        return Int(bytes[position])
    }

    mutating func u16() -> Int? {
        guard let high = u8(), let low = u8() else { return nil }
        return high << 8 | low
    }

    mutating func slice(_ count: Int) -> ByteReader? {
        guard end - position >= count else { return nil }
        defer { position += count }
        return ByteReader(bytes, start: position, end: position + count)
    }

    mutating func clientHello() -> ClientHelloInfo? {
        guard skip(2 + 32),                                 // legacy_version, random
              let sessionID = u8(), skip(sessionID),
              let suites = u16(), skip(suites),
              let compression = u8(), skip(compression)
        else { return nil }
        var info = ClientHelloInfo(serverName: nil, alpn: [])
        guard let extensionsLength = u16() else { return info }     // no extensions at all (very old clients)
        guard var extensions = slice(extensionsLength) else { return nil }
        while extensions.position < extensions.end {
            guard let type = extensions.u16(), let length = extensions.u16(), var body = extensions.slice(length)
            else { return nil }
            switch type {
            case 0:     // server_name: list of (type, name); host_name is type 0
                guard let listLength = body.u16(), var list = body.slice(listLength) else { return nil }
                while list.position < list.end {
                    guard let nameType = list.u8(), let nameLength = list.u16(), let name = list.slice(nameLength)
                    else { return nil }
                    if nameType == 0, info.serverName == nil {
                        info.serverName = String(decoding: name.bytes[name.position..<name.end], as: UTF8.self)
                    }
                }
            case 16:    // application_layer_protocol_negotiation
                guard let listLength = body.u16(), var list = body.slice(listLength) else { return nil }
                while list.position < list.end {
                    guard let protocolLength = list.u8(), let proto = list.slice(protocolLength) else { return nil }
                    info.alpn.append(String(decoding: proto.bytes[proto.position..<proto.end], as: UTF8.self))
                }
            default:
                break
            }
        }
        return info
    }
}

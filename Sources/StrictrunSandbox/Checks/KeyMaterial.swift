#if canImport(Glibc)
import Glibc
#endif
import SwiftASN1

/// Private-key material in a file's bytes (the `tls/key-read` check): what OpenSSL, Node, Python
/// and OpenSSH load a private key from. Pure: bytes in, the format found (or nil) out.
///
/// - PEM: a block `-----BEGIN <label>-----` … `-----END <label>-----` whose label ends in
///   `PRIVATE KEY` (`PRIVATE KEY` PKCS#8, `ENCRYPTED PRIVATE KEY`, `RSA PRIVATE KEY` PKCS#1,
///   `EC PRIVATE KEY` SEC1, `DSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, …), anywhere in the file (a
///   certificate and its key in one file included). As OpenSSL's PEM reader sees it: each marker at
///   the start of a line, the lines between base64 (or RFC 1421 headers such as `Proc-Type:` for an
///   encrypted PKCS#1 key). The words in a comment, a certificate-only file, or a JavaScript string
///   with `\n` escapes are not a block.
/// - DER: the whole file one PKCS#8 PrivateKeyInfo (or RFC 5958 OneAsymmetricKey), PKCS#8
///   EncryptedPrivateKeyInfo (under a PKCS#5/PKCS#12 password-based scheme), PKCS#1 RSAPrivateKey or
///   SEC1 ECPrivateKey, parsed with SwiftASN1. An X.509 certificate, a public key or random bytes
///   starting with 0x30 are none of these.
///
/// Not recognised (said in the docs): PKCS#12 bundles (their keys are inside encrypted bags), PuTTY
/// `.ppk`, PGP armor, keys in JSON strings.
struct KeyMaterial: Sendable, Hashable {
    /// What was found, for the event's `key_format`: `PEM RSA PRIVATE KEY`, `DER PKCS#8`, …
    var format: String

    /// DER keys are small (an RSA-16384 PKCS#1 key is under 10 KiB): a larger file is not parsed.
    static let derLimit = 64 * 1024

    /// The key material in `bytes`, nil when there is none.
    static func find(in bytes: [UInt8]) -> KeyMaterial? {
        if bytes.first == 0x30, bytes.count <= derLimit, let der = der(bytes) { return der }
        return pem(bytes)
    }

    /// Whether a file starting with `head` is worth reading whole: an ELF image (a library the
    /// loader opens, whose code is the program's own) is not.
    static func worthReading(head: [UInt8]) -> Bool {
        !head.starts(with: [0x7f, 0x45, 0x4c, 0x46])
    }

    // MARK: PEM

    private static let begin = Array("-----BEGIN ".utf8)
    private static let end = Array("-----END ".utf8)
    private static let dashes = Array("-----".utf8)
    private static let privateKey = Array("PRIVATE KEY".utf8)

    /// The first PEM private-key block, by its label. Only the lines that start with `-----BEGIN `
    /// are looked at (found by memchr over the dashes: base64 has none, so a 200 KB CA bundle is
    /// scanned in microseconds).
    static func pem(_ bytes: [UInt8]) -> KeyMaterial? {
        bytes.withUnsafeBufferPointer { buffer in
            var from = 0
            while let at = find(begin, in: buffer, from: from) {
                from = at + 1
                guard at == 0 || buffer[at - 1] == UInt8(ascii: "\n") else { continue }
                var lines = LineCursor(buffer, at: at)
                guard let line = lines.next(), let label = label(buffer, line, marker: begin),
                      label.count >= privateKey.count, buffer[label.upperBound - privateKey.count..<label.upperBound]
                          .elementsEqual(privateKey) else { continue }
                if closes(&lines, buffer, label: label) {
                    return KeyMaterial(format: "PEM " + String(decoding: buffer[label], as: UTF8.self))
                }
            }
            return nil
        }
    }

    /// The offset of the first `needle` in `buffer` at or after `from` (memchr(3) for its first byte).
    private static func find(_ needle: [UInt8], in buffer: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let base = buffer.baseAddress else { return nil }
        var from = from
        while from + needle.count <= buffer.count,
              let hit = memchr(base + from, Int32(needle[0]), buffer.count - from) {
            let at = UnsafePointer(hit.assumingMemoryBound(to: UInt8.self)) - base
            if at + needle.count <= buffer.count, buffer[at..<at + needle.count].elementsEqual(needle) { return at }
            from = at + 1
        }
        return nil
    }

    /// The label of a `-----BEGIN X-----` / `-----END X-----` line: upper-case letters, digits,
    /// spaces and `#`/`-` inside (RFC 7468), not empty.
    private static func label(_ buffer: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, marker: [UInt8]) -> Range<Int>? {
        guard line.count >= marker.count + dashes.count + 1,
              buffer[line.lowerBound..<line.lowerBound + marker.count].elementsEqual(marker),
              buffer[line.upperBound - dashes.count..<line.upperBound].elementsEqual(dashes) else { return nil }
        let label = line.lowerBound + marker.count..<line.upperBound - dashes.count
        let valid = buffer[label].allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "-")
        }
        return valid && buffer[label.lowerBound] != UInt8(ascii: " ") ? label : nil
    }

    /// Whether the lines after a BEGIN line are a block body closed by the same label: headers
    /// (`Name: value`, then an empty line) only before the base64, at least one base64 line.
    private static func closes(_ lines: inout LineCursor, _ buffer: UnsafeBufferPointer<UInt8>, label: Range<Int>) -> Bool {
        var base64Lines = 0
        while let line = lines.next() {
            if let closing = Self.label(buffer, line, marker: end) {
                return base64Lines > 0 && buffer[closing].elementsEqual(buffer[label])
            }
            if line.isEmpty { continue }
            if buffer[line].allSatisfy(isBase64) {
                base64Lines += 1
            } else if base64Lines > 0 || !buffer[line].contains(UInt8(ascii: ":")) {
                return false  // neither base64 nor a header before it
            }
        }
        return false
    }

    private static func isBase64(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
    }

    /// The lines of a buffer, each without its `\n` and trailing spaces, tabs and `\r`.
    private struct LineCursor {
        let buffer: UnsafeBufferPointer<UInt8>
        var position = 0

        init(_ buffer: UnsafeBufferPointer<UInt8>, at position: Int) {
            self.buffer = buffer
            self.position = position
        }

        mutating func next() -> Range<Int>? {
            guard position < buffer.count else { return nil }
            let start = position
            var stop = start
            while stop < buffer.count && buffer[stop] != UInt8(ascii: "\n") { stop += 1 }
            position = stop + 1
            while stop > start, case let byte = buffer[stop - 1],
                  byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                stop -= 1
            }
            return start..<stop
        }
    }

    // MARK: DER

    /// A whole-file DER private key, by its structure.
    static func der(_ bytes: [UInt8]) -> KeyMaterial? {
        guard let root = try? DER.parse(bytes) else { return nil }
        if (try? pkcs8(root)) != nil { return KeyMaterial(format: "DER PKCS#8") }
        if (try? encryptedPKCS8(root)) != nil { return KeyMaterial(format: "DER PKCS#8 encrypted") }
        if (try? pkcs1(root)) != nil { return KeyMaterial(format: "DER PKCS#1 RSA") }
        if (try? sec1(root)) != nil { return KeyMaterial(format: "DER SEC1 EC") }
        return nil
    }

    /// The next element of a SEQUENCE, which must be there.
    private static func next(_ nodes: inout ASN1NodeCollection.Iterator) throws -> ASN1Node {
        guard let node = nodes.next() else { throw ASN1Error.invalidASN1Object(reason: "missing element") }
        return node
    }

    /// AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }
    private static func algorithm(_ node: ASN1Node) throws -> ASN1ObjectIdentifier {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            _ = nodes.next()
            return oid
        }
    }

    /// PKCS#8 PrivateKeyInfo / RFC 5958 OneAsymmetricKey ::= SEQUENCE { version INTEGER (0|1),
    /// privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING, attributes [0] IMPLICIT
    /// OPTIONAL, publicKey [1] IMPLICIT BIT STRING OPTIONAL }
    private static func pkcs8(_ root: ASN1Node) throws {
        try DER.sequence(root, identifier: .sequence) { nodes in
            guard try [0, 1].contains(Int(derEncoded: &nodes)) else { throw ASN1Error.invalidASN1Object(reason: "version") }
            _ = try algorithm(next(&nodes))
            _ = try ASN1OctetString(derEncoded: &nodes)
            _ = DER.optionalImplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { $0 }
            _ = DER.optionalImplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { $0 }
        }
    }

    /// Password-based encryption schemes of an EncryptedPrivateKeyInfo: PKCS#5 (1.2.840.113549.1.5,
    /// PBES1 and PBES2) and PKCS#12 (1.2.840.113549.1.12.1).
    private static let passwordSchemes: [[UInt]] = [[1, 2, 840, 113549, 1, 5], [1, 2, 840, 113549, 1, 12, 1]]

    /// PKCS#8 EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm AlgorithmIdentifier,
    /// encryptedData OCTET STRING } — the same shape as other things (a DigestInfo), hence the scheme.
    private static func encryptedPKCS8(_ root: ASN1Node) throws {
        try DER.sequence(root, identifier: .sequence) { nodes in
            let scheme = try algorithm(next(&nodes)).oidComponents
            guard passwordSchemes.contains(where: { scheme.starts(with: $0) && scheme.count > $0.count }) else {
                throw ASN1Error.invalidASN1Object(reason: "not a password-based scheme")
            }
            _ = try ASN1OctetString(derEncoded: &nodes)
        }
    }

    /// PKCS#1 RSAPrivateKey ::= SEQUENCE { version INTEGER (0|1), modulus, publicExponent,
    /// privateExponent, prime1, prime2, exponent1, exponent2, coefficient INTEGER,
    /// otherPrimeInfos SEQUENCE OPTIONAL (version 1) }
    private static func pkcs1(_ root: ASN1Node) throws {
        try DER.sequence(root, identifier: .sequence) { nodes in
            let version = try Int(derEncoded: &nodes)
            guard version == 0 || version == 1 else { throw ASN1Error.invalidASN1Object(reason: "version") }
            for _ in 0..<8 { _ = try ArraySlice<UInt8>(derEncoded: &nodes) }
            if version == 1, let others = nodes.next() {
                try DER.sequence(others, identifier: .sequence) { while $0.next() != nil {} }
            }
        }
    }

    /// SEC1 ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING,
    /// parameters [0] EXPLICIT OPTIONAL, publicKey [1] EXPLICIT BIT STRING OPTIONAL }
    private static func sec1(_ root: ASN1Node) throws {
        try DER.sequence(root, identifier: .sequence) { nodes in
            guard try Int(derEncoded: &nodes) == 1 else { throw ASN1Error.invalidASN1Object(reason: "version") }
            _ = try ASN1OctetString(derEncoded: &nodes)
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific) { $0 }
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) {
                try ASN1BitString(derEncoded: $0)
            }
        }
    }
}

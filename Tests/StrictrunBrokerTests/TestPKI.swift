import Crypto
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// A CA made by the test itself with swift-certificates, writing PEM files into a temporary directory.
struct TestCA {
    let name: String
    let key: P256.Signing.PrivateKey
    let certificate: Certificate
    let directory: String

    init(name: String, directory: String) throws {
        self.name = name
        self.directory = directory
        let key = P256.Signing.PrivateKey()
        self.key = key
        let subject = try DistinguishedName { OrganizationName("strictrun tests"); CommonName(name) }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                SubjectKeyIdentifier(keyIdentifier: Self.keyID(key.publicKey)[...])
            },
            issuerPrivateKey: .init(key))
    }

    var pemPath: String { "\(directory)/\(fileStem).pem" }
    private var fileStem: String { name.replacingOccurrences(of: " ", with: "-") }

    @discardableResult
    func writePEM() throws -> String {
        try certificate.serializeAsPEM().pemString.write(toFile: pemPath, atomically: true, encoding: .utf8)
        return pemPath
    }

    /// A leaf for `dnsNames` and `ips`; `expired` puts its validity in the past; `clientAuth` makes it a client
    /// certificate.
    func issue(commonName: String, dnsNames: [String] = [], ips: [String] = [], expired: Bool = false,
               clientAuth: Bool = false) throws -> TestLeaf {
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let (notBefore, notAfter) = expired ? (now - 10 * 86_400, now - 86_400) : (now - 3600, now + 86_400)
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for ip in ips {
            let address = try SocketAddress(ipAddress: ip, port: 0)
            let bytes: [UInt8]
            switch address {
            case .v4(let v4): bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
            case .v6(let v6): bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            default: bytes = []
            }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        let subject = try DistinguishedName { CommonName(commonName) }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: certificate.subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([clientAuth ? .clientAuth : .serverAuth])
                if !names.isEmpty { SubjectAlternativeNames(names) }
                AuthorityKeyIdentifier(keyIdentifier: Self.keyID(key.publicKey)[...])
            },
            issuerPrivateKey: .init(key))
        let stem = "\(directory)/\(commonName.replacingOccurrences(of: " ", with: "-"))-\(UUID().uuidString.prefix(8))"
        try leaf.serializeAsPEM().pemString.write(toFile: stem + ".pem", atomically: true, encoding: .utf8)
        try leafKey.pemRepresentation.write(toFile: stem + ".key", atomically: true, encoding: .utf8)
        return TestLeaf(certificate: leaf, key: leafKey, certificatePath: stem + ".pem", keyPath: stem + ".key")
    }

    static func keyID(_ key: P256.Signing.PublicKey) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: key.x963Representation))
    }
}

struct TestLeaf {
    let certificate: Certificate
    let key: P256.Signing.PrivateKey
    let certificatePath: String
    let keyPath: String

    func nioCertificate() throws -> NIOSSLCertificate {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
    }

    func nioKey() throws -> NIOSSLPrivateKey {
        try NIOSSLPrivateKey(bytes: Array(key.derRepresentation), format: .der)
    }

    /// A TLS server configuration presenting this leaf; with `requireClientCertificateFrom`, clients must present a
    /// certificate issued by that CA.
    func serverConfiguration(requireClientCertificateFrom clientCA: TestCA? = nil) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try nioCertificate())], privateKey: .privateKey(try nioKey()))
        if let clientCA {
            var serializer = DER.Serializer()
            try serializer.serialize(clientCA.certificate)
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)])
        }
        return configuration
    }
}

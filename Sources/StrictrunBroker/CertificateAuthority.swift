import Crypto
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The per-run CA: a P-256 key that lives only in this process, a self-signed CA certificate (written out for the
/// app to trust), and the leaf certificates it issues on the fly, cached per name.
///
/// It also builds *mirrored* chains: copies of a failing upstream chain, re-signed so that they fail the app's
/// verification for the same reason (see ``BrokerConfiguration/VerificationFailureResponse/mirror``).
final class CertificateAuthority: Sendable {
    let certificate: Certificate
    let certificatePEM: String
    private let key: Certificate.PrivateKey
    private let keyIdentifier: [UInt8]
    /// One key for every leaf (issuing a leaf then costs one signature, no key generation).
    private let leafKey: P256.Signing.PrivateKey
    let leafNIOKey: NIOSSLPrivateKey
    /// The keys of mirrored chains, made on the first one (a verification failure answered with `mirror`), not
    /// when the broker starts: nine P-256 keys were most of the broker's start, which the first routed connect
    /// waits for.
    private let mirrorKeysMade = Mutex<MirrorKeys?>(nil)

    private struct MirrorKeys: Sendable {
        /// Signs mirrored certificates whose issuer is unknown or whose signature was bad: nobody trusts this key.
        let stranger: P256.Signing.PrivateKey
        /// Keys of mirrored certificates, one per chain position.
        let chain: [P256.Signing.PrivateKey]
    }
    private let leaves = Mutex<[String: (certificate: NIOSSLCertificate, notAfter: Date)]>([:])

    static let maximumMirroredDepth = 8

    /// Issues with `root` (made earlier, before the app started, by ``BrokerTrustFiles``); the leaf key is made
    /// here, when the broker starts, the mirror keys on the first mirrored chain.
    init(root: CertificateAuthorityRoot) {
        self.key = root.key
        self.keyIdentifier = root.keyIdentifier
        self.certificate = root.certificate
        self.certificatePEM = root.certificatePEM
        let leafKey = P256.Signing.PrivateKey(compactRepresentable: false)
        self.leafKey = leafKey
        // A P-256 key's own DER always parses.
        self.leafNIOKey = try! NIOSSLPrivateKey(bytes: Array(leafKey.derRepresentation), format: .der)
    }

    private func mirrorKeys() -> MirrorKeys {
        mirrorKeysMade.withLock { made in
            if let made { return made }
            let keys = MirrorKeys(stranger: P256.Signing.PrivateKey(compactRepresentable: false),
                                  chain: (0..<Self.maximumMirroredDepth).map { _ in
                                      P256.Signing.PrivateKey(compactRepresentable: false)
                                  })
            made = keys
            return keys
        }
    }

    /// The leaf for `name` (a DNS name, or an IP address: then an IP SAN), issued now or from the cache.
    func leaf(for name: String) throws -> NIOSSLCertificate {
        let now = Date()
        if let cached = leaves.withLock({ $0[name] }), cached.notAfter > now + 3600 {
            return cached.certificate
        }
        let notAfter = now + 30 * 86_400
        let isIP = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        let subjectAltName: GeneralName = isIP ? .ipAddress(ASN1OctetString(contentBytes: Self.ipBytes(name)[...]))
                                               : .dnsName(name)
        let subject = try DistinguishedName {
            OrganizationName("strictrun")
            if name.utf8.count <= 64 { CommonName(name) }
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(leafKey.publicKey),
            notValidBefore: now - 86_400, notValidAfter: notAfter,
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([subjectAltName])
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier[...])
                SubjectKeyIdentifier(keyIdentifier: Self.keyIdentifier(leafKey.publicKey)[...])
            },
            issuerPrivateKey: key)
        let converted = try NIOSSLCertificate(bytes: Self.der(leaf), format: .der)
        leaves.withLock { $0[name] = (converted, notAfter) }
        return converted
    }

    /// A copy of `presented` (leaf first) that fails verification the way the original does, for an app that
    /// trusts this CA: same subjects, issuers, validity, serials and extensions; new keys. A certificate whose
    /// issuer the trust store holds is re-anchored on this CA; one whose issuer is unknown, or whose signature did
    /// not verify, is signed by a key nobody trusts; a self-signed certificate stays self-signed. A trusted
    /// certificate the server sent along (a root) is dropped and replaced by this CA.
    func mirror(_ presented: [Certificate], trust: TrustStore) throws -> (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, certificates: [Certificate]) {
        var chain = Array(presented.prefix(Self.maximumMirroredDepth))
        var anchoredAtTop = false
        if let trusted = chain.indices.dropFirst().first(where: { trust.contains(chain[$0]) }) {
            let issuer = chain[trusted]
            anchoredAtTop = issuer.publicKey.isValidSignature(chain[trusted - 1].signature, for: chain[trusted - 1])
            chain = Array(chain[..<trusted])
            if !anchoredAtTop { chain.append(issuer) }     // a bad signature: mirror the root too, it stays untrusted
        }
        var clones = [Certificate?](repeating: nil, count: chain.count)
        let keys = mirrorKeys()
        let strangerKey = keys.stranger, mirrorKeys = keys.chain
        for index in chain.indices.reversed() {
            let original = chain[index]
            let signer: Certificate.PrivateKey
            var issuerName = original.issuer
            var authorityKeyID: [UInt8]
            if index + 1 < chain.count, original.issuer == chain[index + 1].subject {
                if chain[index + 1].publicKey.isValidSignature(original.signature, for: original) {
                    signer = Certificate.PrivateKey(mirrorKeys[index + 1])
                    authorityKeyID = Self.keyIdentifier(mirrorKeys[index + 1].publicKey)
                } else {
                    signer = Certificate.PrivateKey(strangerKey)
                    authorityKeyID = Self.keyIdentifier(strangerKey.publicKey)
                }
            } else if index + 1 == chain.count, anchoredAtTop {
                signer = key; issuerName = certificate.subject; authorityKeyID = keyIdentifier
            } else if original.issuer == original.subject,
                      original.publicKey.isValidSignature(original.signature, for: original) {
                signer = Certificate.PrivateKey(mirrorKeys[index])
                authorityKeyID = Self.keyIdentifier(mirrorKeys[index].publicKey)
            } else if trust.issuer(of: original) != nil {
                signer = key; issuerName = certificate.subject; authorityKeyID = keyIdentifier
            } else {
                signer = Certificate.PrivateKey(strangerKey)
                authorityKeyID = Self.keyIdentifier(strangerKey.publicKey)
            }
            var extensions = Certificate.Extensions()
            for ext in original.extensions where !Self.droppedWhenMirroring.contains(ext.oid) {
                try extensions.append(ext)
            }
            try extensions.append(
                Certificate.Extension(SubjectKeyIdentifier(keyIdentifier: Self.keyIdentifier(mirrorKeys[index].publicKey)[...]),
                                      critical: false))
            if issuerName != original.subject || authorityKeyID != Self.keyIdentifier(mirrorKeys[index].publicKey) {
                try extensions.append(
                    Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: authorityKeyID[...]), critical: false))
            }
            clones[index] = try Certificate(
                version: .v3, serialNumber: original.serialNumber,
                publicKey: Certificate.PublicKey(mirrorKeys[index].publicKey),
                notValidBefore: original.notValidBefore, notValidAfter: original.notValidAfter,
                issuer: issuerName, subject: original.subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions, issuerPrivateKey: signer)
        }
        let certificates = clones.compactMap { $0 }
        let converted = try certificates.map { try NIOSSLCertificate(bytes: Self.der($0), format: .der) }
        let leafKey = try NIOSSLPrivateKey(bytes: Array(mirrorKeys[0].derRepresentation), format: .der)
        return (converted, leafKey, certificates)
    }

    /// Key identifiers, AIA, CRL distribution points and embedded SCTs describe the original issuer's keys and
    /// infrastructure; they are replaced or dropped in a mirrored copy.
    private static let droppedWhenMirroring: Set<ASN1ObjectIdentifier> = [
        [2, 5, 29, 35], [2, 5, 29, 14], [1, 3, 6, 1, 5, 5, 7, 1, 1], [2, 5, 29, 31], [1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
    ]

    static func keyIdentifier(_ key: P256.Signing.PublicKey) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: key.x963Representation))
    }

    static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    static func ipBytes(_ ip: String) -> [UInt8] {
        guard let address = try? SocketAddress(ipAddress: ip, port: 0) else { return [] }
        switch address {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default:
            return []
        }
    }
}

/// The per-run CA's root alone: a P-256 key that never leaves this process and its self-signed certificate. It
/// must exist before the app starts (the app trusts it from its first TLS context on); the broker that issues
/// leaves with it starts later, on the first routed connect. One key generation and one signature.
struct CertificateAuthorityRoot: Sendable {
    let key: Certificate.PrivateKey
    let keyIdentifier: [UInt8]
    let certificate: Certificate
    let certificatePEM: String

    init() throws(BrokerError) {
        do {
            // Not "compact representable" (swift-crypto's default): that draws keys until one
            // qualifies, ~2 key generations on average, for an encoding nothing here uses.
            let caKey = P256.Signing.PrivateKey(compactRepresentable: false)
            let key = Certificate.PrivateKey(caKey)
            let keyIdentifier = CertificateAuthority.keyIdentifier(caKey.publicKey)
            self.key = key
            self.keyIdentifier = keyIdentifier
            var random = SystemRandomNumberGenerator()
            let tag = String(random.next(), radix: 16)
            let name = try DistinguishedName {
                OrganizationName("strictrun")
                CommonName("strictrun per-run CA \(tag)")
            }
            let now = Date()
            self.certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(caKey.publicKey),
                notValidBefore: now - 86_400, notValidAfter: now + 365 * 86_400,
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(keyIdentifier: keyIdentifier[...])
                },
                issuerPrivateKey: key)
            self.certificatePEM = try certificate.serializeAsPEM().pemString
        } catch {
            throw BrokerError.certificateAuthority(reason: String(describing: error))
        }
    }
}
